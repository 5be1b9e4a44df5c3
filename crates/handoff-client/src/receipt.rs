//! Checking an approval receipt (SPEC §3) offline: the JWS's Ed25519 signature against a
//! JWK Set from `GET /v1/receipt-key`, its lifetime, and the draft it binds.
//!
//! Plain JWS (RFC 7515) with `OKP` Ed25519 keys of RFC 8037, so that what any JOSE library
//! signs in that form verifies here too. One algorithm under its two names: `EdDSA` (RFC
//! 8037, the default) and `Ed25519` (RFC 9864's fully specified name); anything else is
//! refused. No JOSE crate, because a receipt needs one algorithm and the few lines below,
//! while a general library brings algorithm confusion we would have to switch off. The
//! server signs (`handoff::receipt`) and checks with these same functions.
//!
//! The same key signs the audit log's checkpoints (SPEC §9, `crate::checkpoint`), told
//! apart by the header's `typ`: [`verified_jws`] takes the [`Typ`] expected, so a
//! checkpoint never passes for a receipt, nor a receipt for a checkpoint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How far in the future `iat` may lie: clocks of signer and verifier drift.
const CLOCK_SKEW_SECS: i64 = 300;

/// What a receipt asserts: this draft of this handoff was approved by these people.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ReceiptPayload {
    pub handoff: String,
    pub task: String,
    /// `None` is serialized as `null`, not left out: a verifier sees that no draft was bound.
    pub draft_sha256: Option<String>,
    pub approvers: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

/// Why a receipt was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReceiptError {
    #[error("malformed receipt: {0}")]
    Malformed(String),
    #[error("unsupported algorithm {0:?}: receipts are signed with EdDSA (or Ed25519)")]
    UnsupportedAlg(String),
    #[error("not a {expected}: the header's typ is {found:?}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("malformed key set: {0}")]
    BadKeySet(String),
    #[error("no key with kid {0:?} in the key set")]
    UnknownKid(String),
    #[error("the receipt names no kid and the key set does not hold exactly one key")]
    NoKid,
    #[error("unusable key: {0}")]
    BadKey(String),
    #[error("bad signature: the receipt was not signed by this key, or was altered")]
    BadSignature,
    #[error("receipt expired at {exp} (now {now}, Unix seconds)")]
    Expired { exp: i64, now: i64 },
    #[error("receipt issued in the future at {iat} (now {now}, Unix seconds)")]
    NotYetValid { iat: i64, now: i64 },
    #[error("the receipt binds no draft (draft_sha256 is null)")]
    NoDraftDigest,
    #[error("the draft's SHA-256 {actual} differs from the approved {approved}")]
    DraftMismatch { approved: String, actual: String },
}

/// Checks a receipt against a JWK Set at time `now_unix` and returns what it asserts.
pub fn verify(receipt: &str, jwks: &Value, now_unix: i64) -> Result<ReceiptPayload, ReceiptError> {
    let payload = verified_payload(receipt, jwks)?;
    let payload: ReceiptPayload = serde_json::from_slice(&payload)
        .map_err(|e| ReceiptError::Malformed(format!("payload: {e}")))?;
    if payload.exp <= now_unix {
        return Err(ReceiptError::Expired {
            exp: payload.exp,
            now: now_unix,
        });
    }
    if payload.iat > now_unix + CLOCK_SKEW_SECS {
        return Err(ReceiptError::NotYetValid {
            iat: payload.iat,
            now: now_unix,
        });
    }
    Ok(payload)
}

/// Checks that `draft` is the draft the receipt approved.
pub fn check_draft(payload: &ReceiptPayload, draft: &Value) -> Result<(), ReceiptError> {
    let approved = payload
        .draft_sha256
        .as_deref()
        .ok_or(ReceiptError::NoDraftDigest)?;
    let actual = handoff_domain::canonical::sha256_hex(draft);
    if actual == approved {
        Ok(())
    } else {
        Err(ReceiptError::DraftMismatch {
            approved: approved.to_owned(),
            actual,
        })
    }
}

/// The two names of the one algorithm: RFC 8037's `EdDSA` and RFC 9864's `Ed25519`.
pub const ALGORITHMS: [&str; 2] = ["EdDSA", "Ed25519"];

/// What a JWS signed with the receipt key is, by its header's `typ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typ {
    /// An approval receipt: `typ` is `JWT`, or absent.
    Receipt,
    /// An audit checkpoint: `typ` is exactly `handoff-checkpoint`.
    Checkpoint,
}

impl Typ {
    pub const CHECKPOINT: &str = "handoff-checkpoint";

    fn name(self) -> &'static str {
        match self {
            Typ::Receipt => "receipt",
            Typ::Checkpoint => "checkpoint",
        }
    }

    fn admits(self, typ: Option<&Value>) -> bool {
        match (self, typ) {
            (Typ::Receipt, None) => true,
            // RFC 7515 §4.1.9: typ values compare case-insensitively.
            (Typ::Receipt, Some(Value::String(t))) => t.eq_ignore_ascii_case("JWT"),
            (Typ::Checkpoint, Some(Value::String(t))) => t == Typ::CHECKPOINT,
            _ => false,
        }
    }
}

/// The JWS layer alone: the payload bytes once the signature checks out. Nothing of the
/// payload is parsed before that, so a forged receipt never reaches the JSON parser.
pub fn verified_payload(receipt: &str, jwks: &Value) -> Result<Vec<u8>, ReceiptError> {
    verified_jws(receipt, jwks, Typ::Receipt)
}

/// A compact JWS signed with the receipt key and of the kind `typ`: its payload bytes once
/// header, key and signature check out.
pub fn verified_jws(receipt: &str, jwks: &Value, typ: Typ) -> Result<Vec<u8>, ReceiptError> {
    let malformed = |what: &str| ReceiptError::Malformed(what.to_owned());
    let mut parts = receipt.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| malformed("header is not base64url"))?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| malformed("header is not a JSON object"))?;
    match header.get("alg") {
        Some(Value::String(alg)) if ALGORITHMS.contains(&alg.as_str()) => {}
        Some(Value::String(alg)) => return Err(ReceiptError::UnsupportedAlg(alg.clone())),
        _ => return Err(malformed("header has no alg")),
    }
    // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
    if header.contains_key("crit") {
        return Err(malformed("unsupported crit header"));
    }
    if !typ.admits(header.get("typ")) {
        return Err(ReceiptError::WrongType {
            expected: typ.name(),
            found: match header.get("typ") {
                Some(Value::String(t)) => t.clone(),
                Some(other) => other.to_string(),
                None => "(none)".to_owned(),
            },
        });
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    let key = find_key(jwks, kid)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig_b64)
        .map_err(|_| malformed("signature is not base64url"))?;
    let sig = Signature::from_slice(&sig).map_err(|_| malformed("signature is not 64 bytes"))?;
    // The signing input is the ASCII text as received, not a re-encoding of it.
    let input_len = header_b64.len() + 1 + payload_b64.len();
    key.verify_strict(&receipt.as_bytes()[..input_len], &sig)
        .map_err(|_| ReceiptError::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| malformed("payload is not base64url"))
}

/// The key the receipt names, or the only key when it names none.
fn find_key(jwks: &Value, kid: Option<&str>) -> Result<VerifyingKey, ReceiptError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| ReceiptError::BadKeySet("no \"keys\" array".to_owned()))?;
    let jwk = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .ok_or_else(|| ReceiptError::UnknownKid(kid.to_owned()))?,
        None => match keys.as_slice() {
            [only] => only,
            _ => return Err(ReceiptError::NoKid),
        },
    };
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
        return Err(ReceiptError::BadKey("not an OKP Ed25519 key".to_owned()));
    }
    // Optional members; when present they must allow this use. Either name of the one
    // algorithm will do: the curve, checked above, is what makes the key Ed25519.
    if field("alg").is_some_and(|alg| !ALGORITHMS.contains(&alg))
        || field("use").is_some_and(|u| u != "sig")
    {
        return Err(ReceiptError::BadKey(
            "not meant for EdDSA signatures".to_owned(),
        ));
    }
    let x = field("x")
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|x| <[u8; 32]>::try_from(x.as_slice()).ok())
        .ok_or_else(|| ReceiptError::BadKey("x is not 32 base64url bytes".to_owned()))?;
    VerifyingKey::from_bytes(&x)
        .map_err(|_| ReceiptError::BadKey("x is not a curve point".to_owned()))
}
