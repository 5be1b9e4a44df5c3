//! `/dashboard`: a plain overview of the caller's open handoffs: per team and level, how
//! many are overdue, the oldest due, and per task how many wait in each open status. It
//! counts what the inbox listing returns, up to a cap, and says so when it stops there;
//! the learning KPIs of SPEC §7 come with that issue.

use super::inbox::{self, Filter, OPEN};
use super::page::{self, Layout};
use super::session::Viewer;
use super::{Nonce, Web, view};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Open handoffs counted at most (pages of 500 through the inbox's listing).
const CAP: usize = 5_000;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    total: usize,
    capped: bool,
    overdue: usize,
    oldest_due: Option<String>,
    /// Team → handoffs at levels 1–4.
    by_team: Vec<(String, [usize; 4], usize)>,
    statuses: Vec<&'static str>,
    /// Task → handoffs in each open status (in `statuses` order).
    by_task: Vec<(String, Vec<usize>, usize)>,
}

pub async fn page(State(web): State<Arc<Web>>, viewer: Viewer, nonce: Nonce) -> Response {
    let app = &web.app;
    let now = app.now();
    let mut items = Vec::new();
    let mut f = Filter::default();
    loop {
        let l = match inbox::list(app, &viewer.who, &f, Some(500)).await {
            Ok(l) => l,
            Err(e) => return page::app_error(&e),
        };
        items.extend(l.items);
        match l.next_cursor {
            Some(c) if items.len() < CAP => f.cursor = Some(c),
            _ => break,
        }
    }
    let capped = items.len() >= CAP;
    let mut by_team: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut by_task: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut overdue = 0;
    let mut oldest = None;
    for h in &items {
        let level = usize::from(h.evaluation.level.get().clamp(1, 4)) - 1;
        by_team.entry(h.state.assigned_team.clone()).or_default()[level] += 1;
        let col = OPEN.iter().position(|s| *s == h.state.status).unwrap_or(0);
        by_task
            .entry(h.task.clone())
            .or_insert_with(|| vec![0; OPEN.len()])[col] += 1;
        if h.evaluation.sla_due_at < now {
            overdue += 1;
        }
        if oldest.is_none_or(|o| h.evaluation.sla_due_at < o) {
            oldest = Some(h.evaluation.sla_due_at);
        }
    }
    let p = DashboardPage {
        layout: Layout::new("Dashboard", &nonce.0, &viewer),
        total: items.len(),
        capped,
        overdue,
        oldest_due: oldest.map(|o| format!("{} ({})", view::when(o), view::time_left(o, now).0)),
        by_team: by_team
            .into_iter()
            .map(|(t, l)| (t, l, l.iter().sum()))
            .collect(),
        statuses: OPEN.iter().map(|s| s.as_str()).collect(),
        by_task: by_task
            .into_iter()
            .map(|(t, c)| {
                let n = c.iter().sum();
                (t, c, n)
            })
            .collect(),
    };
    page::render(StatusCode::OK, &p)
}
