//! `handoff audit verify | export`, read straight from the store (beside a running server,
//! too), or, for `verify`, from an export (offline). `verify --checkpoint` also checks that
//! a signed checkpoint's head (SPEC §9) is still in the log; `audit/checkpoint.rs` reads the
//! checkpoint, the key set and an export.

use super::keys::Database;
use anyhow::Context;
use clap::Subcommand;
use handoff_domain::Verification;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

mod checkpoint;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain (and a signed checkpoint's head); exit 1 naming the first bad
    /// entry's seq.
    Verify {
        #[command(flatten)]
        db: Database,
        /// A checkpoint (`POST /v1/audit/checkpoints`): its JWS, or a file holding the JWS
        /// or the whole JSON answer. The log must still hold the head it signs.
        #[arg(long, value_name = "JWS_OR_FILE")]
        checkpoint: Option<String>,
        /// The JWK Set that checks the checkpoint (`GET /v1/receipt-key` saved); default:
        /// the data dir's receipt key.
        #[arg(long, value_name = "FILE", requires = "checkpoint")]
        jwks: Option<PathBuf>,
        /// Check an export instead of the database (`handoff audit export`, or `GET
        /// /v1/audit` page after page, as JSON lines from seq 1; `-`: standard input).
        #[arg(long, value_name = "FILE", conflicts_with = "database_url")]
        export: Option<PathBuf>,
    },
    /// Print the log as JSON lines, oldest first.
    Export {
        #[command(flatten)]
        db: Database,
        /// Entries after this seq only.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

/// The verdict in a line, naming the seq where it failed (and the checkpoint's).
fn verdict(v: &Verification) -> String {
    let bad = v
        .first_bad_seq
        .map_or_else(|| "?".to_owned(), |s| s.to_string());
    match (v.ok, v.checkpoint_seq) {
        (true, None) => format!("ok: {} entries, the chain is intact", v.entries),
        (true, Some(cp)) => format!(
            "ok: {} entries, the chain is intact and holds checkpoint seq {cp}",
            v.entries
        ),
        (false, Some(cp)) if v.first_bad_seq.is_some_and(|b| b <= cp) => format!(
            "FAILED: the log does not hold checkpoint seq {cp}: the first missing or altered \
             entry is seq {bad} ({} entries read)",
            v.entries
        ),
        (false, cp) => {
            let held = cp.map_or_else(String::new, |cp| format!("; checkpoint seq {cp} holds"));
            format!(
                "FAILED: the chain breaks at seq {bad} ({} entries read){held}",
                v.entries
            )
        }
    }
}

/// Entries read per query while exporting.
const PAGE: u32 = 5000;

pub fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        match cmd {
            AuditCommand::Verify {
                db,
                checkpoint,
                jwks,
                export,
            } => {
                // The checkpoint's signature first: a head that is not the server's is
                // refused before any log is read.
                let head = match checkpoint {
                    None => None,
                    Some(arg) => Some(checkpoint::read(&arg, jwks.as_deref(), &db.data_dir)?),
                };
                let v = match export {
                    Some(path) => checkpoint::verify_export(&path, head.as_ref())?,
                    None => {
                        let store =
                            crate::server::open_store(&db.data_dir, db.database_url.as_deref())
                                .await?;
                        let v = crate::app::verify_chain(store.as_ref(), head.as_ref()).await;
                        store.close().await;
                        v?
                    }
                };
                println!("{}", verdict(&v));
                Ok(if v.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            AuditCommand::Export { db, after } => {
                let store =
                    crate::server::open_store(&db.data_dir, db.database_url.as_deref()).await?;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                let mut last = after;
                loop {
                    let page = store.audit(last, PAGE).await?;
                    let Some(tail) = page.last() else { break };
                    last = tail.seq;
                    for e in &page {
                        serde_json::to_writer(&mut out, e)?;
                        out.write_all(b"\n").context("cannot write the export")?;
                    }
                }
                out.flush()?;
                store.close().await;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
