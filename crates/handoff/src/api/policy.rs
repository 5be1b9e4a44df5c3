//! `GET /v1/policy`, `PUT /v1/policy` (admins) and `POST /v1/policy/explain` (anyone).
//! A new policy is checked whole before it replaces the active one, and kept in the store
//! so that it survives a restart.

use crate::api::{ApiError, ApiResult, json_body};
use crate::app::{App, Principal};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use handoff_domain::audit::NewEntry;
use handoff_domain::{Evaluation, FieldError, Packet, Policy};
use serde_json::{Value, json};
use std::sync::Arc;

/// The active policy, as TOML.
#[utoipa::path(
    get, path = "/v1/policy", tag = "policy",
    responses((status = 200, description = "The active policy.", content_type = "application/toml", body = String))
)]
pub async fn get(State(app): State<Arc<App>>, who: Principal) -> ApiResult<Response> {
    who.require_admin("read and change the policy")?;
    let text = app.policy().text().to_owned();
    Ok(([(header::CONTENT_TYPE, "application/toml")], text).into_response())
}

/// Replace the active policy.
#[utoipa::path(
    put, path = "/v1/policy", tag = "policy",
    request_body(content = String, content_type = "application/toml"),
    responses(
        (status = 200, description = "`{policy_version}`.", body = Object),
        (status = 422, description = "Every error, `field` = `LINE:COLUMN`; nothing changed.", body = crate::api::Problem),
    )
)]
pub async fn put(
    State(app): State<Arc<App>>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    who.require_admin("read and change the policy")?;
    let body = body?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::field("body", "the policy is not UTF-8 text"))?;
    let policy = Policy::load(text).map_err(|errs| {
        ApiError::invalid(
            errs.0
                .into_iter()
                .map(|e| FieldError::new(format!("{}:{}", e.line, e.column), e.message))
                .collect(),
        )
    })?;
    let version = policy.version().to_owned();
    let audit = NewEntry {
        at: app.now(),
        actor: who.name.clone(),
        action: "policy.updated".to_owned(),
        handoff_id: None,
        data: json!({"policy_version": version, "previous": app.policy().version()}),
    };
    app.store
        .set_policy(text.to_owned(), None, Some(audit))
        .await?;
    app.set_policy(policy);
    Ok(Json(json!({ "policy_version": version })))
}

/// Evaluate a packet without storing it.
#[utoipa::path(
    post, path = "/v1/policy/explain", tag = "policy",
    request_body(content = Object, description = "A handoff packet."),
    responses(
        (status = 200, description = "The evaluation, as `handoff policy explain` prints it.", body = Object),
        (status = 422, description = "Bad packet fields, each named.", body = crate::api::Problem),
    )
)]
pub async fn explain(
    State(app): State<Arc<App>>,
    _who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Evaluation>)> {
    let value: Value = json_body(&body?)?;
    let packet = Packet::parse(value).map_err(ApiError::invalid)?;
    Ok((
        StatusCode::OK,
        Json(app.policy().evaluate(&packet, app.now())),
    ))
}
