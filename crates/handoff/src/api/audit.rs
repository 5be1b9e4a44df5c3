//! `GET /v1/audit` (JSON lines) and `GET /v1/audit/verify` (the chain check, also against
//! a signed checkpoint), for admins.

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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// A checkpoint's `jws` (`POST /v1/audit/checkpoints`): the chain must still hold the
    /// head it signs.
    checkpoint: Option<String>,
}

/// Check the hash chain, and that a checkpoint's signed head is still in it.
#[utoipa::path(
    get, path = "/v1/audit/verify", tag = "audit", params(VerifyParams),
    responses(
        (status = 200, description = "Whether the chain is intact, where it breaks, and (given a checkpoint) which signed head it was checked against: a log that ends before the checkpoint's seq, or holds another entry there, is `ok: false`.", body = Verification),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 422, description = "The checkpoint is not one of this server's (malformed, another `typ`, bad signature).", body = Problem),
    )
)]
pub async fn verify(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<VerifyParams>, QueryRejection>,
) -> ApiResult<Json<Verification>> {
    let p = query::read(q)?;
    Ok(Json(
        app.verify_audit_against(&who, p.checkpoint.as_deref())
            .await?,
    ))
}
