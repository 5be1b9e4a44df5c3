//! `POST /v1/handoffs/{id}/outcome`: the agent reports what happened when it acted.

use crate::api::resource::respond;
use crate::api::{ApiResult, json_body};
use crate::app::{App, OutcomeRequest, Principal};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// Report the outcome of an approved handoff.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/outcome", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id.")),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "The updated handoff.", body = Object),
        (status = 404, description = "No such handoff of yours.", body = crate::api::Problem),
        (status = 409, description = "Not approved (or not executed, for rolled_back), or another draft than the approved one.", body = crate::api::Problem),
        (status = 422, description = "A bad result.", body = crate::api::Problem),
    )
)]
pub async fn outcome(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: OutcomeRequest = json_body(&body?)?;
    let h = app.outcome(&who, &id, req).await?;
    Ok(respond(StatusCode::OK, &h))
}
