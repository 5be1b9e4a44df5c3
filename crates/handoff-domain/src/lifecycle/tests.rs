//! One test per row of the SPEC §3 transition table, then the refusals.

use super::*;
use chrono::TimeZone;
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad test date"))
}

fn level(n: i64) -> Level {
    Level::new(n).unwrap_or_else(|e| panic!("{e}"))
}

fn submitted(n: i64, approvals_required: u32) -> Lifecycle {
    Lifecycle::submitted(
        "sales-bot",
        "sales",
        level(n),
        approvals_required,
        Some(json!({"to": "client@example.com", "body": "Hello"})),
        now(),
    )
}

fn decide(by: &str, action: DecisionAction) -> Command {
    Command::Decide {
        by: by.to_owned(),
        action,
        rationale: None,
        draft: None,
        option: None,
        to_team: None,
    }
}

fn because(by: &str, action: DecisionAction, why: &str) -> Command {
    Command::Decide {
        by: by.to_owned(),
        action,
        rationale: Some(why.to_owned()),
        draft: None,
        option: None,
        to_team: None,
    }
}

fn edit(by: &str, draft: Value) -> Command {
    Command::Decide {
        by: by.to_owned(),
        action: DecisionAction::Edit,
        rationale: None,
        draft: Some(draft),
        option: None,
        to_team: None,
    }
}

fn outcome(result: OutcomeResult, draft_sha256: Option<String>) -> Command {
    Command::Outcome {
        by: "sales-bot".to_owned(),
        result,
        detail: None,
        draft_sha256,
    }
}

fn ok(state: &Lifecycle, cmd: Command) -> Applied {
    state
        .apply(cmd, now())
        .unwrap_or_else(|e| panic!("refused from {}: {e}", state.status))
}

fn err(state: &Lifecycle, cmd: Command) -> TransitionError {
    match state.apply(cmd, now()) {
        Ok(a) => panic!("accepted: {} -> {}", a.from, a.to),
        Err(e) => e,
    }
}

fn is_conflict(e: &TransitionError) -> bool {
    matches!(e, TransitionError::Conflict { .. })
}

#[test]
fn level_one_is_approved_by_policy_at_submission() {
    let s = submitted(1, 1);
    assert_eq!(s.status, Status::Approved);
    let d = s.decision.clone().unwrap_or_else(|| panic!("no decision"));
    assert_eq!(
        (d.action, d.by.as_str()),
        (DecisionAction::Approve, "policy")
    );
    assert_eq!(s.approved_draft(), s.current_draft.as_deref());
}

#[test]
fn levels_two_three_and_four_start_pending_handed_over_and_alerted() {
    assert_eq!(submitted(2, 1).status, Status::Pending);
    assert_eq!(submitted(3, 1).status, Status::HandedOver);
    assert_eq!(submitted(4, 1).status, Status::Alerted);
    assert_eq!(submitted(2, 1).decision, None);
}

#[test]
fn the_agents_draft_is_version_one_with_its_canonical_digest() {
    let s = submitted(2, 1);
    assert_eq!(s.version, 1);
    assert_eq!(s.draft_versions.len(), 1);
    assert_eq!(s.draft_versions[0].by, "agent");
    let want = s.current_draft.as_deref().map(sha256_hex);
    assert_eq!(s.current_draft_sha256(), want.as_deref());
    let bare = Lifecycle::submitted("bot", "ops", level(2), 1, None, now());
    assert_eq!(bare.current_draft_sha256(), None);
}

#[test]
fn one_approval_approves_when_one_is_required() {
    let a = ok(&submitted(2, 1), decide("ana", DecisionAction::Approve));
    assert_eq!((a.from, a.to), (Status::Pending, Status::Approved));
    assert!(a.became_approved());
    assert_eq!(a.state.approvers(), ["ana"]);
    assert_eq!(a.state.version, 2);
}

#[test]
fn approval_stays_pending_until_enough_distinct_reviewers_approve() {
    let a = ok(&submitted(2, 2), decide("ana", DecisionAction::Approve));
    assert_eq!(a.to, Status::Pending);
    assert!(a.state.approved_draft().is_none());
    let b = ok(&a.state, decide("bo", DecisionAction::Approve));
    assert_eq!(b.to, Status::Approved);
    assert_eq!(b.state.approvers(), ["ana", "bo"]);
}

#[test]
fn a_second_approval_by_the_same_reviewer_is_a_conflict() {
    let a = ok(&submitted(2, 2), decide("ana", DecisionAction::Approve));
    let e = err(&a.state, decide("ana", DecisionAction::Approve));
    assert!(is_conflict(&e), "{e:?}");
}

#[test]
fn an_edit_is_a_new_version_and_the_editors_approval() {
    let a = ok(&submitted(2, 1), edit("ana", json!({"body": "Hi"})));
    assert_eq!(a.to, Status::Approved);
    assert_eq!(a.state.current_draft_version(), 2);
    assert_eq!(a.state.draft_versions[1].by, "ana");
    let want = sha256_hex(&json!({"body": "Hi"}));
    assert_eq!(a.state.current_draft_sha256(), Some(want.as_str()));
    assert_eq!(a.state.approved_draft(), Some(&json!({"body": "Hi"})));
}

#[test]
fn an_edit_dismisses_approvals_of_earlier_versions() {
    let a = ok(&submitted(2, 2), decide("ana", DecisionAction::Approve));
    let b = ok(&a.state, edit("bo", json!({"body": "Hi"})));
    assert_eq!(b.to, Status::Pending, "ana approved other content");
    assert_eq!(b.state.approvers(), ["bo"]);
    let c = ok(&b.state, decide("ana", DecisionAction::Approve));
    assert_eq!(c.to, Status::Approved);
}

fn approve_with(by: &str, option: Option<&str>) -> Command {
    Command::Decide {
        by: by.to_owned(),
        action: DecisionAction::Approve,
        rationale: None,
        draft: None,
        option: option.map(str::to_owned),
        to_team: None,
    }
}

#[test]
fn each_approval_records_the_option_its_reviewer_chose() {
    let a = ok(&submitted(2, 2), approve_with("ana", Some("b")));
    assert_eq!(a.state.approvals[0].option.as_deref(), Some("b"));
    let b = ok(&a.state, approve_with("bo", Some("b")));
    assert_eq!(b.to, Status::Approved, "both chose b");
    let options: Vec<_> = b
        .state
        .approvals
        .iter()
        .map(|a| a.option.as_deref())
        .collect();
    assert_eq!(options, [Some("b"), Some("b")]);
    assert_eq!(
        b.state.decision.as_ref().and_then(|d| d.option.as_deref()),
        Some("b")
    );
}

#[test]
fn an_approval_of_another_option_dismisses_the_earlier_ones() {
    let a = ok(&submitted(2, 2), approve_with("lea", Some("b")));
    let b = ok(&a.state, approve_with("admin", Some("a")));
    assert_eq!(b.to, Status::Pending, "lea approved another course");
    assert_eq!(b.state.approvers(), ["admin"]);
    // Naming no option is another choice too: four eyes agree on one course.
    let c = ok(&b.state, approve_with("lea", None));
    assert_eq!(c.to, Status::Pending);
    assert_eq!(c.state.approvers(), ["lea"]);
    let d = ok(&c.state, approve_with("admin", None));
    assert_eq!(d.to, Status::Approved);
    assert!(d.state.approvals.iter().all(|a| a.option.is_none()));
}

#[test]
fn an_approval_of_the_same_option_after_a_dismissal_counts_again() {
    let a = ok(&submitted(2, 2), approve_with("lea", Some("b")));
    let b = ok(&a.state, approve_with("admin", Some("a")));
    let c = ok(&b.state, approve_with("lea", Some("a")));
    assert_eq!(c.to, Status::Approved);
    assert_eq!(c.state.approvers(), ["admin", "lea"]);
}

#[test]
fn reject_with_a_rationale_rejects() {
    let cmd = because("ana", DecisionAction::Reject, "wrong client");
    let a = ok(&submitted(2, 1), cmd);
    assert_eq!(a.to, Status::Rejected);
    let d = a.state.decision.unwrap_or_else(|| panic!("no decision"));
    assert_eq!(d.rationale.as_deref(), Some("wrong client"));
}

#[test]
fn reject_and_escalate_without_a_rationale_are_invalid() {
    for action in [DecisionAction::Reject, DecisionAction::Escalate] {
        for cmd in [decide("ana", action), because("ana", action, "  ")] {
            let e = err(&submitted(2, 1), cmd);
            assert!(
                matches!(
                    e,
                    TransitionError::Invalid {
                        field: "rationale",
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }
}

#[test]
fn escalate_stays_pending_and_reroutes_to_the_target_team() {
    let mut cmd = because("ana", DecisionAction::Escalate, "over my limit");
    if let Command::Decide { to_team, .. } = &mut cmd {
        *to_team = Some("legal".to_owned());
    }
    let a = ok(&submitted(2, 1), cmd);
    assert_eq!((a.from, a.to), (Status::Pending, Status::Pending));
    assert_eq!(a.to_team.as_deref(), Some("legal"));
    assert_eq!(a.state.assigned_team, "legal");
}

#[test]
fn escalate_without_a_target_team_is_invalid() {
    let cmd = because("ana", DecisionAction::Escalate, "over my limit");
    let e = err(&submitted(2, 1), cmd);
    assert!(
        matches!(
            e,
            TransitionError::Invalid {
                field: "to_team",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn take_over_hands_a_pending_handoff_to_a_person() {
    let a = ok(&submitted(2, 1), decide("ana", DecisionAction::TakeOver));
    assert_eq!(a.to, Status::HandedOver);
}

#[test]
fn resolve_closes_a_handed_over_or_acknowledged_handoff() {
    let a = ok(&submitted(3, 1), decide("ana", DecisionAction::Resolve));
    assert_eq!((a.from, a.to), (Status::HandedOver, Status::Resolved));
    let b = ok(&submitted(4, 1), decide("ana", DecisionAction::Acknowledge));
    let c = ok(&b.state, decide("ana", DecisionAction::Resolve));
    assert_eq!((c.from, c.to), (Status::Acknowledged, Status::Resolved));
}

#[test]
fn acknowledge_turns_an_alert_into_acknowledged() {
    let a = ok(&submitted(4, 1), decide("ana", DecisionAction::Acknowledge));
    assert_eq!((a.from, a.to), (Status::Alerted, Status::Acknowledged));
}

#[test]
fn the_agent_can_cancel_a_pending_handoff_and_nobody_else_can() {
    let cancel = |by: &str| Command::Cancel { by: by.to_owned() };
    assert_eq!(
        ok(&submitted(2, 1), cancel("sales-bot")).to,
        Status::Cancelled
    );
    let e = err(&submitted(2, 1), cancel("ana"));
    assert!(matches!(e, TransitionError::Forbidden { .. }), "{e:?}");
    assert!(is_conflict(&err(&submitted(3, 1), cancel("sales-bot"))));
}

#[test]
fn expiry_turns_pending_into_expired_and_never_approves() {
    let a = ok(&submitted(2, 2), decide("ana", DecisionAction::Approve));
    let b = ok(&a.state, Command::Expire);
    assert_eq!(b.to, Status::Expired);
    assert!(b.state.approved_draft().is_none());
    assert!(is_conflict(&err(&submitted(1, 1), Command::Expire)));
}

#[test]
fn the_agent_reports_executed_or_failed_after_approval() {
    let s = submitted(1, 1);
    assert_eq!(
        ok(&s, outcome(OutcomeResult::Failed, None)).to,
        Status::Failed
    );
    let a = ok(&s, outcome(OutcomeResult::Executed, None));
    assert_eq!(a.to, Status::Executed);
    assert_eq!(
        a.state.outcome.map(|o| o.result),
        Some(OutcomeResult::Executed)
    );
}

#[test]
fn an_executed_handoff_can_be_rolled_back() {
    let a = ok(&submitted(1, 1), outcome(OutcomeResult::Executed, None));
    let b = ok(&a.state, outcome(OutcomeResult::RolledBack, None));
    assert_eq!((b.from, b.to), (Status::Executed, Status::RolledBack));
    assert!(is_conflict(&err(
        &submitted(1, 1),
        outcome(OutcomeResult::RolledBack, None)
    )));
}

#[test]
fn an_outcome_before_approval_is_a_conflict() {
    for result in [OutcomeResult::Executed, OutcomeResult::Failed] {
        assert!(is_conflict(&err(&submitted(2, 1), outcome(result, None))));
    }
}

#[test]
fn an_executed_outcome_must_quote_the_approved_drafts_digest() {
    let s = submitted(1, 1);
    let good = s.current_draft_sha256().map(str::to_owned);
    assert_eq!(
        ok(&s, outcome(OutcomeResult::Executed, good)).to,
        Status::Executed
    );
    let bad = Some(sha256_hex(&json!("something else")));
    assert!(is_conflict(&err(&s, outcome(OutcomeResult::Executed, bad))));
}

#[test]
fn only_the_agent_reports_outcomes() {
    let cmd = Command::Outcome {
        by: "ana".to_owned(),
        result: OutcomeResult::Executed,
        detail: None,
        draft_sha256: None,
    };
    let e = err(&submitted(1, 1), cmd);
    assert!(matches!(e, TransitionError::Forbidden { .. }), "{e:?}");
}

#[test]
fn the_submitting_agent_never_approves_its_own_handoff() {
    let s = submitted(2, 1);
    for cmd in [
        decide("sales-bot", DecisionAction::Approve),
        edit("sales-bot", json!("mine")),
    ] {
        let e = err(&s, cmd);
        assert!(matches!(e, TransitionError::Forbidden { .. }), "{e:?}");
    }
}

#[test]
fn an_edit_without_a_draft_is_invalid() {
    let e = err(&submitted(2, 1), decide("ana", DecisionAction::Edit));
    assert!(
        matches!(e, TransitionError::Invalid { field: "draft", .. }),
        "{e:?}"
    );
}

#[test]
fn approving_with_different_content_is_invalid_but_the_same_content_is_fine() {
    let s = submitted(2, 1);
    let with = |draft: Value| Command::Decide {
        by: "ana".to_owned(),
        action: DecisionAction::Approve,
        rationale: None,
        draft: Some(draft),
        option: None,
        to_team: None,
    };
    let e = err(&s, with(json!("changed")));
    assert!(
        matches!(e, TransitionError::Invalid { field: "draft", .. }),
        "{e:?}"
    );
    let same = s.current_draft.as_deref().cloned().unwrap_or(Value::Null);
    assert_eq!(ok(&s, with(same)).to, Status::Approved);
}

#[test]
fn decisions_outside_their_statuses_are_conflicts_naming_the_status() {
    let approved = submitted(1, 1);
    let e = err(&approved, decide("ana", DecisionAction::Approve));
    assert_eq!(
        e,
        TransitionError::Conflict {
            from: Status::Approved,
            message: "cannot approve a handoff that is approved".to_owned()
        }
    );
    assert!(is_conflict(&err(
        &submitted(2, 1),
        decide("ana", DecisionAction::Resolve)
    )));
    assert!(is_conflict(&err(
        &submitted(2, 1),
        decide("ana", DecisionAction::Acknowledge)
    )));
    assert!(is_conflict(&err(
        &submitted(4, 1),
        decide("ana", DecisionAction::TakeOver)
    )));
}

#[test]
fn assign_makes_a_handed_over_handoff_someones_and_keeps_its_status() {
    let handed = submitted(3, 1);
    assert_eq!(handed.status, Status::HandedOver);
    assert_eq!(
        handed.owner(),
        None,
        "the policy handed it over to nobody yet"
    );
    let a = ok(&handed, decide("ana", DecisionAction::Assign));
    assert_eq!(a.to, Status::HandedOver);
    assert_eq!(a.state.owner(), Some("ana"));
    assert!(
        is_conflict(&err(&a.state, decide("ana", DecisionAction::Assign))),
        "ana owns it"
    );
    let b = ok(&a.state, decide("bo", DecisionAction::Assign));
    assert_eq!(b.state.owner(), Some("bo"));
    // Taking over and acknowledging make the decider the owner too.
    let t = ok(&submitted(2, 1), decide("cy", DecisionAction::TakeOver));
    assert_eq!(t.state.owner(), Some("cy"));
    let k = ok(&submitted(4, 1), decide("di", DecisionAction::Acknowledge));
    assert_eq!(k.state.owner(), Some("di"));
    // Nothing to own while it waits for a decision, or once it is resolved.
    assert!(is_conflict(&err(
        &submitted(2, 1),
        decide("ana", DecisionAction::Assign)
    )));
    assert!(is_conflict(&err(
        &submitted(4, 1),
        decide("ana", DecisionAction::Assign)
    )));
    let r = ok(&b.state, because("bo", DecisionAction::Resolve, "done"));
    assert_eq!(r.state.owner(), None);
}

#[test]
fn terminal_statuses_refuse_every_command() {
    let rejected = ok(
        &submitted(2, 1),
        because("ana", DecisionAction::Reject, "no"),
    )
    .state;
    for action in DecisionAction::ALL {
        let cmd = because("ana", action, "because");
        assert!(rejected.apply(cmd, now()).is_err(), "{action} accepted");
    }
    assert!(rejected.apply(Command::Expire, now()).is_err());
}

#[test]
fn the_state_round_trips_through_json() {
    let a = ok(&submitted(2, 2), edit("ana", json!({"body": "Hi"}))).state;
    let text = serde_json::to_string(&a).unwrap_or_else(|e| panic!("{e}"));
    let back: Lifecycle = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, a);
}
