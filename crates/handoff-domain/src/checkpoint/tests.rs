//! Each way a log can be tampered with, judged against a head signed before it: by example,
//! then as properties over random chains, checkpoints and tamperings.

use super::*;
use crate::audit::{GENESIS, NewEntry, seal};
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

fn at(n: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_795_000_000_000 + n * 1000)
        .single()
        .unwrap_or_else(|| panic!("bad test time {n}"))
}

fn entry(n: i64, who: &str) -> NewEntry {
    NewEntry {
        at: at(n),
        actor: who.to_owned(),
        action: "handoff.decision".to_owned(),
        handoff_id: Some(format!("hnd_{n}")),
        data: json!({"n": n}),
    }
}

fn chain(len: i64) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for n in 1..=len {
        let e = seal(out.last(), entry(n, "ana"));
        out.push(e);
    }
    out
}

fn head_of(c: &[AuditEntry], seq: i64) -> Head {
    let e = &c[usize::try_from(seq - 1).unwrap_or(0)];
    Head {
        seq: e.seq,
        hash: e.hash.clone(),
        at: at(10_000),
    }
}

/// Entries from `from` (a seq) on replaced by others, the chain recomputed after them: what
/// someone who knows the algorithm (SPEC §9) and can write the database does.
fn rewritten_from(c: &[AuditEntry], from: i64) -> Vec<AuditEntry> {
    let keep = usize::try_from(from - 1).unwrap_or(0);
    let mut out: Vec<AuditEntry> = c[..keep].to_vec();
    for n in from..=c.len() as i64 {
        let e = seal(out.last(), entry(n, "mallory"));
        out.push(e);
    }
    out
}

fn judged(c: &[AuditEntry], head: &Head) -> (bool, Option<i64>, Option<i64>) {
    let v = verify(c, Some(head));
    (v.ok, v.first_bad_seq, v.checkpoint_seq)
}

#[test]
fn an_intact_log_holds_its_checkpoint_and_says_which() {
    let c = chain(8);
    let v = verify(&c, Some(&head_of(&c, 5)));
    assert_eq!(
        v,
        Verification {
            ok: true,
            entries: 8,
            first_bad_seq: None,
            checkpoint_seq: Some(5)
        }
    );
    assert_eq!(
        serde_json::to_value(&v).ok(),
        Some(json!({"ok": true, "entries": 8, "checkpoint_seq": 5}))
    );
    assert!(verify(&c, Some(&head_of(&c, 8))).ok);
    assert_eq!(verify(&c, None).checkpoint_seq, None);
}

#[test]
fn an_edited_entry_before_the_head_is_named_by_its_seq() {
    let mut c = chain(8);
    c[2].actor = "mallory".to_owned();
    assert_eq!(
        judged(&c, &head_of(&chain(8), 6)),
        (false, Some(3), Some(6))
    );
}

#[test]
fn a_deleted_middle_entry_is_named_by_the_missing_seq() {
    let mut c = chain(8);
    c.remove(3);
    assert_eq!(
        judged(&c, &head_of(&chain(8), 8)),
        (false, Some(4), Some(8))
    );
}

#[test]
fn a_cut_tail_is_caught_only_by_the_checkpoint_and_named_by_the_first_missing_seq() {
    let full = chain(8);
    let cut = &full[..5];
    assert!(crate::audit::verify(cut).ok, "a cut chain is still a chain");
    assert_eq!(judged(cut, &head_of(&full, 7)), (false, Some(6), Some(7)));
    assert_eq!(judged(&[], &head_of(&full, 7)), (false, Some(1), Some(7)));
}

#[test]
fn a_rewritten_tail_with_a_recomputed_chain_fails_at_the_checkpoint_seq() {
    let full = chain(8);
    let forged = rewritten_from(&full, 4);
    assert!(
        crate::audit::verify(&forged).ok,
        "the forger recomputed the chain"
    );
    assert_eq!(
        judged(&forged, &head_of(&full, 6)),
        (false, Some(6), Some(6))
    );
}

#[test]
fn a_break_after_the_head_is_the_chains_own_and_the_checkpoint_holds() {
    let mut c = chain(8);
    c[6].actor = "mallory".to_owned();
    assert_eq!(
        judged(&c, &head_of(&chain(8), 5)),
        (false, Some(7), Some(5))
    );
}

#[test]
fn an_unreadable_line_breaks_the_chain_where_it_stands() {
    let c = chain(4);
    let mut v = CheckpointVerifier::new(Some(head_of(&c, 4)));
    v.push(&c[0]);
    v.push_unreadable();
    v.push(&c[2]);
    v.push(&c[3]);
    let v = v.finish();
    assert_eq!((v.ok, v.first_bad_seq, v.entries), (false, Some(2), 4));
}

#[test]
fn only_a_head_in_the_chains_form_is_well_formed() {
    let good = Head {
        seq: 1,
        hash: GENESIS.replace('0', "a"),
        at: at(0),
    };
    assert!(good.is_well_formed());
    for bad in [
        Head {
            seq: 0,
            ..good.clone()
        },
        Head {
            seq: -3,
            ..good.clone()
        },
        Head {
            hash: GENESIS.replace('0', "A"),
            ..good.clone()
        },
        Head {
            hash: "ab".to_owned(),
            ..good.clone()
        },
        Head {
            hash: format!("{GENESIS}0"),
            ..good.clone()
        },
    ] {
        assert!(!bad.is_well_formed(), "{bad:?}");
    }
}

#[test]
fn a_head_with_unknown_members_does_not_parse() {
    let text = r#"{"seq":3,"hash":"00","at":"2026-11-30T10:00:00Z","ok":true}"#;
    assert!(serde_json::from_str::<Head>(text).is_err());
    let text = r#"{"seq":3,"hash":"00","at":"2026-11-30T10:00:00Z"}"#;
    assert!(serde_json::from_str::<Head>(text).is_ok());
}

/// What was done to the log after the head was signed.
#[derive(Debug, Clone)]
enum Tamper {
    Nothing,
    Appended(i64),
    Edited(i64),
    Deleted(i64),
    CutTo(i64),
    RewrittenFrom(i64),
}

fn case() -> impl Strategy<Value = (i64, i64, Tamper)> {
    (1i64..40)
        .prop_flat_map(|len| (Just(len), 1..=len))
        .prop_flat_map(|(len, head)| {
            let tamper = prop_oneof![
                Just(Tamper::Nothing),
                (1i64..5).prop_map(Tamper::Appended),
                (1..=len).prop_map(Tamper::Edited),
                (1..=len).prop_map(Tamper::Deleted),
                (0..len).prop_map(Tamper::CutTo),
                (1..=len).prop_map(Tamper::RewrittenFrom),
            ];
            (Just(len), Just(head), tamper)
        })
}

proptest! {
    /// The verdict of every tampering, and the seq it names: the properties SPEC §9 asks of
    /// `audit verify --checkpoint`.
    #[test]
    fn every_tampering_up_to_the_head_fails_and_names_the_right_seq(
        (len, head_seq, tamper) in case()
    ) {
        let original = chain(len);
        let head = head_of(&original, head_seq);
        let (log, want): (Vec<AuditEntry>, Option<i64>) = match tamper {
            Tamper::Nothing => (original.clone(), None),
            Tamper::Appended(n) => {
                let mut log = original.clone();
                for k in 1..=n {
                    let e = seal(log.last(), entry(len + k, "bob"));
                    log.push(e);
                }
                (log, None)
            }
            Tamper::Edited(seq) => {
                let mut log = original.clone();
                log[usize::try_from(seq - 1).unwrap_or(0)].actor = "mallory".to_owned();
                (log, Some(seq))
            }
            Tamper::Deleted(seq) => {
                let mut log = original.clone();
                log.remove(usize::try_from(seq - 1).unwrap_or(0));
                // Deleting the very last entry is a cut tail of one: invisible to the chain,
                // and caught by the head only when the head covered it.
                let want = (seq < len || seq <= head_seq).then_some(seq);
                (log, want)
            }
            Tamper::CutTo(keep) => {
                let log = original[..usize::try_from(keep).unwrap_or(0)].to_vec();
                (log, (keep < head_seq).then_some(keep + 1))
            }
            Tamper::RewrittenFrom(from) => {
                (rewritten_from(&original, from), (from <= head_seq).then_some(head_seq))
            }
        };
        let v = verify(&log, Some(&head));
        prop_assert_eq!(v.checkpoint_seq, Some(head_seq));
        match want {
            // Nothing done, entries added, or a rewrite after the head: the limit of one
            // checkpoint, which the next one closes.
            None => prop_assert!(v.ok, "{:?}: {:?}", tamper, v),
            Some(seq) => {
                prop_assert!(!v.ok, "{:?} passed: {:?}", tamper, v);
                prop_assert_eq!(v.first_bad_seq, Some(seq), "{:?}", tamper);
            }
        }
    }

    /// Judging a stream and judging a store's answer (the chain's verdict, how far it was
    /// intact, the hash found at the head's seq) are the same function.
    #[test]
    fn judging_from_a_stores_answer_agrees_with_the_stream(
        (len, head_seq, tamper) in case()
    ) {
        let original = chain(len);
        let head = head_of(&original, head_seq);
        let log = match tamper {
            Tamper::Edited(seq) | Tamper::Deleted(seq) => {
                let mut log = original.clone();
                log.remove(usize::try_from(seq - 1).unwrap_or(0));
                log
            }
            Tamper::CutTo(keep) => original[..usize::try_from(keep).unwrap_or(0)].to_vec(),
            Tamper::RewrittenFrom(from) => rewritten_from(&original, from),
            Tamper::Nothing | Tamper::Appended(_) => original.clone(),
        };
        let mut chain_only = ChainVerifier::new();
        let mut last_intact: Option<&AuditEntry> = None;
        for e in &log {
            if chain_only.push(e) {
                last_intact = Some(e);
            }
        }
        let through = last_intact.map_or(0, |e| e.seq);
        let at_head = log
            .iter()
            .take_while(|e| e.seq <= through)
            .find(|e| e.seq == head.seq)
            .map(|e| e.hash.as_str());
        let from_store = judge(&chain_only.finish(), through, at_head, &head);
        prop_assert_eq!(from_store, verify(&log, Some(&head)));
    }
}
