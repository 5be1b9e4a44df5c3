//! `/dashboard` (reviewers and admins): the KPIs of the governance matrix (SPEC §7) over
//! the window, one chart per KPI drawn from `App::stats`'s day series, the per-task
//! table with each task's recommendation and monitor, and the caller's open handoffs now
//! (counted through the inbox's listing, up to a cap).

use super::chart::{self, Chart, CountSeries, RateSeries, pct};
use super::evidence;
use super::inbox::{self, Filter, OPEN};
use super::page::{self, Layout};
use super::session::Viewer;
use super::{Nonce, Web, view};
use crate::app::{App, Kpis, Principal, Role, Stats, TaskStats};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Open handoffs counted at most (pages of 500 through the inbox's listing).
const CAP: usize = 5_000;

/// The windows the page offers (any the API takes works in the query).
const WINDOWS: [(&str, &str); 3] = [("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")];

#[derive(Debug, Default, Deserialize)]
pub struct WindowQuery {
    pub window: Option<String>,
}

/// A headline number.
pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub note: String,
    pub bad: bool,
}

/// One line of the per-task table.
pub struct TaskRow {
    pub task: String,
    pub href: String,
    pub description: Option<String>,
    pub level: String,
    pub changed: bool,
    pub decisions: i64,
    pub unchanged: String,
    pub ttd: String,
    pub sla: String,
    pub outcomes: String,
    pub threshold: String,
    /// `promote` or `demote` when the recommendations say so (admins).
    pub kind: Option<String>,
    pub recommendation: String,
    pub monitoring: String,
}

/// What is open now: totals, per team and level, per task and status.
pub struct Open {
    pub total: usize,
    pub capped: bool,
    pub overdue: usize,
    pub oldest_due: Option<String>,
    /// Team, its inbox link, handoffs at levels 1–4, all.
    pub by_team: Vec<(String, String, [usize; 4], usize)>,
    pub statuses: Vec<&'static str>,
    /// Task (as shown), its inbox link, handoffs in each open status, all.
    pub by_task: Vec<(String, String, Vec<usize>, usize)>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    window: String,
    windows: Vec<(&'static str, &'static str, bool)>,
    cards: Vec<Card>,
    charts: Vec<Chart>,
    tasks: Vec<TaskRow>,
    weeks: Vec<(String, i64, i64, i64)>,
    open: Open,
}

pub async fn page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    nonce: Nonce,
    q: Result<Query<WindowQuery>, QueryRejection>,
) -> Response {
    let app = &web.app;
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let window = q.window.filter(|w| !w.trim().is_empty());
    let stats = match app.stats(&viewer.who, None, window.as_deref()).await {
        Ok(s) => s,
        Err(e) => return page::app_error(&e),
    };
    // Promotion and demotion candidates are the admins' to act on.
    let kinds: HashMap<String, String> = if viewer.who.role == Role::Admin {
        match app.recommendations(&viewer.who).await {
            Ok(items) => items.into_iter().map(|r| (r.task, r.kind)).collect(),
            Err(e) => return page::app_error(&e),
        }
    } else {
        HashMap::new()
    };
    let open = match open_now(app, &viewer.who).await {
        Ok(o) => o,
        Err(e) => return page::app_error(&e),
    };
    let policy = app.policy();
    let tasks = stats
        .tasks
        .iter()
        .map(|t| TaskRow {
            task: evidence::task_name(&t.task),
            href: evidence::task_href(&t.task),
            description: policy
                .tasks
                .get(&t.task)
                .and_then(|p| p.description.clone()),
            level: evidence::level_text(t),
            changed: t.level != t.base_level,
            decisions: t.decisions,
            unchanged: evidence::unchanged_text(t),
            ttd: evidence::ttd_text(t.time_to_decision_p50_s, t.time_to_decision_p90_s),
            sla: pct(t.sla_compliance),
            outcomes: evidence::outcomes_text(t),
            threshold: evidence::threshold_text(t),
            kind: kinds.get(&t.task).cloned(),
            recommendation: recommendation(t),
            monitoring: evidence::monitoring_text(t.monitoring.as_ref()),
        })
        .collect();
    let p = DashboardPage {
        layout: Layout::new("Dashboard", &nonce.0, &viewer),
        windows: WINDOWS
            .iter()
            .map(|(v, label)| (*v, *label, *v == stats.window))
            .collect(),
        cards: cards(&stats),
        charts: charts(&stats),
        weeks: stats
            .kpis
            .incident_trend
            .iter()
            .map(|w| (w.week.clone(), w.failed, w.rolled_back, w.alerts))
            .collect(),
        window: stats.window.clone(),
        tasks,
        open,
    };
    page::render(StatusCode::OK, &p)
}

/// The table's recommendation cell: the promotion verdict for level-2 tasks, what the
/// monitor watches for level 1, nothing to earn at 3 and 4.
fn recommendation(t: &TaskStats) -> String {
    match (&t.recommendation, t.level) {
        (Some(r), _) => r.clone(),
        (None, 1) => "autonomous, monitored".to_owned(),
        (None, _) => "stays with people (levels 3 and 4 are not promoted on evidence)".to_owned(),
    }
}

fn cards(s: &Stats) -> Vec<Card> {
    let k = &s.kpis;
    let decisions: i64 = s.tasks.iter().map(|t| t.decisions).sum();
    let unchanged: i64 = s.tasks.iter().map(|t| t.unchanged).sum();
    let incidents: i64 = k
        .incident_trend
        .iter()
        .map(|w| w.failed + w.rolled_back + w.alerts)
        .sum();
    let rate = (decisions > 0).then(|| unchanged as f64 / decisions as f64);
    vec![
        Card {
            label: "Decisions",
            value: decisions.to_string(),
            note: format!("{} approved unchanged ({})", unchanged, pct(rate)),
            bad: false,
        },
        Card {
            label: "Escalation precision",
            value: pct(k.escalation_precision),
            note: "escalated handoffs a person changed".to_owned(),
            bad: false,
        },
        Card {
            label: "Time to decision",
            value: evidence::ttd_text(k.time_to_decision_p50_s, k.time_to_decision_p90_s),
            note: "p50 and p90".to_owned(),
            bad: false,
        },
        Card {
            label: "SLA compliance",
            value: pct(k.approval_sla_compliance),
            note: "decided by the due time".to_owned(),
            bad: k.approval_sla_compliance.is_some_and(|v| v < 0.9),
        },
        Card {
            label: "Rollback rate",
            value: pct(k.rollback_rate),
            note: "rolled back of executed".to_owned(),
            bad: k.rollback_rate.is_some_and(|v| v > 0.05),
        },
        Card {
            label: "Incidents",
            value: incidents.to_string(),
            note: "failed, rolled back, level-4 alerts".to_owned(),
            bad: incidents > 0,
        },
        Card {
            label: "Audit readiness",
            value: match k.audit_readiness.chain_ok {
                Some(true) => "chain verified".to_owned(),
                Some(false) => "CHAIN BROKEN".to_owned(),
                None => "not checked yet".to_owned(),
            },
            note: format!(
                "{} of decisions with a rationale",
                pct(k.audit_readiness.decisions_with_rationale)
            ),
            bad: k.audit_readiness.chain_ok == Some(false),
        },
    ]
}

/// "Over the window: 93%; on 2026-11-30, the last day measured: 95%."
fn rate_summary(window: &str, all: Option<f64>, days: &[(String, Option<f64>)]) -> String {
    let last = days.iter().rev().find_map(|(d, v)| v.map(|v| (d, v)));
    match last {
        Some((d, v)) => format!(
            "Over {window}: {}; {d}, the last day measured: {}.",
            pct(all),
            pct(Some(v))
        ),
        None => format!("Nothing measured over {window}."),
    }
}

/// Decisions per day (approved unchanged, and the rest) and the unchanged-approval rate,
/// from a day series: the dashboard's first two charts, and the task page's (`ids` name
/// the charts' elements).
pub fn decision_charts(k: &Kpis, w: &str, ids: [&'static str; 2]) -> Vec<Chart> {
    let dates: Vec<String> = k.daily.iter().map(|d| d.date.clone()).collect();
    let unchanged: Vec<i64> = k.daily.iter().map(|d| d.unchanged).collect();
    let changed: Vec<i64> = k
        .daily
        .iter()
        .zip(&unchanged)
        .map(|(d, u)| d.decisions - u)
        .collect();
    let decisions: i64 = k.daily.iter().map(|d| d.decisions).sum();
    let submitted: i64 = k.daily.iter().map(|d| d.submitted).sum();
    let all_unchanged: i64 = unchanged.iter().sum();
    let rate: Vec<Option<f64>> = k.daily.iter().map(|d| d.unchanged_rate).collect();
    let dated: Vec<(String, Option<f64>)> =
        dates.iter().cloned().zip(rate.iter().copied()).collect();
    vec![
        chart::counts(
            ids[0],
            "Decisions per day",
            format!(
                "{decisions} decisions over {w} ({all_unchanged} approved unchanged), {submitted} handoffs submitted."
            ),
            &dates,
            vec![
                CountSeries {
                    name: "approved unchanged",
                    class: "s0",
                    values: unchanged,
                },
                CountSeries {
                    name: "edited, rejected or taken over",
                    class: "s1",
                    values: changed,
                },
            ],
        ),
        chart::rates(
            ids[1],
            "Unchanged-approval rate",
            rate_summary(
                w,
                (decisions > 0).then(|| all_unchanged as f64 / decisions as f64),
                &dated,
            ),
            &dates,
            vec![RateSeries {
                name: "unchanged",
                class: "s0",
                values: rate,
            }],
        ),
    ]
}

fn charts(s: &Stats) -> Vec<Chart> {
    let k = &s.kpis;
    let w = &s.window;
    let dates: Vec<String> = k.daily.iter().map(|d| d.date.clone()).collect();
    let series = |f: fn(&crate::app::DayKpis) -> Option<f64>| -> Vec<Option<f64>> {
        k.daily.iter().map(f).collect()
    };
    let dated = |v: &[Option<f64>]| -> Vec<(String, Option<f64>)> {
        dates.iter().cloned().zip(v.iter().copied()).collect()
    };
    let precision = series(|d| d.escalation_precision);
    let sla = series(|d| d.sla_compliance);
    let rollback = series(|d| d.rollback_rate);
    let failed: Vec<i64> = k.daily.iter().map(|d| d.failed).collect();
    let rolled_back: Vec<i64> = k.daily.iter().map(|d| d.rolled_back).collect();
    let alerts: Vec<i64> = k.daily.iter().map(|d| d.alerts).collect();
    let incidents: i64 = failed.iter().chain(&rolled_back).chain(&alerts).sum();
    let mut out = decision_charts(k, w, ["kpi-decisions", "kpi-unchanged"]);
    out.extend([
        chart::rates(
            "kpi-escalation",
            "Escalation precision",
            rate_summary(w, k.escalation_precision, &dated(&precision)),
            &dates,
            vec![RateSeries {
                name: "changed by a person",
                class: "s2",
                values: precision,
            }],
        ),
        chart::rates(
            "kpi-sla",
            "Approval SLA compliance",
            rate_summary(w, k.approval_sla_compliance, &dated(&sla)),
            &dates,
            vec![RateSeries {
                name: "decided in time",
                class: "s0",
                values: sla,
            }],
        ),
        chart::rates(
            "kpi-rollback",
            "Rollback rate",
            rate_summary(w, k.rollback_rate, &dated(&rollback)),
            &dates,
            vec![RateSeries {
                name: "rolled back",
                class: "s3",
                values: rollback,
            }],
        ),
        chart::counts(
            "kpi-incidents",
            "Incidents per day",
            format!(
                "{incidents} incidents over {w}: failed and rolled-back outcomes, level-4 alerts."
            ),
            &dates,
            vec![
                CountSeries {
                    name: "failed",
                    class: "s3",
                    values: failed,
                },
                CountSeries {
                    name: "rolled back",
                    class: "s1",
                    values: rolled_back,
                },
                CountSeries {
                    name: "level-4 alerts",
                    class: "s4",
                    values: alerts,
                },
            ],
        ),
    ]);
    out
}

/// The caller's open handoffs now, through the inbox's listing.
async fn open_now(app: &App, who: &Principal) -> crate::app::AppResult<Open> {
    let now = app.now();
    let mut items = Vec::new();
    let mut f = Filter::default();
    loop {
        let l = inbox::list(app, who, &f, Some(500)).await?;
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
    Ok(Open {
        total: items.len(),
        capped,
        overdue,
        oldest_due: oldest.map(|o| format!("{} ({})", view::when(o), view::time_left(o, now).0)),
        by_team: by_team
            .into_iter()
            .map(|(t, l)| {
                let href = inbox_link("team", &t);
                (t, href, l, l.iter().sum())
            })
            .collect(),
        statuses: OPEN.iter().map(|s| s.as_str()).collect(),
        by_task: by_task
            .into_iter()
            .map(|(t, c)| {
                let n = c.iter().sum();
                (evidence::task_name(&t), inbox_link("task", &t), c, n)
            })
            .collect(),
    })
}

/// The inbox filtered by one field, the value encoded for the query string.
fn inbox_link(field: &str, value: &str) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::from("/?"));
    q.append_pair(field, value);
    q.finish()
}
