//! Checking a signed audit checkpoint (SPEC §9) offline: the JWS (header `typ:
//! "handoff-checkpoint"`, the receipt key's `kid`) against the JWK Set of `GET
//! /v1/receipt-key`, then its payload `{seq, hash, at}` as a [`Head`] in the chain's form.
//! What a chain is judged against a head is the domain's (`handoff_domain::checkpoint`).
//!
//! The JWS layer is the receipts' own ([`crate::receipt::verified_jws`]), with the other
//! `typ`: a receipt is never taken for a checkpoint, nor a checkpoint for a receipt.

use crate::receipt::{ReceiptError, Typ, verified_jws};
use handoff_domain::checkpoint::Head;
use serde_json::Value;

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CheckpointError {
    /// The JWS did not check out (malformed, another `typ`, unknown key, bad signature).
    #[error("checkpoint refused: {0}")]
    Jws(#[from] ReceiptError),
    #[error("checkpoint refused: the payload is not {{seq, hash, at}} ({0})")]
    Payload(String),
    #[error(
        "checkpoint refused: the payload's seq must be 1 or more and its hash 64 lowercase hex digits"
    )]
    NotAHead,
}

/// Checks a checkpoint's signature against a JWK Set and returns the head it signs.
pub fn verify(jws: &str, jwks: &Value) -> Result<Head, CheckpointError> {
    let payload = verified_jws(jws.trim(), jwks, Typ::Checkpoint)?;
    let head: Head =
        serde_json::from_slice(&payload).map_err(|e| CheckpointError::Payload(e.to_string()))?;
    if !head.is_well_formed() {
        return Err(CheckpointError::NotAHead);
    }
    Ok(head)
}
