//! `handoff keys create`: a new API key, written straight into the store.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {}

pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
