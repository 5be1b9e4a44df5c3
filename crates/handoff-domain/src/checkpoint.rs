//! Checkpoints of the audit chain (SPEC §9): what a signed head says, and how a chain is
//! judged against one. The signature is not this module's business (the JWS lives in
//! `handoff_client::checkpoint`); here is only the logic an auditor runs once a head is
//! known to be the server's.
//!
//! A hash chain catches an edited, deleted or reordered entry, but not a cut tail: the
//! shortened log is still a valid chain. A [`Head`] signed when the log reached `seq`
//! closes that gap: a log that now ends before `seq`, or whose entry at `seq` has another
//! hash, is not the log that was signed. A rewrite of entries *after* the newest
//! checkpoint stays invisible until the next one: how often checkpoints are signed bounds
//! that window.

use crate::audit::{AuditEntry, ChainVerifier, Verification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The chain's head as signed: the last entry's `seq` and `hash`, and when it was signed.
///
/// `at` is the time of signing, not the entry's own `at` (which the hash covers already):
/// it says that at that moment the log ended at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
}

impl Head {
    /// Whether the head could name an entry at all: seq 1 or more and a hash in the
    /// chain's form (64 lowercase hex digits). Anything else is refused, not guessed at.
    pub fn is_well_formed(&self) -> bool {
        self.seq >= 1
            && self.hash.len() == 64
            && self
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

/// Judges a chain's verification against a signed head.
///
/// - `chain`: the verdict of the chain alone (from genesis);
/// - `verified_through`: the seq of the last entry proven intact (0 when none is);
/// - `hash_at_head`: the hash of the intact entry at `head.seq`, when the chain was intact
///   that far (`verified_through >= head.seq`).
///
/// The answer always carries `checkpoint_seq`. It fails (`ok: false`) when the chain
/// breaks at or before the head (`first_bad_seq` is the chain's own break), when the log
/// ends before the head (`first_bad_seq` is the first missing seq), or when the entry at
/// the head's seq has another hash (`first_bad_seq` is the head's seq: that entry is not
/// the one signed; which earlier entries a recomputed chain rewrote, one head cannot tell).
/// A break after the head is reported as the chain reports it, the checkpoint holding.
pub fn judge(
    chain: &Verification,
    verified_through: i64,
    hash_at_head: Option<&str>,
    head: &Head,
) -> Verification {
    let failed = |first_bad_seq: i64| Verification {
        ok: false,
        entries: chain.entries,
        first_bad_seq: Some(first_bad_seq),
        checkpoint_seq: Some(head.seq),
    };
    if let Some(bad) = chain.first_bad_seq.filter(|bad| *bad <= head.seq) {
        return failed(bad);
    }
    if verified_through < head.seq {
        // The chain is intact up to its end, and its end comes before the head.
        return failed(verified_through + 1);
    }
    match hash_at_head {
        Some(hash) if hash == head.hash => Verification {
            checkpoint_seq: Some(head.seq),
            ..chain.clone()
        },
        // Intact that far but another hash (or, from a careless caller, none): not the
        // entry that was signed.
        _ => failed(head.seq),
    }
}

/// Checks a chain from its first entry and, at the end, against a signed head: the
/// streaming form of [`judge`] for an export read line by line.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier {
    chain: ChainVerifier,
    head: Option<Head>,
    hash_at_head: Option<String>,
}

impl CheckpointVerifier {
    /// A verifier of a whole chain, against `head` when one is given.
    pub fn new(head: Option<Head>) -> CheckpointVerifier {
        CheckpointVerifier {
            chain: ChainVerifier::new(),
            head,
            hash_at_head: None,
        }
    }

    /// Checks the next entry; `false` once the chain is broken.
    pub fn push(&mut self, e: &AuditEntry) -> bool {
        let intact = self.chain.push(e);
        if intact && self.head.as_ref().is_some_and(|h| h.seq == e.seq) {
            self.hash_at_head = Some(e.hash.clone());
        }
        intact
    }

    /// Records an entry that could not be read at all.
    pub fn push_unreadable(&mut self) {
        self.chain.push_unreadable();
    }

    pub fn finish(&self) -> Verification {
        let chain = self.chain.finish();
        match &self.head {
            None => chain,
            Some(head) => judge(
                &chain,
                self.chain.verified_through(),
                self.hash_at_head.as_deref(),
                head,
            ),
        }
    }
}

/// Checks `entries` (a whole chain, in order) against `head`.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: Option<&Head>,
) -> Verification {
    let mut v = CheckpointVerifier::new(head.cloned());
    for e in entries {
        v.push(e);
    }
    v.finish()
}

#[cfg(test)]
mod tests;
