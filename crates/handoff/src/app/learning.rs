//! The learning loop through `App` (SPEC §7): statistics and KPIs read from the store's
//! per-task aggregates, recommendations, task levels changed by an admin or taken back by
//! the monitor, spot checks, and the decisions export.
//!
//! The store adds every change to its aggregates in the change's own transaction; this
//! module only reads them and judges with the domain's `learning` functions. A task's
//! level in force lives in the store and in memory here (`levels`), read by every
//! submission; changing it starts a new evidence epoch.

use super::{App, AppError, AppResult, Page, Principal, Role};
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use handoff_domain::audit::NewEntry;
use handoff_domain::handoff::{SpotCheck, SpotVerdict};
use handoff_domain::learning::tally::{Tally, ttd_percentile};
use handoff_domain::learning::{
    BUCKETS, ConfidenceBucket, Counts, Demotion, Histogram, Stream, StreamKind, boundary,
    recommend, suggested_threshold, wilson,
};
use handoff_domain::policy::{InForce, rubric_floor};
use handoff_domain::{Handoff, Level, Policy, Span, TransitionError};
use handoff_store::{DayTally, ExportQuery, Refused, TaskLevel};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The longest `?window=` the statistics accept.
pub const MAX_WINDOW_DAYS: u64 = 366;
/// Spot checks per page unless asked, and at most.
pub const SPOT_PAGE: u32 = 50;
pub const MAX_SPOT_PAGE: u32 = 500;
/// Who the monitor's demotions are recorded as.
pub const MONITOR: &str = "monitor";

/// The statistics of `GET /v1/stats` (SPEC §7's shape, and a few additions).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// The window, as the policy writes durations (`30d`).
    pub window: String,
    pub tasks: Vec<TaskStats>,
    pub kpis: Kpis,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskStats {
    pub task: String,
    /// The level in force.
    pub level: u8,
    /// The policy file's level.
    pub base_level: u8,
    /// When the level in force was set (evidence counts from then), if it was changed.
    pub level_since: Option<DateTime<Utc>>,
    pub submitted: i64,
    pub autonomous: i64,
    pub decisions: i64,
    pub unchanged: i64,
    pub edited: i64,
    pub rejected: i64,
    pub escalated: i64,
    pub taken_over: i64,
    pub expired: i64,
    pub unchanged_rate: Option<f64>,
    pub wilson_low: Option<f64>,
    pub wilson_high: Option<f64>,
    pub time_to_decision_p50_s: Option<f64>,
    pub time_to_decision_p90_s: Option<f64>,
    pub sla_compliance: Option<f64>,
    pub outcomes: Outcomes,
    /// How much the edits changed, in all: JSON leaf paths, or characters of text drafts.
    pub edit_size: EditSize,
    pub confidence_buckets: Vec<Bucket>,
    pub suggested_threshold: Option<f64>,
    pub monitoring: Option<Monitoring>,
    /// Why the task is, or is not, a promotion candidate (level-2 tasks only).
    pub recommendation: Option<String>,
    /// Revisions submitted (handoffs that supersede a rejected, expired or cancelled one).
    pub revisions: i64,
    /// Approvals (unchanged or edited) of revisions.
    pub revisions_approved: i64,
    /// Approvals by a person by how many revisions came before: `revisions` 0 is approved
    /// at the first submission; the last entry (10) holds 10 and more. Only counts above
    /// zero are listed, fewest revisions first.
    pub approved_after_revisions: Vec<RevisionCount>,
}

/// How many approvals came after `revisions` revisions.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct RevisionCount {
    pub revisions: i64,
    pub approved: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct Outcomes {
    pub executed: i64,
    pub failed: i64,
    pub rolled_back: i64,
}

#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct EditSize {
    pub json_paths: i64,
    pub characters: i64,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    pub from: f64,
    pub to: f64,
    pub decisions: u64,
    pub unchanged: u64,
}

/// The monitor's two streams over `monitor_window` under the current level: spot checks,
/// then outcomes of autonomous handoffs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Monitoring {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub checked: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub outcomes: i64,
    pub failed_outcomes: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    pub escalation_precision: Option<f64>,
    pub time_to_decision_p50_s: Option<f64>,
    pub time_to_decision_p90_s: Option<f64>,
    pub approval_sla_compliance: Option<f64>,
    /// Rolled back over executed.
    pub rollback_rate: Option<f64>,
    pub audit_readiness: AuditReadiness,
    pub incident_trend: Vec<Week>,
    /// Each day of the window, every task: what the dashboard's charts draw.
    pub daily: Vec<DayKpis>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditReadiness {
    /// `null` only in the metrics' view before the first check.
    pub chain_ok: Option<bool>,
    /// The share of decisions that carry a rationale.
    pub decisions_with_rationale: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// ISO week, `2026-W49`.
    pub week: String,
    pub failed: i64,
    pub rolled_back: i64,
    pub alerts: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayKpis {
    /// `2026-11-30`.
    pub date: String,
    pub submitted: i64,
    pub decisions: i64,
    pub unchanged: i64,
    pub unchanged_rate: Option<f64>,
    pub escalation_precision: Option<f64>,
    pub sla_compliance: Option<f64>,
    pub rollback_rate: Option<f64>,
    pub failed: i64,
    pub rolled_back: i64,
    pub alerts: i64,
}

/// The numbers a promotion or demotion rests on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    pub window: String,
    pub decisions: i64,
    pub unchanged: i64,
    pub unchanged_rate: Option<f64>,
    pub wilson_low: Option<f64>,
}

/// One item of `GET /v1/recommendations`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecommendationItem {
    pub task: String,
    /// `promote` or `demote`.
    pub kind: String,
    pub from_level: u8,
    pub to_level: u8,
    pub evidence: Evidence,
    pub reason: String,
}

/// The answer to a level change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LevelChanged {
    pub task: String,
    pub level: u8,
    pub previous_level: u8,
    pub evidence: Evidence,
}

/// How far the audit chain was verified for the statistics, and the answer.
#[derive(Debug, Clone)]
pub(super) struct AuditCheckpoint {
    pub(super) ok: bool,
    /// The last entry verified: the next check starts after it.
    pub(super) tail: Option<(i64, String)>,
}

/// A task's level in force and where it came from.
struct Standing {
    level: Level,
    base: Level,
    stored: Option<TaskLevel>,
}

impl Standing {
    fn epoch(&self) -> u64 {
        self.stored.as_ref().map_or(0, |t| t.epoch)
    }
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn date_of_day(day: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default()
}

impl App {
    /// Loads the task levels in force from the store (at start).
    pub async fn load_task_levels(&self) -> AppResult<()> {
        let levels = self.store.task_levels().await?;
        let mut map = self.levels.write().unwrap_or_else(|p| p.into_inner());
        map.clear();
        for t in levels {
            map.insert(t.task.clone(), t);
        }
        Ok(())
    }

    fn stored_level(&self, task: &str) -> Option<TaskLevel> {
        self.levels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(task)
            .cloned()
    }

    /// The level in force for `task`'s evaluations, and the epoch its evidence counts in
    /// (for a task the file does not list, nothing: it is judged as unknown).
    pub(super) fn in_force(&self, policy: &Policy, task: &str) -> (Option<InForce>, u64) {
        match self.stored_level(task) {
            Some(t) if policy.tasks.contains_key(task) => {
                let verb = if t.level < t.previous_level {
                    "promoted"
                } else {
                    "demoted"
                };
                let how = if t.automatic { "automatically" } else { "by" };
                let who = if t.automatic { "" } else { t.by.as_str() };
                let note = format!(
                    "{verb} {} {how}{}{who}: {}",
                    t.changed_at.format("%Y-%m-%dT%H:%MZ"),
                    if who.is_empty() { "" } else { " " },
                    t.reason
                );
                (
                    Some(InForce {
                        level: t.level,
                        note,
                    }),
                    t.epoch,
                )
            }
            Some(t) => (None, t.epoch),
            None => (None, 0),
        }
    }

    fn standing(&self, policy: &Policy, task: &str) -> Standing {
        let base = policy
            .task_level(task)
            .unwrap_or_else(|| policy.defaults.level.max(Level::REVIEW));
        let stored = self.stored_level(task);
        let level = match &stored {
            Some(t) if policy.tasks.contains_key(task) => t.level,
            _ => base,
        };
        Standing {
            level,
            base,
            stored,
        }
    }

    fn window(&self, policy: &Policy, asked: Option<&str>) -> AppResult<Span> {
        let Some(text) = asked else {
            return Ok(policy.learning.window);
        };
        let span = Span::parse(text).map_err(|e| AppError::field("window", e))?;
        if span.as_secs() == 0 || span.as_secs() > MAX_WINDOW_DAYS * 86_400 {
            return Err(AppError::field(
                "window",
                format!("must be more than 0 and at most {MAX_WINDOW_DAYS}d"),
            ));
        }
        Ok(span)
    }

    /// `GET /v1/stats`: per task over the window, and the KPIs; reviewers and admins.
    pub async fn stats(
        &self,
        who: &Principal,
        task: Option<&str>,
        window: Option<&str>,
    ) -> AppResult<Stats> {
        if who.role == Role::Agent {
            return Err(AppError::forbidden(
                "only reviewers and admins read statistics",
            ));
        }
        self.compute_stats(task, window, true).await
    }

    /// The statistics; `verify` checks the audit chain when the last check is old (the
    /// metrics scrape reads the last answer only).
    async fn compute_stats(
        &self,
        task: Option<&str>,
        window: Option<&str>,
        verify: bool,
    ) -> AppResult<Stats> {
        let policy = self.policy();
        let window = self.window(&policy, window)?;
        let now = self.now();
        let since = now - window.to_chrono();
        let since_hour = Tally::hour_of(since);
        let rows = self
            .store
            .tallies(since_hour, task.map(str::to_owned))
            .await?;

        let mut names: BTreeSet<String> = match task {
            Some(t) => [t.to_owned()].into(),
            None => policy.tasks.keys().cloned().collect(),
        };
        if task.is_none() {
            names.extend(rows.iter().map(|r| r.task.clone()));
        }
        let mut tasks = Vec::with_capacity(names.len());
        let mut all_ttd: BTreeMap<i64, u64> = BTreeMap::new();
        for name in names {
            let (stats, ttd) = self
                .task_stats(&policy, &name, &rows, since_hour, now)
                .await?;
            for (b, n) in ttd {
                *all_ttd.entry(b).or_default() += n;
            }
            tasks.push(stats);
        }
        let kpis = self.kpis(&rows, &all_ttd, since, now, verify).await?;
        Ok(Stats {
            window: window.to_string(),
            tasks,
            kpis,
        })
    }

    /// One task's statistics under its current level, and its time-to-decision histogram
    /// over every epoch (for the KPIs).
    async fn task_stats(
        &self,
        policy: &Policy,
        task: &str,
        rows: &[DayTally],
        since_hour: i64,
        now: DateTime<Utc>,
    ) -> AppResult<(TaskStats, Vec<(i64, u64)>)> {
        let standing = self.standing(policy, task);
        let epoch = standing.epoch();
        let mut c = Counts::default();
        for r in rows.iter().filter(|r| r.task == task && r.epoch == epoch) {
            c.add(&r.counts);
        }
        let hist = self.store.histograms(since_hour, task.to_owned()).await?;
        let mut conf = [(0u64, 0u64); BUCKETS];
        let mut ttd: Vec<(i64, u64)> = Vec::new();
        let mut ttd_all: Vec<(i64, u64)> = Vec::new();
        let mut after_revisions: BTreeMap<i64, u64> = BTreeMap::new();
        for h in &hist {
            match h.histogram {
                Histogram::TimeToDecision => {
                    ttd_all.push((h.bucket, h.n));
                    if h.epoch == epoch {
                        ttd.push((h.bucket, h.n));
                    }
                }
                _ if h.epoch != epoch => {}
                Histogram::ApprovedAfterRevisions => {
                    *after_revisions.entry(h.bucket).or_default() += h.n;
                }
                Histogram::ConfidenceDecisions | Histogram::ConfidenceUnchanged => {
                    if let Some(slot) = usize::try_from(h.bucket).ok().and_then(|b| conf.get_mut(b))
                    {
                        if h.histogram == Histogram::ConfidenceDecisions {
                            slot.0 += h.n;
                        } else {
                            slot.1 += h.n;
                        }
                    }
                }
            }
        }
        let buckets: Vec<ConfidenceBucket> = conf
            .iter()
            .enumerate()
            .map(|(i, (d, u))| ConfidenceBucket {
                from: boundary(i),
                to: boundary(i + 1),
                decisions: *d,
                unchanged: *u,
            })
            .collect();
        let learning = &policy.learning;
        let decisions = u64::try_from(c.decisions).unwrap_or(0);
        let unchanged = u64::try_from(c.unchanged).unwrap_or(0);
        let interval = wilson(unchanged.min(decisions), decisions);
        let monitoring = if standing.level == Level::AUTONOMOUS {
            Some(self.monitoring(policy, task, &standing, now).await?.0)
        } else {
            None
        };
        let recommendation = (standing.level == Level::REVIEW)
            .then(|| recommend(decisions, unchanged, learning).reason);
        Ok((
            TaskStats {
                task: task.to_owned(),
                level: standing.level.get(),
                base_level: standing.base.get(),
                level_since: standing.stored.as_ref().map(|t| t.changed_at),
                submitted: c.submitted,
                autonomous: c.autonomous,
                decisions: c.decisions,
                unchanged: c.unchanged,
                edited: c.edited,
                rejected: c.rejected,
                escalated: c.escalated,
                taken_over: c.taken_over,
                expired: c.expired,
                unchanged_rate: ratio(c.unchanged, c.decisions),
                wilson_low: interval.map(|i| i.0),
                wilson_high: interval.map(|i| i.1),
                time_to_decision_p50_s: ttd_percentile(&ttd, 50.0),
                time_to_decision_p90_s: ttd_percentile(&ttd, 90.0),
                sla_compliance: ratio(c.sla_met, c.decisions),
                outcomes: Outcomes {
                    executed: c.executed,
                    failed: c.failed,
                    rolled_back: c.rolled_back,
                },
                edit_size: EditSize {
                    json_paths: c.edit_paths,
                    characters: c.edit_chars,
                },
                suggested_threshold: suggested_threshold(&buckets, learning),
                confidence_buckets: buckets
                    .iter()
                    .map(|b| Bucket {
                        from: b.from,
                        to: b.to,
                        decisions: b.decisions,
                        unchanged: b.unchanged,
                    })
                    .collect(),
                monitoring,
                recommendation,
                revisions: c.revisions,
                revisions_approved: c.revisions_approved,
                approved_after_revisions: after_revisions
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(revisions, approved)| RevisionCount {
                        revisions,
                        approved,
                    })
                    .collect(),
            },
            ttd_all,
        ))
    }

    /// The monitor's window for a task at level 1, and its two streams as they stand.
    async fn monitoring(
        &self,
        policy: &Policy,
        task: &str,
        standing: &Standing,
        now: DateTime<Utc>,
    ) -> AppResult<(Monitoring, [Stream; 2])> {
        let learning = &policy.learning;
        let epoch = standing.epoch();
        let mut since = now - learning.monitor_window.to_chrono();
        if let Some(t) = &standing.stored
            && t.changed_at > since
        {
            since = t.changed_at;
        }
        let rows = self
            .store
            .tallies(Tally::hour_of(since), Some(task.to_owned()))
            .await?;
        let mut c = Counts::default();
        for r in rows.iter().filter(|r| r.epoch == epoch) {
            c.add(&r.counts);
        }
        let mut streams = Vec::with_capacity(2);
        for (kind, items, errors) in [
            (StreamKind::SpotChecks, c.checked, c.check_errors),
            (StreamKind::Outcomes, c.auto_outcomes, c.auto_errors),
        ] {
            let mut recent = self
                .store
                .recent_items(task.to_owned(), epoch, kind, learning.trip_window)
                .await?;
            recent.reverse();
            streams.push(Stream::from_counts(
                kind,
                learning,
                u64::try_from(items).unwrap_or(0),
                u64::try_from(errors).unwrap_or(0),
                recent,
            ));
        }
        let [spot, outcomes]: [Stream; 2] = streams
            .try_into()
            .map_err(|_| AppError::Unavailable("monitor streams".to_owned()))?;
        Ok((
            Monitoring {
                since,
                until: now,
                checked: c.checked,
                errors: c.check_errors,
                error_rate: ratio(c.check_errors, c.checked),
                outcomes: c.auto_outcomes,
                failed_outcomes: c.auto_errors,
            },
            [spot, outcomes],
        ))
    }

    async fn kpis(
        &self,
        rows: &[DayTally],
        ttd: &BTreeMap<i64, u64>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        verify: bool,
    ) -> AppResult<Kpis> {
        let mut all = Counts::default();
        let mut days: BTreeMap<i64, Counts> = BTreeMap::new();
        for r in rows {
            all.add(&r.counts);
            days.entry(r.day).or_default().add(&r.counts);
        }
        let first_day = since.timestamp().div_euclid(86_400);
        let last_day = now.timestamp().div_euclid(86_400);
        let mut weeks: BTreeMap<(i32, u32), Week> = BTreeMap::new();
        let mut daily = Vec::new();
        for day in first_day..=last_day {
            let c = days.get(&day).copied().unwrap_or_default();
            let date = date_of_day(day);
            let iso = date.iso_week();
            let w = weeks
                .entry((iso.year(), iso.week()))
                .or_insert_with(|| Week {
                    week: format!("{}-W{:02}", iso.year(), iso.week()),
                    failed: 0,
                    rolled_back: 0,
                    alerts: 0,
                });
            w.failed += c.failed;
            w.rolled_back += c.rolled_back;
            w.alerts += c.alerts;
            daily.push(DayKpis {
                date: date.format("%Y-%m-%d").to_string(),
                submitted: c.submitted,
                decisions: c.decisions,
                unchanged: c.unchanged,
                unchanged_rate: ratio(c.unchanged, c.decisions),
                escalation_precision: ratio(c.escalated_changed, c.escalated),
                sla_compliance: ratio(c.sla_met, c.decisions),
                rollback_rate: ratio(c.rolled_back, c.executed),
                failed: c.failed,
                rolled_back: c.rolled_back,
                alerts: c.alerts,
            });
        }
        let ttd: Vec<(i64, u64)> = ttd.iter().map(|(b, n)| (*b, *n)).collect();
        Ok(Kpis {
            escalation_precision: ratio(all.escalated_changed, all.escalated),
            time_to_decision_p50_s: ttd_percentile(&ttd, 50.0),
            time_to_decision_p90_s: ttd_percentile(&ttd, 90.0),
            approval_sla_compliance: ratio(all.sla_met, all.decisions),
            rollback_rate: ratio(all.rolled_back, all.executed),
            audit_readiness: AuditReadiness {
                chain_ok: self.chain_ok(verify).await?,
                decisions_with_rationale: ratio(all.with_rationale, all.decisions),
            },
            incident_trend: weeks.into_values().collect(),
            daily,
        })
    }

    /// Whether the audit chain verifies: the first call reads the whole chain, later ones
    /// only the entries after the last one verified (a full check is `GET
    /// /v1/audit/verify`). Without `verify` (the metrics scrape), the last answer only,
    /// `None` before the first check or while one runs.
    async fn chain_ok(&self, verify: bool) -> AppResult<Option<bool>> {
        if !verify {
            return Ok(self
                .audit_checked
                .try_lock()
                .ok()
                .and_then(|c| c.as_ref().map(|c| c.ok)));
        }
        let mut checked = self.audit_checked.lock().await;
        match checked.as_ref() {
            Some(c) if !c.ok => return Ok(Some(false)),
            _ => {}
        }
        let after = checked.as_ref().and_then(|c| c.tail.clone());
        let (v, tail) = self.store.verify_audit_after(after).await?;
        *checked = Some(AuditCheckpoint { ok: v.ok, tail });
        Ok(Some(v.ok))
    }

    /// Reads the whole audit chain once, in the background after a start, so that the
    /// statistics only read what is new.
    pub async fn check_audit_chain(&self) {
        if let Err(e) = self.chain_ok(true).await {
            tracing::warn!(error = %e, "the audit chain could not be read for the statistics");
        }
    }

    /// The learning loop's gauges in the Prometheus text format, over the default window:
    /// per task (labels `task` and `team`, the task's route) and the KPIs.
    pub async fn learning_metrics(&self) -> AppResult<String> {
        let stats = self.compute_stats(None, None, false).await?;
        let policy = self.policy();
        let team_of = |task: &str| {
            policy
                .tasks
                .get(task)
                .and_then(|t| t.route.clone())
                .unwrap_or_else(|| policy.defaults.route.clone())
        };
        let per_task = |f: &dyn Fn(&TaskStats) -> Option<f64>| -> Vec<(String, f64)> {
            stats
                .tasks
                .iter()
                .filter_map(|t| {
                    let labels = format!(
                        "task=\"{}\",team=\"{}\"",
                        label(&t.task),
                        label(&team_of(&t.task))
                    );
                    f(t).map(|v| (labels, v))
                })
                .collect()
        };
        let count = |n: i64| Some(n as f64);
        let mut out = Gauges::default();
        out.add(
            "handoff_task_level",
            "The task's level in force.",
            per_task(&|t| Some(f64::from(t.level))),
        );
        out.add(
            "handoff_task_base_level",
            "The task's level in the policy file.",
            per_task(&|t| Some(f64::from(t.base_level))),
        );
        out.add(
            "handoff_task_decisions",
            "Decisions in the learning window under the task's current level.",
            per_task(&|t| count(t.decisions)),
        );
        out.add(
            "handoff_task_unchanged_ratio",
            "Share of decisions approved unchanged.",
            per_task(&|t| t.unchanged_rate),
        );
        out.add(
            "handoff_task_unchanged_wilson_low_ratio",
            "Wilson 95% lower bound of the unchanged-approval share.",
            per_task(&|t| t.wilson_low),
        );
        out.add(
            "handoff_task_sla_compliance_ratio",
            "Share of decisions made by their SLA due time.",
            per_task(&|t| t.sla_compliance),
        );
        out.add(
            "handoff_task_time_to_decision_p50_seconds",
            "Median time to decision in the window.",
            per_task(&|t| t.time_to_decision_p50_s),
        );
        out.add(
            "handoff_task_time_to_decision_p90_seconds",
            "90th percentile of time to decision in the window.",
            per_task(&|t| t.time_to_decision_p90_s),
        );
        out.add(
            "handoff_task_monitor_checked",
            "Spot-checked items in the monitor window (autonomous tasks).",
            per_task(&|t| t.monitoring.as_ref().and_then(|m| count(m.checked))),
        );
        out.add(
            "handoff_task_monitor_errors",
            "Spot-check errors in the monitor window (autonomous tasks).",
            per_task(&|t| t.monitoring.as_ref().and_then(|m| count(m.errors))),
        );
        out.add(
            "handoff_task_monitor_failed_outcomes",
            "Failed or rolled-back outcomes in the monitor window (autonomous tasks).",
            per_task(&|t| t.monitoring.as_ref().and_then(|m| count(m.failed_outcomes))),
        );
        let k = &stats.kpis;
        let one = |v: Option<f64>| v.map(|v| (String::new(), v)).into_iter().collect();
        out.add(
            "handoff_escalation_precision_ratio",
            "Escalated handoffs a person changed, rejected or took over, of all escalated.",
            one(k.escalation_precision),
        );
        out.add(
            "handoff_approval_sla_compliance_ratio",
            "Decisions made by their SLA due time, every task.",
            one(k.approval_sla_compliance),
        );
        out.add(
            "handoff_rollback_ratio",
            "Rolled-back outcomes over executed ones.",
            one(k.rollback_rate),
        );
        out.add(
            "handoff_decisions_with_rationale_ratio",
            "Decisions that carry a rationale.",
            one(k.audit_readiness.decisions_with_rationale),
        );
        out.add(
            "handoff_audit_chain_ok",
            "1 when the audit chain verified at its last check.",
            one(k.audit_readiness.chain_ok.map(|ok| f64::from(u8::from(ok)))),
        );
        Ok(out.0)
    }

    /// The evidence for `task` under its current level over the learning window.
    async fn evidence(&self, policy: &Policy, task: &str) -> AppResult<Evidence> {
        let since_hour = Tally::hour_of(self.now() - policy.learning.window.to_chrono());
        let rows = self
            .store
            .tallies(since_hour, Some(task.to_owned()))
            .await?;
        Ok(self.evidence_of(policy, task, &rows))
    }

    /// The evidence for `task` from rows read for the learning window (any tasks').
    fn evidence_of(&self, policy: &Policy, task: &str, rows: &[DayTally]) -> Evidence {
        let window = policy.learning.window;
        let epoch = self.standing(policy, task).epoch();
        let mut c = Counts::default();
        for r in rows.iter().filter(|r| r.task == task && r.epoch == epoch) {
            c.add(&r.counts);
        }
        let decisions = u64::try_from(c.decisions).unwrap_or(0);
        let unchanged = u64::try_from(c.unchanged).unwrap_or(0);
        Evidence {
            window: window.to_string(),
            decisions: c.decisions,
            unchanged: c.unchanged,
            unchanged_rate: ratio(c.unchanged, c.decisions),
            wilson_low: wilson(unchanged.min(decisions), decisions).map(|i| i.0),
        }
    }

    /// `GET /v1/recommendations`: level-2 tasks that earned autonomy, and monitored tasks
    /// whose streams say they must go back; admins.
    pub async fn recommendations(&self, who: &Principal) -> AppResult<Vec<RecommendationItem>> {
        who.require_admin("read recommendations")?;
        let policy = self.policy();
        let now = self.now();
        // One read for every task's evidence.
        let since_hour = Tally::hour_of(now - policy.learning.window.to_chrono());
        let rows = self.store.tallies(since_hour, None).await?;
        let mut out = Vec::new();
        for task in policy.tasks.keys() {
            let standing = self.standing(&policy, task);
            if standing.level == Level::REVIEW {
                let ev = self.evidence_of(&policy, task, &rows);
                let r = recommend(
                    u64::try_from(ev.decisions).unwrap_or(0),
                    u64::try_from(ev.unchanged).unwrap_or(0),
                    &policy.learning,
                );
                let floor = rubric_floor(&policy, task).map(|f| f.0);
                if r.candidate && floor.is_none_or(|f| f <= Level::AUTONOMOUS) {
                    out.push(RecommendationItem {
                        task: task.clone(),
                        kind: "promote".to_owned(),
                        from_level: 2,
                        to_level: 1,
                        evidence: ev,
                        reason: r.reason,
                    });
                }
            } else if standing.level == Level::AUTONOMOUS {
                let (_, streams) = self.monitoring(&policy, task, &standing, now).await?;
                if let Some(d) = streams.iter().find_map(Stream::judge) {
                    out.push(RecommendationItem {
                        task: task.clone(),
                        kind: "demote".to_owned(),
                        from_level: 1,
                        to_level: restore_level(&standing).get(),
                        evidence: self.evidence_of(&policy, task, &rows),
                        reason: d.reason,
                    });
                }
            }
        }
        Ok(out)
    }

    /// `POST /v1/tasks/{task}/level`: an admin promotes or demotes a task type. A level
    /// below what the task's own rubric floor allows is a conflict naming the floor.
    pub async fn set_task_level(
        &self,
        who: &Principal,
        task: &str,
        level: Level,
        reason: &str,
    ) -> AppResult<LevelChanged> {
        who.require_admin("change task levels")?;
        let policy = self.policy();
        if !policy.tasks.contains_key(task) {
            return Err(AppError::NotFound("task type by that name in the policy"));
        }
        if reason.trim().is_empty() {
            return Err(AppError::field("reason", "say why the level changes"));
        }
        let standing = self.standing(&policy, task);
        if level == standing.level {
            return Err(AppError::conflict(format!(
                "{task} is at level {level} already"
            )));
        }
        if let Some((floor, why)) = rubric_floor(&policy, task)
            && level < floor
        {
            return Err(AppError::conflict(format!(
                "{task} cannot go below level {floor}: {why}"
            )));
        }
        let evidence = self.evidence(&policy, task).await?;
        let restore = (level < standing.level).then_some(standing.level);
        self.change_level(
            &policy,
            task,
            &standing,
            level,
            restore,
            who.name.clone(),
            reason.trim().to_owned(),
            false,
            serde_json::to_value(&evidence).unwrap_or(Value::Null),
        )
        .await?;
        Ok(LevelChanged {
            task: task.to_owned(),
            level: level.get(),
            previous_level: standing.level.get(),
            evidence,
        })
    }

    /// Records a level change (audited; a demotion alerts the route team), if nothing
    /// changed the task's level since `standing` was read.
    #[allow(clippy::too_many_arguments)]
    async fn change_level(
        &self,
        policy: &Policy,
        task: &str,
        standing: &Standing,
        level: Level,
        restore: Option<Level>,
        by: String,
        reason: String,
        automatic: bool,
        evidence: Value,
    ) -> AppResult<TaskLevel> {
        let now = self.now();
        let epoch = standing.epoch() + 1;
        let record = TaskLevel {
            task: task.to_owned(),
            level,
            epoch,
            previous_level: standing.level,
            restore_level: restore,
            changed_at: now,
            by: by.clone(),
            reason: reason.clone(),
            automatic,
        };
        let data = json!({
            "task": task,
            "from_level": standing.level.get(),
            "to_level": level.get(),
            "reason": reason,
            "automatic": automatic,
        });
        let deliveries = if level > standing.level {
            let team = policy
                .tasks
                .get(task)
                .and_then(|t| t.route.clone())
                .unwrap_or_else(|| policy.defaults.route.clone());
            self.notifier
                .on_task_demoted(policy, &team, data.clone(), epoch, now)
        } else {
            Vec::new()
        };
        let mut audit_data = data;
        audit_data["evidence"] = evidence;
        audit_data["epoch"] = json!(epoch);
        let audit = NewEntry {
            at: now,
            actor: by,
            action: "task.level_changed".to_owned(),
            handoff_id: None,
            data: audit_data,
        };
        let done = self
            .store
            .set_task_level(record.clone(), standing.epoch(), audit, deliveries)
            .await?;
        if !done {
            // Another change came first: read what is stored now.
            self.load_task_levels().await?;
            return Err(AppError::conflict(format!(
                "{task}'s level changed meanwhile; look again"
            )));
        }
        self.levels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task.to_owned(), record.clone());
        if automatic {
            tracing::warn!(task, %level, reason = %record.reason, "task demoted automatically");
        }
        Ok(record)
    }

    /// After an item of a monitored task's stream was committed: judges both streams and
    /// demotes the task at once when either says so (SPEC §7).
    pub(super) async fn watch(&self, h: &Handoff) -> AppResult<Option<TaskLevel>> {
        let policy = self.policy();
        let standing = self.standing(&policy, &h.task);
        if standing.level != Level::AUTONOMOUS || standing.epoch() != h.epoch {
            return Ok(None);
        }
        let (_, streams) = self
            .monitoring(&policy, &h.task, &standing, self.now())
            .await?;
        let Some(d) = streams.iter().find_map(Stream::judge) else {
            return Ok(None);
        };
        let to = restore_level(&standing);
        let evidence = demotion_evidence(&d);
        match self
            .change_level(
                &policy,
                &h.task,
                &standing,
                to,
                None,
                MONITOR.to_owned(),
                d.reason.clone(),
                true,
                evidence,
            )
            .await
        {
            Ok(t) => Ok(Some(t)),
            // Demoted (or changed) by someone else first: nothing more to do.
            Err(AppError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The change that set `task`'s level in force (who, when, why, from which level, and
    /// where a demotion returns it), or `None` while the policy file's level stands;
    /// reviewers and admins, for the task page.
    pub fn task_level_change(&self, who: &Principal, task: &str) -> AppResult<Option<TaskLevel>> {
        if who.role == Role::Agent {
            return Err(AppError::forbidden(
                "only reviewers and admins read task levels",
            ));
        }
        let policy = self.policy();
        Ok(self
            .stored_level(task)
            .filter(|_| policy.tasks.contains_key(task)))
    }

    /// `GET /v1/spot-checks`: sampled autonomous handoffs waiting for a verdict, in the
    /// caller's teams (admins: all), oldest first.
    pub async fn spot_checks(
        &self,
        who: &Principal,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> AppResult<Page<Handoff>> {
        let teams = match who.role {
            Role::Agent => return Err(AppError::forbidden("agents do not check handoffs")),
            Role::Admin => None,
            Role::Reviewer => Some(who.teams(&self.policy())),
        };
        let limit = limit.unwrap_or(SPOT_PAGE);
        if !(1..=MAX_SPOT_PAGE).contains(&limit) {
            return Err(AppError::field(
                "limit",
                format!("must be 1 to {MAX_SPOT_PAGE}"),
            ));
        }
        if let Some(c) = cursor
            && !c.starts_with("hnd_")
        {
            return Err(AppError::field("cursor", "not a cursor of this listing"));
        }
        let items = self
            .store
            .spot_checks(teams, cursor.map(str::to_owned), limit + 1)
            .await?
            .into_iter()
            .map(|h| self.complete(h))
            .collect();
        Ok(Page::cut(items, limit, |h: &Handoff| h.id.clone()))
    }

    /// `POST /v1/handoffs/{id}/spot-check`: one reviewer's verdict on a sampled handoff,
    /// counted once; then the monitor judges the task.
    pub async fn spot_check(
        &self,
        who: &Principal,
        id: &str,
        verdict: SpotVerdict,
        note: Option<String>,
    ) -> AppResult<Handoff> {
        if who.role != Role::Reviewer {
            return Err(AppError::forbidden(
                "only reviewers give spot-check verdicts",
            ));
        }
        let policy = self.policy();
        let who = who.clone();
        let now = self.now();
        let note = note.filter(|n| !n.trim().is_empty());
        let f = Box::new(move |h: &Handoff| {
            if !who.can_see(h, &policy) {
                return Err(Refused::NotFound);
            }
            let conflict = |message: &str| {
                Refused::Transition(TransitionError::Conflict {
                    from: h.state.status,
                    message: message.to_owned(),
                })
            };
            match &h.spot_check {
                None => return Err(conflict("this handoff was not drawn for a spot check")),
                Some(c) if c.verdict.is_some() => {
                    return Err(conflict("this handoff was checked already"));
                }
                Some(_) => {}
            }
            let mut next = h.clone();
            next.spot_check = Some(SpotCheck {
                verdict: Some(verdict),
                by: Some(who.name.clone()),
                at: Some(now),
                note: note.clone(),
            });
            next.state.version += 1;
            next.updated_at = now;
            let audit = NewEntry {
                at: now,
                actor: who.name.clone(),
                action: "handoff.spot_checked".to_owned(),
                handoff_id: Some(h.id.clone()),
                data: json!({"verdict": verdict, "note": note}),
            };
            Ok(handoff_store::Change {
                handoff: next,
                audit,
                deliveries: Vec::new(),
            })
        });
        let h = self.store.update(id.to_owned(), None, f).await??;
        self.watch(&h).await?;
        Ok(self.complete(h))
    }

    /// `GET /v1/export/decisions`: one page of handoffs no longer open, each as its
    /// export record (admins). `after` is the last id of the previous page.
    pub async fn export_decisions(
        &self,
        who: &Principal,
        task: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        after: Option<String>,
        limit: u32,
    ) -> AppResult<Vec<Value>> {
        who.require_admin("export decisions")?;
        let page = self
            .store
            .export(ExportQuery {
                task,
                since,
                until,
                after,
                limit,
            })
            .await?;
        let mut out = Vec::with_capacity(page.len());
        for h in page {
            let timeline = self.store.timeline(&h.id).await?;
            out.push(export_record(&h, &timeline));
        }
        Ok(out)
    }
}

/// Gauge families in the Prometheus text format.
#[derive(Default)]
struct Gauges(String);

impl Gauges {
    fn add(&mut self, name: &str, help: &str, rows: Vec<(String, f64)>) {
        use std::fmt::Write;
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
        for (labels, v) in rows {
            if labels.is_empty() {
                let _ = writeln!(self.0, "{name} {v}");
            } else {
                let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
            }
        }
    }
}

/// A Prometheus label value: backslashes, quotes and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn restore_level(standing: &Standing) -> Level {
    standing
        .stored
        .as_ref()
        .and_then(|t| t.restore_level)
        .filter(|l| *l > Level::AUTONOMOUS)
        .unwrap_or(Level::REVIEW)
}

fn demotion_evidence(d: &Demotion) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

/// One line of the decisions export: the packet, the evaluation, every decision with its
/// rationale (from the audit), the drafts (the agent's and the approved, with the edit's
/// size), the outcome and the spot check.
pub fn export_record(h: &Handoff, timeline: &[handoff_domain::AuditEntry]) -> Value {
    let decisions: Vec<Value> = timeline
        .iter()
        .filter(|e| e.action == "handoff.decision" || e.action == "handoff.spot_checked")
        .map(|e| {
            let mut d = e.data.clone();
            d["by"] = json!(e.actor);
            d["at"] = json!(ts(e.at));
            d["audit_seq"] = json!(e.seq);
            if e.action == "handoff.spot_checked" {
                d["action"] = json!("spot_check");
            }
            d
        })
        .collect();
    let agent = h.agent_draft();
    let approved = h.state.approved_draft();
    let edit = match (agent, approved) {
        (a, Some(b)) if a != Some(b) => {
            let size = handoff_domain::learning::tally::edit_size(a, Some(b));
            Some(json!({"json_paths": size.paths, "characters": size.characters}))
        }
        _ => None,
    };
    json!({
        "id": h.id,
        "task": h.task,
        "agent": h.agent(),
        "status": h.state.status,
        "created_at": ts(h.created_at),
        "updated_at": ts(h.updated_at),
        "packet": h.packet,
        "evaluation": h.evaluation,
        "decision": h.state.decision,
        "decisions": decisions,
        "draft_versions": h.state.draft_versions,
        "agent_draft": agent,
        "approved_draft": approved,
        "edit": edit,
        "outcome": h.state.outcome,
        "spot_check": h.spot_check,
    })
}
