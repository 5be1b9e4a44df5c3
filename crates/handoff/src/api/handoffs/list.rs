//! `GET /v1/handoffs`: reviewers see their teams' handoffs by SLA due time; agents their
//! own and admins everything, newest first. Cursor paging. The scopes are `App::list`'s;
//! this handler parses the query and renders the page.

use crate::api::resource::{HandoffPage, resource};
use crate::api::{ApiResult, Problem, query};
use crate::app::{App, ListRequest, Order, Principal};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use handoff_domain::Level;
use handoff_domain::lifecycle::Status;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(value_type = Status, required = false)]
    status: Option<String>,
    task: Option<String>,
    team: Option<String>,
    /// 1 to 4.
    #[param(value_type = u8, required = false, minimum = 1, maximum = 4)]
    level: Option<String>,
    /// At most 500 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// List handoffs.
#[utoipa::path(
    get, path = "/v1/handoffs", tag = "handoffs",
    params(ListParams),
    responses(
        (status = 200, description = "One page, in the caller's order.", body = HandoffPage),
        (status = 422, description = "A bad filter or limit.", body = Problem),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Response> {
    let req = parse(query::read(q)?)?;
    let page = app.list(&who, &req).await?;
    let page = HandoffPage {
        items: page.items.iter().map(resource).collect(),
        next_cursor: page.next_cursor,
    };
    Ok(Json(page).into_response())
}

/// The query's text as typed filters; every field that does not parse, or is out of its
/// range, is named at once.
fn parse(p: ListParams) -> ApiResult<ListRequest> {
    let mut checked = query::Checked::default();
    let status = checked.word(
        "status",
        p.status.as_deref(),
        Status::parse,
        "not a status (pending, approved, rejected, …)",
    );
    let level = checked
        .number("level", p.level.as_deref(), 1..=4i64)
        .and_then(|l| Level::new(l).ok());
    let limit = checked.number("limit", p.limit.as_deref(), 1..=crate::app::MAX_LIST_PAGE);
    checked.done()?;
    Ok(ListRequest {
        statuses: status.into_iter().collect(),
        task: p.task,
        team: p.team,
        level,
        limit,
        cursor: p.cursor,
        order: Order::ForRole,
    })
}
