//! SPEC §5, row by row: the order of evaluation, every step only raising, the reasons,
//! routes, approvals, durations and failing rules.

use chrono::{TimeZone, Utc};
use handoff_domain::{Evaluation, Level, Packet, Policy, Risk};
use serde_json::{Value, json};

const BASE: &str = r#"
[defaults]
level = 2
confidence_threshold = 0.85
sla = "4h"
expire_after = "72h"
approvals = 1
route = "ops"

[teams.ops]
members = ["oz"]
[teams.sales]
members = ["ana", "ben"]
escalate_to = "sales-leads"
[teams.sales-leads]
members = ["lea"]

[tasks.routine]
level = 1
[tasks.reply]
level = 2
route = "sales"
sla = "2h"
rubric = { impact = "medium", reversibility = "medium" }
"#;

fn policy(extra: &str) -> Policy {
    match Policy::load(&format!("{BASE}{extra}")) {
        Ok(p) => p,
        Err(e) => panic!("policy should load: {e}"),
    }
}

fn packet(v: Value) -> Packet {
    match Packet::parse(v) {
        Ok(p) => p,
        Err(e) => panic!("packet should parse: {e:?}"),
    }
}

fn eval(p: &Policy, v: Value) -> Evaluation {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 21, 10, 0, 0)
        .single()
        .unwrap_or_default();
    p.evaluate(&packet(v), now)
}

fn has_reason(e: &Evaluation, rule: &str, effect: &str) -> bool {
    e.reasons
        .iter()
        .any(|r| r.rule == rule && r.effect == effect)
}

#[test]
fn a_confident_routine_task_is_autonomous_and_low_risk() {
    let e = eval(
        &policy(""),
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!((e.level, e.risk), (Level::AUTONOMOUS, Risk::Low));
    assert_eq!(e.route, "ops");
    assert!(has_reason(&e, "task routine", "level >= 1"));
    assert!(has_reason(&e, "risk low", "level >= 1"));
}

#[test]
fn an_unknown_task_takes_the_default_level_and_is_flagged() {
    let e = eval(
        &policy(""),
        json!({"task": "nope", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.level, Level::REVIEW);
    assert_eq!(e.flags, ["unknown task"]);
    assert!(has_reason(&e, "unknown task", "level >= 2"));
}

#[test]
fn an_unknown_task_is_never_autonomous_even_when_the_default_level_is_one() {
    let p = Policy::load(&BASE.replace("level = 2\nconfidence", "level = 1\nconfidence"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.defaults.level, Level::AUTONOMOUS);
    let e = eval(
        &p,
        json!({"task": "nope", "summary": "s", "confidence": 1.0}),
    );
    assert_eq!(e.level, Level::REVIEW);
}

#[test]
fn confidence_below_the_threshold_needs_a_human_and_says_so() {
    let e = eval(
        &policy(""),
        json!({"task": "routine", "summary": "s", "confidence": 0.84}),
    );
    assert_eq!(e.level, Level::REVIEW);
    assert!(has_reason(&e, "confidence below threshold", "level >= 2"));
    assert!(has_reason(
        &e,
        "confidence below threshold",
        "uncertainty >= medium"
    ));
    assert_eq!(e.risk, Risk::Medium);
}

#[test]
fn confidence_at_the_threshold_is_not_below_it() {
    let e = eval(
        &policy(""),
        json!({"task": "routine", "summary": "s", "confidence": 0.85}),
    );
    assert_eq!(e.level, Level::AUTONOMOUS);
}

#[test]
fn confidence_below_six_tenths_makes_uncertainty_high() {
    let e = eval(
        &policy(""),
        json!({"task": "routine", "summary": "s", "confidence": 0.59}),
    );
    assert_eq!((e.risk, e.level), (Risk::High, Level::STOP));
    assert!(has_reason(
        &e,
        "confidence below 0.6",
        "uncertainty >= high"
    ));
    assert!(has_reason(&e, "risk high", "level >= 3"));
}

#[test]
fn the_task_rubric_is_a_floor_the_agent_cannot_lower() {
    let e = eval(
        &policy(""),
        json!({"task": "reply", "summary": "s", "confidence": 0.99,
               "rubric": {"impact": "low", "reversibility": "low"}}),
    );
    assert_eq!(e.risk, Risk::Medium);
    assert!(has_reason(
        &e,
        "task rubric floor: impact medium",
        "risk >= medium"
    ));
    assert!(has_reason(&e, "agent rubric: impact low", "risk >= low"));
}

#[test]
fn the_agent_rubric_can_raise_the_risk() {
    let e = eval(
        &policy(""),
        json!({"task": "routine", "summary": "s", "confidence": 0.99,
               "rubric": {"reversibility": "high"}}),
    );
    assert_eq!((e.risk, e.level), (Risk::High, Level::STOP));
}

#[test]
fn the_risk_table_sets_the_minimum_level_for_each_risk() {
    let p = Policy::load(&format!("{BASE}\n[risk]\nlow = 1\nmedium = 3\nhigh = 4\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = eval(
        &p,
        json!({"task": "reply", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!((e.risk, e.level), (Risk::Medium, Level::STOP));
    assert!(has_reason(&e, "risk medium", "level >= 3"));
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99,
                            "rubric": {"policy_sensitivity": "high"}}),
    );
    assert_eq!(e.level, Level::ALERT);
}

#[test]
fn rules_raise_level_and_approvals_route_and_add_flags() {
    let p = policy(
        r#"
[[rules]]
name = "high-value account"
when = "'high-value account' in handoff.flags"
level = 2
approvals = 2
route = "sales-leads"
add_flags = ["four-eyes"]
"#,
    );
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99,
                            "flags": ["high-value account"]}),
    );
    assert_eq!(e.level, Level::REVIEW);
    assert_eq!(e.approvals_required, 2);
    assert_eq!(e.route, "sales-leads");
    assert_eq!(e.flags, ["four-eyes"]);
    assert!(has_reason(
        &e,
        "high-value account",
        "level >= 2, approvals >= 2, route = sales-leads, flag four-eyes"
    ));
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(
        (e.level, e.approvals_required, e.route.as_str()),
        (Level::AUTONOMOUS, 1, "ops")
    );
    assert!(e.flags.is_empty());
}

#[test]
fn a_rule_never_lowers_the_level_but_still_leaves_a_reason() {
    let p = policy("[[rules]]\nname = \"mild\"\nwhen = \"true\"\nlevel = 1\n");
    let e = eval(
        &p,
        json!({"task": "reply", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.level, Level::REVIEW);
    assert!(has_reason(&e, "mild", "level >= 1"));
}

#[test]
fn the_first_matching_rule_that_names_a_route_wins_then_the_task_then_the_default() {
    let p = policy(
        r#"
[[rules]]
name = "first"
when = "'a' in handoff.flags"
route = "sales-leads"
[[rules]]
name = "second"
when = "'b' in handoff.flags"
route = "sales"
"#,
    );
    let route = |flags: Value, task: &str| {
        eval(
            &p,
            json!({"task": task, "summary": "s", "confidence": 0.99, "flags": flags}),
        )
        .route
    };
    assert_eq!(route(json!(["a", "b"]), "routine"), "sales-leads");
    assert_eq!(route(json!(["b"]), "routine"), "sales");
    assert_eq!(route(json!([]), "reply"), "sales");
    assert_eq!(route(json!([]), "routine"), "ops");
}

#[test]
fn a_rule_that_fails_to_evaluate_counts_as_matching() {
    let p =
        policy("[[rules]]\nname = \"big amount\"\nwhen = \"context.amount > 100\"\nlevel = 3\n");
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.level, Level::STOP);
    let r = e
        .reasons
        .iter()
        .find(|r| r.rule == "big amount")
        .map(|r| r.effect.clone());
    assert!(r.is_some_and(|r| r.starts_with("failed to evaluate") && r.ends_with("level >= 3")));
    // With the key present it evaluates normally.
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99, "context": {"amount": 5}}),
    );
    assert_eq!(e.level, Level::AUTONOMOUS);
}

#[test]
fn a_condition_that_is_not_a_bool_counts_as_matching() {
    let p = policy("[[rules]]\nname = \"odd\"\nwhen = \"handoff.summary\"\nlevel = 4\n");
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.level, Level::ALERT);
}

#[test]
fn optional_fields_are_present_for_conditions_even_when_omitted() {
    let p = policy(
        r#"
[[rules]]
name = "shape"
when = "handoff.flags == [] && handoff.subject == '' && handoff.draft == null && handoff.context == {} && handoff.rubric == {} && handoff.extra == {} && handoff.options == [] && handoff.evidence == [] && !has(context.amount)"
level = 3
"#,
    );
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.level, Level::STOP, "{:?}", e.reasons);
}

#[test]
fn conditions_see_context_canonical_names_and_now() {
    let p = policy(
        r#"
[[rules]]
name = "acme in 2026"
when = "handoff.subject == 'Acme' && context.tier == 'gold' && handoff.draft == 'hi' && now.getFullYear() == 2026"
level = 3
"#,
    );
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99,
        "client": "Acme", "draft_response": "hi", "context": {"tier": "gold"}}),
    );
    assert_eq!(e.level, Level::STOP, "{:?}", e.reasons);
}

#[test]
fn unknown_fields_in_extra_affect_nothing() {
    let p = policy("");
    let a = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    let b = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99, "level": 1, "route": "ops", "approvals": 0}),
    );
    assert_eq!(a, b);
}

#[test]
fn sla_and_expiry_come_from_the_task_or_the_defaults() {
    let p = policy("");
    let e = eval(
        &p,
        json!({"task": "reply", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.sla.to_string(), "2h");
    assert_eq!(e.sla_due_at.to_rfc3339(), "2026-11-21T12:00:00+00:00");
    assert_eq!(e.expires_at.to_rfc3339(), "2026-11-24T10:00:00+00:00");
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.sla.to_string(), "4h");
}

#[test]
fn the_policy_version_is_the_sha256_of_its_text() {
    let p = policy("");
    let e = eval(
        &p,
        json!({"task": "routine", "summary": "s", "confidence": 0.99}),
    );
    assert_eq!(e.policy_version, p.version());
    assert_eq!(
        p.version(),
        handoff_domain::policy::policy_version(p.text())
    );
    assert_ne!(p.version(), policy("\n").version());
}

#[test]
fn the_built_in_example_passes_its_own_tests() {
    let p = Policy::example();
    let outcomes = p.run_tests(Utc::now());
    assert!(outcomes.len() >= 7);
    for o in outcomes {
        assert!(o.passed(), "{}: {:?}", o.name, o.failures);
    }
}

#[test]
fn a_failing_policy_test_says_which_field_differed() {
    let p = policy(
        r#"
[[tests]]
name = "wrong"
packet = { task = "routine", summary = "s", confidence = 0.99 }
expect = { level = 3, route = "sales" }
"#,
    );
    let outcomes = p.run_tests(Utc::now());
    assert_eq!(
        outcomes[0].failures,
        ["level: expected 3, got 1", "route: expected sales, got ops"]
    );
}
