//! `handoff serve`: run the service.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, env = "HANDOFF_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Where the database, the admin key and the receipt key live.
    #[arg(long, env = "HANDOFF_DATA_DIR", default_value = "./handoff-data")]
    data_dir: PathBuf,
    /// The policy file (default: the built-in example). Loaded when its text changed
    /// since the last start; otherwise the stored policy (perhaps from PUT) stays.
    #[arg(long, env = "HANDOFF_POLICY")]
    policy: Option<PathBuf>,
    /// `sqlite:PATH` (default: `<data-dir>/handoff.db`).
    #[arg(long, env = "HANDOFF_DATABASE_URL")]
    database_url: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let cfg = crate::server::Config {
        addr: args.addr,
        data_dir: args.data_dir,
        policy_file: args.policy,
        database_url: args.database_url,
    };
    super::runtime()?.block_on(crate::server::run(cfg))?;
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr; `RUST_LOG` sets the filter (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
