//! `POST /v1/handoffs/{id}/decisions`: a reviewer approves, edits, rejects, escalates,
//! takes over, resolves or acknowledges.

use crate::api::resource::{Resource, respond};
use crate::api::{ApiResult, Problem, if_match, json_body};
use crate::app::{App, Decision, Principal};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use handoff_domain::DecisionAction;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// A decision on a handoff.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    #[schema(value_type = DecisionAction)]
    pub action: String,
    /// Why; required to reject, escalate, take over and resolve.
    pub rationale: Option<String>,
    /// The new draft, for `edit`.
    #[schema(value_type = Option<Value>)]
    pub draft: Option<Value>,
    /// The id (or label) of the agent's option chosen.
    pub option: Option<String>,
    /// For `escalate`: the team to send it to (default: the team's `escalate_to`).
    pub to_team: Option<String>,
}

/// Decide a handoff routed to one of your teams.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/decisions", tag = "handoffs",
    params(
        ("id" = String, Path, description = "The handoff id."),
        ("If-Match" = Option<String>, Header, description = "The version you decided on (`3`, `\"3\"`, `W/\"3\"`; `*` for any); anything else is `400`.", pattern = "^(\\*|(W/)?(\"[0-9]{1,18}\"|[0-9]{1,18}))$"),
    ),
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "The updated handoff.", body = Resource),
        (status = 400, description = "The body is not JSON, or If-Match is not a version.", body = Problem),
        (status = 403, description = "Agents do not decide; the agent never approves its own.", body = Problem),
        (status = 404, description = "No such handoff routed to your teams.", body = Problem),
        (status = 409, description = "Not allowed from the current status.", body = Problem),
        (status = 412, description = "If-Match does not match.", body = Problem),
        (status = 422, description = "A bad action, or a missing rationale, draft or team.", body = Problem),
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
    let decision = Decision {
        action: Decision::parse_action(&req.action)?,
        rationale: req.rationale,
        draft: req.draft,
        option: req.option,
        to_team: req.to_team,
    };
    let h = app.decide(&who, &id, version, decision).await?;
    Ok(respond(StatusCode::OK, &h))
}
