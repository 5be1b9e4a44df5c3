//! Promotion (SPEC §7): when a level-2 task has earned autonomy.
//!
//! A task is a promotion candidate when, over the learning window and under its current
//! level, it has at least `min_decisions` decisions, the share approved unchanged is at
//! least `min_unchanged_rate`, and the Wilson 95% lower bound of that share is at least
//! `min_lower_bound`. Only a recommendation: promotion itself is an admin act. The caller
//! asks only for tasks whose level in force is 2 and counts only decisions (humans ending
//! a handoff), never policy approvals or expiries.

use serde::Serialize;

use super::wilson::wilson;
use crate::policy::Learning;

/// The decisions of a task and the share approved unchanged, with its Wilson 95%
/// interval: the fields `GET /v1/stats` shows for each task. Rates are `None` when there
/// were no decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnchangedRate {
    pub decisions: u64,
    pub unchanged: u64,
    /// `unchanged / decisions`.
    pub unchanged_rate: Option<f64>,
    pub wilson_low: Option<f64>,
    pub wilson_high: Option<f64>,
}

impl UnchangedRate {
    /// `unchanged` is capped at `decisions`: a decision is approved unchanged at most once.
    pub fn new(decisions: u64, unchanged: u64) -> UnchangedRate {
        let unchanged = unchanged.min(decisions);
        let interval = wilson(unchanged, decisions);
        UnchangedRate {
            decisions,
            unchanged,
            unchanged_rate: (decisions > 0).then(|| unchanged as f64 / decisions as f64),
            wilson_low: interval.map(|(low, _)| low),
            wilson_high: interval.map(|(_, high)| high),
        }
    }
}

/// Which of the three conditions decided, the first that failed in the SPEC's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Candidate,
    TooFewDecisions,
    RateTooLow,
    LowerBoundTooLow,
}

/// Whether a task is a promotion candidate, why in words, and the numbers it rests on:
/// the evidence an admin sees and the audit records.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recommendation {
    pub candidate: bool,
    pub verdict: Verdict,
    /// Every condition that failed, or the three that held, in words.
    pub reason: String,
    #[serde(flatten)]
    pub evidence: UnchangedRate,
}

/// Judges a level-2 task's `decisions` and how many were approved `unchanged`.
pub fn recommend(decisions: u64, unchanged: u64, learning: &Learning) -> Recommendation {
    let evidence = UnchangedRate::new(decisions, unchanged);
    let unchanged = evidence.unchanged;
    let rate = evidence.unchanged_rate.unwrap_or(0.0);
    let low = evidence.wilson_low.unwrap_or(0.0);
    let enough = decisions >= u64::from(learning.min_decisions);
    let rate_ok = decisions > 0 && rate >= learning.min_unchanged_rate;
    let bound_ok = decisions > 0 && low >= learning.min_lower_bound;

    let approved = format!(
        "{unchanged} of {decisions} {} approved unchanged ({})",
        if decisions == 1 {
            "decision"
        } else {
            "decisions"
        },
        percent(rate)
    );
    let mut failed = Vec::new();
    let mut verdict = Verdict::Candidate;
    if !enough {
        verdict = Verdict::TooFewDecisions;
        failed.push(format!(
            "{decisions} {}, fewer than the {} required",
            if decisions == 1 {
                "decision"
            } else {
                "decisions"
            },
            learning.min_decisions
        ));
    }
    if decisions > 0 && !rate_ok {
        if verdict == Verdict::Candidate {
            verdict = Verdict::RateTooLow;
        }
        failed.push(format!(
            "{approved}, below {}",
            percent(learning.min_unchanged_rate)
        ));
    }
    if decisions > 0 && !bound_ok {
        if verdict == Verdict::Candidate {
            verdict = Verdict::LowerBoundTooLow;
        }
        failed.push(format!(
            "Wilson 95% lower bound {low:.3}, below {:.3}",
            learning.min_lower_bound
        ));
    }
    let reason = if failed.is_empty() {
        format!(
            "{approved} ≥ {}, Wilson 95% lower bound {low:.3} ≥ {:.3}",
            percent(learning.min_unchanged_rate),
            learning.min_lower_bound
        )
    } else {
        failed.join("; ")
    };
    Recommendation {
        candidate: verdict == Verdict::Candidate,
        verdict,
        reason,
        evidence,
    }
}

/// The fewest decisions with which a task can be a candidate: all of them approved
/// unchanged (35 with the defaults). `None` when no number suffices (`min_lower_bound`
/// of 1, which a finite count never reaches). For any fewer decisions, no split is a
/// candidate, since the lower bound grows with the unchanged count.
pub fn first_possible_candidate(learning: &Learning) -> Option<u64> {
    if learning.min_lower_bound >= 1.0 {
        return None;
    }
    let start = u64::from(learning.min_decisions.max(1));
    // n / (n + z²) ≥ b ⇔ n ≥ z²·b / (1 − b); then settle rounding by asking `recommend`.
    let z2 = super::wilson::Z_95 * super::wilson::Z_95;
    let bound = learning.min_lower_bound.max(0.0);
    let estimate = (z2 * bound / (1.0 - bound)).ceil();
    if !estimate.is_finite() || estimate > 1e15 {
        return None;
    }
    let mut n = start.max(estimate as u64);
    while n > start && recommend(n - 1, n - 1, learning).candidate {
        n -= 1;
    }
    while !recommend(n, n, learning).candidate {
        n += 1;
    }
    Some(n)
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn defaults() -> Learning {
        Policy::example().learning
    }

    #[test]
    fn the_spec_s_defaults_first_recommend_at_35_of_35() {
        let l = defaults();
        assert_eq!(first_possible_candidate(&l), Some(35));
        let r = recommend(35, 35, &l);
        assert!(r.candidate, "{r:?}");
        assert_eq!(r.verdict, Verdict::Candidate);
        assert_eq!(
            r.reason,
            "35 of 35 decisions approved unchanged (100.0%) ≥ 95.0%, Wilson 95% lower bound 0.901 ≥ 0.900"
        );
        let r = recommend(30, 30, &l);
        assert_eq!(r.verdict, Verdict::LowerBoundTooLow);
        assert_eq!(r.reason, "Wilson 95% lower bound 0.886, below 0.900");
        assert_eq!(recommend(34, 34, &l).verdict, Verdict::LowerBoundTooLow);
    }

    #[test]
    fn each_condition_is_named_when_it_fails() {
        let l = defaults();
        let r = recommend(0, 0, &l);
        assert_eq!(r.verdict, Verdict::TooFewDecisions);
        assert_eq!(r.reason, "0 decisions, fewer than the 30 required");
        assert_eq!(r.evidence.unchanged_rate, None);
        assert_eq!(r.evidence.wilson_low, None);

        let r = recommend(100, 94, &l);
        assert_eq!(r.verdict, Verdict::RateTooLow);
        assert_eq!(
            r.reason,
            "94 of 100 decisions approved unchanged (94.0%), below 95.0%; \
             Wilson 95% lower bound 0.875, below 0.900"
        );
        // 95% exactly meets the rate; the bound needs far more evidence at that rate.
        assert_eq!(recommend(100, 95, &l).verdict, Verdict::LowerBoundTooLow);
        assert_eq!(recommend(400, 380, &l).verdict, Verdict::Candidate);

        let r = recommend(10, 5, &l);
        assert_eq!(r.verdict, Verdict::TooFewDecisions);
        assert_eq!(r.reason.matches("; ").count(), 2, "{}", r.reason);
    }

    #[test]
    fn the_evidence_serializes_as_the_stats_fields() {
        let r = recommend(35, 35, &defaults());
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["candidate"], true);
        assert_eq!(json["verdict"], "candidate");
        assert_eq!(json["decisions"], 35);
        assert_eq!(json["unchanged"], 35);
        assert_eq!(json["unchanged_rate"], 1.0);
        assert_eq!(json["wilson_high"], 1.0);
        assert!(json["wilson_low"].as_f64().is_some_and(|x| x > 0.9));
        let none = serde_json::to_value(UnchangedRate::new(0, 0)).expect("serializes");
        assert_eq!(
            none,
            serde_json::json!({"decisions": 0, "unchanged": 0, "unchanged_rate": null,
                "wilson_low": null, "wilson_high": null})
        );
    }

    #[test]
    fn other_settings_move_the_first_candidate() {
        let mut l = defaults();
        l.min_lower_bound = 0.80;
        // 16 / (16 + z²) = 0.806; 15 of 15 gives 0.796; but min_decisions is 30.
        assert_eq!(first_possible_candidate(&l), Some(30));
        l.min_decisions = 1;
        assert_eq!(first_possible_candidate(&l), Some(16));
        l.min_lower_bound = 1.0;
        assert_eq!(first_possible_candidate(&l), None);
        l.min_lower_bound = 0.0;
        assert_eq!(first_possible_candidate(&l), Some(1));
    }
}
