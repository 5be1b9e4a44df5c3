//! `handoff receipt verify`: check an approval receipt offline.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {}

pub fn run(cmd: ReceiptCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
