//! Invariants of the state machine (SPEC §3) under random command sequences from random
//! people: nothing is approved without enough distinct approvers of the current draft, none
//! of them the agent; each accepted command adds exactly 1 to the version; terminal
//! statuses accept nothing; expiry never approves.

use chrono::{DateTime, Duration, TimeZone, Utc};
use handoff_domain::Level;
use handoff_domain::canonical::sha256_hex;
use handoff_domain::lifecycle::{Command, DecisionAction, Lifecycle, OutcomeResult, Status};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const AGENT: &str = "sales-bot";
/// The agent is among the people who try to decide, on purpose.
const PEOPLE: [&str; 5] = [AGENT, "ana", "bo", "cy", "di"];
const RATIONALES: [Option<&str>; 3] = [None, Some(" "), Some("because")];

/// A command before it meets a state: an outcome's quoted digest depends on the state.
#[derive(Debug, Clone)]
enum Step {
    Decide {
        by: usize,
        action: DecisionAction,
        rationale: usize,
        draft: Option<u8>,
        to_team: bool,
    },
    Cancel {
        by: usize,
    },
    Outcome {
        by: usize,
        result: OutcomeResult,
        quote: Option<bool>,
    },
    Expire,
}

fn step() -> impl Strategy<Value = Step> {
    let person = 0..PEOPLE.len();
    prop_oneof![
        6 => (
            person.clone(),
            proptest::sample::select(DecisionAction::ALL.to_vec()),
            0..RATIONALES.len(),
            proptest::option::of(0..3u8),
            any::<bool>(),
        )
            .prop_map(|(by, action, rationale, draft, to_team)| Step::Decide {
                by,
                action,
                rationale,
                draft,
                to_team,
            }),
        1 => person.clone().prop_map(|by| Step::Cancel { by }),
        2 => (
            person,
            proptest::sample::select(vec![
                OutcomeResult::Executed,
                OutcomeResult::Failed,
                OutcomeResult::RolledBack,
            ]),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(|(by, result, quote)| Step::Outcome { by, result, quote }),
        1 => Just(Step::Expire),
    ]
}

fn draft(n: u8) -> Value {
    json!({"body": format!("draft {n}")})
}

fn command(step: &Step, state: &Lifecycle) -> Command {
    match step {
        Step::Decide {
            by,
            action,
            rationale,
            draft: d,
            to_team,
        } => Command::Decide {
            by: PEOPLE[*by].to_owned(),
            action: *action,
            rationale: RATIONALES[*rationale].map(str::to_owned),
            draft: d.map(draft),
            option: None,
            to_team: to_team.then(|| "legal".to_owned()),
        },
        Step::Cancel { by } => Command::Cancel {
            by: PEOPLE[*by].to_owned(),
        },
        Step::Outcome { by, result, quote } => Command::Outcome {
            by: PEOPLE[*by].to_owned(),
            result: *result,
            detail: None,
            draft_sha256: quote.map(|right| match (right, state.current_draft_sha256()) {
                (true, Some(sha)) => sha.to_owned(),
                _ => sha256_hex(&json!("not what was approved")),
            }),
        },
        Step::Expire => Command::Expire,
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad start date"))
}

fn scenario() -> impl Strategy<Value = (i64, u32, Option<u8>, Vec<Step>)> {
    (
        prop_oneof![3 => Just(2i64), 1 => 1..=4i64],
        0..4u32,
        proptest::option::of(0..3u8),
        proptest::collection::vec(step(), 0..24),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_command_sequences_keep_every_invariant(
        (level, required, initial, steps) in scenario()
    ) {
        let level = Level::new(level).unwrap_or_else(|e| panic!("{e}"));
        let mut state =
            Lifecycle::submitted(AGENT, "sales", level, required, initial.map(draft), start());
        // An independent model of who approved the current draft version.
        let mut approvers: BTreeSet<String> = BTreeSet::new();
        let by_policy = state.status == Status::Approved;

        for (i, step) in steps.iter().enumerate() {
            let now = start() + Duration::minutes(i as i64 + 1);
            let cmd = command(step, &state);
            let result = state.apply(cmd.clone(), now);
            let before = state.status;
            if before.is_terminal() {
                prop_assert!(result.is_err(), "{before} accepted {cmd:?}");
                continue;
            }
            let Ok(applied) = result else { continue };
            prop_assert_eq!(applied.from, before);
            prop_assert_eq!(applied.state.status, applied.to);
            prop_assert_eq!(applied.state.version, state.version + 1);
            if matches!(cmd, Command::Expire) {
                prop_assert_eq!(applied.to, Status::Expired);
            }
            if let Command::Decide { by, action, .. } = &cmd {
                match action {
                    DecisionAction::Approve => {
                        prop_assert!(approvers.insert(by.clone()), "{by} counted twice");
                    }
                    DecisionAction::Edit => {
                        approvers = BTreeSet::from([by.clone()]);
                    }
                    _ => {}
                }
            }
            if applied.became_approved() {
                prop_assert_eq!(before, Status::Pending);
                let approving = matches!(
                    &cmd,
                    Command::Decide { action: DecisionAction::Approve | DecisionAction::Edit, .. }
                );
                prop_assert!(approving, "approved by {cmd:?}");
                prop_assert!(approvers.len() >= required.max(1) as usize);
                prop_assert!(!approvers.contains(AGENT));
                let counted: Vec<&str> = approvers.iter().map(String::as_str).collect();
                prop_assert_eq!(applied.state.approvers(), counted);
            }
            state = applied.state;
            let was_approved = matches!(
                state.status,
                Status::Approved | Status::Executed | Status::Failed | Status::RolledBack
            );
            if was_approved && !by_policy {
                prop_assert!(state.approvers().len() >= required.max(1) as usize);
            }
            if state.current_draft.is_some() {
                prop_assert_eq!(was_approved, state.approved_draft().is_some());
            }
        }
    }

    #[test]
    fn terminal_statuses_accept_no_command(
        (level, required, initial, steps) in scenario(), last in step()
    ) {
        let level = Level::new(level).unwrap_or_else(|e| panic!("{e}"));
        let mut state =
            Lifecycle::submitted(AGENT, "sales", level, required, initial.map(draft), start());
        for step in &steps {
            if let Ok(applied) = state.apply(command(step, &state), start()) {
                state = applied.state;
            }
        }
        if state.status.is_terminal() {
            let cmd = command(&last, &state);
            prop_assert!(state.apply(cmd, start()).is_err());
        }
    }
}
