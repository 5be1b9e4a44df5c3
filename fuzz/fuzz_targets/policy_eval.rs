//! CEL evaluation of loaded rules: a fixed policy (the built-in example and rules whose
//! conditions read every part of the packet, with arithmetic, string functions, regular
//! expressions, list macros and `now`) judging any packet the submission path accepts.
//! Never a panic; the evaluation is deterministic and never below the task's level.
#![no_main]

use handoff_domain::ijson::from_slice;
use handoff_domain::policy::{EXAMPLE_POLICY, InForce};
use handoff_domain::{Level, Packet, Policy};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let text = format!("{EXAMPLE_POLICY}\n{}", handoff_fuzz::EVAL_POLICY_RULES);
        match Policy::load(&text) {
            Ok(p) => p,
            Err(e) => panic!("the evaluation policy does not load:\n{e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = from_slice(data) else {
        return;
    };
    let Ok(packet) = Packet::parse(value) else {
        return;
    };
    let policy = policy();
    let now = handoff_fuzz::now();
    let first = policy.evaluate(&packet, now);
    assert_eq!(first, policy.evaluate(&packet, now), "not deterministic");
    if let Some(base) = policy.task_level(packet.task.as_str()) {
        assert!(
            first.level >= base,
            "{first:?} below the task's level {base:?}"
        );
    }
    let in_force = InForce {
        level: Level::AUTONOMOUS,
        note: "fuzz".to_owned(),
    };
    let _ = policy.evaluate_with(&packet, now, Some(&in_force));
});
