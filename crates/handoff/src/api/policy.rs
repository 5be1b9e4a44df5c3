//! `GET /v1/policy`, `PUT /v1/policy` (admins) and `POST /v1/policy/explain` (anyone).

use crate::api::{ApiError, ApiResult, Problem, json_value};
use crate::app::{App, Principal};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use handoff_domain::Evaluation;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// The policy now in force.
#[derive(Serialize, ToSchema)]
pub struct PolicyVersion {
    /// The digest that names this policy's text in evaluations.
    pub policy_version: String,
}

/// The active policy, as TOML.
#[utoipa::path(
    get, path = "/v1/policy", tag = "policy",
    responses(
        (status = 200, description = "The active policy.", content_type = "application/toml", body = String),
        (status = 403, description = "Admins only.", body = Problem),
    )
)]
pub async fn get(State(app): State<Arc<App>>, who: Principal) -> ApiResult<Response> {
    let text = app.policy_text(&who)?;
    Ok(([(header::CONTENT_TYPE, "application/toml")], text).into_response())
}

/// Replace the active policy.
#[utoipa::path(
    put, path = "/v1/policy", tag = "policy",
    request_body(content = String, content_type = "application/toml"),
    responses(
        (status = 200, description = "The new policy is in force.", body = PolicyVersion),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 422, description = "Every error, `field` = `LINE:COLUMN`; nothing changed.", body = Problem),
    )
)]
pub async fn put(
    State(app): State<Arc<App>>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<PolicyVersion>> {
    let body = body?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::field("body", "the policy is not UTF-8 text"))?;
    let policy_version = app.replace_policy(&who, text).await?;
    Ok(Json(PolicyVersion { policy_version }))
}

/// Evaluate a packet without storing it.
#[utoipa::path(
    post, path = "/v1/policy/explain", tag = "policy",
    request_body(content = crate::api::packet::PacketSchema, description = "A handoff packet."),
    responses(
        (status = 200, description = "The evaluation, as `handoff policy explain` prints it.", body = Evaluation),
        (status = 422, description = "Bad packet fields, each named.", body = Problem),
    )
)]
pub async fn explain(
    State(app): State<Arc<App>>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Evaluation>> {
    let value: Value = json_value(&body?)?;
    Ok(Json(app.explain(&who, value)?))
}
