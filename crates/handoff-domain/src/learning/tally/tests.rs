use super::*;
use crate::handoff::{SpotCheck, SpotVerdict};
use crate::lifecycle::{Command, DecisionAction};
use crate::{Packet, Policy};
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
        .single()
        .expect("valid time")
}

fn submitted(task: &str, confidence: f64, draft: Value) -> Handoff {
    let packet = Packet::parse(json!({
        "task": task, "summary": "s", "confidence": confidence, "draft": draft,
    }))
    .expect("valid packet");
    let evaluation = Policy::example().evaluate(&packet, t0());
    Handoff::submitted("hnd_1".into(), "bot", &packet, evaluation, t0()).expect("builds")
}

fn decide(h: &Handoff, action: DecisionAction, draft: Option<Value>, secs: i64) -> Handoff {
    let now = t0() + chrono::Duration::seconds(secs);
    let applied = h
        .state
        .apply(
            Command::Decide {
                by: "ana".into(),
                action,
                rationale: Some("because".into()),
                draft,
                option: None,
                to_team: (action == DecisionAction::Escalate).then(|| "sales-leads".into()),
            },
            now,
        )
        .expect("accepted");
    let mut next = h.clone();
    next.state = applied.state;
    next.updated_at = now;
    next
}

fn outcome(h: &Handoff, result: OutcomeResult) -> Handoff {
    let now = h.updated_at + chrono::Duration::seconds(1);
    let applied = h
        .state
        .apply(
            Command::Outcome {
                by: "bot".into(),
                result,
                detail: None,
                draft_sha256: None,
            },
            now,
        )
        .expect("accepted");
    let mut next = h.clone();
    next.state = applied.state;
    next.updated_at = now;
    next
}

#[test]
fn an_unchanged_approval_is_one_decision_in_its_confidence_bucket() {
    let h = submitted("respond_to_client_inquiry", 0.93, json!("Hello"));
    let sub = Tally::of_submission(&h);
    assert_eq!((sub.counts.submitted, sub.counts.autonomous), (1, 0));
    let after = decide(&h, DecisionAction::Approve, None, 90);
    let t = Tally::of_change(&h, &after);
    assert_eq!(t.task, "respond_to_client_inquiry");
    assert_eq!(t.hour, Tally::hour_of(t0()));
    let c = t.counts;
    assert_eq!(
        (c.decisions, c.unchanged, c.edited, c.sla_met),
        (1, 1, 0, 1)
    );
    assert_eq!(c.with_rationale, 1);
    assert!(t.hits.contains(&HistogramHit {
        histogram: Histogram::ConfidenceUnchanged,
        bucket: 18
    }));
    assert!(t.hits.contains(&HistogramHit {
        histogram: Histogram::TimeToDecision,
        bucket: ttd_bucket(90.0)
    }));
}

#[test]
fn an_edit_counts_its_size_and_a_rejection_and_take_over_are_decisions() {
    let h = submitted("respond_to_client_inquiry", 0.9, json!("Dear Ann, yes."));
    // An edit approves the edited draft.
    let edited = decide(&h, DecisionAction::Edit, Some(json!("Dear Ann, no.")), 10);
    let c = Tally::of_change(&h, &edited).counts;
    assert_eq!(
        (c.decisions, c.unchanged, c.edited, c.edit_chars),
        (1, 0, 1, 3)
    );
    let rejected = decide(&h, DecisionAction::Reject, None, 10);
    assert_eq!(Tally::of_change(&h, &rejected).counts.rejected, 1);
    let taken = decide(&h, DecisionAction::TakeOver, None, 10);
    let c = Tally::of_change(&h, &taken).counts;
    assert_eq!((c.decisions, c.taken_over), (1, 1));
}

#[test]
fn an_approved_revision_counts_as_approved_after_its_revisions() {
    let first = submitted("respond_to_client_inquiry", 0.9, json!("v1"));
    let approved = decide(&first, DecisionAction::Approve, None, 10);
    let t = Tally::of_change(&first, &approved);
    assert_eq!(Tally::of_submission(&first).counts.revisions, 0);
    assert_eq!(t.counts.revisions_approved, 0);
    assert!(t.hits.contains(&HistogramHit {
        histogram: Histogram::ApprovedAfterRevisions,
        bucket: 0
    }));

    let mut second = submitted("respond_to_client_inquiry", 0.9, json!("v2"));
    second.revisions = 2;
    assert_eq!(Tally::of_submission(&second).counts.revisions, 1);
    let edited = decide(&second, DecisionAction::Edit, Some(json!("v3")), 10);
    let t = Tally::of_change(&second, &edited);
    assert_eq!(t.counts.revisions_approved, 1);
    assert!(t.hits.contains(&HistogramHit {
        histogram: Histogram::ApprovedAfterRevisions,
        bucket: 2
    }));
    // A rejected revision is no approval.
    let rejected = decide(&second, DecisionAction::Reject, None, 10);
    let t = Tally::of_change(&second, &rejected);
    assert_eq!(t.counts.revisions_approved, 0);
    assert!(
        t.hits
            .iter()
            .all(|h| h.histogram != Histogram::ApprovedAfterRevisions)
    );
    assert_eq!(revisions_bucket(40), MAX_REVISIONS_BUCKET);
}

#[test]
fn an_escalated_handoff_counts_for_precision_when_it_ends() {
    let h = submitted("respond_to_client_inquiry", 0.9, json!("x"));
    let up = decide(&h, DecisionAction::Escalate, None, 10);
    assert!(Tally::of_change(&h, &up).counts.is_zero());
    let rejected = decide(&up, DecisionAction::Reject, None, 20);
    let c = Tally::of_change(&up, &rejected).counts;
    assert_eq!((c.escalated, c.escalated_changed), (1, 1));
    let approved = decide(&up, DecisionAction::Approve, None, 20);
    let c = Tally::of_change(&up, &approved).counts;
    assert_eq!((c.escalated, c.escalated_changed), (1, 0));
}

#[test]
fn autonomous_outcomes_feed_the_outcome_stream_and_a_late_failure_turns_a_check() {
    let mut h = submitted("categorize_support_ticket", 0.99, json!({"tag": "billing"}));
    assert!(h.is_autonomous());
    assert_eq!(Tally::of_submission(&h).counts.autonomous, 1);
    h.spot_check = Some(SpotCheck::default());
    let mut checked = h.clone();
    checked.spot_check = Some(SpotCheck {
        verdict: Some(SpotVerdict::Fine),
        by: Some("oz".into()),
        at: Some(t0()),
        note: None,
    });
    let t = Tally::of_change(&h, &checked);
    assert_eq!((t.counts.checked, t.counts.check_errors), (1, 0));
    assert_eq!(t.items.len(), 1);
    let executed = outcome(&checked, OutcomeResult::Executed);
    let t = Tally::of_change(&checked, &executed);
    assert_eq!((t.counts.auto_outcomes, t.counts.auto_errors), (1, 0));
    assert_eq!(t.counts.check_errors, 0);
    let rolled = outcome(&executed, OutcomeResult::RolledBack);
    let t = Tally::of_change(&executed, &rolled);
    assert_eq!((t.counts.auto_outcomes, t.counts.auto_errors), (0, 1));
    assert_eq!(t.counts.check_errors, 1);
    assert_eq!(t.items.len(), 2);
    assert!(t.items.iter().all(|i| i.error));
}

#[test]
fn a_verdict_after_a_failed_outcome_is_one_error() {
    let mut h = submitted("categorize_support_ticket", 0.99, json!({"tag": "billing"}));
    h.spot_check = Some(SpotCheck::default());
    let failed = outcome(&h, OutcomeResult::Failed);
    let t = Tally::of_change(&h, &failed);
    assert_eq!((t.counts.auto_errors, t.counts.checked), (1, 0));
    let mut checked = failed.clone();
    checked.spot_check = Some(SpotCheck {
        verdict: Some(SpotVerdict::Fine),
        ..SpotCheck::default()
    });
    let t = Tally::of_change(&failed, &checked);
    assert_eq!((t.counts.checked, t.counts.check_errors), (1, 1));
}

#[test]
fn edit_sizes_count_json_leaves_and_text_characters() {
    let a = json!({"to": "ann", "lines": [1, 2], "meta": {"x": 1}});
    let b = json!({"to": "bob", "lines": [1, 2, 3], "extra": {"y": 1, "z": 2}});
    // to changed, lines[2] added, meta.x removed, extra.y and extra.z added.
    assert_eq!(changed_paths(&a, &b), 5);
    assert_eq!(changed_paths(&a, &a), 0);
    assert_eq!(
        edit_size(Some(&json!("abcdef")), Some(&json!("abXYef"))).characters,
        2
    );
    assert_eq!(
        edit_size(Some(&json!("ab")), Some(&json!("abcd"))).characters,
        2
    );
}

#[test]
fn ttd_buckets_are_within_two_percent() {
    assert_eq!(ttd_bucket(0.4), 0);
    assert_eq!(ttd_bucket_seconds(0), 0.0);
    assert_eq!(ttd_bucket(1.0), 1);
    assert_eq!(
        ttd_percentile(&[(ttd_bucket(60.0), 3), (ttd_bucket(7200.0), 1)], 50.0)
            .map(|s| (s - 60.0).abs() / 60.0 < 0.02),
        Some(true)
    );
    assert_eq!(ttd_percentile(&[], 50.0), None);
}

proptest! {
    #[test]
    fn a_bucket_holds_its_value_within_two_percent(s in 1.0f64..1e8) {
        let low = ttd_bucket_seconds(ttd_bucket(s));
        prop_assert!(low <= s * 1.000_001);
        prop_assert!(s < low * TTD_RATIO * 1.000_001);
    }

    #[test]
    fn counts_round_trip_through_their_values(v in proptest::collection::vec(0i64..1000, Counts::NAMES.len())) {
        let c = Counts::from_values(&v);
        prop_assert_eq!(c.values(), v);
        let mut twice = c;
        twice.add(&c);
        prop_assert_eq!(twice.values(), c.values().iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn changed_paths_is_symmetric_and_zero_only_for_equal_values(
        a in proptest::collection::btree_map("[a-c]", 0i64..3, 0..4),
        b in proptest::collection::btree_map("[a-c]", 0i64..3, 0..4),
    ) {
        let (ja, jb) = (json!(a), json!(b));
        prop_assert_eq!(changed_paths(&ja, &jb), changed_paths(&jb, &ja));
        prop_assert_eq!(changed_paths(&ja, &jb) == 0, ja == jb || (a.is_empty() && b.is_empty()));
    }
}
