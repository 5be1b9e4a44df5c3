//! The API client commands: `submit`, `list`, `show`, `wait`, `decide`, `outcome`,
//! `cancel`, and the learning loop's `stats`, `tasks promote|demote`, `export decisions`.
//!
//! - `http`: the client crate's HTTP layer (`handoff_client::http`: requests, bearer
//!   auth, RFC 9457 problems), and the flags named when the server or key cannot work.
//! - `commands`: one async function per handoff command; `learning`: the learning loop's.
//! - `show`, `table`, `stats`: pure rendering for people; `--json` bypasses them.
//! - `text`: making agent-written text inert on a terminal; relative times.
//!
//! Exit codes: 0 done; 1 the server refused (its problem printed on stderr), could not be
//! reached, or the input was bad; 2 `wait --timeout` ran out (and clap's usage errors).

mod commands;
pub(crate) mod http;
mod learning;
mod show;
mod stats;
mod table;
mod text;

#[cfg(test)]
mod tests;

use clap::{Args, Subcommand};
use handoff_domain::lifecycle::OutcomeResult;
use handoff_domain::{DecisionAction, Span, Status};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Submit a handoff packet (a JSON file, or - for standard input); print the handoff.
    Submit(SubmitArgs),
    /// List handoffs you may see, as a table.
    List(ListArgs),
    /// Show one handoff.
    Show(IdArgs),
    /// Wait until a handoff is no longer pending, then show it.
    Wait(WaitArgs),
    /// Decide a handoff: approve, edit, reject, escalate, take_over, resolve, acknowledge, assign.
    Decide(DecideArgs),
    /// Report what happened when you acted: executed, failed or rolled_back.
    Outcome(OutcomeArgs),
    /// Withdraw a pending handoff (its agent only).
    Cancel(IdArgs),
    /// Per task type: decisions, unchanged approvals with their Wilson interval, the
    /// monitor; then the KPIs (reviewers and admins).
    Stats(StatsArgs),
    /// Promote or demote a task type (admins).
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Export data sets (admins).
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Give a task type more autonomy: its level minus one unless --level says.
    Promote(LevelArgs),
    /// Take autonomy back: its level plus one unless --level says.
    Demote(LevelArgs),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Every handoff no longer open, one JSON line each: the packet, the evaluation, the
    /// decisions with their rationale, the drafts, the outcome and the spot check.
    Decisions(ExportArgs),
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Only this task type.
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// The window, as the policy writes durations (default the policy's `[learning] window`).
    #[arg(long, value_name = "SPAN")]
    window: Option<String>,
}

#[derive(Debug, Args)]
pub struct LevelArgs {
    #[command(flatten)]
    conn: Conn,
    /// The task type.
    task: String,
    /// Why (recorded in the audit log with the evidence).
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// The level to set, instead of one step.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4), value_name = "1-4")]
    level: Option<u8>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Only this task type.
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// Handoffs submitted at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Handoffs submitted before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

/// Where the server is, who you are, and how to print.
#[derive(Debug, Args)]
pub struct Conn {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Print the server's JSON (pretty) instead of text, for scripts.
    #[arg(long)]
    json: bool,
}

/// Where the server is and who you are.
#[derive(Debug, Args)]
pub struct Endpoint {
    /// The server's base URL.
    #[arg(
        long,
        env = "HANDOFF_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    server: String,
    /// Your API key; prefer HANDOFF_KEY, as arguments show in the process list.
    #[arg(long, env = "HANDOFF_KEY", hide_env_values = true, value_name = "KEY")]
    key: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    conn: Conn,
    /// The packet as JSON; `-` reads standard input.
    #[arg(value_name = "PACKET.json")]
    packet: PathBuf,
    /// Submitting again with the same key and body returns the same handoff.
    #[arg(long, value_name = "K")]
    idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    conn: Conn,
    /// Only this status (pending, approved, rejected, handed_over, …).
    #[arg(long, value_parser = parse_status, value_name = "STATUS")]
    status: Option<Status>,
    /// Only this task type.
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// Only handoffs routed to this team.
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Only this level.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4), value_name = "1-4")]
    level: Option<u8>,
    /// Handoffs per page (at most 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500), value_name = "N")]
    limit: Option<u32>,
    /// Start where a previous page ended.
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<String>,
    /// Follow the cursors to the last page.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    #[command(flatten)]
    conn: Conn,
    /// The handoff's id (`hnd_…`).
    #[arg(value_parser = parse_id)]
    id: String,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    conn: Conn,
    /// The handoff's id (`hnd_…`).
    #[arg(value_parser = parse_id)]
    id: String,
    /// Give up after this long (seconds, or 90s / 5m / 1h30m) and exit 2.
    #[arg(long, value_parser = parse_timeout, value_name = "SECONDS")]
    timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    #[command(flatten)]
    conn: Conn,
    /// The handoff's id (`hnd_…`).
    #[arg(value_parser = parse_id)]
    id: String,
    /// approve, edit, reject, escalate, take_over (or take-over), resolve, acknowledge, assign.
    #[arg(value_parser = parse_action)]
    action: DecisionAction,
    /// Why (required to reject or escalate).
    #[arg(long, value_name = "TEXT")]
    rationale: Option<String>,
    /// The edited draft as a JSON file (`-` for standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "draft_text")]
    draft: Option<PathBuf>,
    /// The edited draft as plain text (`-` for standard input): it becomes a JSON string.
    #[arg(long, value_name = "FILE")]
    draft_text: Option<PathBuf>,
    /// The id (or label) of the agent's option you chose.
    #[arg(long = "option", value_name = "ID")]
    option: Option<String>,
    /// Escalate to this team instead of the team's `escalate_to`.
    #[arg(long, value_name = "TEAM")]
    to_team: Option<String>,
    /// Refuse (412) unless the handoff is still at this version.
    #[arg(long, value_name = "VERSION")]
    if_match: Option<u64>,
}

#[derive(Debug, Args)]
pub struct OutcomeArgs {
    #[command(flatten)]
    conn: Conn,
    /// The handoff's id (`hnd_…`).
    #[arg(value_parser = parse_id)]
    id: String,
    /// executed, failed or rolled_back.
    #[arg(value_parser = parse_result)]
    result: OutcomeResult,
    /// What happened, in a sentence.
    #[arg(long, value_name = "TEXT")]
    detail: Option<String>,
    /// The SHA-256 of the draft you executed; the server refuses (409) a different one.
    #[arg(long, value_parser = parse_sha256, value_name = "HEX")]
    draft_sha256: Option<String>,
}

pub fn run(cmd: ClientCommand) -> anyhow::Result<ExitCode> {
    let (endpoint, json) = match &cmd {
        ClientCommand::Submit(SubmitArgs { conn, .. })
        | ClientCommand::List(ListArgs { conn, .. })
        | ClientCommand::Show(IdArgs { conn, .. })
        | ClientCommand::Cancel(IdArgs { conn, .. })
        | ClientCommand::Wait(WaitArgs { conn, .. })
        | ClientCommand::Decide(DecideArgs { conn, .. })
        | ClientCommand::Outcome(OutcomeArgs { conn, .. })
        | ClientCommand::Stats(StatsArgs { conn, .. })
        | ClientCommand::Tasks(
            TasksCommand::Promote(LevelArgs { conn, .. })
            | TasksCommand::Demote(LevelArgs { conn, .. }),
        ) => (&conn.endpoint, conn.json),
        ClientCommand::Export(ExportCommand::Decisions(a)) => (&a.endpoint, false),
    };
    let key = endpoint
        .key
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("no API key: pass --key KEY or set HANDOFF_KEY"))?;
    let api = http::connect(&endpoint.server, key)?;
    let result = super::runtime()?.block_on(async {
        match cmd {
            ClientCommand::Submit(a) => commands::submit(&api, a, json).await,
            ClientCommand::List(a) => commands::list(&api, a, json).await,
            ClientCommand::Show(a) => commands::show(&api, &a.id, json).await,
            ClientCommand::Wait(a) => commands::wait(&api, a, json).await,
            ClientCommand::Decide(a) => commands::decide(&api, a, json).await,
            ClientCommand::Outcome(a) => commands::outcome(&api, a, json).await,
            ClientCommand::Cancel(a) => commands::cancel(&api, &a.id, json).await,
            ClientCommand::Stats(a) => learning::stats(&api, a, json).await,
            ClientCommand::Tasks(TasksCommand::Promote(a)) => {
                learning::set_level(&api, a, learning::Direction::Promote, json).await
            }
            ClientCommand::Tasks(TasksCommand::Demote(a)) => {
                learning::set_level(&api, a, learning::Direction::Demote, json).await
            }
            ClientCommand::Export(ExportCommand::Decisions(a)) => learning::export(&api, a).await,
        }
    });
    match result {
        // The server's refusal is an answer, not a crash: its own words, then exit 1.
        Err(e) => match e.downcast_ref::<http::ApiError>() {
            Some(http::ApiError::Problem(p)) => {
                eprint!("error: {}", http::render_problem(p));
                Ok(ExitCode::FAILURE)
            }
            _ => Err(e),
        },
        ok => ok,
    }
}

fn parse_id(s: &str) -> Result<String, String> {
    match s.trim() {
        "" | "." | ".." => Err(format!("`{s}` is not a handoff id")),
        id => Ok(id.to_owned()),
    }
}

fn parse_status(s: &str) -> Result<Status, String> {
    Status::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        format!("one of {}", all.join(", "))
    })
}

fn parse_action(s: &str) -> Result<DecisionAction, String> {
    DecisionAction::parse(&s.to_ascii_lowercase().replace('-', "_")).ok_or_else(|| {
        "one of approve, edit, reject, escalate, take_over, resolve, acknowledge, assign".to_owned()
    })
}

fn parse_result(s: &str) -> Result<OutcomeResult, String> {
    OutcomeResult::parse(&s.to_ascii_lowercase().replace('-', "_"))
        .ok_or_else(|| "one of executed, failed, rolled_back".to_owned())
}

fn parse_sha256(s: &str) -> Result<String, String> {
    let hex = s.trim().to_ascii_lowercase();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err("64 hexadecimal digits".to_owned())
    }
}

/// Plain seconds, or the policy file's duration notation.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs = match s.trim().parse::<u64>() {
        Ok(n) => n,
        Err(_) => Span::parse(s)?.as_secs(),
    };
    Ok(Duration::from_secs(secs))
}
