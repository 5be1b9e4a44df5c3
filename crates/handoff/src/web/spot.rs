//! `/spot-checks`: autonomous handoffs drawn for a check (SPEC §7), oldest first, each
//! with its summary and the agent's draft as the decision page shows it, and the verdict
//! buttons; `POST /handoffs/{id}/spot-check` gives a verdict through `App::spot_check`
//! (reviewers; admins see every team's queue but do not judge). A checked item leaves
//! the queue; a second verdict is a 409, shown on the page.

use super::detail::{self, Draft};
use super::page::{self, Layout};
use super::session::Viewer;
use super::{Form, Nonce, Web, view};
use crate::app::{AppError, AppResult, Role};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use handoff_domain::Handoff;
use handoff_domain::handoff::{SpotCheck, SpotVerdict};
use serde::Deserialize;
use std::sync::Arc;

/// Items per page.
pub const PAGE: u32 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct Cursor {
    pub cursor: Option<String>,
}

/// One item of the queue.
pub struct Item {
    pub id: String,
    pub task: String,
    pub team: String,
    pub agent: String,
    pub acted: String,
    pub subject: String,
    pub subject_warnings: Vec<String>,
    pub summary: String,
    pub summary_warnings: Vec<String>,
    pub status: &'static str,
    pub outcome: Option<String>,
    pub draft: Option<Draft>,
}

#[derive(Template)]
#[template(path = "spot_checks.html")]
struct SpotPage {
    layout: Layout,
    items: Vec<Item>,
    next: Option<String>,
    /// Reviewers give verdicts; admins look.
    can_judge: bool,
    error: Option<String>,
}

/// What a verdict means, in words.
pub fn verdict_words(v: SpotVerdict) -> &'static str {
    match v {
        SpotVerdict::Fine => "fine",
        SpotVerdict::WouldChange => "would have changed it",
        SpotVerdict::WouldReject => "would have rejected it",
    }
}

/// A handoff's spot check as the decision page tells it.
pub struct SpotState {
    /// Drawn and not checked yet.
    pub due: bool,
    pub text: String,
}

/// A handoff's spot check for the decision page: whether it is still due, and in words.
pub fn state(c: &SpotCheck) -> SpotState {
    match c.verdict {
        None => SpotState {
            due: true,
            text: "Drawn for a spot check: it waits for a reviewer's verdict.".to_owned(),
        },
        Some(v) => {
            let mut s = format!("Spot-checked: {}", verdict_words(v));
            if let Some(by) = &c.by {
                s.push_str(&format!(" ({by}"));
                if let Some(at) = c.at {
                    s.push_str(&format!(", {}", view::when(at)));
                }
                s.push(')');
            }
            if let Some(n) = &c.note {
                s.push_str(&format!(": “{n}”"));
            }
            s.push('.');
            SpotState {
                due: false,
                text: s,
            }
        }
    }
}

fn item(h: &Handoff) -> Item {
    Item {
        id: h.id.clone(),
        task: super::evidence::task_name(&h.task),
        team: h.state.assigned_team.clone(),
        agent: h.state.agent.clone(),
        acted: view::when(h.created_at),
        subject: view::field(h, "subject"),
        subject_warnings: view::warnings(view::raw(h, "subject")),
        summary: view::field(h, "summary"),
        summary_warnings: view::warnings(view::raw(h, "summary")),
        status: h.state.status.as_str(),
        outcome: h.state.outcome.as_ref().map(|o| {
            format!(
                "{}{}",
                o.result.as_str(),
                o.detail
                    .as_ref()
                    .map(|d| format!(": {}", super::text::reveal(d)))
                    .unwrap_or_default()
            )
        }),
        draft: detail::draft(h),
    }
}

async fn build(
    web: &Web,
    viewer: &Viewer,
    nonce: &Nonce,
    cursor: Option<&str>,
    error: Option<String>,
) -> AppResult<SpotPage> {
    let page = web.app.spot_checks(&viewer.who, cursor, Some(PAGE)).await?;
    Ok(SpotPage {
        layout: Layout::new("Spot checks", &nonce.0, viewer),
        items: page.items.iter().map(item).collect(),
        next: page.next_cursor.map(|c| {
            let mut q = url::form_urlencoded::Serializer::new(String::from("/spot-checks?"));
            q.append_pair("cursor", &c);
            q.finish()
        }),
        can_judge: viewer.who.role == Role::Reviewer,
        error,
    })
}

pub async fn page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    q: Result<Query<Cursor>, QueryRejection>,
) -> Response {
    let cursor = q
        .ok()
        .and_then(|Query(q)| q.cursor)
        .filter(|c| !c.is_empty());
    match build(&web, &viewer, &nonce, cursor.as_deref(), None).await {
        Ok(p) => page::render(StatusCode::OK, &p),
        Err(e) => page::app_error(&e),
    }
}

/// `POST /handoffs/{id}/spot-check`: `verdict` (`fine`, `would_change`, `would_reject`),
/// an optional `note`, and the form token.
pub async fn check(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Some(res) = viewer.refuse_post(&web, &headers, form.get("csrf")) {
        return res;
    }
    let result = match form.get("verdict").and_then(SpotVerdict::parse) {
        Some(v) => web
            .app
            .spot_check(&viewer.who, &id, v, form.text("note"))
            .await
            .map(|h| (h, v)),
        None => Err(AppError::field(
            "verdict",
            "choose fine, would_change or would_reject",
        )),
    };
    match result {
        Ok((h, v)) => {
            let subject = match view::field(&h, "subject") {
                s if s.is_empty() => view::clip(&view::field(&h, "summary"), 60),
                s => s,
            };
            let msg = format!(
                "Checked {} ({} “{subject}”): {}. {}",
                h.id,
                super::evidence::task_name(&h.task),
                verdict_words(v),
                if v.is_error() {
                    "It counts against the task's autonomy; the monitor judged it at once."
                } else {
                    "Thank you."
                }
            );
            page::done(&web, &headers, "/spot-checks", &msg)
        }
        Err(e) => {
            let text = format!("Not recorded for {id}: {}", view::error_text(&e));
            match build(&web, &viewer, &nonce, None, Some(text.clone())).await {
                Ok(p) => page::render(view::error_status(&e), &p),
                Err(_) => page::error_page(view::error_status(&e), &text),
            }
        }
    }
}
