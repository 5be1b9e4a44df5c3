//! `GET /v1/audit` (JSON lines) and `GET /v1/audit/verify` (the chain check), for admins.

use crate::api::{ApiResult, Problem, query};
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use handoff_domain::Verification;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries after this seq (default 0: from the start).
    #[param(value_type = i64, required = false, minimum = 0)]
    after: Option<String>,
    /// At most 10,000 (default 1,000).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 10000)]
    limit: Option<String>,
}

/// The audit log as JSON lines, oldest first.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "One `AuditEntry` per line.", content_type = "application/x-ndjson", body = String),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 422, description = "A bad limit.", body = Problem),
    )
)]
pub async fn log(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Response> {
    let p = query::read(q)?;
    let mut checked = query::Checked::default();
    let after = checked.number("after", p.after.as_deref(), 0..=i64::MAX);
    let limit = checked.number("limit", p.limit.as_deref(), 1..=crate::app::MAX_AUDIT_PAGE);
    checked.done()?;
    let entries = app.audit_log(&who, after, limit).await?;
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
    responses(
        (status = 200, description = "Whether the chain is intact, and where it breaks.", body = Verification),
        (status = 403, description = "Admins only.", body = Problem),
    )
)]
pub async fn verify(State(app): State<Arc<App>>, who: Principal) -> ApiResult<Json<Verification>> {
    Ok(Json(app.verify_audit(&who).await?))
}
