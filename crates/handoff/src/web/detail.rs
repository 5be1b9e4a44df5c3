//! `/handoffs/{id}`: everything a reviewer needs to decide, on one screen, and the forms
//! for the actions the handoff's status and the caller allow.

use super::page::{self, Layout};
use super::session::Viewer;
use super::{Nonce, Web, diff, format, revision, text, view, why};
use crate::app::{App, Principal};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use handoff_domain::Handoff;
use handoff_domain::lifecycle::Status;
use serde_json::Value;
use std::sync::Arc;

pub struct Draft {
    /// For display, bidi and invisible characters made visible: the first lines, and
    /// when it is long, how many lines follow and those lines (folded, counted).
    pub head: String,
    pub more: Option<(usize, String)>,
    /// For the editor: exactly as it is.
    pub edit: String,
    /// The agent's version, for the editor's diff.
    pub original: String,
    pub is_json: bool,
    pub warnings: Vec<String>,
    /// "version 2, edited by ana" when not the agent's.
    pub version_note: Option<String>,
    /// What the edits changed against the agent's version, for every viewer.
    pub changes: Option<Changes>,
    /// A JSON draft as a reader reads it: key/value rows in the agent's order.
    pub rows: Vec<Field>,
}

/// One row of a key/value view; the text made safe to show (bidi and invisible
/// characters revealed).
pub struct Field {
    pub key: String,
    pub value: String,
    /// Indentation class: `d0`…`d3`.
    pub depth: &'static str,
}

/// `v` as rows (see `format`), for drafts and `context`.
fn fields(v: &Value) -> Vec<Field> {
    format::rows(v)
        .into_iter()
        .map(|r| Field {
            key: text::reveal(&r.key),
            value: text::reveal(&r.value),
            depth: ["d0", "d1", "d2", "d3"][r.depth.min(3)],
        })
        .collect()
}

pub struct Changes {
    pub summary: String,
    pub lines: Vec<diff::Line>,
}

/// Lines of a draft shown before the rest is folded (with its count).
const DRAFT_HEAD: usize = 30;

/// The first `DRAFT_HEAD` lines, and the rest with its count when there is more than a
/// few more.
fn split_draft(shown: &str) -> (String, Option<(usize, String)>) {
    let lines: Vec<&str> = shown.split('\n').collect();
    if lines.len() <= DRAFT_HEAD + 5 {
        return (shown.to_owned(), None);
    }
    let rest = &lines[DRAFT_HEAD..];
    (
        lines[..DRAFT_HEAD].join("\n"),
        Some((rest.len(), rest.join("\n"))),
    )
}

pub struct Evidence {
    pub label: String,
    pub detail: String,
    pub url: String,
}

pub struct PathOption {
    /// The id as the agent sent it, for the form's value.
    pub raw_id: String,
    pub id: String,
    pub label: String,
    pub tradeoffs: Vec<(&'static str, String)>,
}

/// What the alarm page says about a level-4 alert.
pub struct Alarm {
    pub raised: String,
    pub unacknowledged_for: String,
    /// "Re-alerts every 15 minutes until acknowledged (alert 2 sent; the next at …)".
    pub cadence: String,
}

pub struct Entry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// Which forms the page shows.
#[derive(Default)]
pub struct Actions {
    pub approve: bool,
    pub edit: bool,
    pub reject: bool,
    pub escalate: bool,
    pub take_over: bool,
    pub acknowledge: bool,
    pub resolve: bool,
    /// "Assign to me": the viewer may make a handed-over handoff theirs.
    pub assign: bool,
    /// Why approve is missing although the handoff is pending.
    pub note: Option<String>,
}

impl Actions {
    pub fn any(&self) -> bool {
        self.approve
            || self.edit
            || self.reject
            || self.escalate
            || self.take_over
            || self.acknowledge
            || self.resolve
            || self.assign
    }
}

#[derive(Template)]
#[template(path = "handoff.html")]
pub struct DetailPage {
    layout: Layout,
    id: String,
    version: u64,
    task: String,
    /// The policy's description of the task.
    task_description: Option<String>,
    /// What kind of page this is: `alarm` (a level-4 alert nobody acknowledged yet),
    /// `yours` (handed over or acknowledged: a person does it), `review` (pending: the
    /// draft is decided on), `closed` (decided or over).
    mode: &'static str,
    /// A level-4 handoff: shown red whatever its status.
    level4: bool,
    alarm: Option<Alarm>,
    /// Whose work it is now, on a `yours` page.
    owner: String,
    /// "Why this is here" in a few lines with the values; the full trace is `reasons`.
    headline: Vec<String>,
    status: &'static str,
    agent: String,
    team: String,
    subject: String,
    subject_warnings: Vec<String>,
    summary: String,
    summary_warnings: Vec<String>,
    decision_needed: String,
    decision_warnings: Vec<String>,
    recommended_action: String,
    confidence: f64,
    confidence_pct: String,
    level: String,
    risk: &'static str,
    reasons: Vec<(String, String)>,
    eval_flags: Vec<String>,
    agent_flags: Vec<String>,
    rubric: Vec<(String, String)>,
    draft: Option<Draft>,
    evidence: Vec<Evidence>,
    assumptions: Vec<String>,
    open_questions: Vec<String>,
    options: Vec<PathOption>,
    context: Option<String>,
    context_rows: Vec<Field>,
    /// The amount the context names, as money, for the header.
    amount: Option<String>,
    extra: Option<String>,
    /// Who approved, when, and the option each chose (empty when none).
    approvals: Vec<(String, String, String)>,
    approvals_required: u32,
    decision: Option<String>,
    outcome: Option<String>,
    sla: String,
    overdue: bool,
    sla_due_at: String,
    expires_at: String,
    created_at: String,
    timeline: Vec<Entry>,
    actions: Actions,
    teams: Vec<String>,
    error: Option<String>,
    /// The spot check of an autonomous handoff drawn for one: still due, and in words.
    spot_check: Option<super::spot::SpotState>,
    /// For a revision: what changed since the superseded handoff, and why it ended.
    revision: Option<revision::Revision>,
    /// The chain of revisions this handoff is in, oldest first (empty when none).
    chain: Vec<revision::Link>,
}

/// The draft as the editor holds it: text as itself, JSON pretty-printed (not revealed:
/// what is saved must be what the agent sent, unless the reviewer changes it).
fn draft_text(v: &Value) -> (String, bool) {
    match v {
        Value::String(s) => (s.clone(), false),
        other => (
            serde_json::to_string_pretty(other).unwrap_or_default(),
            true,
        ),
    }
}

/// The forms of the decisions `App` says are open to this viewer.
fn actions(app: &App, h: &Handoff, who: &Principal) -> Actions {
    use handoff_domain::DecisionAction as A;
    let open = app.decisions_open_to(who, h);
    Actions {
        approve: open.allows(A::Approve),
        edit: open.allows(A::Edit),
        reject: open.allows(A::Reject),
        escalate: open.allows(A::Escalate),
        take_over: open.allows(A::TakeOver),
        acknowledge: open.allows(A::Acknowledge),
        resolve: open.allows(A::Resolve),
        assign: open.allows(A::Assign),
        note: open
            .approved_already
            .map(|n| format!("You approved this version; it needs {n} approvals in all.")),
    }
}

/// The current draft as the page shows it: the first lines and the folded rest, the JSON
/// as key/value rows, its warnings, and what edits changed against the agent's version.
pub fn draft(h: &Handoff) -> Option<Draft> {
    let p = &h.packet;
    h.state.current_draft.as_ref().map(|d| {
        let (edit, is_json) = draft_text(d);
        let original = p.get("draft").map(|o| draft_text(o).0).unwrap_or_default();
        let edited = h.state.draft_versions.last().filter(|v| v.version > 1);
        let version_note = edited.map(|v| format!("version {}, edited by {}", v.version, v.by));
        let changes = edited.map(|_| {
            let d = diff::diff(&original, &edit);
            Changes {
                summary: d.summary(),
                lines: d.lines,
            }
        });
        let (head, more) = split_draft(&text::reveal(&edit));
        let rows = if is_json { fields(d) } else { Vec::new() };
        Draft {
            rows,
            head,
            more,
            changes,
            warnings: view::warnings(&edit),
            edit,
            original,
            is_json,
            version_note,
        }
    })
}

pub async fn build(
    app: &App,
    who: &Principal,
    h: Handoff,
    layout: Layout,
    error: Option<String>,
) -> DetailPage {
    let now = app.now();
    let policy = app.policy();
    let p = &h.packet;
    let timeline = match app.timeline(who, &h.id).await {
        Ok(entries) => entries
            .into_iter()
            .map(|e| Entry {
                at: view::when(e.at),
                actor: e.actor,
                action: e.action,
                detail: timeline_detail(&e.data),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, handoff = %h.id, "cannot read the timeline");
            Vec::new()
        }
    };
    let draft = draft(&h);
    let chain = match app.revision_chain(who, &h).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, handoff = %h.id, "cannot read the chain of revisions");
            crate::app::Chain::default()
        }
    };
    let evidence = p
        .get("evidence")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Evidence {
                    label: e.get("label").map(view::show).unwrap_or_default(),
                    detail: e.get("detail").map(view::show).unwrap_or_default(),
                    url: e.get("url").map(view::show).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let options = p
        .get("options")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|o| match o {
                    Value::String(raw) => PathOption {
                        raw_id: raw.clone(),
                        id: view::show(o),
                        label: view::show(o),
                        tradeoffs: Vec::new(),
                    },
                    o => PathOption {
                        raw_id: o
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        id: o.get("id").map(view::show).unwrap_or_default(),
                        label: o.get("label").map(view::show).unwrap_or_default(),
                        tradeoffs: ["risk", "effort", "impact", "note"]
                            .into_iter()
                            .filter_map(|k| o.get(k).map(|v| (k, view::show(v))))
                            .collect(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let rubric = p
        .get("rubric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (super::text::reveal(k), view::show(v)))
                .collect()
        })
        .unwrap_or_default();
    let object = |name: &str| {
        p.get(name)
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            .map(view::pretty)
    };
    let confidence = p.get("confidence").and_then(Value::as_f64).unwrap_or(0.0);
    let (sla, overdue) = view::time_left(h.evaluation.sla_due_at, now);
    let s = &h.state;
    let mode = match s.status {
        Status::Alerted => "alarm",
        Status::HandedOver | Status::Acknowledged => "yours",
        Status::Pending => "review",
        _ => "closed",
    };
    let alarm = (mode == "alarm").then(|| {
        let every = handoff_domain::schedule::REALERT_EVERY;
        let last = h.timers.last_alert_at.unwrap_or(h.created_at);
        Alarm {
            raised: view::when(h.created_at),
            unacknowledged_for: view::span((now - h.created_at).num_seconds()),
            cadence: format!(
                "Re-alerts team {} every {} minutes until acknowledged (alert {} sent; the next at {}).",
                s.assigned_team,
                every.num_minutes(),
                h.timers.alerts.max(1),
                view::when(last + every)
            ),
        }
    });
    let owner = match (s.owner(), &s.decision) {
        (Some(by), Some(d)) => format!(
            "{by} ({} at {}), for team {}",
            match d.action {
                handoff_domain::DecisionAction::TakeOver => "took it over",
                handoff_domain::DecisionAction::Acknowledge => "acknowledged it",
                _ => "assigned it to themselves",
            },
            view::when(d.at),
            s.assigned_team
        ),
        _ => format!("team {} (nobody has taken it yet)", s.assigned_team),
    };
    let subject = view::field(&h, "subject");
    let summary = view::field(&h, "summary");
    let decision_needed = view::field(&h, "decision_needed");
    DetailPage {
        layout,
        actions: actions(app, &h, who),
        teams: policy
            .teams
            .keys()
            .filter(|t| **t != s.assigned_team)
            .cloned()
            .collect(),
        id: h.id.clone(),
        version: s.version,
        task_description: policy
            .tasks
            .get(&h.task)
            .and_then(|t| t.description.clone()),
        mode,
        level4: h.evaluation.level.get() >= 4,
        alarm,
        owner,
        headline: why::headline(&policy, &h),
        task: h.task.clone(),
        status: s.status.as_str(),
        agent: s.agent.clone(),
        team: s.assigned_team.clone(),
        subject_warnings: view::warnings(view::raw(&h, "subject")),
        subject,
        summary_warnings: view::warnings(view::raw(&h, "summary")),
        summary,
        decision_warnings: view::warnings(view::raw(&h, "decision_needed")),
        decision_needed,
        recommended_action: view::field(&h, "recommended_action"),
        confidence,
        confidence_pct: format!("{:.0}%", confidence * 100.0),
        level: view::level(&h),
        risk: h.evaluation.risk.as_str(),
        reasons: h
            .evaluation
            .reasons
            .iter()
            .map(|r| (r.rule.clone(), r.effect.clone()))
            .collect(),
        eval_flags: h.evaluation.flags.clone(),
        agent_flags: view::strings(p.get("flags")),
        rubric,
        draft,
        evidence,
        assumptions: view::strings(p.get("assumptions")),
        open_questions: view::strings(p.get("open_questions")),
        options,
        context: object("context"),
        context_rows: p.get("context").map(fields).unwrap_or_default(),
        amount: format::headline_amount(p.get("context")),
        extra: object("extra"),
        approvals: s
            .approvals
            .iter()
            .map(|a| {
                let chose = a
                    .option
                    .as_deref()
                    .map(|o| format!("option {}", text::reveal(o)))
                    .unwrap_or_default();
                (a.by.clone(), view::when(a.at), chose)
            })
            .collect(),
        approvals_required: s.approvals_required,
        decision: s.decision.as_ref().map(|d| {
            let mut t = format!("{} by {} at {}", d.action, d.by, view::when(d.at));
            if let Some(r) = &d.rationale {
                t.push_str(&format!(": “{r}”"));
            }
            t
        }),
        outcome: s.outcome.as_ref().map(|o| {
            format!(
                "{} at {}{}",
                o.result.as_str(),
                view::when(o.at),
                o.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        }),
        sla,
        overdue,
        sla_due_at: view::when(h.evaluation.sla_due_at),
        expires_at: view::when(h.evaluation.expires_at),
        created_at: view::when(h.created_at),
        timeline,
        error,
        spot_check: h.spot_check.as_ref().map(super::spot::state),
        revision: revision::panel(&h, &chain),
        chain: revision::links(&h, &chain),
    }
}

/// The parts of an audit entry's data worth a line: the status change, the rationale,
/// the team.
fn timeline_detail(data: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(a) = data.get("action").and_then(Value::as_str) {
        parts.push(a.to_owned());
    }
    match (
        data.get("from_status").and_then(Value::as_str),
        data.get("to_status").and_then(Value::as_str),
    ) {
        (Some(f), Some(t)) => parts.push(format!("{f} → {t}")),
        (None, Some(t)) => parts.push(format!("→ {t}")),
        _ => {}
    }
    if let Some(s) = data.get("status").and_then(Value::as_str) {
        parts.push(format!(
            "level {} → {s}",
            data.get("level").map(view::show).unwrap_or_default()
        ));
    }
    // The clock's entries: which reminder, and where an escalation came from.
    if let Some(k) = data.get("kind").and_then(Value::as_str) {
        parts.push(match k {
            "sla" => "half the SLA gone".to_owned(),
            "overdue" => "SLA passed, nobody above".to_owned(),
            "alert" => format!(
                "alert {}",
                data.get("alert").map(view::show).unwrap_or_default()
            ),
            other => other.to_owned(),
        });
    }
    if let Some(t) = data.get("from_team").and_then(Value::as_str) {
        parts.push(format!("from {t}"));
    }
    if let Some(t) = data.get("to_team").and_then(Value::as_str) {
        parts.push(format!("to {t}"));
    }
    // Deliveries: what went where, which attempt, and what came of it.
    if let (Some(event), Some(channel)) = (
        data.get("event").and_then(Value::as_str),
        data.get("channel").and_then(Value::as_str),
    ) {
        let target = data.get("target").and_then(Value::as_str).unwrap_or("");
        parts.push(format!("{event} by {channel} to {target}"));
        if let Some(n) = data.get("attempt") {
            parts.push(format!("attempt {}", view::show(n)));
        }
        if let Some(e) = data.get("error").and_then(Value::as_str) {
            parts.push(e.to_owned());
        }
        match (
            data.get("final").and_then(Value::as_bool),
            data.get("next_attempt_at").and_then(Value::as_str),
        ) {
            (Some(true), _) => parts.push("no more attempts".to_owned()),
            (_, Some(next)) => parts.push(format!("next attempt {next}")),
            _ => {}
        }
    }
    if let Some(r) = data.get("rationale").and_then(Value::as_str) {
        parts.push(format!("“{r}”"));
    }
    if let Some(r) = data.get("result").and_then(Value::as_str) {
        parts.push(r.to_owned());
    }
    parts.join(" · ")
}

pub async fn page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    Path(id): Path<String>,
) -> Response {
    let h = match web.app.visible(&viewer.who, &id).await {
        Ok(h) => h,
        Err(e) => return page::app_error(&e),
    };
    let layout = Layout::new(format!("{} · {}", h.task, h.id), &nonce.0, &viewer);
    let p = build(&web.app, &viewer.who, h, layout, None).await;
    page::render(StatusCode::OK, &p)
}

#[cfg(test)]
mod tests {
    use super::timeline_detail;
    use serde_json::json;

    #[test]
    fn timeline_lines_say_what_the_clock_and_the_outbox_did() {
        assert_eq!(
            timeline_detail(&json!({"kind": "sla", "team": "sales"})),
            "half the SLA gone"
        );
        assert_eq!(
            timeline_detail(
                &json!({"from_team": "sales", "to_team": "leads", "reason": "sla passed"})
            ),
            "from sales · to leads"
        );
        assert_eq!(
            timeline_detail(&json!({
                "delivery": "msg_1", "event": "handoff.routed", "channel": "webhook",
                "target": "https://hooks.example/…", "attempt": 2, "error": "HTTP 500",
                "final": false, "next_attempt_at": "2026-11-21T10:05:00.000Z"
            })),
            "handoff.routed by webhook to https://hooks.example/… · attempt 2 · HTTP 500 · \
             next attempt 2026-11-21T10:05:00.000Z"
        );
        assert_eq!(
            timeline_detail(&json!({
                "event": "handoff.decision", "channel": "callback", "target": "https://a.example",
                "attempt": 1, "result": "HTTP 204"
            })),
            "handoff.decision by callback to https://a.example · attempt 1 · HTTP 204"
        );
    }
}
