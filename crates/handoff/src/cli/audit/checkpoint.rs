//! What `handoff audit verify` reads besides the database: a checkpoint (its JWS given on
//! the command line, or a file holding the JWS or the API's whole JSON answer), the JWK Set
//! that checks it (a file, or the data dir's receipt key), and an export of the log.

use anyhow::{Context, bail};
use handoff_domain::checkpoint::{CheckpointVerifier, Head};
use handoff_domain::{AuditEntry, Verification};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;

/// The head a checkpoint signs, once its signature checked out against the key set.
pub fn read(arg: &str, jwks: Option<&Path>, data_dir: &Path) -> anyhow::Result<Head> {
    let jws = jws_of(arg)?;
    let jwks = match jwks {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the key set {}", path.display()))?;
            serde_json::from_str::<Value>(&text)
                .with_context(|| format!("{} is not a JWK Set (JSON)", path.display()))?
        }
        None => match crate::receipt::ReceiptKey::load(data_dir)? {
            Some(key) => key.jwks(),
            None => bail!(
                "no key to check the checkpoint with: give --jwks FILE (GET /v1/receipt-key \\
                 saved), or --data-dir holding receipt.key"
            ),
        },
    };
    Ok(handoff_client::checkpoint::verify(&jws, &jwks)?)
}

/// The JWS of `--checkpoint`: the argument itself, or what the file it names holds. An
/// argument that is both a file's name and shaped like a JWS is refused as ambiguous.
fn jws_of(arg: &str) -> anyhow::Result<String> {
    let looks_like_jws = arg.split('.').count() == 3
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let path = Path::new(arg);
    let is_file = path.is_file();
    if looks_like_jws && is_file {
        bail!("--checkpoint {arg:?} is both a file and a JWS: give ./{arg} for the file")
    }
    if !is_file {
        if looks_like_jws {
            return Ok(arg.to_owned());
        }
        bail!("--checkpoint is neither a JWS nor a readable file: {arg:?}")
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the checkpoint {}", path.display()))?;
    let text = text.trim();
    if text.starts_with('{') {
        // The answer of POST /v1/audit/checkpoints, kept whole.
        let v: Value = serde_json::from_str(text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        return match v.get("jws") {
            Some(Value::String(jws)) => Ok(jws.clone()),
            _ => bail!("{} holds JSON without a \"jws\" string", path.display()),
        };
    }
    Ok(text.to_owned())
}

/// Checks an export (JSON lines, from seq 1) and, given a head, the head in it. A line
/// that is not an entry breaks the chain where it stands; blank lines are skipped.
pub fn verify_export(path: &Path, head: Option<&Head>) -> anyhow::Result<Verification> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the export {}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut v = CheckpointVerifier::new(head.cloned());
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read the export {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<AuditEntry>(&line) {
            Ok(entry) => {
                v.push(&entry);
            }
            Err(_) => v.push_unreadable(),
        }
    }
    Ok(v.finish())
}
