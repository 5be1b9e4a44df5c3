//! Audit chain verification. The input is an export as `audit verify --export` reads it
//! (JSON lines, a line that is not an entry counting as unreadable), its first line read
//! as a signed head when it is one (well-formed or not: the judge must not care). Asserts that:
//! - the streaming verifier, the whole-chain `verify` and the checkpoint judge never
//!   panic and agree, and an `ok` chain's entries all carry their expected hashes;
//! - the entries' contents, sealed into a fresh chain by the real append code (`seal`),
//!   verify, also after a round trip through JSON lines, and against a head at their tail;
//! - that chain, mutated (an entry edited, its hash or link changed, one deleted, two
//!   swapped), fails at exactly the seq the verifier promises, and a cut tail fails against
//!   the head.
#![no_main]

use handoff_domain::audit::{self, AuditEntry, ChainVerifier, NewEntry};
use handoff_domain::checkpoint::{self, CheckpointVerifier, Head};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    let head = lines
        .peek()
        .and_then(|l| serde_json::from_str::<Head>(l).ok());
    if head.is_some() {
        lines.next();
    }
    let read: Vec<Option<AuditEntry>> = lines.map(|l| serde_json::from_str(l).ok()).collect();

    // The export as it is.
    let mut chain = ChainVerifier::new();
    let mut against = CheckpointVerifier::new(head.clone());
    for e in &read {
        match e {
            Some(e) => {
                chain.push(e);
                against.push(e);
            }
            None => {
                chain.push_unreadable();
                against.push_unreadable();
            }
        }
    }
    let verdict = chain.finish();
    assert_eq!(verdict.entries, read.len() as u64);
    if read.iter().all(Option::is_some) {
        let entries: Vec<AuditEntry> = read.iter().flatten().cloned().collect();
        assert_eq!(audit::verify(&entries), verdict);
        assert_eq!(
            checkpoint::verify(&entries, head.as_ref()),
            against.finish()
        );
    }
    if verdict.ok {
        assert!(read.iter().flatten().all(|e| e.hash == e.expected_hash()));
    }
    let judged = against.finish();
    if head.is_some() {
        assert!(judged.checkpoint_seq.is_some());
        assert!(!judged.ok || verdict.ok);
    }

    // The same contents sealed by the real append code.
    let contents: Vec<NewEntry> = read
        .iter()
        .flatten()
        .map(|e| NewEntry {
            at: e.at,
            actor: e.actor.clone(),
            action: e.action.clone(),
            handoff_id: e.handoff_id.clone(),
            data: e.data.clone(),
        })
        .collect();
    if contents.is_empty() {
        return;
    }
    let mut sealed: Vec<AuditEntry> = Vec::with_capacity(contents.len());
    for new in contents {
        let entry = audit::seal(sealed.last(), new);
        sealed.push(entry);
    }
    let n = sealed.len() as i64;
    assert!(audit::verify(&sealed).ok, "a sealed chain does not verify");
    let exported: Vec<AuditEntry> = sealed
        .iter()
        .map(
            |e| match serde_json::to_string(e).map(|l| serde_json::from_str(&l)) {
                Ok(Ok(back)) => back,
                other => panic!("{e:?} does not survive an export: {other:?}"),
            },
        )
        .collect();
    assert!(
        audit::verify(&exported).ok,
        "an exported chain does not verify"
    );
    let Some(last) = sealed.last() else { return };
    let tail = Head {
        seq: last.seq,
        hash: last.hash.clone(),
        at: handoff_fuzz::now(),
    };
    assert!(tail.is_well_formed());
    assert!(checkpoint::verify(&sealed, Some(&tail)).ok);
    let cut = &sealed[..sealed.len() - 1];
    assert_eq!(
        checkpoint::verify(cut, Some(&tail)).first_bad_seq,
        Some(n),
        "a cut tail passes its head"
    );

    // One mutation, chosen by a hash of the input.
    let pick = data.iter().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(*b))
    });
    let at = (pick / 6) % sealed.len();
    let seq = at as i64 + 1;
    let mut bad = sealed.clone();
    match pick % 6 {
        0 => bad[at].actor.push('!'),
        1 => bad[at].data = json!([bad[at].data.take()]),
        2 => bad[at].hash = flip(&bad[at].hash),
        3 => bad[at].prev_hash = flip(&bad[at].prev_hash),
        4 => {
            bad.remove(at);
        }
        _ => {
            if at + 1 < bad.len() {
                bad.swap(at, at + 1);
            } else {
                bad[at].seq += 1;
            }
        }
    }
    let verdict = audit::verify(&bad);
    let deleted_last = bad.len() < sealed.len() && at + 1 == sealed.len();
    if deleted_last {
        // A chain alone cannot show a cut tail: the head does.
        assert!(verdict.ok);
        assert_eq!(checkpoint::verify(&bad, Some(&tail)).first_bad_seq, Some(n));
    } else {
        assert_eq!(verdict.first_bad_seq, Some(seq), "{bad:#?}");
        assert!(!checkpoint::verify(&bad, Some(&tail)).ok);
    }
});

/// The hash with its first hex digit changed.
fn flip(hash: &str) -> String {
    let mut out = String::with_capacity(hash.len().max(1));
    let mut chars = hash.chars();
    out.push(match chars.next() {
        Some('0') => '1',
        _ => '0',
    });
    out.extend(chars);
    out
}
