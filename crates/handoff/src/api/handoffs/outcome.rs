//! `POST /v1/handoffs/{id}/outcome`: the agent reports what happened when it acted.

use crate::api::resource::{Resource, respond};
use crate::api::{ApiResult, Problem, json_body};
use crate::app::{App, Outcome, Principal};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use handoff_domain::lifecycle::OutcomeResult;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// What happened when the agent acted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    #[schema(value_type = OutcomeResult)]
    pub result: String,
    pub detail: Option<String>,
    /// For `executed`: the digest of the draft acted on; another than the approved one
    /// is refused.
    pub draft_sha256: Option<String>,
}

/// Report the outcome of an approved handoff.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/outcome", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id.")),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "The updated handoff.", body = Resource),
        (status = 403, description = "Only the submitting agent reports outcomes.", body = Problem),
        (status = 404, description = "No such handoff of yours.", body = Problem),
        (status = 409, description = "Not approved (or not executed, for rolled_back), or another draft than the approved one.", body = Problem),
        (status = 422, description = "A bad result.", body = Problem),
    )
)]
pub async fn outcome(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: OutcomeRequest = json_body(&body?)?;
    let outcome = Outcome {
        result: Outcome::parse_result(&req.result)?,
        detail: req.detail,
        draft_sha256: req.draft_sha256,
    };
    let h = app.outcome(&who, &id, outcome).await?;
    Ok(respond(StatusCode::OK, &h))
}
