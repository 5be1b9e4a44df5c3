//! `POST /v1/handoffs`: an agent submits a packet; the policy judges it; it is stored.

use crate::api::resource::{Resource, respond};
use crate::api::{ApiResult, Problem, json_value};
use crate::app::{App, Principal, Submit};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

/// Submit a handoff packet (SPEC §2).
#[utoipa::path(
    post, path = "/v1/handoffs", tag = "handoffs",
    request_body(content = crate::api::packet::PacketSchema, description = "The handoff packet (SPEC §2)."),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the same handoff for the same key and body within 24 h.")),
    responses(
        (status = 201, description = "Stored and judged: the handoff resource.", body = Resource),
        (status = 200, description = "An idempotent replay (`Idempotent-Replayed: true`).", body = Resource),
        (status = 400, description = "Not JSON.", body = Problem),
        (status = 403, description = "Only agents submit.", body = Problem),
        (status = 413, description = "Over 1 MiB.", body = Problem),
        (status = 422, description = "Bad fields, each named.", body = Problem),
    )
)]
pub async fn submit(
    State(app): State<Arc<App>>,
    who: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body: Value = json_value(&body?)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            crate::api::ApiError::field("Idempotency-Key", "must be visible ASCII")
        })?),
        None => None,
    };
    Ok(match app.submit(&who, body, key).await? {
        Submit::Created(h) => respond(StatusCode::CREATED, &h),
        Submit::Replayed(h) => {
            let mut res = respond(StatusCode::OK, &h);
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            res
        }
    })
}
