//! The clock's rules, one test each, then a property: whatever the times, the clock never
//! approves, fires each timer once per period, and expires exactly when `expires_at` passes.

use super::*;
use crate::lifecycle::DecisionAction;
use crate::{Packet, Policy};
use chrono::TimeZone;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad test date"))
}

/// A handoff of the example policy's `respond_to_client_inquiry` (level 2, SLA 2h, sales,
/// escalating to sales-leads), or at `level` when given through a rule-free packet.
fn handoff(confidence: f64, flags: &[&str]) -> Handoff {
    let packet = Packet::parse(serde_json::json!({
        "task": "respond_to_client_inquiry",
        "summary": "Reply to a client",
        "confidence": confidence,
        "flags": flags,
        "draft": {"body": "Hello"},
    }))
    .unwrap_or_else(|e| panic!("{e:?}"));
    let policy = Policy::example();
    let evaluation = policy.evaluate(&packet, t0());
    Handoff::submitted("hnd_1".into(), "sales-bot", &packet, evaluation, t0())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn pending() -> Handoff {
    let h = handoff(0.9, &[]);
    assert_eq!(h.state.status, Status::Pending);
    h
}

fn alerted() -> Handoff {
    let mut h = pending();
    h.state.status = Status::Alerted;
    h.timers.alerts = 1;
    h.timers.last_alert_at = Some(h.created_at);
    h
}

fn fire(h: &Handoff, timer: Timer, at: DateTime<Utc>, up: Option<&str>) -> Fired {
    h.fire(timer, at, up).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_reminder_is_due_at_half_the_sla() {
    let h = pending();
    let sla = h.evaluation.sla.to_chrono();
    assert_eq!(h.next_deadline(), Some(t0() + sla / 2));
    assert_eq!(h.due(t0() + sla / 2 - Duration::seconds(1)), None);
    assert_eq!(h.due(t0() + sla / 2), Some(Timer::Remind));

    let f = fire(&h, Timer::Remind, t0() + sla / 2, None);
    assert_eq!(f.entry.action, "handoff.reminded");
    assert_eq!(f.notify, Some(("sales".into(), Notice::Reminder)));
    assert!(f.handoff.timers.reminded);
    // Nothing more until the SLA; the record's decision state is untouched.
    assert_eq!(f.handoff.next_deadline(), Some(h.evaluation.sla_due_at));
    assert_eq!(f.handoff.state, h.state);
    assert!(f.handoff.fire(Timer::Remind, t0() + sla, None).is_err());
}

#[test]
fn the_sla_escalates_up_the_chain_and_then_the_top_is_told_it_is_overdue() {
    let h = pending();
    let sla = h.evaluation.sla.to_chrono();
    let due = h.evaluation.sla_due_at;

    let f = fire(&h, Timer::Escalate, due, Some("sales-leads"));
    let h2 = f.handoff;
    assert_eq!(f.entry.action, "handoff.escalated");
    assert_eq!(f.notify, Some(("sales-leads".into(), Notice::Routed)));
    assert_eq!(h2.state.assigned_team, "sales-leads");
    assert_eq!(h2.state.status, Status::Pending);
    assert_eq!(h2.version(), h.version() + 1);
    assert_eq!(h2.evaluation.sla_due_at, due + sla);
    // The new team gets its own reminder half-way through its period.
    assert_eq!(h2.next_deadline(), Some(due + sla / 2));

    let h3 = fire(&h2, Timer::Remind, due + sla / 2, None).handoff;
    let f = fire(&h3, Timer::Escalate, due + sla, None);
    assert_eq!(f.entry.action, "handoff.reminded");
    assert_eq!(f.entry.data["kind"], "overdue");
    assert_eq!(f.notify, Some(("sales-leads".into(), Notice::Reminder)));
    assert!(f.handoff.timers.overdue);
    assert_eq!(f.handoff.next_deadline(), Some(h.evaluation.expires_at));
}

#[test]
fn expiry_wins_over_everything_that_passed_and_never_approves() {
    let h = pending();
    let late = h.evaluation.expires_at + Duration::days(3);
    assert_eq!(h.due(late), Some(Timer::Expire));
    let f = fire(&h, Timer::Expire, late, Some("sales-leads"));
    assert_eq!(f.handoff.state.status, Status::Expired);
    assert_eq!(f.entry.action, "handoff.expired");
    assert_eq!(f.notify, None);
    assert_eq!(f.handoff.next_deadline(), None);
    assert!(f.handoff.state.decision.is_none());
}

#[test]
fn a_stale_reminder_is_skipped_when_the_sla_has_passed_too() {
    let h = pending();
    assert_eq!(h.due(h.evaluation.sla_due_at), Some(Timer::Escalate));
}

#[test]
fn level_four_re_alerts_every_fifteen_minutes_until_acknowledged() {
    let h = alerted();
    assert_eq!(h.next_deadline(), Some(t0() + REALERT_EVERY));
    assert_eq!(h.due(t0() + REALERT_EVERY - Duration::seconds(1)), None);
    let f = fire(&h, Timer::Realert, t0() + REALERT_EVERY, None);
    assert_eq!(f.notify, Some(("sales".into(), Notice::Alert)));
    assert_eq!(f.handoff.timers.alerts, 2);
    assert_eq!(f.handoff.next_deadline(), Some(t0() + REALERT_EVERY * 2));

    let applied = f
        .handoff
        .state
        .apply(
            Command::Decide {
                by: "ana".into(),
                action: DecisionAction::Acknowledge,
                rationale: None,
                draft: None,
                option: None,
                to_team: None,
            },
            t0() + REALERT_EVERY * 2,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let acked = Handoff {
        state: applied.state,
        ..f.handoff
    };
    assert_eq!(acked.next_deadline(), None);
}

#[test]
fn decided_handoffs_have_no_deadlines_and_refuse_timers() {
    let mut h = pending();
    h.state.status = Status::Approved;
    assert_eq!(h.next_deadline(), None);
    assert!(
        h.fire(Timer::Expire, h.evaluation.expires_at, None)
            .is_err()
    );
}

#[test]
fn a_level_four_submission_counts_its_first_alert() {
    let mut h = pending();
    h.state.status = Status::Alerted;
    // As `Handoff::submitted` does for level 4: the first alert went out at creation.
    h.timers = Timers::default();
    assert_eq!(h.next_deadline(), Some(t0() + REALERT_EVERY));
}

proptest! {
    /// The scheduler's loop, at arbitrary moments: fire whatever is due until nothing is.
    #[test]
    fn the_clock_never_approves_and_expires_exactly_at_expires_at(
        steps in proptest::collection::vec(1i64..20_000, 1..40),
        chain in proptest::collection::vec(any::<bool>(), 0..5),
    ) {
        let mut h = pending();
        let mut now = t0();
        let mut reminders = 0u32;
        for step in steps {
            now += Duration::seconds(step);
            let mut fired = 0;
            while let Some(timer) = h.due(now) {
                let up = chain.get(h.timers.escalations as usize).and_then(|go| go.then_some("sales-leads"));
                let f = h.fire(timer, now, up).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if f.entry.action == "handoff.reminded" { reminders += 1; }
                h = f.handoff;
                fired += 1;
                prop_assert!(fired < 100, "the clock does not settle");
            }
            prop_assert!(h.due(now).is_none());
            prop_assert!(h.next_deadline().is_none_or(|d| d > now));
            prop_assert_ne!(h.state.status, Status::Approved);
            prop_assert_eq!(h.state.status == Status::Expired, now >= h.evaluation.expires_at);
        }
        // At most one reminder per SLA period, plus the overdue notice.
        prop_assert!(reminders <= h.timers.escalations + 2);
    }
}
