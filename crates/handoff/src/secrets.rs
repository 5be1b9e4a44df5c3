//! The secrets kept in the data dir, each made once and read at every start: the admin key
//! (`admin.key`, written by startup), the webhook signing secret (`webhook.secret`), the
//! web session key (`web.key`). Each file is readable by its owner only and written
//! atomically, so a crash never leaves half a secret.

use crate::notify::Secret;
use anyhow::Context;
use std::io::Write;
use std::path::Path;

/// The webhook signing secrets: the flag's, else the one kept in the data dir (made at
/// the first start).
pub fn webhook_secrets(given: &[String], data_dir: &Path) -> anyhow::Result<Vec<Secret>> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|s| Secret::parse(s).map_err(|e| anyhow::anyhow!("--webhook-secret: {e}")))
            .collect();
    }
    let path = data_dir.join("webhook.secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(text) => Secret::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = Secret::generate().map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            write_secret(&path, &s.encode())?;
            s
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    tracing::info!(path = %path.display(), "webhooks are signed with the secret kept here");
    Ok(vec![secret])
}

/// Writes a secret readable by its owner only, atomically (temp file, fsync, rename).
pub fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    writeln!(f, "{secret}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
