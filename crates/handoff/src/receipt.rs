//! Approval receipts (SPEC §3): a JWS in compact form, signed with Ed25519, that the tool
//! which finally acts can check offline against the key from `GET /v1/receipt-key`.
//!
//! Plain JWS (RFC 7515) with the `EdDSA` algorithm and `OKP` keys of RFC 8037, so that any
//! JOSE library verifies what we sign; no JOSE crate here, because a receipt needs one
//! algorithm and the few lines below, while a general library brings algorithm confusion
//! we would have to switch off.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[cfg(test)]
mod tests;

/// How far in the future `iat` may lie: clocks of signer and verifier drift.
const CLOCK_SKEW_SECS: i64 = 300;

/// The server's receipt signing key and its key id.
pub struct ReceiptKey {
    key: SigningKey,
    kid: String,
}

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
    #[error("unsupported algorithm {0:?}: receipts are signed with EdDSA")]
    UnsupportedAlg(String),
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

/// The protected header; field order is the serialized order, which `sign` relies on.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

impl ReceiptKey {
    /// Loads `<data_dir>/receipt.key`, or creates it on first start. A file that is there
    /// but unreadable is an error, never replaced: receipts already issued name its key.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<ReceiptKey> {
        let path = data_dir.join("receipt.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_seed(&text)
                .map(|seed| ReceiptKey::from_seed(&seed))
                .with_context(|| format!("bad receipt key file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| anyhow::anyhow!("no randomness for a receipt key: {e}"))?;
                write_seed(data_dir, &path, &seed)?;
                Ok(ReceiptKey::from_seed(&seed))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read receipt key {}", path.display())),
        }
    }

    /// A fresh key that lives only in memory (tests).
    #[cfg(test)]
    pub fn generate() -> ReceiptKey {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap_or_else(|e| panic!("no randomness: {e}"));
        ReceiptKey::from_seed(&seed)
    }

    fn from_seed(seed: &[u8; 32]) -> ReceiptKey {
        let key = SigningKey::from_bytes(seed);
        let digest = Sha256::digest(key.verifying_key().as_bytes());
        let mut kid = String::from("hr_");
        for b in &digest[..8] {
            // Writing to a String cannot fail.
            let _ = write!(kid, "{b:02x}");
        }
        ReceiptKey { key, kid }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK Set (RFC 7517, OKP key of RFC 8037).
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }]})
    }

    /// Signs a payload: `b64(header).b64(payload).b64(signature)`.
    pub fn sign(&self, payload: &ReceiptPayload) -> String {
        let header = Header {
            alg: "EdDSA",
            kid: &self.kid,
            typ: "JWT",
        };
        let mut out = format!("{}.{}", b64_json(&header), b64_json(payload));
        let signature = self.key.sign(out.as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        out
    }
}

impl std::fmt::Debug for ReceiptKey {
    // Only the kid: the secret must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// base64url of a value's JSON.
fn b64_json<T: Serialize>(value: &T) -> String {
    // Our header and payload are strings, integers and lists of strings, which serde_json
    // always serializes; an error here would be a bug in this file, not bad input.
    let bytes = serde_json::to_vec(value).expect("receipt JSON is always serializable");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parse_seed(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim())
        .context("not base64url without padding")?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("expected 32 bytes, found {}", bytes.len()))
}

/// Writes the seed to a temporary file, then renames it into place, so that a crash
/// leaves either no key or a whole one, never half of one.
fn write_seed(data_dir: &Path, path: &Path, seed: &[u8; 32]) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let tmp = data_dir.join("receipt.key.tmp");
    // A crash in an earlier start may have left one behind; it holds no key in use.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    writeln!(file, "{}", URL_SAFE_NO_PAD.encode(seed))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot create {}", path.display()))?;
    // Make the rename itself durable; best effort, as not every filesystem allows it.
    if let Ok(dir) = std::fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
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

/// The JWS layer alone: the payload bytes once the signature checks out. Nothing of the
/// payload is parsed before that, so a forged receipt never reaches the JSON parser.
fn verified_payload(receipt: &str, jwks: &Value) -> Result<Vec<u8>, ReceiptError> {
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
        Some(Value::String(alg)) if alg == "EdDSA" => {}
        Some(Value::String(alg)) => return Err(ReceiptError::UnsupportedAlg(alg.clone())),
        _ => return Err(malformed("header has no alg")),
    }
    // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
    if header.contains_key("crit") {
        return Err(malformed("unsupported crit header"));
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
    // Optional members; when present they must allow this use.
    if field("alg").is_some_and(|alg| alg != "EdDSA") || field("use").is_some_and(|u| u != "sig") {
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
