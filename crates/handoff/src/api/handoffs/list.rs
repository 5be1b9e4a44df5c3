//! `GET /v1/handoffs`: reviewers see their teams' handoffs by SLA due time; agents their
//! own and admins everything, newest first. Cursor paging.

use crate::api::resource::Resource;
use crate::api::resource::resource;
use crate::api::{ApiError, ApiResult};
use crate::app::{App, Principal, Role};
use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use handoff_domain::Handoff;
use handoff_domain::lifecycle::Status;
use handoff_store::{Cursor, ListQuery, Scope};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    status: Option<String>,
    task: Option<String>,
    team: Option<String>,
    level: Option<String>,
    /// At most 500 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List handoffs.
#[utoipa::path(
    get, path = "/v1/handoffs", tag = "handoffs",
    params(ListParams),
    responses(
        (status = 200, description = "`{items, next_cursor}`.", body = Object),
        (status = 422, description = "A bad filter or limit.", body = crate::api::Problem),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::response::Response> {
    let by_due = who.role == Role::Reviewer;
    let mut q = parse(&p, by_due)?;
    q.scope = match who.role {
        Role::Admin => Scope::All,
        Role::Agent => Scope::Agent(who.name.clone()),
        Role::Reviewer => Scope::Teams(who.teams(&app.policy())),
    };
    // One more than asked tells whether there is a next page.
    let limit = q.limit as usize;
    q.limit += 1;
    let mut items = app.store.list(q).await?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|h| encode_cursor(h, by_due))
    } else {
        None
    };
    let page = Page {
        items: items.iter().map(resource).collect(),
        next_cursor: next,
    };
    Ok(axum::response::IntoResponse::into_response(Json(page)))
}

#[derive(serde::Serialize)]
struct Page<'a> {
    items: Vec<Resource<'a>>,
    next_cursor: Option<String>,
}

fn parse(p: &ListParams, by_due: bool) -> ApiResult<ListQuery> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, msg: &str| {
        errors.push(handoff_domain::FieldError::new(field, msg));
    };
    if let Some(s) = &p.status
        && Status::parse(s).is_none()
    {
        bad("status", "not a status (pending, approved, rejected, …)");
    }
    let level = match p.level.as_deref().map(str::parse::<u8>) {
        None => None,
        Some(Ok(l)) if (1..=4).contains(&l) => Some(l),
        Some(_) => {
            bad("level", "must be 1, 2, 3 or 4");
            None
        }
    };
    let limit = match p.limit.as_deref().map(str::parse::<u32>) {
        None => DEFAULT_LIMIT,
        Some(Ok(l)) if (1..=MAX_LIMIT).contains(&l) => l,
        Some(_) => {
            bad("limit", "must be 1 to 500");
            DEFAULT_LIMIT
        }
    };
    let after = match &p.cursor {
        None => None,
        Some(c) => {
            let cursor = decode_cursor(c, by_due);
            if cursor.is_none() {
                bad("cursor", "not a cursor this listing issued");
            }
            cursor
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(ListQuery {
        scope: Scope::All,
        status: p.status.clone(),
        task: p.task.clone(),
        team: p.team.clone(),
        level,
        limit,
        after,
    })
}

/// The cursor after `h`: its SLA due time and id for by-due listings, else its id.
pub fn encode_cursor(h: &Handoff, by_due: bool) -> String {
    let key = if by_due {
        format!("a.{}.{}", h.evaluation.sla_due_at.timestamp_millis(), h.id)
    } else {
        format!("b.{}", h.id)
    };
    URL_SAFE_NO_PAD.encode(key)
}

/// A cursor [`encode_cursor`] issued for a listing of the same order, or `None`.
pub fn decode_cursor(c: &str, by_due: bool) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    match (by_due, text.split_once('.')?) {
        (true, ("a", rest)) => {
            let (ms, id) = rest.split_once('.')?;
            Some(Cursor::After {
                sla_due_ms: ms.parse().ok()?,
                id: id.to_owned(),
            })
        }
        (false, ("b", id)) => Some(Cursor::Before { id: id.to_owned() }),
        _ => None,
    }
}
