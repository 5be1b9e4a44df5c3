//! What one change of a handoff adds to the learning loop's counts (SPEC §7), as a pure
//! function of the handoff before and after it. The store adds a [`Tally`] to its per-task,
//! per-hour aggregates in the same transaction as the change, so the statistics never scan
//! handoffs and are exactly what was committed, across restarts.
//!
//! Every tally is keyed by the task, the handoff's evidence `epoch` (the task's level at
//! submission: evidence restarts at every level change) and the hour of the change.
//!
//! - A **decision** is a handoff a person ended from `pending`: approved (unchanged when
//!   the approved draft is the agent's version 1, else edited), rejected, or taken over.
//!   Policy approvals and expiries are not decisions; expiries are counted apart.
//! - **Escalated** counts handoffs that reached another team than their route when they
//!   ended; escalation precision is the share of those a person changed, rejected or took
//!   over.
//! - **Outcomes** are counted as they are reported; a roll-back after `executed` adds a
//!   `rolled_back`. For an autonomous handoff each outcome is also an item of the monitor's
//!   outcome stream (an error: `failed` or `rolled_back`).
//! - A **spot check** is one item of the spot-check stream per sampled handoff, counted
//!   when its verdict comes: an error when the verdict is not `fine` or the outcome already
//!   failed; a `failed`/`rolled_back` outcome after a `fine` verdict turns the item into an
//!   error (the handoff is one checked item, SPEC §7).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::buckets::bucket_index;
use super::monitoring::StreamKind;
use crate::Handoff;
use crate::lifecycle::{BY_POLICY, OutcomeResult, Status};

macro_rules! counts {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Counters added by one change (most are 0 or 1). The field names are the store's
        /// column names.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Counts {
            $($(#[$doc])* pub $name: i64,)*
        }

        impl Counts {
            /// The counters' names, in the order of [`Counts::values`].
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            pub fn values(&self) -> Vec<i64> {
                vec![$(self.$name),*]
            }

            /// The counters from values in the order of [`Counts::NAMES`] (missing ones 0).
            pub fn from_values(values: &[i64]) -> Counts {
                let mut it = values.iter().copied();
                Counts { $($name: it.next().unwrap_or(0),)* }
            }

            /// Adds another set of counters to these.
            pub fn add(&mut self, other: &Counts) {
                $(self.$name += other.$name;)*
            }

            pub fn is_zero(&self) -> bool {
                true $(&& self.$name == 0)*
            }
        }
    };
}

counts! {
    /// Handoffs submitted.
    submitted,
    /// Of them, judged autonomous (level 1).
    autonomous,
    /// Level-4 alerts raised.
    alerts,
    /// Handoffs a person ended (see the module's notes).
    decisions,
    unchanged,
    edited,
    rejected,
    taken_over,
    /// Decisions whose last decision carried a rationale.
    with_rationale,
    /// Decisions made by the SLA due time.
    sla_met,
    /// Ended handoffs that had been escalated, and those of them a person changed.
    escalated,
    escalated_changed,
    expired,
    /// The size of edits: JSON paths changed, or characters for a text draft.
    edit_paths,
    edit_chars,
    executed,
    failed,
    rolled_back,
    /// The monitor's outcome stream: outcomes of autonomous handoffs, and errors.
    auto_outcomes,
    auto_errors,
    /// The monitor's spot-check stream: checked items, and errors.
    checked,
    check_errors,
    /// Revisions submitted (handoffs that supersede another, SPEC §2), and the decisions
    /// on them that approved (unchanged or edited): "approved after a revision".
    revisions,
    revisions_approved,
}

/// One item of a monitor stream: which handoff, and whether it is (now) an error. The
/// store keeps one item per handoff and stream, the first arrival's place in the order,
/// and never turns an error back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorItem {
    pub stream: StreamKind,
    pub handoff_id: String,
    pub error: bool,
}

/// Which histogram a [`HistogramHit`] counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Histogram {
    /// Decisions by confidence bucket (0–19).
    ConfidenceDecisions = 0,
    /// Unchanged approvals by confidence bucket.
    ConfidenceUnchanged = 1,
    /// Decisions by time-to-decision bucket ([`ttd_bucket`]).
    TimeToDecision = 2,
    /// Approvals by a person, by how many revisions came before ([`revisions_bucket`]: 0
    /// approved at the first submission, 1 after one revision, …).
    ApprovedAfterRevisions = 3,
}

/// The highest bucket of [`Histogram::ApprovedAfterRevisions`]: it holds this many
/// revisions and more.
pub const MAX_REVISIONS_BUCKET: i64 = 10;

/// The bucket of an approval after `revisions` revisions.
pub fn revisions_bucket(revisions: u32) -> i64 {
    i64::from(revisions).min(MAX_REVISIONS_BUCKET)
}

impl Histogram {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Histogram> {
        match code {
            0 => Some(Histogram::ConfidenceDecisions),
            1 => Some(Histogram::ConfidenceUnchanged),
            2 => Some(Histogram::TimeToDecision),
            3 => Some(Histogram::ApprovedAfterRevisions),
            _ => None,
        }
    }
}

/// One count added to one bucket of a histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramHit {
    pub histogram: Histogram,
    pub bucket: i64,
}

/// What one change adds, keyed by task, epoch and hour (Unix hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub task: String,
    pub epoch: u64,
    pub hour: i64,
    pub counts: Counts,
    pub hits: Vec<HistogramHit>,
    pub items: Vec<MonitorItem>,
}

impl Tally {
    /// Nothing to add: the store need not write.
    pub fn is_empty(&self) -> bool {
        self.counts.is_zero() && self.hits.is_empty() && self.items.is_empty()
    }

    /// Unix hours, the aggregates' key.
    pub fn hour_of(at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(3600)
    }

    /// What a new handoff adds.
    pub fn of_submission(h: &Handoff) -> Tally {
        let mut t = Tally::empty(h, h.created_at);
        t.counts.submitted = 1;
        t.counts.autonomous = i64::from(h.is_autonomous());
        t.counts.alerts = i64::from(h.state.status == Status::Alerted);
        t.counts.revisions = i64::from(h.revisions > 0);
        t
    }

    /// What the change from `before` to `after` (the same handoff) adds.
    pub fn of_change(before: &Handoff, after: &Handoff) -> Tally {
        let mut t = Tally::empty(after, after.updated_at);
        let (b, a) = (&before.state, &after.state);
        let c = &mut t.counts;

        // A person ended it from pending.
        if b.status == Status::Pending && a.status != Status::Pending {
            let human = a.decision.as_ref().is_some_and(|d| d.by != BY_POLICY);
            let ended_by = match a.status {
                Status::Approved if human => Some(if a.current_draft_version() == 1 {
                    Ended::Unchanged
                } else {
                    Ended::Edited
                }),
                Status::Rejected => Some(Ended::Rejected),
                Status::HandedOver => Some(Ended::TakenOver),
                _ => None,
            };
            if let Some(e) = ended_by {
                c.decisions = 1;
                match e {
                    Ended::Unchanged => c.unchanged = 1,
                    Ended::Edited => {
                        c.edited = 1;
                        let size = edit_size(after.agent_draft(), a.current_draft.as_deref());
                        c.edit_paths = size.paths;
                        c.edit_chars = size.characters;
                    }
                    Ended::Rejected => c.rejected = 1,
                    Ended::TakenOver => c.taken_over = 1,
                }
                c.with_rationale = i64::from(
                    a.decision
                        .as_ref()
                        .and_then(|d| d.rationale.as_deref())
                        .is_some_and(|r| !r.trim().is_empty()),
                );
                c.sla_met = i64::from(after.updated_at <= after.evaluation.sla_due_at);
                if a.assigned_team != after.evaluation.route {
                    c.escalated = 1;
                    c.escalated_changed = i64::from(e != Ended::Unchanged);
                }
                if let Some(conf) = after.confidence().and_then(bucket_index) {
                    t.hits.push(HistogramHit {
                        histogram: Histogram::ConfidenceDecisions,
                        bucket: conf as i64,
                    });
                    if e == Ended::Unchanged {
                        t.hits.push(HistogramHit {
                            histogram: Histogram::ConfidenceUnchanged,
                            bucket: conf as i64,
                        });
                    }
                }
                if matches!(e, Ended::Unchanged | Ended::Edited) {
                    c.revisions_approved = i64::from(after.revisions > 0);
                    t.hits.push(HistogramHit {
                        histogram: Histogram::ApprovedAfterRevisions,
                        bucket: revisions_bucket(after.revisions),
                    });
                }
                let seconds = (after.updated_at - after.created_at).num_milliseconds() as f64 / 1e3;
                t.hits.push(HistogramHit {
                    histogram: Histogram::TimeToDecision,
                    bucket: ttd_bucket(seconds),
                });
            }
        }
        if a.status == Status::Expired && b.status != Status::Expired {
            c.expired = 1;
        }

        // Outcomes, as reported.
        let was = b.outcome.as_ref().map(|o| o.result);
        let now = a.outcome.as_ref().map(|o| o.result);
        if now != was
            && let Some(result) = now
        {
            match result {
                OutcomeResult::Executed => c.executed = 1,
                OutcomeResult::Failed => c.failed = 1,
                OutcomeResult::RolledBack => c.rolled_back = 1,
            }
            let error_now = is_error(now);
            let error_before = is_error(was);
            if after.is_autonomous() {
                c.auto_outcomes = i64::from(was.is_none());
                c.auto_errors = i64::from(error_now && !error_before);
                t.items.push(MonitorItem {
                    stream: StreamKind::Outcomes,
                    handoff_id: after.id.clone(),
                    error: error_now,
                });
            }
            // A checked handoff whose outcome fails after a `fine` verdict: its item is
            // an error now.
            let checked_fine = after
                .spot_check
                .as_ref()
                .and_then(|s| s.verdict)
                .is_some_and(|v| !v.is_error());
            let verdict_before = before.spot_check.as_ref().and_then(|s| s.verdict);
            if checked_fine && verdict_before.is_some() && error_now && !error_before {
                t.counts.check_errors = 1;
                t.items.push(MonitorItem {
                    stream: StreamKind::SpotChecks,
                    handoff_id: after.id.clone(),
                    error: true,
                });
            }
        }

        // A spot-check verdict.
        let verdict_before = before.spot_check.as_ref().and_then(|s| s.verdict);
        let verdict_after = after.spot_check.as_ref().and_then(|s| s.verdict);
        if let (None, Some(v)) = (verdict_before, verdict_after) {
            let error = v.is_error() || is_error(now);
            t.counts.checked = 1;
            t.counts.check_errors = i64::from(error);
            t.items.push(MonitorItem {
                stream: StreamKind::SpotChecks,
                handoff_id: after.id.clone(),
                error,
            });
        }
        t
    }

    fn empty(h: &Handoff, at: DateTime<Utc>) -> Tally {
        Tally {
            task: h.task.clone(),
            epoch: h.epoch,
            hour: Tally::hour_of(at),
            counts: Counts::default(),
            hits: Vec::new(),
            items: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Unchanged,
    Edited,
    Rejected,
    TakenOver,
}

fn is_error(r: Option<OutcomeResult>) -> bool {
    matches!(r, Some(OutcomeResult::Failed | OutcomeResult::RolledBack))
}

/// How much an edit changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditSize {
    /// JSON drafts: the leaf paths added, removed or changed.
    pub paths: i64,
    /// Text drafts: the characters between the common prefix and suffix (the longer
    /// side's), an upper bound of what was typed.
    pub characters: i64,
}

/// How much `approved` differs from the agent's `original`.
pub fn edit_size(original: Option<&Value>, approved: Option<&Value>) -> EditSize {
    match (original, approved) {
        (Some(Value::String(a)), Some(Value::String(b))) => EditSize {
            paths: 0,
            characters: changed_chars(a, b),
        },
        (a, b) => EditSize {
            paths: changed_paths(a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null)),
            characters: 0,
        },
    }
}

fn changed_chars(a: &str, b: &str) -> i64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (a.len().max(b.len()) - prefix - suffix) as i64
}

/// Leaf paths that differ between two JSON values (an added or removed subtree counts
/// its leaves; a scalar replaced by anything counts one).
pub fn changed_paths(a: &Value, b: &Value) -> i64 {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut n = 0;
            for (k, va) in x {
                n += match y.get(k) {
                    Some(vb) => changed_paths(va, vb),
                    None => leaves(va),
                };
            }
            n + y
                .iter()
                .filter(|(k, _)| !x.contains_key(*k))
                .map(|(_, v)| leaves(v))
                .sum::<i64>()
        }
        (Value::Array(x), Value::Array(y)) => {
            let common: i64 = x.iter().zip(y).map(|(va, vb)| changed_paths(va, vb)).sum();
            let (longer, shorter) = if x.len() >= y.len() { (x, y) } else { (y, x) };
            common + longer[shorter.len()..].iter().map(leaves).sum::<i64>()
        }
        _ if a == b => 0,
        _ => leaves(a).max(leaves(b)),
    }
}

fn leaves(v: &Value) -> i64 {
    match v {
        Value::Object(m) if !m.is_empty() => m.values().map(leaves).sum(),
        Value::Array(a) if !a.is_empty() => a.iter().map(leaves).sum(),
        _ => 1,
    }
}

/// Time-to-decision buckets grow by 2%: bucket 0 holds [0, 1) s, bucket `b` ≥ 1 holds
/// [1.02^(b-1), 1.02^b) s. Percentiles read from them are within 2% of the exact ones.
pub const TTD_RATIO: f64 = 1.02;

/// The time-to-decision bucket of `seconds`.
pub fn ttd_bucket(seconds: f64) -> i64 {
    // NaN too lands in bucket 0.
    if seconds.is_nan() || seconds < 1.0 {
        return 0;
    }
    (seconds.ln() / TTD_RATIO.ln()).floor() as i64 + 1
}

/// The seconds a bucket stands for: its lower bound (0 for bucket 0), to the millisecond.
pub fn ttd_bucket_seconds(bucket: i64) -> f64 {
    if bucket <= 0 {
        return 0.0;
    }
    (TTD_RATIO.powi((bucket - 1) as i32) * 1000.0).round() / 1000.0
}

/// The nearest-rank `p`-th percentile of a histogram of `(bucket, count)` pairs in any
/// order, as the bucket's seconds; `None` when it is empty.
pub fn ttd_percentile(buckets: &[(i64, u64)], p: f64) -> Option<f64> {
    let mut sorted: Vec<(i64, u64)> = buckets.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = ((p * total as f64 / 100.0).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (b, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(ttd_bucket_seconds(b));
        }
    }
    None
}

#[cfg(test)]
mod tests;
