//! `/tasks/{task}`: one task type's evidence under its level in force, the
//! recommendation in words, and for admins one button that promotes or demotes it
//! (`POST /tasks/{task}/level`, `App::set_task_level`, a reason required). A refusal (the
//! rubric floor's 409, an empty reason's 422) is shown on the page with its status.

use super::chart::{Chart, pct};
use super::dashboard::{WindowQuery, decision_charts};
use super::evidence::{self, level_name};
use super::page::{self, Layout};
use super::session::Viewer;
use super::{Form, Nonce, Web, view};
use crate::app::{AppError, AppResult, Role, TaskStats};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use handoff_domain::Level;
use handoff_domain::policy::rubric_floor;
use std::sync::Arc;

/// The admin's one action on the page.
pub struct LevelAction {
    /// The level the button sets (levels 1 and 2), or `None`: a choice of `choices`.
    pub target: Option<u8>,
    pub label: String,
    pub choices: Vec<(u8, String)>,
}

#[derive(Template)]
#[template(path = "task.html")]
pub struct TaskPage {
    layout: Layout,
    task: String,
    href: String,
    description: Option<String>,
    in_policy: bool,
    window: String,
    level: String,
    /// "promoted from 2 by root at …: “reason”", when the level was changed.
    last_change: Option<String>,
    /// The verdict in words, then why.
    recommendation: Vec<String>,
    /// `promote` or `demote` when the recommendations say so (admins see them).
    kind: Option<String>,
    floor: Option<String>,
    /// The floor forbids autonomy: promoting would be refused.
    floor_blocks: bool,
    evidence: Vec<(&'static str, String)>,
    /// Confidence buckets with decisions: range, decisions, unchanged, rate.
    buckets: Vec<(String, u64, u64, String)>,
    threshold: String,
    monitoring: Vec<(&'static str, String)>,
    /// This task's decisions per day and unchanged-approval rate over the window (every
    /// level's, unlike the evidence).
    charts: Vec<Chart>,
    action: Option<LevelAction>,
    reason: String,
    error: Option<String>,
}

pub async fn page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    Path(task): Path<String>,
    q: Result<Query<WindowQuery>, QueryRejection>,
) -> Response {
    let window = q
        .ok()
        .and_then(|Query(q)| q.window)
        .filter(|w| !w.trim().is_empty());
    match build(&web, &viewer, &nonce, &task, window.as_deref()).await {
        Ok(p) => page::render(StatusCode::OK, &p),
        Err(e) => page::app_error(&e),
    }
}

/// `POST /tasks/{task}/level`: `level`, `reason` and the form token.
pub async fn set_level(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    headers: HeaderMap,
    Path(task): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Some(res) = viewer.refuse_post(&web, &headers, form.get("csrf")) {
        return res;
    }
    let reason = form.get("reason").unwrap_or_default().to_owned();
    let level = form
        .get("level")
        .and_then(|l| l.trim().parse::<i64>().ok())
        .ok_or_else(|| AppError::field("level", "choose a level from 1 to 4"))
        .and_then(|l| Level::new(l).map_err(|e| AppError::field("level", e)));
    let result = match level {
        Ok(l) => web.app.set_task_level(&viewer.who, &task, l, &reason).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(done) => {
            let verb = if done.level < done.previous_level {
                "Promoted"
            } else {
                "Demoted"
            };
            let msg = format!(
                "{verb} {} to level {} (from {}); its evidence starts again from now ({} of {} decisions had been approved unchanged over {}).",
                evidence::task_name(&done.task),
                level_name(done.level),
                done.previous_level,
                done.evidence.unchanged,
                done.evidence.decisions,
                done.evidence.window,
            );
            page::done(&web, &headers, &evidence::task_href(&task), &msg)
        }
        Err(e) => {
            let status = view::error_status(&e);
            let text = match &e {
                AppError::Conflict(_) => format!("Not changed: {}.", view::error_text(&e)),
                _ => format!("Not changed: {}", view::error_text(&e)),
            };
            match build(&web, &viewer, &nonce, &task, None).await {
                Ok(mut p) => {
                    p.error = Some(text);
                    p.reason = reason;
                    page::render(status, &p)
                }
                Err(_) => page::error_page(status, &text),
            }
        }
    }
}

async fn build(
    web: &Web,
    viewer: &Viewer,
    nonce: &Nonce,
    task: &str,
    window: Option<&str>,
) -> AppResult<TaskPage> {
    let app = &web.app;
    let who = &viewer.who;
    let stats = app.stats(who, Some(task), window).await?;
    let t = stats
        .tasks
        .into_iter()
        .find(|t| t.task == task)
        .ok_or(AppError::NotFound("task type by that name"))?;
    let policy = app.policy();
    let in_policy = policy.tasks.contains_key(task);
    let change = app.task_level_change(who, task)?;
    let kind = if who.role == Role::Admin {
        app.recommendations(who)
            .await?
            .into_iter()
            .find(|r| r.task == task)
            .map(|r| r.kind)
    } else {
        None
    };
    let floor = rubric_floor(&policy, task);
    let floor_blocks = floor.as_ref().is_some_and(|(f, _)| *f > Level::AUTONOMOUS);
    let last_change = change.as_ref().map(|c| {
        let verb = if c.level < c.previous_level {
            "promoted"
        } else {
            "demoted"
        };
        let by = if c.automatic {
            format!("automatically by the {}", c.by)
        } else {
            format!("by {}", c.by)
        };
        format!(
            "{verb} from level {} to {} {by} at {}: “{}”",
            c.previous_level,
            c.level,
            view::when(c.changed_at),
            c.reason
        )
    });
    // Where a demotion from level 1 goes: the level before the promotion, else the
    // file's level when it is above 1, else draft & review.
    let back = change
        .as_ref()
        .and_then(|c| c.restore_level)
        .map(Level::get)
        .filter(|l| *l > 1)
        .unwrap_or(t.base_level.max(2));
    let action = (who.role == Role::Admin && in_policy).then(|| match t.level {
        2 => LevelAction {
            target: Some(1),
            label: "Promote to level 1 (autonomous)".to_owned(),
            choices: Vec::new(),
        },
        1 => LevelAction {
            target: Some(back),
            label: format!("Demote to level {}", level_name(back)),
            choices: Vec::new(),
        },
        current => LevelAction {
            target: None,
            label: "Change the level".to_owned(),
            choices: (1..=4)
                .filter(|l| *l != current)
                .map(|l| (l, level_name(l)))
                .collect(),
        },
    });
    Ok(TaskPage {
        layout: Layout::new(
            format!("Task {}", evidence::task_name(task)),
            &nonce.0,
            viewer,
        ),
        task: evidence::task_name(task),
        href: evidence::task_href(task),
        description: policy.tasks.get(task).and_then(|p| p.description.clone()),
        in_policy,
        window: stats.window.clone(),
        level: evidence::level_text(&t),
        last_change,
        recommendation: recommendation(&t, in_policy, floor_blocks, kind.as_deref()),
        kind,
        floor: floor.map(|(_, why)| why),
        floor_blocks,
        evidence: evidence_rows(&t),
        buckets: t
            .confidence_buckets
            .iter()
            .filter(|b| b.decisions > 0)
            .map(|b| {
                (
                    format!("{}–{}", pct(Some(b.from)), pct(Some(b.to))),
                    b.decisions,
                    b.unchanged,
                    pct(Some(b.unchanged as f64 / b.decisions as f64)),
                )
            })
            .collect(),
        threshold: evidence::threshold_text(&t),
        monitoring: monitoring_rows(&t),
        charts: decision_charts(
            &stats.kpis,
            &stats.window,
            ["task-decisions", "task-unchanged"],
        ),
        action,
        reason: String::new(),
        error: None,
    })
}

/// The recommendation in words: what the evidence says and what may be done.
fn recommendation(
    t: &TaskStats,
    in_policy: bool,
    floor_blocks: bool,
    kind: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if !in_policy {
        out.push(
            "This task type is not in the policy: its handoffs are judged as an unknown task, and its level cannot be changed here."
                .to_owned(),
        );
    }
    match (t.level, kind) {
        (_, Some("demote")) => out.push(
            "Demote: the monitor's evidence says this task type must go back to people.".to_owned(),
        ),
        (2, Some("promote")) => out.push(
            "Promote: this task type has earned autonomy on its evidence.".to_owned(),
        ),
        (2, _) if floor_blocks => out.push(
            "Stays at level 2: its rubric floor keeps it with people whatever the evidence."
                .to_owned(),
        ),
        (2, _) => out.push("Not yet a promotion candidate.".to_owned()),
        (1, _) => out.push(
            "Autonomous and monitored: each autonomous handoff may be drawn for a spot check, and the task goes back at once when its errors rise."
                .to_owned(),
        ),
        _ => out.push(
            "Levels 3 and 4 are not promoted on evidence: an admin changes them knowingly."
                .to_owned(),
        ),
    }
    if let Some(r) = &t.recommendation {
        out.push(r.clone());
    }
    out
}

fn evidence_rows(t: &TaskStats) -> Vec<(&'static str, String)> {
    let mut edited = t.edited.to_string();
    if t.edit_size.json_paths + t.edit_size.characters > 0 {
        edited.push_str(&format!(
            " ({} JSON paths, {} characters changed in all)",
            t.edit_size.json_paths, t.edit_size.characters
        ));
    }
    vec![
        (
            "Level since",
            t.level_since
                .map_or_else(|| "the policy file".to_owned(), view::when),
        ),
        ("Submitted", t.submitted.to_string()),
        ("Autonomous", t.autonomous.to_string()),
        ("Decisions", t.decisions.to_string()),
        ("Approved unchanged", evidence::unchanged_text(t)),
        ("Edited", edited),
        ("Rejected", t.rejected.to_string()),
        ("Escalated", t.escalated.to_string()),
        ("Taken over", t.taken_over.to_string()),
        ("Expired", t.expired.to_string()),
        (
            "Time to decision",
            evidence::ttd_text(t.time_to_decision_p50_s, t.time_to_decision_p90_s),
        ),
        ("SLA compliance", pct(t.sla_compliance)),
        ("Outcomes", evidence::outcomes_text(t)),
    ]
}

fn monitoring_rows(t: &TaskStats) -> Vec<(&'static str, String)> {
    let Some(m) = &t.monitoring else {
        return Vec::new();
    };
    vec![
        (
            "Window",
            format!("{} to {}", view::when(m.since), view::when(m.until)),
        ),
        (
            "Spot checks",
            format!(
                "{} checked, {} would have been changed or rejected, or failed ({})",
                m.checked,
                m.errors,
                pct(m.error_rate)
            ),
        ),
        (
            "Outcomes",
            format!(
                "{} reported, {} failed or rolled back",
                m.outcomes, m.failed_outcomes
            ),
        ),
    ]
}
