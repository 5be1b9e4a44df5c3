//! The audit chain (SPEC §9): every change is an entry whose hash covers its content and
//! the hash before it, so editing, deleting or reordering any entry breaks the chain.
//!
//! `hash = hex(sha256(prev_hash ‖ canonical JSON of {seq, at, actor, action, handoff_id,
//! data}))`, where `prev_hash` is the previous entry's 64-character lowercase hex hash taken
//! as ASCII bytes ([`GENESIS`] for the first entry), `at` is RFC 3339 UTC with milliseconds
//! (`2026-11-21T12:00:00.000Z`) and a missing `handoff_id` is `null`. Anyone can re-check a
//! chain with a JCS library and `sha256sum`.
//!
//! What a chain alone cannot show: that entries were removed from its *end*. The last
//! entry's hash has to be kept somewhere else to detect that: the server's signed
//! checkpoints ([`crate::checkpoint`], SPEC §9).

use crate::canonical::{hex, write_string, write_value};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One sealed entry, as stored: one row per entry, one column per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// A dotted name such as `handoff.decision`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// What a change records before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub handoff_id: Option<String>,
    pub data: Value,
}

impl AuditEntry {
    /// The hash this entry should carry, given its own `prev_hash` and content.
    pub fn expected_hash(&self) -> String {
        let head = head(
            self.at,
            &self.actor,
            &self.action,
            self.handoff_id.as_deref(),
            &self.data,
        );
        chain_hash(&self.prev_hash, &head, self.seq)
    }
}

/// The canonical JSON of an entry's content without its `seq` and closing brace. `seq`
/// sorts last of the six keys, so the whole canonical form is this, `,"seq":N` and `}`:
/// the costly part can be worked out before the entry has its place in the chain.
fn head(
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    handoff_id: Option<&str>,
    data: &Value,
) -> String {
    // Written directly in the canonical key order (action, actor, at, data, handoff_id;
    // then seq), rather than through a JSON object that would copy `data` to be sorted.
    let mut text = String::with_capacity(128);
    text.push_str("{\"action\":");
    write_string(&mut text, action);
    text.push_str(",\"actor\":");
    write_string(&mut text, actor);
    text.push_str(",\"at\":");
    write_string(&mut text, &at.to_rfc3339_opts(SecondsFormat::Millis, true));
    text.push_str(",\"data\":");
    write_value(&mut text, data);
    text.push_str(",\"handoff_id\":");
    match handoff_id {
        Some(id) => write_string(&mut text, id),
        None => text.push_str("null"),
    }
    text
}

fn chain_hash(prev_hash: &str, head: &str, seq: i64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(head.as_bytes());
    hasher.update(format!(",\"seq\":{seq}}}").as_bytes());
    hex(&hasher.finalize())
}

/// An entry made ready to seal: its timestamp truncated to the precision the hash covers,
/// its canonical content and its stored `data` text worked out in advance, so that a
/// store's single writer only has to hash it into place.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub entry: NewEntry,
    /// `data` as stored (compact JSON).
    pub data_json: String,
    head: String,
}

impl Prepared {
    pub fn new(new: NewEntry) -> Prepared {
        let entry = NewEntry {
            at: new.at.trunc_subsecs(3),
            ..new
        };
        let head = head(
            entry.at,
            &entry.actor,
            &entry.action,
            entry.handoff_id.as_deref(),
            &entry.data,
        );
        Prepared {
            data_json: entry.data.to_string(),
            entry,
            head,
        }
    }

    /// The hash of this entry at `seq`, after an entry whose hash is `prev_hash`.
    pub fn hash_after(&self, prev_hash: &str, seq: i64) -> String {
        chain_hash(prev_hash, &self.head, seq)
    }
}

/// Seals `new` as the entry after `prev` (or as the first entry).
///
/// `at` is truncated to milliseconds, the precision the hash covers, so that the stored
/// entry is exactly what was hashed and survives any store that keeps at least that much.
pub fn seal(prev: Option<&AuditEntry>, new: NewEntry) -> AuditEntry {
    seal_after(prev.map(|p| (p.seq, p.hash.as_str())), new)
}

/// Seals `new` after the chain's tail given as its `(seq, hash)`, as a store keeps it.
pub fn seal_after(tail: Option<(i64, &str)>, new: NewEntry) -> AuditEntry {
    let (seq, prev_hash) = match tail {
        Some((seq, hash)) => (seq + 1, hash.to_owned()),
        None => (1, GENESIS.to_owned()),
    };
    let prepared = Prepared::new(new);
    let hash = prepared.hash_after(&prev_hash, seq);
    let new = prepared.entry;
    AuditEntry {
        seq,
        at: new.at,
        actor: new.actor,
        action: new.action,
        handoff_id: new.handoff_id,
        data: new.data,
        prev_hash,
        hash,
    }
}

/// The result of checking a chain, as the audit endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub ok: bool,
    /// How many entries were read, including any after the break.
    pub entries: u64,
    /// Where the chain breaks: every entry before this seq is proven intact and in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    /// The seq of the signed checkpoint the chain was also checked against (SPEC §9), when
    /// one was given; see [`crate::checkpoint`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_seq: Option<i64>,
}

/// Checks a whole chain, from its first entry, in order.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Verification {
    let mut v = ChainVerifier::new();
    for e in entries {
        v.push(e);
    }
    v.finish()
}

/// Checks a chain one entry at a time, so a store can stream it without holding it.
///
/// The break is reported as the seq the chain expected where it broke: for an edited
/// entry, its own seq; for a deleted one, the seq that is missing; for entries out of
/// order, the first position holding the wrong one.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    entries: u64,
    first_bad_seq: Option<i64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier::new()
    }
}

impl ChainVerifier {
    /// A verifier for a chain that starts at seq 1 with [`GENESIS`].
    pub fn new() -> ChainVerifier {
        ChainVerifier::after(0, GENESIS)
    }

    /// A verifier that continues after an entry already verified (`seq`, `hash`), e.g. a
    /// checkpoint, so that only the newer part of the chain has to be read.
    pub fn after(seq: i64, hash: &str) -> ChainVerifier {
        ChainVerifier {
            next_seq: seq + 1,
            prev_hash: hash.to_owned(),
            entries: 0,
            first_bad_seq: None,
        }
    }

    /// Checks the next entry; `false` once the chain is broken (here or earlier).
    pub fn push(&mut self, e: &AuditEntry) -> bool {
        self.entries += 1;
        if self.first_bad_seq.is_some() {
            return false;
        }
        // The seq and link checks come first: they are cheap and they are what catches a
        // deletion or a reordering; the hash check catches an edit.
        let intact =
            e.seq == self.next_seq && e.prev_hash == self.prev_hash && e.hash == e.expected_hash();
        if intact {
            self.next_seq += 1;
            self.prev_hash.clone_from(&e.hash);
        } else {
            self.first_bad_seq = Some(self.next_seq);
        }
        intact
    }

    /// Records an entry that could not even be read (a line of an export that is not an
    /// entry, a row that no longer decodes): the chain breaks where it expected the next.
    pub fn push_unreadable(&mut self) {
        self.entries += 1;
        if self.first_bad_seq.is_none() {
            self.first_bad_seq = Some(self.next_seq);
        }
    }

    /// The seq of the last entry proven intact and in order (the seq before the break, or
    /// the last one pushed; where the verifier started when nothing was).
    pub fn verified_through(&self) -> i64 {
        self.next_seq - 1
    }

    /// The verdict on everything pushed so far.
    pub fn finish(&self) -> Verification {
        Verification {
            ok: self.first_bad_seq.is_none(),
            entries: self.entries,
            first_bad_seq: self.first_bad_seq,
            checkpoint_seq: None,
        }
    }
}

#[cfg(test)]
mod prepared_tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn a_prepared_entry_hashes_exactly_as_sealing_does() {
        let at = Utc
            .timestamp_millis_opt(1_763_726_400_123)
            .single()
            .map(|t| t + chrono::Duration::nanoseconds(456_789));
        let Some(at) = at else { panic!("bad time") };
        let new = NewEntry {
            at,
            actor: "ana".to_owned(),
            action: "handoff.decision".to_owned(),
            handoff_id: Some("hnd_1".to_owned()),
            data: json!({"z": 1, "a": [true, null, "é"], "n": 1.5}),
        };
        let sealed = seal_after(Some((41, "ab")), new.clone());
        let prepared = Prepared::new(new);
        assert_eq!(prepared.hash_after("ab", 42), sealed.hash);
        assert_eq!(prepared.entry.at, sealed.at);
        assert_eq!(sealed.expected_hash(), sealed.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_795_000_000_000 + ms)
            .single()
            .unwrap_or_else(|| panic!("bad test time {ms}"))
    }

    fn new_entry(n: i64) -> NewEntry {
        NewEntry {
            at: at(n * 1000),
            actor: format!("actor-{n}"),
            action: "handoff.decision".to_owned(),
            handoff_id: (n % 2 == 0).then(|| format!("hnd_{n}")),
            data: json!({"n": n, "to_status": "approved"}),
        }
    }

    fn chain(len: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for n in 1..=len {
            let e = seal(out.last(), new_entry(n));
            out.push(e);
        }
        out
    }

    #[test]
    fn the_first_entry_is_seq_one_after_genesis() {
        let c = chain(2);
        assert_eq!((c[0].seq, c[0].prev_hash.as_str()), (1, GENESIS));
        assert_eq!((c[1].seq, c[1].prev_hash.as_str()), (2, c[0].hash.as_str()));
        assert_eq!(c[0].hash.len(), 64);
        assert!(
            c[0].hash
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn the_hash_is_sha256_of_prev_hash_then_canonical_json_of_the_rest() {
        let e = seal(
            None,
            NewEntry {
                at: Utc
                    .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
                    .single()
                    .unwrap_or_else(|| panic!("bad date")),
                actor: "ana".to_owned(),
                action: "key.created".to_owned(),
                handoff_id: None,
                data: json!({"b": 1, "a": "x"}),
            },
        );
        let text = format!(
            "{GENESIS}{}",
            r#"{"action":"key.created","actor":"ana","at":"2026-11-21T12:00:00.000Z","data":{"a":"x","b":1},"handoff_id":null,"seq":1}"#
        );
        assert_eq!(e.hash, hex(&Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn sealing_truncates_time_to_the_milliseconds_the_hash_covers() {
        let e = seal(
            None,
            NewEntry {
                at: at(5) + Duration::nanoseconds(999_999),
                ..new_entry(1)
            },
        );
        assert_eq!(e.at, at(5));
        assert!(verify([&e]).ok);
    }

    #[test]
    fn an_intact_chain_verifies_and_counts_its_entries() {
        let c = chain(5);
        let v = verify(&c);
        assert_eq!(
            v,
            Verification {
                ok: true,
                entries: 5,
                first_bad_seq: None,
                checkpoint_seq: None
            }
        );
        assert_eq!(
            serde_json::to_value(&v).ok(),
            Some(json!({"ok": true, "entries": 5}))
        );
        assert!(verify([]).ok, "an empty chain has nothing wrong with it");
    }

    #[test]
    fn an_edited_entry_breaks_the_chain_at_its_seq() {
        let mut c = chain(5);
        c[2].data = json!({"n": 3, "to_status": "rejected"});
        let v = verify(&c);
        assert_eq!((v.ok, v.entries, v.first_bad_seq), (false, 5, Some(3)));
        assert_eq!(
            serde_json::to_value(&v).ok(),
            Some(json!({"ok": false, "entries": 5, "first_bad_seq": 3}))
        );
    }

    #[test]
    fn an_entry_rehashed_after_editing_still_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].actor = "mallory".to_owned();
        c[2].hash = c[2].expected_hash();
        assert_eq!(verify(&c).first_bad_seq, Some(4));
    }

    #[test]
    fn a_deleted_entry_is_reported_as_the_missing_seq() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c).first_bad_seq, Some(2));
        let mut c = chain(5);
        c.remove(0);
        assert_eq!(verify(&c).first_bad_seq, Some(1));
    }

    #[test]
    fn deleting_the_last_entry_is_not_visible_in_the_chain_alone() {
        let mut c = chain(5);
        c.pop();
        assert!(verify(&c).ok);
    }

    #[test]
    fn swapped_entries_break_the_chain_at_the_first_of_them() {
        let mut c = chain(5);
        c.swap(1, 3);
        assert_eq!(verify(&c).first_bad_seq, Some(2));
    }

    #[test]
    fn a_chain_that_does_not_start_at_genesis_fails_at_seq_one() {
        let mut c = chain(3);
        c[0].prev_hash = "1".repeat(64);
        c[0].hash = c[0].expected_hash();
        assert_eq!(verify(&c).first_bad_seq, Some(1));
    }

    #[test]
    fn a_verifier_can_resume_after_a_checkpoint() {
        let c = chain(6);
        let mut v = ChainVerifier::after(c[2].seq, &c[2].hash);
        assert!(c[3..].iter().all(|e| v.push(e)));
        assert_eq!(
            v.finish(),
            Verification {
                ok: true,
                entries: 3,
                first_bad_seq: None,
                checkpoint_seq: None
            }
        );
    }

    #[test]
    fn after_a_break_the_verifier_keeps_counting_but_reports_the_first_break() {
        let mut c = chain(6);
        c[1].action = "handoff.cancelled".to_owned();
        c[4].action = "handoff.cancelled".to_owned();
        let mut v = ChainVerifier::new();
        let accepted: Vec<bool> = c.iter().map(|e| v.push(e)).collect();
        assert_eq!(accepted, [true, false, false, false, false, false]);
        assert_eq!(v.finish().first_bad_seq, Some(2));
        assert_eq!(v.finish().entries, 6);
    }

    #[test]
    fn entries_round_trip_through_json_and_still_verify() {
        let c = chain(3);
        let text = serde_json::to_string(&c).unwrap_or_else(|e| panic!("serialize: {e}"));
        let back: Vec<AuditEntry> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("deserialize: {e}"));
        assert_eq!(back, c);
        assert!(verify(&back).ok);
    }
}
