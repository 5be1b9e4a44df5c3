//! A submission's body, as `POST /v1/handoffs` and `App::submit` read it: I-JSON parsing
//! (duplicate names refused), the idempotency digest, packet validation, evaluation by the
//! built-in policy, the stored handoff and its audit entry. Asserts that a refusal names
//! at least one field, and that a valid packet, written back as JSON, parses to itself.
#![no_main]

use handoff_domain::ijson::{Rejected, from_slice};
use handoff_domain::{Handoff, Packet, Policy, audit, canonical};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(Policy::example)
}

fuzz_target!(|data: &[u8]| {
    let value = match from_slice(data) {
        Ok(v) => v,
        Err(Rejected::Duplicate(d)) => {
            assert!(d.pointer.is_empty() || d.pointer.starts_with('/'), "{d:?}");
            return;
        }
        Err(Rejected::Json(_)) => return,
    };
    let _ = canonical::sha256_hex(&value);
    let packet = match Packet::parse(value) {
        Ok(p) => p,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal without a reason");
            return;
        }
    };
    assert_eq!(Packet::parse(written(&packet)).as_ref(), Ok(&packet));

    let now = handoff_fuzz::now();
    let evaluation = policy().evaluate(&packet, now);
    let Ok(h) = Handoff::submitted("hnd_fuzz".to_owned(), "bot", &packet, evaluation, now) else {
        return;
    };
    let entry = audit::seal(None, h.submitted_entry());
    assert_eq!(entry.hash, entry.expected_hash());
});

/// The packet as JSON again, with its unknown fields back at the top level (the parser
/// keeps them aside in `extra`).
fn written(p: &Packet) -> Value {
    let Ok(Value::Object(mut obj)) = serde_json::to_value(p) else {
        panic!("a packet serialises to an object");
    };
    if let Some(Value::Object(extra)) = obj.remove("extra") {
        obj.extend(extra);
    }
    Value::Object(obj)
}
