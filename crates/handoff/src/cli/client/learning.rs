//! The learning loop's client commands (SPEC §6, §7): `stats`, `tasks promote|demote`,
//! `export decisions`.

use super::commands::{emit, print_json};
use super::http::{Api, REQUEST_TIMEOUT};
use super::stats::{render_level_change, render_stats};
use super::{ExportArgs, LevelArgs, StatsArgs};
use anyhow::{Context, bail};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;

pub async fn stats(api: &Api, args: StatsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(t) = args.task {
        query.push(("task", t));
    }
    if let Some(w) = args.window {
        query.push(("window", w));
    }
    let reply = api.get(&["v1", "stats"], &query, REQUEST_TIMEOUT).await?;
    if json {
        return print_json(&reply.body);
    }
    emit(&render_stats(&reply.body))?;
    Ok(ExitCode::SUCCESS)
}

/// Which way `tasks` moves a task: promote lowers the level (more autonomy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Promote,
    Demote,
}

pub async fn set_level(
    api: &Api,
    args: LevelArgs,
    direction: Direction,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let level = match args.level {
        Some(l) => l,
        None => {
            let current = current_level(api, &args.task).await?;
            match direction {
                Direction::Promote if current <= 1 => {
                    bail!("{} is at level 1 already; nothing to promote to", args.task)
                }
                Direction::Promote => current - 1,
                Direction::Demote if current >= 4 => {
                    bail!("{} is at level 4 already; nothing to demote to", args.task)
                }
                Direction::Demote => current + 1,
            }
        }
    };
    let body = json!({ "level": level, "reason": args.reason });
    let path = ["v1", "tasks", args.task.as_str(), "level"];
    let reply = api.post(&path, &body, &[]).await?;
    if json {
        return print_json(&reply.body);
    }
    emit(&render_level_change(&reply.body))?;
    Ok(ExitCode::SUCCESS)
}

/// The level in force, from the task's statistics.
async fn current_level(api: &Api, task: &str) -> anyhow::Result<u8> {
    let query = [("task", task.to_owned())];
    let reply = api.get(&["v1", "stats"], &query, REQUEST_TIMEOUT).await?;
    let level = reply.body["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["task"].as_str() == Some(task)))
        .and_then(|t| t["level"].as_u64())
        .and_then(|l| u8::try_from(l).ok());
    level.with_context(|| {
        format!(
            "{} did not say {task}'s level; give it with --level",
            api.server()
        )
    })
}

/// Streams the export to standard output as it arrives; a reader that went away (`| head`)
/// ends it quietly.
pub async fn export(api: &Api, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let mut query: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("task", args.task),
        ("since", args.since),
        ("until", args.until),
    ] {
        if let Some(v) = v {
            query.push((k, v));
        }
    }
    let mut res = api
        .get_stream(&["v1", "export", "decisions"], &query, &[])
        .await?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = res.chunk().await.context("the export stopped midway")? {
        match out.write_all(&chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            r => r.context("cannot write to standard output")?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
