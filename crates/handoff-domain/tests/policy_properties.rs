//! Invariants of evaluation that must hold for every packet (SPEC §1, §5):
//! nothing the agent sends lowers the level below its task's; less confidence, more flags
//! or a higher rubric claim never lower it; an unknown task is never autonomous; the same
//! input always gives the same evaluation.

use chrono::{TimeZone, Utc};
use handoff_domain::{Level, Packet, Policy};
use proptest::prelude::*;
use serde_json::{Value, json};

const TASKS: [&str; 8] = [
    "categorize_support_ticket",
    "respond_to_client_inquiry",
    "publish_content",
    "draft_contract_clause",
    "make_purchase",
    "delete_data",
    "report_data_anomaly",
    "not_in_the_policy",
];
const FLAGS: [&str; 7] = [
    "non-standard request",
    "high-value account",
    "non-standard clause",
    "possible fraud",
    "urgent",
    "vip",
    "<script>",
];
const GRADES: [&str; 3] = ["low", "medium", "high"];
const DIMS: [&str; 4] = [
    "impact",
    "reversibility",
    "uncertainty",
    "policy_sensitivity",
];

#[derive(Debug, Clone)]
struct Input {
    task: usize,
    confidence: f64,
    flags: Vec<usize>,
    rubric: Vec<(usize, usize)>,
    amount: Option<i64>,
    fraud_score: Option<f64>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        0..TASKS.len(),
        0.0..=1.0f64,
        proptest::collection::vec(0..FLAGS.len(), 0..4),
        proptest::collection::vec((0..4usize, 0..3usize), 0..4),
        proptest::option::of(0..100_000i64),
        proptest::option::of(0.0..=1.0f64),
    )
        .prop_map(
            |(task, confidence, flags, rubric, amount, fraud_score)| Input {
                task,
                confidence,
                flags,
                rubric,
                amount,
                fraud_score,
            },
        )
}

fn to_json(i: &Input) -> Value {
    let mut flags: Vec<&str> = i.flags.iter().map(|f| FLAGS[*f]).collect();
    flags.dedup();
    let rubric: serde_json::Map<String, Value> = i
        .rubric
        .iter()
        .map(|(d, g)| (DIMS[*d].to_owned(), json!(GRADES[*g])))
        .collect();
    let mut context = serde_json::Map::new();
    if let Some(a) = i.amount {
        context.insert("amount".into(), json!(a));
    }
    if let Some(f) = i.fraud_score {
        context.insert("fraud_score".into(), json!(f));
    }
    json!({"task": TASKS[i.task], "summary": "a summary", "confidence": i.confidence,
           "flags": flags, "rubric": rubric, "context": context})
}

fn level(policy: &Policy, v: Value) -> Level {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .single()
        .unwrap_or_default();
    match Packet::parse(v) {
        Ok(p) => policy.evaluate(&p, now).level,
        Err(e) => panic!("generated packet should parse: {e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn nothing_the_agent_sends_lowers_the_level_below_its_task(i in input()) {
        let p = Policy::example();
        let l = level(&p, to_json(&i));
        let floor = p.task_level(TASKS[i.task]).unwrap_or(Level::REVIEW);
        prop_assert!(l >= floor);
    }

    #[test]
    fn an_unknown_task_is_never_autonomous(i in input()) {
        let mut i = i;
        i.task = TASKS.len() - 1;
        prop_assert!(level(&Policy::example(), to_json(&i)) >= Level::REVIEW);
    }

    #[test]
    fn lower_confidence_never_lowers_the_level(i in input(), lower in 0.0..=1.0f64) {
        let p = Policy::example();
        let high = level(&p, to_json(&i));
        let mut j = i.clone();
        j.confidence = i.confidence * lower;
        prop_assert!(level(&p, to_json(&j)) >= high);
    }

    #[test]
    fn more_flags_never_lower_the_level(i in input(), more in proptest::collection::vec(0..FLAGS.len(), 1..3)) {
        let p = Policy::example();
        let before = level(&p, to_json(&i));
        let mut j = i.clone();
        for f in more {
            if !j.flags.contains(&f) {
                j.flags.push(f);
            }
        }
        prop_assert!(level(&p, to_json(&j)) >= before);
    }

    #[test]
    fn a_higher_rubric_claim_never_lowers_the_level(i in input(), dim in 0..4usize, grade in 0..3usize) {
        let p = Policy::example();
        let before = level(&p, to_json(&i));
        let mut j = i.clone();
        // Raise one dimension: the claim becomes the higher of the old and the new.
        let old = j.rubric.iter().filter(|(d, _)| *d == dim).map(|(_, g)| *g).max();
        j.rubric.retain(|(d, _)| *d != dim);
        j.rubric.push((dim, old.map_or(grade, |o| o.max(grade))));
        prop_assert!(level(&p, to_json(&j)) >= before);
    }

    #[test]
    fn evaluation_is_deterministic(i in input()) {
        let p = Policy::example();
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).single().unwrap_or_default();
        let packet = Packet::parse(to_json(&i)).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(p.evaluate(&packet, now), p.evaluate(&packet, now));
    }

    #[test]
    fn rules_only_raise_for_any_rule_set(i in input(), rules in proptest::collection::vec((0..4usize, 1..=4i64, any::<bool>()), 0..6)) {
        // Arbitrary rules (matching, not matching, failing) never push below the task level.
        let mut text = String::from("[teams.ops]\nmembers = [\"oz\"]\n[tasks.respond_to_client_inquiry]\nlevel = 2\n[tasks.categorize_support_ticket]\nlevel = 1\n");
        for (n, (kind, lvl, neg)) in rules.iter().enumerate() {
            let cond = match kind {
                0 => "'urgent' in handoff.flags".to_owned(),
                1 => "context.amount > 500".to_owned(),
                2 => "handoff.confidence < 0.5".to_owned(),
                _ => "handoff.summary".to_owned(),
            };
            let cond = if *neg { format!("!({cond})") } else { cond };
            text.push_str(&format!("[[rules]]\nname = \"r{n}\"\nwhen = \"{cond}\"\nlevel = {lvl}\n"));
        }
        let p = Policy::load(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let l = level(&p, to_json(&i));
        prop_assert!(l >= p.task_level(TASKS[i.task]).unwrap_or(Level::REVIEW));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A level in force (SPEC §7) takes the place of the task's level only: it never
    /// lowers what the rubric, the confidence step or a rule require, and an unknown task
    /// ignores it.
    #[test]
    fn a_level_in_force_never_undercuts_the_later_steps(i in input(), forced in 1u8..=4) {
        use handoff_domain::policy::{InForce, rubric_floor};
        let policy = Policy::example();
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).single().unwrap_or_default();
        let packet = Packet::parse(to_json(&i)).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let forced = Level::new(i64::from(forced)).map_err(TestCaseError::fail)?;
        let f = InForce { level: forced, note: "promoted in a test".to_owned() };
        let with = policy.evaluate_with(&packet, now, Some(&f));
        let without = policy.evaluate(&packet, now);
        if TASKS[i.task] == "not_in_the_policy" {
            prop_assert_eq!(with, without);
        } else {
            prop_assert!(with.level >= forced);
            let floor = rubric_floor(&policy, TASKS[i.task]).map(|f| f.0);
            prop_assert!(floor.is_some_and(|floor| with.level >= floor));
            // Raising the task's level never lowers the result; lowering it never raises it.
            let base = policy.task_level(TASKS[i.task]).unwrap_or(Level::REVIEW);
            if forced >= base {
                prop_assert!(with.level >= without.level);
            } else {
                prop_assert!(with.level <= without.level);
            }
            let want = format!("task level {forced} (promoted in a test");
            prop_assert!(with.reasons[0].rule.starts_with(&want));
        }
    }
}
