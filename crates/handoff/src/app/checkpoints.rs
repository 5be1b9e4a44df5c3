//! Signed checkpoints of the audit chain (SPEC §9): the head `{seq, hash, at}` signed with
//! the receipt key, every [`CHECKPOINT_EVERY`] entries (the `jobs::checkpoints` job), at
//! shutdown (`server.rs`) and on an admin's demand; listed for admins; and the chain
//! checked against one (`GET /v1/audit/verify?checkpoint=`, `handoff audit verify
//! --checkpoint`, both through [`verify_chain`]).
//!
//! Only a chain that verifies is signed: the head is the last entry of the chain as read
//! and checked from genesis (incrementally, after the last entry already checked), so a
//! checkpoint never vouches for a log that was already tampered with.

use super::{App, AppError, AppResult, Page, Principal, learning::AuditCheckpoint};
use chrono::SubsecRound;
use handoff_domain::Verification;
use handoff_domain::checkpoint::{Head, judge};
use handoff_store::{Checkpoint, Store, StoreError};
use std::sync::atomic::Ordering;

/// Checkpoints per page unless asked (at most [`MAX_PAGE`]).
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// A checkpoint is signed once the log has grown this many entries past the last one.
pub const CHECKPOINT_EVERY: i64 = 1000;

/// `last_checkpoint_seq` before the store was asked.
pub(super) const UNKNOWN: i64 = -1;

impl App {
    /// Signs the chain's head now; admins only.
    pub async fn create_checkpoint(&self, who: &Principal) -> AppResult<Checkpoint> {
        who.require_admin("sign audit checkpoints")?;
        self.sign_checkpoint().await
    }

    /// Checkpoints, newest first; admins only. The cursor is the last one's place.
    pub async fn checkpoints(
        &self,
        who: &Principal,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> AppResult<Page<Checkpoint>> {
        who.require_admin("read the audit log")?;
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::field("limit", "must be 1 to 500"));
        }
        let before = match cursor {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0 && c.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        AppError::field("cursor", "must be a next_cursor this listing gave")
                    })?,
            ),
        };
        let items = self.store.checkpoints(before, limit + 1).await?;
        Ok(Page::cut(items, limit, |c| c.id.to_string()))
    }

    /// Checks the whole chain and, given a checkpoint (a compact JWS), that the head it
    /// signs is still in it; admins only. A checkpoint that is not one of this server's is
    /// refused (`checkpoint` at fault), never checked as if it were.
    pub async fn verify_audit_against(
        &self,
        who: &Principal,
        checkpoint: Option<&str>,
    ) -> AppResult<Verification> {
        who.require_admin("read the audit log")?;
        let head = match checkpoint {
            None => None,
            Some(jws) => Some(
                handoff_client::checkpoint::verify(jws, &self.receipt_jwks())
                    .map_err(|e| AppError::field("checkpoint", e.to_string()))?,
            ),
        };
        Ok(verify_chain(self.store.as_ref(), head.as_ref()).await?)
    }

    /// Signs the head of the chain as verified now, and keeps the checkpoint. Refused
    /// (a conflict naming the seq) when the chain is broken, and when it is empty.
    pub(crate) async fn sign_checkpoint(&self) -> AppResult<Checkpoint> {
        // The statistics' incremental check is this one: one lock, one pass over what is
        // new, and checkpoints are kept in the order of their heads.
        let mut checked = self.audit_checked.lock().await;
        if checked.as_ref().is_some_and(|c| !c.ok) {
            let v = self.store.verify_audit().await?;
            return Err(broken(&v));
        }
        let after = checked.as_ref().and_then(|c| c.tail.clone());
        let (v, tail) = self.store.verify_audit_after(after).await?;
        *checked = Some(AuditCheckpoint {
            ok: v.ok,
            tail: tail.clone(),
        });
        if !v.ok {
            return Err(broken(&v));
        }
        let Some((seq, hash)) = tail else {
            return Err(AppError::conflict(
                "the audit log is empty: there is no head to sign",
            ));
        };
        let head = Head {
            seq,
            hash,
            // The precision the JWS's `at` carries, so the stored value is the signed one.
            at: self.now().trunc_subsecs(3),
        };
        let jws = self.receipts.sign_checkpoint(&head);
        let cp = self
            .store
            .add_checkpoint(Checkpoint {
                id: 0,
                seq: head.seq,
                hash: head.hash,
                at: head.at,
                jws,
            })
            .await?;
        self.last_checkpoint_seq.fetch_max(cp.seq, Ordering::SeqCst);
        tracing::info!(seq = cp.seq, "audit checkpoint signed");
        Ok(cp)
    }

    /// Signs a checkpoint when the log reached `seq` (an entry just committed; `None`:
    /// unknown, look at the log) and grew [`CHECKPOINT_EVERY`] entries past the last one.
    pub(crate) async fn checkpoint_if_due(
        &self,
        seq: Option<i64>,
    ) -> AppResult<Option<Checkpoint>> {
        let mut last = self.last_checkpoint_seq.load(Ordering::SeqCst);
        if last == UNKNOWN {
            last = self
                .store
                .checkpoints(None, 1)
                .await?
                .first()
                .map_or(0, |c| c.seq);
            self.last_checkpoint_seq.fetch_max(last, Ordering::SeqCst);
        }
        let reached = match seq {
            Some(seq) => seq,
            // Is there an entry at the mark or beyond?
            None => self
                .store
                .audit(last + CHECKPOINT_EVERY - 1, 1)
                .await?
                .first()
                .map_or(0, |e| e.seq),
        };
        if reached < last + CHECKPOINT_EVERY {
            return Ok(None);
        }
        match self.sign_checkpoint().await {
            Ok(cp) => Ok(Some(cp)),
            Err(e) => {
                // Not again at every commit: at the next mark.
                self.last_checkpoint_seq
                    .fetch_max(reached, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Every committed handoff change, with the seq of its audit entry (the checkpoint
    /// job's clock).
    pub(crate) fn audit_commits(
        &self,
    ) -> tokio::sync::broadcast::Receiver<std::sync::Arc<handoff_store::Event>> {
        self.store.hub().subscribe()
    }
}

fn broken(v: &Verification) -> AppError {
    let at = v
        .first_bad_seq
        .map_or_else(|| "an unknown seq".to_owned(), |s| format!("seq {s}"));
    AppError::conflict(format!(
        "the audit chain breaks at {at}: no checkpoint is signed over a broken chain"
    ))
}

/// Checks the chain in `store` from genesis and, given a head (of a checkpoint whose
/// signature was checked), judges it against the head (`handoff_domain::checkpoint`).
/// The server's `GET /v1/audit/verify` and `handoff audit verify` beside it share this.
pub async fn verify_chain(
    store: &dyn Store,
    head: Option<&Head>,
) -> Result<Verification, StoreError> {
    let (chain, tail) = store.verify_audit_after(None).await?;
    let Some(head) = head else {
        return Ok(chain);
    };
    let through = tail.as_ref().map_or(0, |(seq, _)| *seq);
    let hash_at_head = match &tail {
        Some((seq, hash)) if *seq == head.seq => Some(hash.clone()),
        // Intact beyond the head: the entry at its seq, which the pass above checked.
        Some((seq, _)) if *seq > head.seq => store
            .audit(head.seq - 1, 1)
            .await?
            .into_iter()
            .find(|e| e.seq == head.seq)
            .map(|e| e.hash),
        _ => None,
    };
    Ok(judge(&chain, through, hash_at_head.as_deref(), head))
}
