//! `handoff bench stats`: stores many handoffs over thirty days (through the store, in
//! big batches, the way the server stores them, so that the learning aggregates are
//! written as they are in production), decides most of them, then starts the server on
//! that database and times `GET /v1/stats`, one task's stats, `GET /v1/recommendations`
//! and `/metrics`: what they cost does not grow with the handoffs stored, only with the
//! task types and the hours of the window.

use super::report::Samples;
use super::server::{BenchServer, temp_dir};
use chrono::{Duration as Span, Utc};
use clap::Args;
use handoff_domain::audit::NewEntry;
use handoff_domain::lifecycle::{Command, DecisionAction};
use handoff_domain::{Handoff, Packet, Policy};
use handoff_store::{Change, Store, Submission};
use reqwest::Client;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Handoffs to store (spread over the last thirty days).
    #[arg(long, default_value_t = 1_000_000)]
    handoffs: usize,
    /// Queries per measurement.
    #[arg(long, default_value_t = 200)]
    queries: usize,
}

/// Task types of the example policy: five for people, one autonomous.
const TASKS: [&str; 6] = [
    "respond_to_client_inquiry",
    "publish_content",
    "draft_contract_clause",
    "report_data_anomaly",
    "make_purchase",
    "categorize_support_ticket",
];

/// Who decides each task's handoffs in the example policy.
const REVIEWERS: [&str; 6] = ["ana", "mia", "lou", "dan", "fay", "oz"];

pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let dir = temp_dir("stats")?;
    let rt = crate::cli::runtime()?;
    let key = rt.block_on(seed(&dir, args.handoffs))?;
    let server = BenchServer::start(&dir, &[])?;
    let result = rt.block_on(query(&server, &key, args.queries));
    let (cpu, rss) = server.usage();
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!("server CPU {cpu:.1} s in all; peak RSS {rss:.1} MiB");
    Ok(ExitCode::SUCCESS)
}

fn decision(i: usize, reviewer: &str) -> (DecisionAction, Option<Value>, Option<String>) {
    match i % 20 {
        0 => (
            DecisionAction::Reject,
            None,
            Some("not like this".to_owned()),
        ),
        1 => (
            DecisionAction::Edit,
            Some(json!("Hello, yes: monthly billing from next month.")),
            Some(format!("{reviewer} shortened it")),
        ),
        2 => (DecisionAction::TakeOver, None, None),
        _ => (DecisionAction::Approve, None, None),
    }
}

async fn seed(dir: &std::path::Path, n: usize) -> anyhow::Result<String> {
    let store = crate::server::open_store(dir, None).await?;
    let policy = Policy::example();
    let started = Instant::now();
    let now = Utc::now();
    let span_ms = 30 * 86_400_000i64;
    let mut pending = Vec::new();
    let mut decided = 0usize;
    for i in 0..n {
        let task = TASKS[i % TASKS.len()];
        let packet = Packet::parse(json!({
            "task": task,
            "subject": format!("Customer {i}"),
            "summary": "The customer asks to move from annual to monthly billing and keep the discount.",
            "draft": "Hello, yes: monthly billing starts next month and your discount carries over.",
            "confidence": 0.80 + (i % 20) as f64 / 100.0,
        }))
        .map_err(|e| anyhow::anyhow!("bench packet: {e:?}"))?;
        let offset = i64::try_from(i).unwrap_or(0) * span_ms / i64::try_from(n.max(1)).unwrap_or(1);
        let at = now - Span::milliseconds(span_ms) + Span::milliseconds(offset);
        let e = policy.evaluate(&packet, at);
        let h = Handoff::submitted(crate::ids::handoff_id(at), "bench-agent", &packet, e, at)?;
        let audit = h.submitted_entry();
        let store = store.clone();
        let reviewer = REVIEWERS[i % REVIEWERS.len()];
        let decide = h.state.status.is_open();
        decided += usize::from(decide);
        pending.push(tokio::spawn(async move {
            store
                .submit(Submission {
                    handoff: h.clone(),
                    audit,
                    idempotency: None,
                    deliveries: Vec::new(),
                })
                .await?;
            if decide {
                decide_one(&store, &h, i, reviewer).await?;
            }
            anyhow::Ok(())
        }));
        if pending.len() == 4096 {
            for p in pending.drain(..) {
                p.await??;
            }
        }
        if i > 0 && i % 100_000 == 0 {
            eprintln!(
                "  stored {i} of {n} ({:.0}/s)",
                i as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    for p in pending {
        p.await??;
    }
    println!(
        "stored {n} handoffs and decided {decided} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let key = crate::ids::api_key();
    crate::app::register_key(
        store.as_ref(),
        &key,
        "root",
        crate::app::Role::Admin,
        "bench",
    )
    .await?;
    store.close().await;
    Ok(key)
}

/// Decides `h` some minutes after its submission.
async fn decide_one(
    store: &Arc<dyn Store>,
    h: &Handoff,
    i: usize,
    reviewer: &str,
) -> anyhow::Result<()> {
    let (action, draft, rationale) = decision(i, reviewer);
    let at = h.created_at + Span::seconds(30 + i64::try_from(i % 7200).unwrap_or(0));
    let by = reviewer.to_owned();
    let f = Box::new(move |h: &Handoff| {
        let applied = h.state.apply(
            Command::Decide {
                by: by.clone(),
                action,
                rationale: rationale.clone(),
                draft: draft.clone(),
                option: None,
                to_team: None,
            },
            at,
        )?;
        let mut next = h.clone();
        next.state = applied.state;
        next.updated_at = at;
        Ok(Change {
            audit: NewEntry {
                at,
                actor: by.clone(),
                action: "handoff.decision".to_owned(),
                handoff_id: Some(h.id.clone()),
                data: json!({"action": action, "rationale": rationale}),
            },
            handoff: next,
            deliveries: Vec::new(),
        })
    });
    store
        .update(h.id.clone(), None, f)
        .await?
        .map_err(|r| anyhow::anyhow!("bench decision refused: {r:?}"))?;
    Ok(())
}

async fn query(server: &BenchServer, key: &str, queries: usize) -> anyhow::Result<()> {
    let client = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let get = |path: &str| {
        let req = client.get(format!("{}{path}", server.url)).bearer_auth(key);
        async move {
            let t = Instant::now();
            let body = req.send().await?.error_for_status()?.text().await?;
            anyhow::Ok((t.elapsed(), body))
        }
    };
    // The first call also verifies the whole audit chain (cached for five minutes).
    let (first, body) = get("/v1/stats").await?;
    let stats: Value = serde_json::from_str(&body)?;
    let decisions: i64 = stats["tasks"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["decisions"].as_i64()).sum())
        .unwrap_or(0);
    println!(
        "GET /v1/stats, first (verifies the audit chain): {:.1} ms; {} tasks, {decisions} decisions in the window, chain_ok {}",
        first.as_secs_f64() * 1e3,
        stats["tasks"].as_array().map_or(0, Vec::len),
        stats["kpis"]["audit_readiness"]["chain_ok"],
    );
    for (what, path) in [
        ("GET /v1/stats", "/v1/stats"),
        (
            "GET /v1/stats?task=…",
            "/v1/stats?task=respond_to_client_inquiry",
        ),
        ("GET /v1/recommendations", "/v1/recommendations"),
        ("GET /metrics", "/metrics"),
    ] {
        let mut lat = Samples::default();
        let started = Instant::now();
        for _ in 0..queries {
            let (took, _) = get(path).await?;
            lat.push(took);
        }
        println!("{}", lat.line(what, started.elapsed()));
    }
    Ok(())
}
