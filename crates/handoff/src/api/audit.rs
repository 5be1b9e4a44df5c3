//! `GET /v1/audit` (JSON lines) and `GET /v1/audit/verify` (the chain check), for admins.

use crate::api::{ApiError, ApiResult};
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use handoff_domain::Verification;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Entries after this seq (default 0: from the start).
    after: Option<i64>,
    /// At most 10,000 (default 1,000).
    limit: Option<u32>,
}

/// The audit log as JSON lines, oldest first.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "`application/x-ndjson`: one entry per line.", content_type = "application/x-ndjson", body = String))
)]
pub async fn log(
    State(app): State<Arc<App>>,
    who: Principal,
    Query(p): Query<AuditParams>,
) -> ApiResult<Response> {
    who.require_admin("read the audit log")?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 10000"));
    }
    let entries = app.store.audit(p.after.unwrap_or(0), limit).await?;
    let mut body = String::new();
    for e in &entries {
        body.push_str(&serde_json::to_string(e).unwrap_or_default());
        body.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// Check the hash chain.
#[utoipa::path(
    get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "`{ok, entries, first_bad_seq?}`.", body = Object))
)]
pub async fn verify(State(app): State<Arc<App>>, who: Principal) -> ApiResult<Json<Verification>> {
    who.require_admin("read the audit log")?;
    Ok(Json(app.store.verify_audit().await?))
}
