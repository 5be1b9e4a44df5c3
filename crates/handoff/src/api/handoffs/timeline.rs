//! `GET /v1/handoffs/{id}/timeline`: the handoff's audit entries, oldest first.

use crate::api::{ApiResult, Problem};
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::{Path, State};
use handoff_domain::AuditEntry;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// A handoff's audit entries, oldest first.
#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub items: Vec<AuditEntry>,
}

/// The audit entries of one handoff.
#[utoipa::path(
    get, path = "/v1/handoffs/{id}/timeline", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id.")),
    responses(
        (status = 200, description = "Audit entries, oldest first.", body = Timeline),
        (status = 404, description = "No such handoff, or not yours to see.", body = Problem),
    )
)]
pub async fn timeline(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Timeline>> {
    let items = app.timeline(&who, &id).await?;
    Ok(Json(Timeline { items }))
}
