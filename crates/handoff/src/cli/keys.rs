//! `handoff keys create`: a new API key, written straight into the store (beside a running
//! server, too: the server finds it on first use). Prints the key alone on one line, once.

use anyhow::bail;
use clap::{Args, Subcommand};
use handoff_domain::audit::NewEntry;
use handoff_store::KeyRecord;
use serde_json::json;
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
    /// `sqlite:PATH` (default: `<data-dir>/handoff.db`).
    #[arg(long, env = "HANDOFF_DATABASE_URL")]
    pub database_url: Option<String>,
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Create(args) = cmd;
    let Some(role) = crate::app::Role::parse(&args.role) else {
        bail!("--role must be agent, reviewer or admin");
    };
    if !crate::api::valid_key_name(&args.name) {
        bail!("--name must be 1 to 64 letters, digits, '_', '.', '@' or '-'");
    }
    super::runtime()?.block_on(async {
        let store =
            crate::server::open_store(&args.db.data_dir, args.db.database_url.as_deref()).await?;
        let key = crate::ids::api_key();
        let now = chrono::Utc::now();
        let record = KeyRecord {
            name: args.name.clone(),
            role: role.as_str().to_owned(),
            key_sha256: crate::ids::key_sha256(&key),
            created_at: now,
        };
        let audit = NewEntry {
            at: now,
            actor: "cli".to_owned(),
            action: "key.created".to_owned(),
            handoff_id: None,
            data: json!({"name": args.name, "role": role}),
        };
        let created = store.create_key(record, audit).await?;
        store.close().await;
        if !created {
            bail!("a key named {:?} exists", args.name);
        }
        println!("{key}");
        Ok(ExitCode::SUCCESS)
    })
}
