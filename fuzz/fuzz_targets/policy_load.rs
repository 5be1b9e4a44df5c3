//! The policy loader on any text (`PUT /v1/policy`, `--policy FILE`, `policy check`):
//! never a panic, a refusal with at least one positioned error, and a policy that loads
//! runs its own `[[tests]]` and judges a packet (its CEL conditions, whatever they are,
//! evaluated) without panicking; loading the same text twice gives the same version.
#![no_main]

use handoff_domain::{Packet, Policy};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::OnceLock;

fn packet() -> &'static Packet {
    static PACKET: OnceLock<Packet> = OnceLock::new();
    PACKET.get_or_init(|| {
        let p = Packet::parse(json!({
            "task": "make_purchase",
            "summary": "Buy 40 laptops",
            "confidence": 0.9,
            "subject": "Acme Corp",
            "flags": ["high-value account"],
            "context": {"amount": 48000, "currency": "EUR", "tags": ["urgent"]},
            "evidence": [{"label": "quote", "url": "https://example.com/q"}],
            "options": ["buy", {"id": "wait", "label": "Wait a month", "risk": "low"}],
        }));
        match p {
            Ok(p) => p,
            Err(e) => panic!("the fixed packet is invalid: {e:?}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::load(text) {
        Ok(policy) => {
            let now = handoff_fuzz::now();
            let _ = policy.run_tests(now);
            let _ = policy.evaluate(packet(), now);
            let again = Policy::load(text).map(|p| p.version().to_owned());
            assert_eq!(again.as_deref().ok(), Some(policy.version()));
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refusal without an error");
            assert!(errors.0.iter().all(|e| e.line >= 1), "{errors}");
        }
    }
});
