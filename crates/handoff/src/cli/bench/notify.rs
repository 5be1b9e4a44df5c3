//! `handoff bench notify`: the outbox against a receiver in this process, over loopback.
//!
//! Phase 1: agents submit as fast as they can; each handoff is routed to a team whose
//! policy entry is a webhook pointing at the receiver, which holds every request until
//! the submissions end, so the deliveries pile up in the outbox. Then it opens: reported
//! is how fast the backlog drains (webhook deliveries/s, each signed, sent, and recorded
//! with its audit entry).
//!
//! Phase 2: agents submit handoffs with a `callback_url`; reviewers approve them; the
//! receiver notes when each `handoff.decision` callback arrives. Reported: the delay from
//! the reviewer sending the decision to the agent's callback arriving, p50/p99.

use super::load::{People, approvers, packet, people, submit_one};
use super::report::Samples;
use super::server::{BenchServer, temp_dir};
use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use clap::Args;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Concurrent agents.
    #[arg(long, default_value_t = 32)]
    agents: usize,
    /// Concurrent reviewers (phase 2).
    #[arg(long, default_value_t = 16)]
    reviewers: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

/// What the receiver has seen.
#[derive(Default)]
struct Received {
    /// Team webhooks wait until this is true.
    open: tokio::sync::watch::Sender<bool>,
    team: AtomicU64,
    last_team: Mutex<Option<Instant>>,
    /// Handoff id → when its decision callback arrived.
    callbacks: Mutex<HashMap<String, Instant>>,
}

async fn team(State(r): State<Arc<Received>>) -> StatusCode {
    let _ = r.open.subscribe().wait_for(|open| *open).await;
    r.team.fetch_add(1, Ordering::Relaxed);
    *r.last_team.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    StatusCode::NO_CONTENT
}

async fn callback(State(r): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if event["type"] == "handoff.decision"
        && let Some(id) = event["data"]["id"].as_str()
    {
        r.callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), at);
    }
    StatusCode::NO_CONTENT
}

fn policy(receiver: &str) -> String {
    format!(
        r#"
[defaults]
level = 2
route = "sales"

[teams.sales]
members = ["ana", "ben"]
notify = ["webhook:{receiver}/team"]

[tasks.respond_to_client_inquiry]
level = 2
route = "sales"
"#
    )
}

pub fn run(args: NotifyArgs) -> anyhow::Result<ExitCode> {
    if args.agents == 0 || args.reviewers == 0 {
        bail!("--agents and --reviewers must be at least 1");
    }
    let rt = crate::cli::runtime()?;
    let received = Arc::new(Received::default());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let receiver = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/team", post(team))
        .route("/cb", post(callback))
        .with_state(received.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let dir = temp_dir("notify")?;
    let policy_file = dir.join("policy.toml");
    std::fs::write(&policy_file, policy(&receiver))?;
    let extra = [
        "--policy".to_owned(),
        policy_file.display().to_string(),
        "--callback-allow".to_owned(),
        "127.0.0.1".to_owned(),
    ];
    let server = BenchServer::start(&dir.join("data"), &extra)?;
    let result = rt.block_on(drive(&server, &args, &receiver, &received));
    let (cpu, rss) = server.usage();
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!("server process: {cpu:.1} s CPU in all, peak RSS {rss:.1} MiB");
    Ok(ExitCode::SUCCESS)
}

async fn drive(
    server: &BenchServer,
    args: &NotifyArgs,
    receiver: &str,
    received: &Received,
) -> anyhow::Result<()> {
    let People {
        client,
        agents,
        reviewers,
    } = people(server, args.agents, args.reviewers).await?;
    let duration = Duration::from_secs(args.seconds);
    println!(
        "{} agents, {} reviewers, {} s per phase, server {}, receiver {receiver}",
        args.agents, args.reviewers, args.seconds, server.url
    );

    // Phase 1: submissions, each causing one webhook delivery, held at the receiver.
    let start = Instant::now();
    let body = packet();
    let submitted =
        submit_for(&client, &server.url, &agents, &body, start + duration, None).await?;
    let n = submitted.len();
    println!(
        "submissions with the receiver closed: {n} in {:.1} s = {:.0}/s",
        start.elapsed().as_secs_f64(),
        n as f64 / start.elapsed().as_secs_f64(),
    );
    let opened = Instant::now();
    received.open.send_replace(true);
    let wait_until = opened + Duration::from_secs(300);
    while received.team.load(Ordering::Relaxed) < n as u64 {
        if Instant::now() > wait_until {
            bail!(
                "only {} of {n} webhooks arrived",
                received.team.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = received
        .last_team
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_else(Instant::now);
    let drain = last.duration_since(opened);
    println!(
        "outbox drained: {n} signed webhooks in {:.2} s = {:.0} deliveries/s",
        drain.as_secs_f64(),
        n as f64 / drain.as_secs_f64(),
    );

    // Phase 2: decisions and the agents' callbacks.
    let mut with_callback: Value = serde_json::from_slice(&body)?;
    with_callback["callback_url"] = Value::String(format!("{receiver}/cb"));
    let body = Bytes::from(with_callback.to_string());
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let deciders = approvers(
        &client,
        std::slice::from_ref(&server.url),
        &reviewers,
        args.reviewers,
        rx,
    );
    let start = Instant::now();
    submit_for(
        &client,
        &server.url,
        &agents,
        &body,
        start + duration,
        Some(tx),
    )
    .await?;
    let mut decided = Vec::new();
    for d in deciders {
        decided.extend(d.await??);
    }
    let wait_until = Instant::now() + Duration::from_secs(120);
    loop {
        let got = received
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        if got >= decided.len() {
            break;
        }
        if Instant::now() > wait_until {
            bail!("only {got} of {} callbacks arrived", decided.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callbacks = received.callbacks.lock().unwrap_or_else(|p| p.into_inner());
    let mut delays = Samples::default();
    for (id, sent, _) in &decided {
        let at = callbacks.get(id).context("a callback is missing")?;
        delays.push(at.saturating_duration_since(*sent));
    }
    println!(
        "{}",
        delays.line("decision sent -> agent callback", start.elapsed())
    );
    Ok(())
}

/// Agents submit `body` until `deadline`; each id goes to `decide` when given.
async fn submit_for(
    client: &Client,
    url: &str,
    agents: &[String],
    body: &Bytes,
    deadline: Instant,
    decide: Option<mpsc::UnboundedSender<String>>,
) -> anyhow::Result<Vec<String>> {
    let mut tasks = Vec::new();
    for key in agents {
        let (client, key, body, decide) =
            (client.clone(), key.clone(), body.clone(), decide.clone());
        let submit = format!("{url}/v1/handoffs");
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while Instant::now() < deadline {
                let bytes = submit_one(&client, &submit, &key, &body).await?;
                let h: Value = serde_json::from_slice(&bytes)?;
                let id = h["id"].as_str().context("no id")?.to_owned();
                if let Some(d) = &decide {
                    d.send(id.clone()).ok().context("reviewers gone")?;
                }
                ids.push(id);
            }
            anyhow::Ok(ids)
        }));
    }
    drop(decide);
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await??);
    }
    Ok(ids)
}
