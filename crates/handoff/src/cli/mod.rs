//! Command-line parsing and dispatch; each command lives in its own module.

mod bench;
mod policy;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "handoff",
    version,
    about = "Risk-based handoffs between AI agents and the people who own the risk"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, explain and test policy files, without a server.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Measure this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Policy(cmd) => policy::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
    }
}
