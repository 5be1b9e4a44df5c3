//! What the fuzz targets share: the service's two signature modules, compiled from their
//! own files (they need only hmac, sha2, base64 and thiserror, where the `handoff` crate
//! would bring axum, sqlx, reqwest and the rest into every instrumented build), the
//! policy the evaluation target judges packets by, and the splitting of an input into
//! fields.

/// Standard Webhooks signing, exactly as the outbox signs (`notify/sign.rs`).
#[path = "../../crates/handoff/src/notify/sign.rs"]
pub mod sign;

/// Slack's request signature, exactly as `App::verify_slack` checks it.
#[path = "../../crates/handoff/src/app/slack/signature.rs"]
pub mod slack_signature;

use chrono::{DateTime, TimeZone, Utc};

/// The moment every target judges at (CEL's `now`, the handoff's creation), so that a
/// crash replays the same.
pub fn now() -> DateTime<Utc> {
    match Utc.timestamp_opt(1_795_000_000, 0).single() {
        Some(t) => t,
        None => unreachable!("a fixed, valid timestamp"),
    }
}

/// Splits `data` at its first `n - 1` newlines into `n` fields (the last one keeps the
/// rest, newlines included; missing fields are empty), so that seeds stay readable:
/// `secret`, `id`, `timestamp`, then the body.
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.iter().position(|b| *b == b'\n') {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => {
                out.push(rest);
                rest = &[];
            }
        }
    }
    out.push(rest);
    out
}

/// The policy [`policy_eval`](../fuzz_targets/policy_eval.rs) judges packets by: the
/// built-in example (whose rules read flags, the summary and `context`) and rules whose
/// conditions read every part of the packet CEL sees, with arithmetic, string functions,
/// regular expressions, macros over lists and maps, and `now`.
pub const EVAL_POLICY_RULES: &str = r#"
[[rules]]
name = "fuzz: arithmetic on context"
when = "has(context.amount) && context.amount * 2 + 1 > context.amount - 1"
add_flags = ["arithmetic"]

[[rules]]
name = "fuzz: division"
when = "has(context.n) && has(context.d) && context.n / context.d > 1 && context.n % context.d == 0"
add_flags = ["division"]

[[rules]]
name = "fuzz: strings"
when = "handoff.summary.startsWith('Re:') || handoff.subject.endsWith('Corp') || size(handoff.summary) > 200 || handoff.summary.matches('^[A-Z]{3}-[0-9]+')"
level = 2

[[rules]]
name = "fuzz: lists"
when = "handoff.evidence.exists(e, e.url.startsWith('http://')) || handoff.flags.all(f, size(f) < 3) && size(handoff.flags) > 0"
add_flags = ["lists"]

[[rules]]
name = "fuzz: options"
when = "handoff.options.exists(o, o.risk == 'high')"
level = 3

[[rules]]
name = "fuzz: draft"
when = "handoff.draft != null && has(handoff.draft.to) && handoff.draft.to.contains('@')"
add_flags = ["mail"]

[[rules]]
name = "fuzz: context shapes"
when = "has(context.tags) && context.tags.exists(t, t == 'urgent') || has(context.nested) && has(context.nested.deep) && context.nested.deep.size() > 2"
level = 3

[[rules]]
name = "fuzz: confidence and time"
when = "handoff.confidence * 100.0 < 10.0 || timestamp('2026-01-01T00:00:00Z') > now"
add_flags = ["time"]

[[rules]]
name = "fuzz: rubric and extras"
when = "handoff.rubric.impact == 'high' || 'x' in handoff.extra || handoff.callback_url != '' && handoff.supersedes != ''"
level = 3

[[rules]]
name = "fuzz: conversions"
when = "has(context.s) && int(context.s) > 3 || has(context.f) && uint(context.f) > 2u || has(context.d2) && double(context.d2) < 0.5 || string(handoff.confidence) == '0.5'"
add_flags = ["conversions"]
"#;
