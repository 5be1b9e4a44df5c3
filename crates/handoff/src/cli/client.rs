//! The API client commands: `submit`, `list`, `show`, `wait`, `decide`, `outcome`.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {}

pub fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
