//! `/`: the inbox. The caller's open handoffs (reviewers: their teams'; admins: every
//! team's; agents: their own), by SLA due time, filtered by status, task and team, one
//! page at a time through the store's cursor. `/batch` approves several at once.

use super::page::{self, Layout};
use super::session::Viewer;
use super::{Form, Nonce, Web, view};
use crate::app::{App, AppError, AppResult, ListRequest, Order, Page, Principal, Role};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use handoff_domain::lifecycle::Status;
use handoff_domain::{Handoff, Policy};
use serde::Deserialize;
use std::sync::Arc;

/// Rows per page.
pub const PAGE: u32 = 50;

/// Spot checks counted for the inbox's link, at most (then "20+").
const SPOT_COUNTED: u32 = 20;

/// The statuses that wait for a person: what the inbox shows unless filtered.
pub const OPEN: [Status; 4] = [
    Status::Pending,
    Status::HandedOver,
    Status::Alerted,
    Status::Acknowledged,
];

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filter {
    pub status: Option<String>,
    pub task: Option<String>,
    pub team: Option<String>,
    pub cursor: Option<String>,
}

impl Filter {
    fn clean(mut self) -> Filter {
        for f in [
            &mut self.status,
            &mut self.task,
            &mut self.team,
            &mut self.cursor,
        ] {
            if f.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *f = None;
            }
        }
        self
    }

    /// The query string of these filters (without the cursor).
    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("task", &self.task),
            ("team", &self.team),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// The listing behind the inbox: `App::list` by SLA due time (agents: their own, newest
/// first), the open statuses unless filtered.
pub async fn list(
    app: &App,
    who: &Principal,
    f: &Filter,
    limit: Option<u32>,
) -> AppResult<Page<Handoff>> {
    let statuses: Vec<Status> = match f.status.as_deref() {
        None | Some("open") => OPEN.to_vec(),
        Some(s) => vec![Status::parse(s).ok_or_else(|| AppError::field("status", "not a status"))?],
    };
    list_of(app, who, f, statuses, limit).await
}

/// Whether the filter shows the open list, where unacknowledged alerts are pinned first.
fn pins_alerts(f: &Filter) -> bool {
    matches!(f.status.as_deref(), None | Some("open"))
}

async fn list_of(
    app: &App,
    who: &Principal,
    f: &Filter,
    statuses: Vec<Status>,
    limit: Option<u32>,
) -> AppResult<Page<Handoff>> {
    let req = ListRequest {
        statuses,
        task: f.task.clone(),
        team: f.team.clone(),
        level: None,
        limit,
        cursor: f.cursor.clone(),
        order: Order::ByDue,
    };
    app.list(who, &req).await
}

/// One row of the inbox table.
pub struct Row {
    pub id: String,
    pub task: String,
    pub subject: String,
    pub summary: String,
    pub warnings: Vec<String>,
    pub level: u8,
    pub risk: &'static str,
    pub confidence: String,
    pub flags: Vec<String>,
    pub status: &'static str,
    /// The policy's description of the task.
    pub task_description: String,
    /// A level-4 handoff still open: shown red, "alert" instead of a risk.
    pub alarm: bool,
    pub time_left: String,
    pub overdue: bool,
    /// Whether it may be approved in a batch: pending, level 2, one approver.
    pub batchable: bool,
}

fn row(h: &Handoff, now: DateTime<Utc>, batchable: bool, policy: &Policy) -> Row {
    let (time_left, overdue) = view::time_left(h.evaluation.sla_due_at, now);
    let summary = view::raw(h, "summary");
    let subject = view::raw(h, "subject");
    let mut flags = h.evaluation.flags.clone();
    flags.extend(view::strings(h.packet.get("flags")));
    let confidence = h
        .packet
        .get("confidence")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    Row {
        id: h.id.clone(),
        task: h.task.clone(),
        subject: view::field(h, "subject"),
        summary: view::clip(&view::field(h, "summary"), 180),
        warnings: [view::warnings(subject), view::warnings(summary)].concat(),
        level: h.evaluation.level.get(),
        risk: h.evaluation.risk.as_str(),
        confidence: format!("{:.0}%", confidence * 100.0),
        flags,
        status: h.state.status.as_str(),
        task_description: policy
            .tasks
            .get(&h.task)
            .and_then(|t| t.description.clone())
            .unwrap_or_default(),
        alarm: h.evaluation.level.get() >= 4 && OPEN.contains(&h.state.status),
        time_left: if h.state.status == Status::Alerted {
            format!(
                "alert, {} unacknowledged",
                view::span((now - h.created_at).num_seconds())
            )
        } else if h.state.status == Status::Pending {
            time_left
        } else {
            String::new()
        },
        overdue,
        batchable,
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    layout: Layout,
    rows: Vec<Row>,
    filter: Filter,
    statuses: Vec<&'static str>,
    tasks: Vec<String>,
    teams: Vec<String>,
    next_href: Option<String>,
    first_href: Option<String>,
    /// Batch approval is offered when the list is one task's.
    batch: bool,
    error: Option<String>,
    /// A reviewer's teams, space-separated, for the live updates: a row whose handoff
    /// moves to another team (an escalation) leaves the list.
    live_teams: Option<String>,
    /// How many sampled autonomous handoffs wait for the viewer's spot check ("20+"
    /// beyond the first few), for reviewers and admins.
    spot_due: Option<String>,
}

impl InboxPage {
    fn is_status(&self, s: &str) -> bool {
        self.filter.status.as_deref().unwrap_or("open") == s
    }
}

/// The inbox page as HTML: the listing and the template, what `/` serves (and what the
/// inbox benchmark times).
pub async fn render(app: &App, who: &Principal, f: Filter, layout: Layout) -> (StatusCode, String) {
    let f = f.clean();
    let policy = app.policy();
    // The open list: unacknowledged alerts pinned above it on the first page, the rest
    // by due time.
    let pinned = if pins_alerts(&f) && f.cursor.is_none() {
        list_of(app, who, &f, vec![Status::Alerted], Some(PAGE))
            .await
            .map(|p| p.items)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let listed = if pins_alerts(&f) {
        let rest = OPEN.into_iter().filter(|s| *s != Status::Alerted).collect();
        list_of(app, who, &f, rest, Some(PAGE)).await
    } else {
        list(app, who, &f, Some(PAGE)).await
    };
    let (listing, error) = match listed {
        Ok(mut l) => {
            l.items.splice(0..0, pinned);
            (l, None)
        }
        Err(e) => (
            Page {
                items: Vec::new(),
                next_cursor: None,
            },
            Some(view::error_text(&e)),
        ),
    };
    let now = app.now();
    let rows: Vec<Row> = listing
        .items
        .iter()
        .map(|h| row(h, now, app.batchable(who, h), &policy))
        .collect();
    let query = f.query();
    let next_href = listing.next_cursor.map(|c| {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("/?{query}{sep}cursor={c}")
    });
    let first_href = f.cursor.as_ref().map(|_| format!("/?{query}"));
    let teams = app.teams_of(who);
    let batch = f.task.is_some() && rows.iter().any(|r| r.batchable);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let live_teams = (who.role == Role::Reviewer).then(|| teams.join(" "));
    let spot_due = if who.role == Role::Agent {
        None
    } else {
        match app.spot_checks(who, None, Some(SPOT_COUNTED)).await {
            Ok(p) if !p.items.is_empty() => Some(format!(
                "{}{}",
                p.items.len(),
                if p.next_cursor.is_some() { "+" } else { "" }
            )),
            _ => None,
        }
    };
    let page = InboxPage {
        layout,
        rows,
        live_teams,
        statuses: std::iter::once("open")
            .chain(Status::ALL.iter().map(|s| s.as_str()))
            .collect(),
        tasks: policy.tasks.keys().cloned().collect(),
        teams,
        filter: f,
        next_href,
        first_href,
        batch,
        error,
        spot_due,
    };
    match page.render() {
        Ok(html) => (status, html),
        Err(e) => {
            tracing::error!(error = %e, "the inbox failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_owned(),
            )
        }
    }
}

pub async fn page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    Query(f): Query<Filter>,
) -> Response {
    let layout = Layout::new("Inbox", &nonce.0, &viewer);
    let (status, html) = render(&web.app, &viewer.who, f, layout).await;
    page::html_response(status, html)
}

/// `POST /batch`: approve each selected handoff; each must be pending, level 2, with one
/// approver, and all of one task. Each is a separate decision (one may fail alone).
pub async fn batch(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Some(res) = viewer.refuse_post(&web, &headers, form.get("csrf")) {
        return res;
    }
    let ids: Vec<(String, Option<u64>)> = form.all("id").map(|id| (id.to_owned(), None)).collect();
    let (task, results) = web.app.approve_batch(&viewer.who, &ids).await;
    let (mut approved, mut failed) = (0, Vec::new());
    for (id, result) in results {
        match result {
            Ok(_) => approved += 1,
            Err(e) => failed.push(format!("{id}: {}", view::error_text(&e))),
        }
    }
    let mut msg = format!("Approved {approved} of {}.", ids.len());
    if !failed.is_empty() {
        msg.push_str(&format!(" Not approved: {}", failed.join("; ")));
    }
    let to = match &task {
        Some(t) => format!(
            "/?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("task", t)
                .finish()
        ),
        None => "/".to_owned(),
    };
    page::done(&web, &headers, &to, &msg)
}
