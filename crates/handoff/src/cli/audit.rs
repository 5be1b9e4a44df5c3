//! `handoff audit verify | export`, read straight from the store (beside a running server,
//! too).

use super::keys::Database;
use anyhow::Context;
use clap::Subcommand;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit 1 naming the first bad entry.
    Verify {
        #[command(flatten)]
        db: Database,
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

/// Entries read per query while exporting.
const PAGE: u32 = 5000;

pub fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        match cmd {
            AuditCommand::Verify { db } => {
                let store =
                    crate::server::open_store(&db.data_dir, db.database_url.as_deref()).await?;
                let v = store.verify_audit().await?;
                store.close().await;
                match v.first_bad_seq {
                    None if v.ok => {
                        println!("ok: {} entries, the chain is intact", v.entries);
                        Ok(ExitCode::SUCCESS)
                    }
                    bad => {
                        let seq = bad.map_or("?".to_owned(), |s| s.to_string());
                        println!(
                            "FAILED: the chain breaks at seq {seq} ({} entries read)",
                            v.entries
                        );
                        Ok(ExitCode::from(1))
                    }
                }
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
