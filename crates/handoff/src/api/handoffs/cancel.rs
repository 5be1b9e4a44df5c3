//! `POST /v1/handoffs/{id}/cancel`: the agent withdraws a pending handoff.

use crate::api::resource::{Resource, respond};
use crate::api::{ApiResult, Problem};
use crate::app::{App, Principal};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// Cancel your pending handoff.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/cancel", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id.")),
    responses(
        (status = 200, description = "The cancelled handoff.", body = Resource),
        (status = 403, description = "Only agents cancel.", body = Problem),
        (status = 404, description = "No such handoff of yours.", body = Problem),
        (status = 409, description = "No longer pending.", body = Problem),
    )
)]
pub async fn cancel(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let h = app.cancel(&who, &id).await?;
    Ok(respond(StatusCode::OK, &h))
}
