//! `POST /v1/handoffs/{id}/decisions`: a reviewer approves, edits, rejects, escalates,
//! takes over, resolves or acknowledges.

use crate::api::resource::respond;
use crate::api::{ApiResult, if_match, json_body};
use crate::app::{App, DecisionRequest, Principal};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// Decide a handoff routed to one of your teams.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/decisions", tag = "handoffs",
    params(
        ("id" = String, Path, description = "The handoff id."),
        ("If-Match" = Option<String>, Header, description = "The version you decided on (`3` or `\"3\"`)."),
    ),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "The updated handoff.", body = Object),
        (status = 403, description = "Agents do not decide; the agent never approves its own.", body = crate::api::Problem),
        (status = 404, description = "No such handoff routed to your teams.", body = crate::api::Problem),
        (status = 409, description = "Not allowed from the current status.", body = crate::api::Problem),
        (status = 412, description = "If-Match does not match.", body = crate::api::Problem),
        (status = 422, description = "A bad action, or a missing rationale, draft or team.", body = crate::api::Problem),
    )
)]
pub async fn decide(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: DecisionRequest = json_body(&body?)?;
    let version = if_match(&headers)?;
    let h = app.decide(&who, &id, version, req).await?;
    Ok(respond(StatusCode::OK, &h))
}
