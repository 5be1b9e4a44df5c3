//! `handoff bench`: measurements of this machine.
//!
//! - `policy`: one policy evaluation, in process.
//! - `load`: the real server over loopback: submissions, and full round trips (submit →
//!   a reviewer approves → the agent's long-poll sees it → outcome).
//! - `inbox`: a reviewer's inbox query with many stored handoffs.
//! - `stats`: the learning statistics with many stored handoffs.
//! - `longpoll`: many long-polls waiting at once: memory per long-poll, wake-up.
//! - `notify`: the outbox: webhook deliveries per second to a local receiver, and the
//!   delay from a decision to the agent's callback.

mod inbox;
mod load;
mod longpoll;
mod notify;
mod policy;
mod report;
mod server;
mod stats;

use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time policy evaluation: median and p99 per packet.
    Policy {
        /// A policy file to measure besides the built-in example.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Rules in the synthetic policy.
        #[arg(long, default_value_t = 100)]
        rules: usize,
        /// Evaluations per measurement.
        #[arg(long, default_value_t = 200_000)]
        iterations: usize,
    },
    /// Drive a server (started for the run, in a temp dir) with simulated agents and
    /// reviewers; report throughput, p50/p99 latency, the server's CPU and peak RSS.
    Load(load::LoadArgs),
    /// Store many handoffs, then time a reviewer's inbox query through the server.
    Inbox(inbox::InboxArgs),
    /// Drive a server whose team has a webhook and whose agents have callbacks, both
    /// answered by a receiver in this process; report deliveries/s and callback delays.
    Notify(notify::NotifyArgs),
    /// Store and decide many handoffs over thirty days, then time the learning
    /// statistics, recommendations and metrics through the server.
    Stats(stats::StatsArgs),
    /// Hold many long-polls waiting at once: time to register them, the server's memory
    /// per waiting long-poll, and how fast all are answered after the decisions.
    Longpoll(longpoll::LongPollArgs),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Policy {
            policy,
            rules,
            iterations,
        } => policy::run(policy, rules, iterations),
        BenchCommand::Load(args) => load::run(args),
        BenchCommand::Inbox(args) => inbox::run(args),
        BenchCommand::Notify(args) => notify::run(args),
        BenchCommand::Stats(args) => stats::run(args),
        BenchCommand::Longpoll(args) => longpoll::run(args),
    }
}
