//! Approval receipts (SPEC §3): a JWS in compact form, signed with Ed25519, that the tool
//! which finally acts can check offline against the key from `GET /v1/receipt-key`.
//! Signing and the key file live here; checking lives in the client crate
//! (`handoff_client::receipt`), re-exported below, so that the server, the CLI and every
//! agent using the client check receipts with one implementation.
//!
//! Plain JWS (RFC 7515) with `OKP` keys of RFC 8037, so that any JOSE library verifies what
//! we sign; no JOSE crate here, because a receipt needs one algorithm and the few lines
//! below, while a general library brings algorithm confusion we would have to switch off.
//! Each receipt is signed under both names of its algorithm: `EdDSA` (RFC 8037, the
//! resource's `receipt`) and `Ed25519` (RFC 9864's fully specified name, its
//! `receipt_ed25519`); the key set names no `alg`, so that one key verifies both.
//!
//! The same key signs the audit log's checkpoints (SPEC §9), with the header `typ:
//! "handoff-checkpoint"` so that neither can pass for the other.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[cfg(test)]
mod tests;

pub use handoff_client::receipt::{
    ReceiptError, ReceiptPayload, Typ, check_draft, verified_jws, verified_payload, verify,
};

/// A receipt's algorithm, by the name its header gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RFC 8037's `EdDSA`: the default, what SPEC §3 names.
    EdDSA,
    /// RFC 9864's fully specified `Ed25519`: the same signature, the name JOSE libraries
    /// now prefer.
    Ed25519,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::EdDSA => "EdDSA",
            Alg::Ed25519 => "Ed25519",
        }
    }
}

/// The server's receipt signing key and its key id.
pub struct ReceiptKey {
    key: SigningKey,
    kid: String,
}

/// The protected header; field order is the serialized order, which `sign` relies on.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

impl ReceiptKey {
    /// Loads `<data_dir>/receipt.key` when there is one (`handoff audit verify` checks
    /// checkpoints with its public half); never creates it.
    pub fn load(data_dir: &Path) -> anyhow::Result<Option<ReceiptKey>> {
        let path = data_dir.join("receipt.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_seed(&text)
                .map(|seed| Some(ReceiptKey::from_seed(&seed)))
                .with_context(|| format!("bad receipt key file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read receipt key {}", path.display())),
        }
    }

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

    /// The public key as a JWK Set (RFC 7517, OKP key of RFC 8037). No `alg` member: a
    /// key that named one would be refused by JOSE libraries for the other name (RFC 9864
    /// §2: `EdDSA` and `Ed25519` are two algorithms to them), and SPEC §4 lists none.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes()),
            "kid": self.kid,
            "use": "sig",
        }]})
    }

    /// Signs a payload under `EdDSA`: `b64(header).b64(payload).b64(signature)`.
    pub fn sign(&self, payload: &ReceiptPayload) -> String {
        self.sign_as(payload, Alg::EdDSA)
    }

    /// Signs a payload with the header naming `alg`.
    pub fn sign_as(&self, payload: &ReceiptPayload, alg: Alg) -> String {
        self.sign_jws(alg, "JWT", &b64_json(payload))
    }

    /// The `Ed25519`-named form of one of this key's `EdDSA` receipts: the same payload
    /// bytes under the header `alg: "Ed25519"`. Only a receipt whose signature checks out
    /// with this key is re-signed: a receipt edited in the database never becomes a valid
    /// one this way. `None` for anything else.
    pub fn ed25519_form(&self, receipt: &str) -> Option<String> {
        verified_payload(receipt, &self.jwks()).ok()?;
        let mut parts = receipt.split('.');
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
        if header.get("alg").and_then(Value::as_str) != Some(Alg::EdDSA.as_str()) {
            return None;
        }
        Some(self.sign_jws(Alg::Ed25519, "JWT", parts.next()?))
    }

    /// Signs an audit checkpoint's head (SPEC §9): `typ: "handoff-checkpoint"`, `EdDSA` like
    /// the receipts' default, so that the JOSE libraries that check receipts check these.
    pub fn sign_checkpoint(&self, head: &handoff_domain::checkpoint::Head) -> String {
        let payload = json!({
            "seq": head.seq,
            "hash": head.hash,
            "at": head.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        self.sign_jws(Alg::EdDSA, Typ::CHECKPOINT, &b64_json(&payload))
    }

    fn sign_jws(&self, alg: Alg, typ: &str, payload_b64: &str) -> String {
        let header = Header {
            alg: alg.as_str(),
            kid: &self.kid,
            typ,
        };
        let mut out = format!("{}.{payload_b64}", b64_json(&header));
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
