//! `handoff bench load`: simulated agents and reviewers against a real server over
//! loopback, reusing connections. Phase 1: agents only submit. Phase 2: full round trips:
//! an agent submits, a reviewer (told the id, as an inbox would show it) approves, the
//! agent's long-poll returns the approval, the agent reports `executed`. With `--nodes 2`
//! on one PostgreSQL, decisions are made on the other node than the agent's long-poll.
//!
//! The load generator runs on the same two cores as the server: the figures are what one
//! small machine does for both sides.

use super::report::Samples;
use super::server::{BenchServer, temp_dir};
use anyhow::{Context, bail};
use axum::body::Bytes;
use clap::Args;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Concurrent agents.
    #[arg(long, default_value_t = 64)]
    agents: usize,
    /// Concurrent reviewers (phase 2).
    #[arg(long, default_value_t = 32)]
    reviewers: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Run one phase only: submit or roundtrip.
    #[arg(long)]
    only: Option<String>,
    /// The database every node uses (default: SQLite in a temporary directory), e.g. a
    /// throwaway PostgreSQL from `scripts/postgres`: `postgres://…/DB` (the benchmark
    /// writes into it; give it an empty database).
    #[arg(long)]
    database_url: Option<String>,
    /// Server nodes on that database: agent i talks to node i mod N, reviewer r decides
    /// on node r+1 mod N, so with two nodes every decision wakes a long-poll held by the
    /// other node. More than one needs a PostgreSQL `--database-url`.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

/// A ~1 KB packet: level 2, routed to `sales` (reviewers ana and ben), one approver.
/// Serialised once: the load generator shares the server's two cores, so it does as
/// little per request as it can.
pub(super) fn packet() -> Bytes {
    Bytes::from(json!({
        "task": "respond_to_client_inquiry",
        "client": "Customer 4711",
        "summary": "The customer asks whether their annual plan can be moved to monthly billing \
                    from next month, keeping the current discount, and whether the unused \
                    months are refunded or credited. The agent drafted a reply that follows \
                    the published billing policy.",
        "draft": "Hello, thank you for reaching out. Yes, you can move to monthly billing from \
                  the start of next month. Your current discount carries over for the rest of \
                  the contract year, and the unused months of your annual plan are credited to \
                  your account, not refunded; the credit is applied to your next invoices \
                  automatically. If you would prefer a refund, reply to this message and we \
                  will arrange it within five business days. Kind regards, Support",
        "confidence": 0.93,
        "recommended_action": "send",
        "decision_needed": "Send this reply as written?",
        "assumptions": ["the customer is on the standard annual plan"],
        "context": {"tier": "standard", "amount": 1200, "currency": "EUR"}
    })
    .to_string())
}

/// The fields of a handoff the load generator looks at.
#[derive(Deserialize)]
struct Seen {
    id: String,
    status: String,
}

pub fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    if args.agents == 0 || args.reviewers == 0 || args.nodes == 0 {
        bail!("--agents, --reviewers and --nodes must be at least 1");
    }
    let shared = args
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    if args.nodes > 1 && !shared {
        bail!("several --nodes share one PostgreSQL: give --database-url postgres://…");
    }
    let dir = temp_dir("load")?;
    let servers = start_nodes(&dir, args.nodes, args.database_url.as_deref())?;
    let db_cpu_before = super::server::postgres_cpu();
    let own_cpu_before = super::server::cpu_seconds("self");
    let rt = crate::cli::runtime()?;
    let result = rt.block_on(drive(&servers, &args));
    let own_cpu = super::server::cpu_seconds("self") - own_cpu_before;
    let db_cpu = super::server::postgres_cpu() - db_cpu_before;
    let writers: Vec<String> = servers
        .iter()
        .map(|s| {
            rt.block_on(writer_line(s))
                .unwrap_or_else(|e| format!("no metrics: {e}"))
        })
        .collect();
    let mut usage = Vec::new();
    for server in servers {
        usage.push(server.usage());
        server.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    for (i, ((cpu, rss), writer)) in usage.iter().zip(&writers).enumerate() {
        println!("server node {i}: {cpu:.1} s CPU in all, peak RSS {rss:.1} MiB; {writer}");
    }
    if db_cpu > 0.0 {
        println!("PostgreSQL processes on this machine: {db_cpu:.1} s CPU");
    }
    // On a machine whose cores the load generator shares with the server, its own CPU is
    // part of what every operation costs.
    println!("load generator (this process): {own_cpu:.1} s CPU in all");
    Ok(ExitCode::SUCCESS)
}

/// What a node's writer did, from its metrics: batches, operations per batch, and the
/// mean time from `BEGIN` to the end of `COMMIT` (on PostgreSQL, how long each batch held
/// the chain's lock).
async fn writer_line(server: &BenchServer) -> anyhow::Result<String> {
    let text = reqwest::get(format!("{}/metrics", server.url))
        .await?
        .text()
        .await?;
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let batches = value("handoff_writer_batches_total");
    let ops = value("handoff_writer_operations_total");
    let commit = value("handoff_writer_commit_seconds_total");
    if batches == 0.0 {
        return Ok("writer: no batches".to_owned());
    }
    Ok(format!(
        "writer: {batches:.0} batches, {:.1} operations each, {:.2} ms from BEGIN to COMMIT each",
        ops / batches,
        commit / batches * 1000.0
    ))
}

/// `n` servers on `database_url`, each with a data dir of its own under `dir` holding the
/// first node's secrets (one admin key, one receipt key, one session key for all).
fn start_nodes(
    dir: &std::path::Path,
    n: usize,
    database_url: Option<&str>,
) -> anyhow::Result<Vec<BenchServer>> {
    let extra: Vec<String> = database_url
        .map(|u| vec!["--database-url".to_owned(), u.to_owned()])
        .unwrap_or_default();
    let mut servers = Vec::new();
    for i in 0..n {
        let data = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&data)?;
        if i > 0 {
            for f in ["admin.key", "receipt.key", "web.key", "webhook.secret"] {
                let from = dir.join("node-0").join(f);
                if from.exists() {
                    std::fs::copy(&from, data.join(f))
                        .with_context(|| format!("cannot copy {}", from.display()))?;
                }
            }
        }
        servers.push(BenchServer::start(&data, &extra)?);
    }
    Ok(servers)
}

async fn drive(servers: &[BenchServer], args: &LoadArgs) -> anyhow::Result<()> {
    let People {
        client,
        agents: agent_keys,
        reviewers: reviewer_keys,
    } = people(&servers[0], args.agents, args.reviewers).await?;
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let duration = Duration::from_secs(args.seconds);
    println!(
        "{} agents, {} reviewers, {} s per phase, {} node(s): {}",
        args.agents,
        args.reviewers,
        args.seconds,
        urls.len(),
        urls.join(" ")
    );
    if args.only.as_deref().is_none_or(|o| o == "submit") {
        let (mut lat, elapsed) = submissions(&client, &urls, &agent_keys, duration).await?;
        println!("{}", lat.line("durable submissions", elapsed));
    }
    if args.only.as_deref().is_none_or(|o| o == "roundtrip") {
        let trips = round_trips(
            &client,
            &urls,
            &agent_keys,
            &reviewer_keys,
            args.reviewers,
            duration,
        )
        .await?;
        let RoundTrips {
            mut trips,
            mut decide,
            mut wake,
            elapsed,
        } = trips;
        println!("{}", trips.line("round trips (submit..outcome)", elapsed));
        println!("{}", decide.line("  of which: reviewer decisions", elapsed));
        // From the decision's answer to the agent's long-poll answering (zero when the
        // poll answered first); with several nodes, the poll is held by another node.
        let what = if urls.len() > 1 {
            "  long-poll woken, other node"
        } else {
            "  long-poll woken after it"
        };
        println!("{}", wake.line(what, elapsed));
    }
    Ok(())
}

/// The simulated people: one client pooled for all of them, a key per agent, and the
/// example policy's `sales` reviewers.
pub(super) struct People {
    pub client: Client,
    pub agents: Vec<String>,
    pub reviewers: [String; 2],
}

pub(super) async fn people(
    server: &BenchServer,
    agents: usize,
    reviewers: usize,
) -> anyhow::Result<People> {
    let client = Client::builder()
        .pool_max_idle_per_host(agents + reviewers)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut keys = Vec::new();
    for i in 0..agents {
        keys.push(create_key(&client, server, "agent", &format!("agent-{i}")).await?);
    }
    let reviewers = [
        create_key(&client, server, "reviewer", "ana").await?,
        create_key(&client, server, "reviewer", "ben").await?,
    ];
    Ok(People {
        client,
        agents: keys,
        reviewers,
    })
}

async fn create_key(
    client: &Client,
    server: &BenchServer,
    role: &str,
    name: &str,
) -> anyhow::Result<String> {
    let res: Value = client
        .post(format!("{}/v1/keys", server.url))
        .bearer_auth(&server.admin_key)
        .json(&json!({"role": role, "name": name}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    res["key"]
        .as_str()
        .map(str::to_owned)
        .context("no key in the answer")
}

async fn submissions(
    client: &Client,
    urls: &[String],
    keys: &[String],
    duration: Duration,
) -> anyhow::Result<(Samples, Duration)> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let url = urls[i % urls.len()].clone();
        let (client, key) = (client.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Samples::default();
            let (body, submit) = (packet(), format!("{url}/v1/handoffs"));
            while Instant::now() < deadline {
                let t = Instant::now();
                submit_one(&client, &submit, &key, &body).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, start.elapsed()))
}

/// What the round-trip phase measured.
struct RoundTrips {
    trips: Samples,
    decide: Samples,
    /// From a decision's answer reaching its reviewer to the agent's long-poll answering.
    wake: Samples,
    elapsed: Duration,
}

async fn round_trips(
    client: &Client,
    urls: &[String],
    agent_keys: &[String],
    reviewer_keys: &[String],
    reviewers: usize,
    duration: Duration,
) -> anyhow::Result<RoundTrips> {
    let start = Instant::now();
    let deadline = start + duration;
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let reviewer_tasks = approvers(client, urls, reviewer_keys, reviewers, rx);
    let mut agent_tasks = Vec::new();
    for (i, key) in agent_keys.iter().enumerate() {
        let url = urls[i % urls.len()].clone();
        let (client, key, tx) = (client.clone(), key.clone(), tx.clone());
        agent_tasks.push(tokio::spawn(async move {
            let mut lat = Samples::default();
            let mut seen = Vec::new();
            let (body, submit) = (packet(), format!("{url}/v1/handoffs"));
            while Instant::now() < deadline {
                let t = Instant::now();
                let bytes = submit_one(&client, &submit, &key, &body).await?;
                let id = serde_json::from_slice::<Seen>(&bytes)?.id;
                tx.send(id.clone()).ok().context("reviewers gone")?;
                loop {
                    let bytes = client
                        .get(format!("{url}/v1/handoffs/{id}?wait=30"))
                        .bearer_auth(&key)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?;
                    match serde_json::from_slice::<Seen>(&bytes)?.status.as_str() {
                        "pending" => continue,
                        "approved" => break,
                        other => bail!("the handoff became {other}"),
                    }
                }
                seen.push((id.clone(), Instant::now()));
                client
                    .post(format!("{url}/v1/handoffs/{id}/outcome"))
                    .bearer_auth(&key)
                    .header(CONTENT_TYPE, "application/json")
                    .body(r#"{"result":"executed"}"#)
                    .send()
                    .await?
                    .error_for_status()?
                    .bytes()
                    .await?;
                lat.push(t.elapsed());
            }
            Ok((lat, seen))
        }));
    }
    drop(tx);
    let mut trips = Samples::default();
    let mut seen_at = std::collections::HashMap::new();
    for t in agent_tasks {
        let (lat, seen) = t.await??;
        trips.extend(lat);
        seen_at.extend(seen);
    }
    let elapsed = start.elapsed();
    let (mut decide, mut wake) = (Samples::default(), Samples::default());
    for t in reviewer_tasks {
        for (id, sent, took) in t.await?? {
            decide.push(took);
            // A long-poll may answer before the decision's own answer arrives: zero.
            if let Some(at) = seen_at.get(&id) {
                wake.push(at.saturating_duration_since(sent + took));
            }
        }
    }
    Ok(RoundTrips {
        trips,
        decide,
        wake,
        elapsed,
    })
}

/// One submission of `body` to `submit` (the `/v1/handoffs` URL); the answer's bytes,
/// which only the callers that need the id parse.
pub(super) async fn submit_one(
    client: &Client,
    submit: &str,
    key: &str,
    body: &Bytes,
) -> anyhow::Result<Bytes> {
    let res = client
        .post(submit)
        .bearer_auth(key)
        .header(CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await?;
    if res.status() != StatusCode::CREATED {
        bail!("submit answered {}", res.status());
    }
    Ok(res.bytes().await?)
}

/// One approval: the handoff, when it was sent, how long the answer took.
pub(super) type Approval = (String, Instant, Duration);

/// `n` reviewers (taking turns with `keys`) approving every id the channel brings, until
/// it closes.
pub(super) fn approvers(
    client: &Client,
    urls: &[String],
    keys: &[String],
    n: usize,
    ids: mpsc::UnboundedReceiver<String>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Approval>>>> {
    let ids = Arc::new(Mutex::new(ids));
    (0..n)
        .map(|r| {
            // Reviewer r decides on the node after agent r's: with several nodes, on
            // another node than the one holding the long-poll.
            let url = urls[(r + 1) % urls.len()].clone();
            let (client, ids) = (client.clone(), ids.clone());
            let key = keys[r % keys.len()].clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let next = ids.lock().await.recv().await;
                    let Some(id) = next else { break };
                    let t = Instant::now();
                    let res = client
                        .post(format!("{url}/v1/handoffs/{id}/decisions"))
                        .bearer_auth(&key)
                        .header(CONTENT_TYPE, "application/json")
                        .body(r#"{"action":"approve"}"#)
                        .send()
                        .await?;
                    if res.status() != StatusCode::OK {
                        bail!("decide answered {}", res.status());
                    }
                    res.bytes().await?;
                    done.push((id, t, t.elapsed()));
                }
                Ok(done)
            })
        })
        .collect()
}
