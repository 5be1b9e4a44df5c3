//! Invariants of the audit chain (SPEC §9) for random chains: a sealed chain verifies;
//! editing any field of any entry, deleting any entry but the last, or swapping two entries
//! breaks it exactly where the damage is. (Deleting the last entry leaves a valid, shorter
//! chain: only a hash kept elsewhere can show that.)

use chrono::{DateTime, Duration, TimeZone, Utc};
use handoff_domain::audit::{AuditEntry, NewEntry, seal, verify};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Digest;

const ACTORS: [&str; 5] = ["ana", "bo", "sales-bot", "system", "Zoë"];
const ACTIONS: [&str; 6] = [
    "handoff.submitted",
    "handoff.decision",
    "handoff.outcome",
    "notification.sent",
    "policy.updated",
    "key.created",
];

fn data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9..1e9f64).prop_map(Value::from),
        "[a-zé€😀\"\\\\\n ]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("bad start date"))
}

fn new_entry() -> impl Strategy<Value = NewEntry> {
    (
        0..ACTORS.len(),
        0..ACTIONS.len(),
        proptest::option::of("hnd_[0-9A-Z]{4}"),
        data(),
        0..10_000_000i64,
    )
        .prop_map(|(actor, action, handoff_id, data, ms)| NewEntry {
            at: start() + Duration::milliseconds(ms),
            actor: ACTORS[actor].to_owned(),
            action: ACTIONS[action].to_owned(),
            handoff_id,
            data,
        })
}

fn chain() -> impl Strategy<Value = Vec<AuditEntry>> {
    proptest::collection::vec(new_entry(), 1..12).prop_map(|news| {
        let mut out: Vec<AuditEntry> = Vec::new();
        for n in news {
            let e = seal(out.last(), n);
            out.push(e);
        }
        out
    })
}

/// Changes one field so that its content is certainly different.
fn tamper(e: &mut AuditEntry, field: usize) {
    match field {
        0 => e.seq += 1,
        1 => e.at += Duration::milliseconds(1),
        2 => e.actor.push('x'),
        3 => e.action.push_str(".edited"),
        4 => {
            e.handoff_id = match e.handoff_id.take() {
                Some(_) => None,
                None => Some("hnd_forged".to_owned()),
            }
        }
        5 => e.data = json!({"tampered": e.data.clone()}),
        6 => e.prev_hash = flip_first_digit(&e.prev_hash),
        _ => e.hash = flip_first_digit(&e.hash),
    }
}

fn flip_first_digit(hash: &str) -> String {
    let first = if hash.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", hash.get(1..).unwrap_or(""))
}

proptest! {
    #[test]
    fn a_sealed_chain_always_verifies(c in chain()) {
        let v = verify(&c);
        prop_assert!(v.ok);
        prop_assert_eq!(v.entries, c.len() as u64);
        prop_assert_eq!(v.first_bad_seq, None);
    }

    #[test]
    fn editing_any_field_of_any_entry_breaks_the_chain_at_that_entry(
        c in chain(), pick in any::<prop::sample::Index>(), field in 0..8usize,
    ) {
        let mut c = c;
        let i = pick.index(c.len());
        tamper(&mut c[i], field);
        let v = verify(&c);
        prop_assert!(!v.ok);
        prop_assert_eq!(v.first_bad_seq, Some(i as i64 + 1));
        prop_assert_eq!(v.entries, c.len() as u64);
    }

    #[test]
    fn deleting_any_entry_but_the_last_is_reported_as_the_missing_seq(
        c in chain(), pick in any::<prop::sample::Index>(),
    ) {
        prop_assume!(c.len() >= 2);
        let mut c = c;
        let i = pick.index(c.len() - 1);
        c.remove(i);
        prop_assert_eq!(verify(&c).first_bad_seq, Some(i as i64 + 1));
    }

    #[test]
    fn swapping_two_entries_breaks_the_chain_at_the_first_of_them(
        c in chain(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>(),
    ) {
        let (i, j) = (a.index(c.len()), b.index(c.len()));
        prop_assume!(i != j);
        let mut c = c;
        c.swap(i, j);
        prop_assert_eq!(verify(&c).first_bad_seq, Some(i.min(j) as i64 + 1));
    }

    #[test]
    fn deleting_the_last_entry_leaves_a_chain_that_still_verifies(c in chain()) {
        let mut c = c;
        c.pop();
        prop_assert!(verify(&c).ok);
    }
}

proptest! {
    /// Each entry's hash is SPEC §9's, worked out the plain way: the SHA-256 of the previous
    /// hash followed by the RFC 8785 form of the whole entry (its six fields as one object).
    #[test]
    fn each_hash_is_the_digest_of_the_previous_hash_and_the_canonical_entry(entries in chain()) {
        let mut prev = handoff_domain::audit::GENESIS.to_owned();
        for e in &entries {
            let content = json!({
                "seq": e.seq,
                "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "actor": e.actor,
                "action": e.action,
                "handoff_id": e.handoff_id,
                "data": e.data,
            });
            let mut text = prev.clone();
            text.push_str(&handoff_domain::canonical::canonical_json(&content));
            let want = handoff_domain::canonical::hex(&sha2::Sha256::digest(text.as_bytes()));
            prop_assert_eq!(&e.hash, &want);
            prev = e.hash.clone();
        }
    }

    /// A canonical string is escaped as JSON.stringify escapes it, which is what serde_json
    /// writes too: only `"`, `\` and C0 controls.
    #[test]
    fn canonical_strings_are_escaped_as_json_stringify_does(s in "[a-zé€😀\"\\\\\u{0}-\u{1f}\u{7f} ]{0,24}") {
        let want = serde_json::to_string(&s).unwrap_or_default();
        prop_assert_eq!(handoff_domain::canonical::canonical_json(&Value::from(s)), want);
    }
}
