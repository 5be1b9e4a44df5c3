//! The learning loop's API (SPEC §4, §7): `GET /v1/stats`, `GET /v1/recommendations`,
//! `POST /v1/tasks/{task}/level`, `GET /v1/spot-checks`, `POST
//! /v1/handoffs/{id}/spot-check` and `GET /v1/export/decisions`.

use crate::api::resource::{HandoffPage, Resource, resource, respond};
use crate::api::{ApiError, ApiResult, Problem, json_body, query};
use crate::app::{App, LevelChanged, Principal, RecommendationItem, Stats};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use handoff_domain::Level;
use handoff_domain::handoff::SpotVerdict;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// One task type only.
    #[param(pattern = "^[a-z0-9_.-]{1,64}$")]
    task: Option<String>,
    /// The window, as the policy writes durations (default `[learning] window`), at
    /// most 366 days.
    #[param(example = "30d", pattern = "^([0-9]{1,6}[smhdw]){1,5}$")]
    window: Option<String>,
}

/// Per task type: volume, unchanged approvals with their Wilson interval, edits,
/// rejections, time to decision, SLA compliance, outcomes, confidence buckets, the
/// monitor; and the KPIs.
#[utoipa::path(
    get, path = "/v1/stats", tag = "learning", params(StatsParams),
    responses(
        (status = 200, description = "The statistics.", body = Stats),
        (status = 403, description = "Reviewers and admins only.", body = Problem),
        (status = 422, description = "A bad window, or a task filter that cannot be a task's name.", body = Problem),
    )
)]
pub async fn stats(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<StatsParams>, QueryRejection>,
) -> ApiResult<Json<Stats>> {
    let p = query::read(q)?;
    // A filter that cannot be a task's name is refused, not answered with nothing (the
    // web's task page names it as not in the policy instead).
    if let Some(t) = &p.task {
        handoff_domain::TaskName::parse(t).map_err(|e| ApiError::field("task", e))?;
    }
    Ok(Json(
        app.stats(&who, p.task.as_deref(), p.window.as_deref())
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Recommendations {
    items: Vec<RecommendationItem>,
}

/// Level-2 task types that earned autonomy, and autonomous ones whose monitor says they
/// must go back.
#[utoipa::path(
    get, path = "/v1/recommendations", tag = "learning",
    responses(
        (status = 200, description = "The recommendations.", body = Recommendations),
        (status = 403, description = "Admins only.", body = Problem),
    )
)]
pub async fn recommendations(
    State(app): State<Arc<App>>,
    who: Principal,
) -> ApiResult<Json<Recommendations>> {
    Ok(Json(Recommendations {
        items: app.recommendations(&who).await?,
    }))
}

/// A new level for a task type, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelRequest {
    #[schema(value_type = i64, minimum = 1, maximum = 4)]
    level: serde_json::Number,
    /// Why; recorded in the audit and in the reasons of every later evaluation.
    #[schema(min_length = 1, pattern = "\\S")]
    reason: String,
}

/// Promote or demote a task type.
#[utoipa::path(
    post, path = "/v1/tasks/{task}/level", tag = "learning",
    params(("task" = String, Path, description = "The task type.")),
    request_body = LevelRequest,
    responses(
        (status = 200, description = "The level in force now, and the evidence it was changed on.", body = LevelChanged),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 404, description = "No such task type in the policy.", body = Problem),
        (status = 409, description = "Below the task's rubric floor (named), the level it has already, or changed meanwhile.", body = Problem),
        (status = 422, description = "A bad level or an empty reason.", body = Problem),
    )
)]
pub async fn set_level(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(task): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LevelChanged>> {
    let req: LevelRequest = json_body(&body?)?;
    // JSON's 4.0 is the integer 4 (as JSON Schema says); 4.5 is not a level.
    let whole = req.level.as_i64().or_else(|| {
        req.level
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    });
    let level = whole
        .ok_or_else(|| "must be a whole number from 1 to 4".to_owned())
        .and_then(Level::new)
        .map_err(|e| crate::app::AppError::field("level", e))?;
    Ok(Json(
        app.set_task_level(&who, &task, level, &req.reason).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpotParams {
    /// At most 500 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^hnd_[0-9A-HJKMNP-TV-Z]{26}$")]
    cursor: Option<String>,
}

/// Autonomous handoffs drawn for a spot check and not yet checked, oldest first.
#[utoipa::path(
    get, path = "/v1/spot-checks", tag = "learning", params(SpotParams),
    responses(
        (status = 200, description = "One page, oldest first.", body = HandoffPage),
        (status = 403, description = "Reviewers and admins only.", body = Problem),
        (status = 422, description = "A bad limit or cursor.", body = Problem),
    )
)]
pub async fn spot_checks(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<SpotParams>, QueryRejection>,
) -> ApiResult<Response> {
    let p = query::read(q)?;
    let mut checked = query::Checked::default();
    let limit = checked.number("limit", p.limit.as_deref(), 1..=crate::app::MAX_SPOT_PAGE);
    checked.done()?;
    let page = app.spot_checks(&who, p.cursor.as_deref(), limit).await?;
    Ok(Json(HandoffPage {
        items: page.items.iter().map(resource).collect(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}

/// A reviewer's verdict on a sampled handoff.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpotCheckRequest {
    #[schema(value_type = SpotVerdict)]
    verdict: String,
    note: Option<String>,
}

/// Give the spot-check verdict on an autonomous handoff.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/spot-check", tag = "learning",
    params(("id" = String, Path, description = "The handoff id.")),
    request_body = SpotCheckRequest,
    responses(
        (status = 200, description = "The handoff, with its `spot_check`.", body = Resource),
        (status = 403, description = "Reviewers only.", body = Problem),
        (status = 404, description = "No such handoff in your teams.", body = Problem),
        (status = 409, description = "Not drawn for a spot check, or checked already.", body = Problem),
        (status = 422, description = "A bad verdict.", body = Problem),
    )
)]
pub async fn spot_check(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let req: SpotCheckRequest = json_body(&body?)?;
    let verdict = SpotVerdict::parse(&req.verdict).ok_or_else(|| {
        crate::app::AppError::field("verdict", "must be fine, would_change or would_reject")
    })?;
    let h = app.spot_check(&who, &id, verdict, req.note).await?;
    Ok(respond(StatusCode::OK, &h))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// One task type only.
    task: Option<String>,
    /// Handoffs submitted at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Handoffs submitted before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
}

/// Handoffs per page the export reads from the store.
const EXPORT_PAGE: u32 = 200;

/// The decisions data set: one JSON line per handoff no longer open.
#[utoipa::path(
    get, path = "/v1/export/decisions", tag = "learning", params(ExportParams),
    responses(
        (status = 200, description = "One record per line: the packet, the evaluation, every decision with its rationale, the agent's and the approved draft, the outcome and the spot check.", content_type = "application/x-ndjson", body = String),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 422, description = "A bad time.", body = Problem),
    )
)]
pub async fn export(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<ExportParams>, QueryRejection>,
) -> ApiResult<Response> {
    let p = query::read(q)?;
    let mut checked = query::Checked::default();
    let time = |checked: &mut query::Checked, name: &str, v: Option<&str>| {
        checked.word(
            name,
            v,
            |t| {
                DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            },
            "must be an RFC 3339 time, e.g. 2026-11-30T00:00:00Z",
        )
    };
    let since = time(&mut checked, "since", p.since.as_deref());
    let until = time(&mut checked, "until", p.until.as_deref());
    checked.done()?;
    // The first page answers the caller's rights (403) before the stream starts.
    let first = app
        .export_decisions(&who, p.task.clone(), since, until, None, EXPORT_PAGE)
        .await?;
    let state = (app, who, p.task, since, until, Some(first));
    let stream =
        futures_util::stream::unfold(state, |(app, who, task, since, until, page)| async move {
            let page = page?;
            if page.is_empty() {
                return None;
            }
            let last = page
                .last()
                .and_then(|r| r.get("id"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let mut chunk = String::new();
            for r in &page {
                chunk.push_str(&r.to_string());
                chunk.push('\n');
            }
            let next = if page.len() < EXPORT_PAGE as usize {
                Some(Vec::new())
            } else {
                match app
                    .export_decisions(&who, task.clone(), since, until, last, EXPORT_PAGE)
                    .await
                {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::error!(error = %e, "the export stopped");
                        None
                    }
                }
            };
            Some((
                Ok::<_, std::convert::Infallible>(Bytes::from(chunk)),
                (app, who, task, since, until, next),
            ))
        });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
