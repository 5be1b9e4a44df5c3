//! `handoff audit verify | export`, read straight from the store.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {}

pub fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
