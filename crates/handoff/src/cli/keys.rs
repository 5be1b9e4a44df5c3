//! `handoff keys create`: a new API key, written straight into the store (beside a running
//! server, too: the server finds it on first use). Prints the key alone on one line, once.

use anyhow::bail;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (only its SHA-256 is stored).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// agent, reviewer or admin.
    #[arg(long)]
    role: String,
    /// The principal's name (reviewers are named in the policy's team `members`).
    #[arg(long)]
    name: String,
    #[command(flatten)]
    db: Database,
}

/// Where the store is, as `handoff serve` takes it.
#[derive(Debug, Args)]
pub struct Database {
    #[arg(long, env = "HANDOFF_DATA_DIR", default_value = "./handoff-data")]
    pub data_dir: PathBuf,
    /// `sqlite:PATH`, or `postgres://USER:PASSWORD@HOST:PORT/DB` for several nodes on
    /// one database (docs/DEPLOY.md). Default: SQLite at `<data-dir>/handoff.db`.
    #[arg(long, env = "HANDOFF_DATABASE_URL")]
    pub database_url: Option<String>,
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Create(args) = cmd;
    let Some(role) = crate::app::Role::parse(&args.role) else {
        bail!("--role must be agent, reviewer or admin");
    };
    if !crate::app::valid_key_name(&args.name) {
        bail!("--name must be 1 to 64 letters, digits, '_', '.', '@' or '-'");
    }
    super::runtime()?.block_on(async {
        let store =
            crate::server::open_store(&args.db.data_dir, args.db.database_url.as_deref()).await?;
        let key = crate::ids::api_key();
        let created =
            crate::app::register_key(store.as_ref(), &key, &args.name, role, "cli").await?;
        store.close().await;
        if !created {
            bail!("a key named {:?} exists", args.name);
        }
        println!("{key}");
        Ok(ExitCode::SUCCESS)
    })
}
