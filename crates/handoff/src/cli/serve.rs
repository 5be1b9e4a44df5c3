//! `handoff serve`: run the service.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
