//! RFC 8785 canonical JSON (drafts' digests, receipts, every audit hash) of any JSON:
//! never a panic; the canonical form is JSON, I-JSON (no name twice), and a fixed point:
//! canonical(parse(canonical(x))) == canonical(x), so its SHA-256 is the same either way.
#![no_main]

use handoff_domain::canonical::{canonical_json, sha256_hex};
use handoff_domain::ijson;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // serde_json itself, not I-JSON: a name given twice is a value too (the last one counts).
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let once = canonical_json(&value);
    let reparsed = match ijson::from_slice(once.as_bytes()) {
        Ok(v) => v,
        Err(e) => panic!("the canonical form {once:?} is not I-JSON: {e:?}"),
    };
    let twice = canonical_json(&reparsed);
    assert_eq!(once, twice, "canonical JSON is not idempotent");
    assert_eq!(sha256_hex(&value), sha256_hex(&reparsed));
    assert!(!once.contains(['\n', '\t']), "whitespace in {once:?}");
});
