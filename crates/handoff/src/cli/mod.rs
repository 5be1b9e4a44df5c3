//! Command-line parsing and dispatch; each command lives in its own module.

mod audit;
mod bench;
pub(crate) mod client;
mod keys;
mod mcp;
mod policy;
mod receipt;
mod serve;
mod simulate;

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
    /// Run the service.
    Serve(serve::ServeArgs),
    /// Check, explain and test policy files, without a server.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Create API keys (beside a running server, too).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Verify or export the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check approval receipts offline.
    #[command(subcommand)]
    Receipt(receipt::ReceiptCommand),
    /// A Model Context Protocol server on stdio: an agent's tools to ask for approval,
    /// through the server at --server with your key.
    Mcp(mcp::McpArgs),
    /// Measure this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Drive the learning loop through a real server with a synthetic population of known
    /// true rates; print how promotion, demotion and the suggested threshold fare.
    Simulate(simulate::SimulateArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Client(cmd) => client::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Receipt(cmd) => receipt::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Mcp(args) => mcp::run(args),
        Command::Simulate(args) => simulate::run(args),
    }
}

/// A runtime for the commands that talk to a server or a database.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
