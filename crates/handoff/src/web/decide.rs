//! `POST /handoffs/{id}/decide`: the decision page's forms. A decision is `App::decide`,
//! as through the API; then the browser goes on to the next item in the inbox with a
//! message saying what was done. A refusal (409, 422, …) is shown on the page.

use super::detail;
use super::inbox::{self, Filter};
use super::page::{self, Layout};
use super::session::Viewer;
use super::{Form, Nonce, Web, view};
use crate::app::{AppError, AppResult, Decision};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use handoff_domain::lifecycle::Status;
use handoff_domain::{DecisionAction, Handoff};
use serde_json::Value;
use std::sync::Arc;

/// The request the form describes. An edited draft comes back as text: as a JSON
/// string when the draft was text, parsed when it was JSON.
fn request(form: &Form) -> AppResult<Decision> {
    let action = Decision::parse_action(&form.text("action").unwrap_or_default())?;
    let draft = match (action.as_str(), form.get("draft")) {
        ("edit", Some(text)) => Some(if form.get("draft_kind") == Some("json") {
            use handoff_domain::ijson::{Rejected, from_slice};
            from_slice(text.as_bytes()).map_err(|r| {
                let why = match r {
                    Rejected::Duplicate(d) => d.message,
                    Rejected::Json(e) => e.to_string(),
                };
                AppError::field(
                    "draft",
                    format!("the edited draft is not valid JSON: {why}"),
                )
            })?
        } else {
            // Browsers send line ends as CRLF; the agent's text had LF.
            Value::String(text.replace("\r\n", "\n"))
        }),
        _ => None,
    };
    Ok(Decision {
        action,
        rationale: form.text("rationale"),
        draft,
        option: form.text("option"),
        to_team: form.text("to_team"),
    })
}

/// What the reviewer is told after a decision: what was decided, named by task, subject
/// and id, so that a decision is never anonymous.
fn message(h: &Handoff, action: &str, by: &str) -> String {
    let s = &h.state;
    let subject = match view::field(h, "subject") {
        s if s.is_empty() => view::clip(&view::field(h, "summary"), 60),
        s => s,
    };
    let what = if subject.is_empty() {
        format!("{} ({})", h.id, h.task)
    } else {
        format!("{} ({} “{subject}”)", h.id, h.task)
    };
    match (action, s.status) {
        ("approve" | "edit", Status::Pending) => format!(
            "Your {} of {what} counts: {} of {} approvals so far.",
            if action == "edit" { "edit" } else { "approval" },
            s.approvers().len(),
            s.approvals_required
        ),
        ("approve", _) => format!("Approved {what}: the agent may act now."),
        ("edit", _) => format!("Edited and approved {what}: the agent acts on your version."),
        ("reject", _) => format!("Rejected {what}; your rationale goes back to the agent."),
        ("escalate", _) => format!("Escalated {what} to {}.", s.assigned_team),
        ("take_over", _) => format!("You ({by}) took over {what}; resolve it when done."),
        ("acknowledge", _) => format!("Acknowledged the alert {what}; resolve it when handled."),
        ("resolve", _) => format!("Resolved {what}."),
        ("assign", _) => format!("{what} is yours now; resolve it with what you did."),
        _ => format!("{what} is now {}.", s.status),
    }
}

pub async fn decide(
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
    let version = form.get("version").and_then(|v| v.parse::<u64>().ok());
    let result = match request(&form) {
        // The page asks for a written outcome; the API leaves it optional.
        Ok(req) if req.action == DecisionAction::Resolve && req.rationale.is_none() => {
            Err(AppError::field(
                "rationale",
                "say what was done: resolving needs a written outcome",
            ))
        }
        Ok(req) => {
            let action = req.action.as_str();
            web.app
                .decide(&viewer.who, &id, version, req)
                .await
                .map(|h| (h, action))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((h, action)) => {
            let msg = message(&h, action, &viewer.who.name);
            let to = if action == "acknowledge" {
                next_alert(&web, &viewer, &h.id).await
            } else if action == "assign" {
                // Now theirs: stay on it, to do the work and resolve it.
                format!("/handoffs/{}", h.id)
            } else {
                next_item(&web, &viewer, &h.id).await
            };
            page::done(&web, &headers, &to, &msg)
        }
        Err(e) => refused(&web, &viewer, &nonce, &id, &e).await,
    }
}

/// The next handoff waiting for this viewer: the first of the inbox other than the one
/// just decided, or the inbox itself when none is left.
async fn next_item(web: &Web, viewer: &Viewer, done: &str) -> String {
    match inbox::list(&web.app, &viewer.who, &Filter::default(), Some(2)).await {
        Ok(l) => l
            .items
            .iter()
            .find(|h| h.id != done)
            .map_or_else(|| "/".to_owned(), |h| format!("/handoffs/{}", h.id)),
        Err(_) => "/".to_owned(),
    }
}

/// After an acknowledgement: the next alert still waiting, or the inbox; never an
/// unrelated item.
async fn next_alert(web: &Web, viewer: &Viewer, done: &str) -> String {
    let f = Filter {
        status: Some(Status::Alerted.as_str().to_owned()),
        ..Filter::default()
    };
    match inbox::list(&web.app, &viewer.who, &f, Some(2)).await {
        Ok(l) => l
            .items
            .iter()
            .find(|h| h.id != done)
            .map_or_else(|| "/".to_owned(), |h| format!("/handoffs/{}", h.id)),
        Err(_) => "/".to_owned(),
    }
}

/// The decision page again, as the handoff is now, with what went wrong in words.
async fn refused(web: &Web, viewer: &Viewer, nonce: &Nonce, id: &str, e: &AppError) -> Response {
    let h = match web.app.visible(&viewer.who, id).await {
        Ok(h) => h,
        Err(e) => return page::app_error(&e),
    };
    let text = match e {
        AppError::Conflict(_) => format!(
            "Not done: {} (someone may have decided it meanwhile; it is now {}.)",
            view::error_text(e),
            h.state.status
        ),
        AppError::Stale { .. } => format!(
            "Not done: the handoff changed while you were reading it (now version {}, {}). Check it again below.",
            h.state.version, h.state.status
        ),
        _ => format!("Not done: {}", view::error_text(e)),
    };
    let layout = Layout::new(format!("{} · {}", h.task, h.id), &nonce.0, viewer);
    let p = detail::build(&web.app, &viewer.who, h, layout, Some(text)).await;
    page::render(view::error_status(e), &p)
}
