//! Signed checkpoints of the audit chain's head (SPEC §9), for admins: `POST
//! /v1/audit/checkpoints` signs one now, `GET /v1/audit/checkpoints` lists them, newest
//! first. The check against one is `GET /v1/audit/verify?checkpoint=` (`audit.rs`).

use crate::api::{ApiResult, Problem, query};
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use handoff_store::Checkpoint;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A signed head of the audit chain: keep it outside the server.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointBody {
    /// The seq of the chain's last entry when it was signed.
    pub seq: i64,
    /// That entry's hash.
    #[schema(example = "9f2c0a…")]
    pub hash: String,
    /// When it was signed (RFC 3339 UTC, milliseconds).
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T10:00:00.000Z")]
    pub at: String,
    /// `{seq, hash, at}` as a compact JWS: the receipt key (`GET /v1/receipt-key`), header
    /// `{alg: "EdDSA", kid, typ: "handoff-checkpoint"}`.
    pub jws: String,
}

impl From<Checkpoint> for CheckpointBody {
    fn from(c: Checkpoint) -> CheckpointBody {
        CheckpointBody {
            seq: c.seq,
            hash: c.hash,
            at: rfc3339_ms(c.at),
            jws: c.jws,
        }
    }
}

fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One page of checkpoints, newest first.
#[derive(Serialize, ToSchema)]
pub struct CheckpointPage {
    pub items: Vec<CheckpointBody>,
    /// Pass it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointParams {
    /// At most 500 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Sign the audit chain's head now.
#[utoipa::path(
    post, path = "/v1/audit/checkpoints", tag = "audit", operation_id = "create_checkpoint",
    responses(
        (status = 201, description = "The checkpoint, signed and kept.", body = CheckpointBody),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 409, description = "The chain is broken (the seq is named): nothing is signed.", body = Problem),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    who: Principal,
) -> ApiResult<(StatusCode, Json<CheckpointBody>)> {
    let cp = app.create_checkpoint(&who).await?;
    Ok((StatusCode::CREATED, Json(cp.into())))
}

/// List the checkpoints, newest first.
#[utoipa::path(
    get, path = "/v1/audit/checkpoints", tag = "audit", operation_id = "list_checkpoints",
    params(CheckpointParams),
    responses(
        (status = 200, description = "One page, newest first.", body = CheckpointPage),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 422, description = "A bad limit or cursor.", body = Problem),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<CheckpointParams>, QueryRejection>,
) -> ApiResult<Json<CheckpointPage>> {
    let p = query::read(q)?;
    let mut checked = query::Checked::default();
    let limit = checked.number(
        "limit",
        p.limit.as_deref(),
        1..=crate::app::MAX_CHECKPOINT_PAGE,
    );
    checked.done()?;
    let page = app.checkpoints(&who, p.cursor.as_deref(), limit).await?;
    Ok(Json(CheckpointPage {
        items: page.items.into_iter().map(CheckpointBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
