//! `handoff receipt verify`: check an approval receipt offline.

use crate::receipt::{self, ReceiptPayload};
use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a receipt's signature, expiry and (given the draft) its hash; print the payload.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt (compact JWS), `@FILE` to read it from a file, or `-` for stdin.
    receipt: String,
    /// The server whose key signed the receipt; its `GET /v1/receipt-key` is fetched.
    /// [env: HANDOFF_URL] [default: http://127.0.0.1:8080]
    // Not clap's `env`: clap counts a value from the environment as given, so an exported
    // HANDOFF_URL would make every `--jwks` a conflict.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// A JWK Set file to verify against, instead of asking a server.
    #[arg(long, value_name = "FILE", conflicts_with = "server")]
    jwks: Option<PathBuf>,
    /// The draft (a JSON file) that is about to be acted on; it must be the approved one.
    #[arg(long, value_name = "FILE")]
    draft: Option<PathBuf>,
}

pub fn run(cmd: ReceiptCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ReceiptCommand::Verify(args) => match verify(&args) {
            Ok(payload) => {
                println!("{}", serde_json::to_string_pretty(&payload)?);
                Ok(ExitCode::SUCCESS)
            }
            // Every failure, I/O included, is "not verified": exit 1 with the reason.
            Err(e) => {
                eprintln!("receipt verify: {e:#}");
                Ok(ExitCode::from(1))
            }
        },
    }
}

fn verify(args: &VerifyArgs) -> anyhow::Result<ReceiptPayload> {
    let receipt = read_receipt(&args.receipt)?;
    // Read the draft before any network call, so that a typo fails fast.
    let draft = args.draft.as_deref().map(read_json).transpose()?;
    let jwks = match &args.jwks {
        Some(path) => read_json(path)?,
        None => fetch_jwks(&server_url(args.server.as_deref()))?,
    };
    let payload = receipt::verify(&receipt, &jwks, chrono::Utc::now().timestamp())?;
    if let Some(draft) = &draft {
        receipt::check_draft(&payload, draft)?;
    }
    Ok(payload)
}

fn server_url(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("HANDOFF_URL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned())
}

/// The receipt itself, `@FILE`, or `-` for stdin; whitespace around it is dropped.
fn read_receipt(arg: &str) -> anyhow::Result<String> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the receipt from stdin")?;
        text
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
    } else {
        arg.to_owned()
    };
    Ok(text.trim().to_owned())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn fetch_jwks(server: &str) -> anyhow::Result<Value> {
    let url = format!("{}/v1/receipt-key", server.trim_end_matches('/'));
    let fetch = async {
        crate::notify::install_tls();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // The key must come from the server named, not from wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        client
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json::<Value>()
            .await
    };
    crate::cli::runtime()?
        .block_on(fetch)
        .with_context(|| format!("cannot fetch the receipt key from {url}"))
}
