//! `GET /v1/handoffs/{id}/timeline`: the handoff's audit entries, oldest first.

use crate::api::ApiResult;
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use std::sync::Arc;

/// The audit entries of one handoff.
#[utoipa::path(
    get, path = "/v1/handoffs/{id}/timeline", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id.")),
    responses(
        (status = 200, description = "`{items}`: audit entries, oldest first.", body = Object),
        (status = 404, description = "No such handoff, or not yours to see.", body = crate::api::Problem),
    )
)]
pub async fn timeline(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    app.visible(&who, &id).await?;
    let items = app.store.timeline(&id).await?;
    Ok(Json(json!({ "items": items })))
}
