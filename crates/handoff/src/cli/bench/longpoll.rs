//! `handoff bench longpoll`: many agents, each waiting on its own pending handoff with a
//! long-poll (`GET /v1/handoffs/{id}?wait=60`) at the same time. Reports how long the
//! server took to have them all waiting, what they cost in its memory, and how long after
//! the reviewers' decisions every one had its answer. Over HTTP/1.1 (the default) each
//! long-poll holds a connection of its own; with `--http2` they share HTTP/2 connections,
//! as many to a connection as the server allows (h2c with prior knowledge).

use super::load::{People, people, submit_one};
use super::server::{BenchServer, temp_dir};
use anyhow::{Context, bail};
use clap::Args;
use reqwest::Client;
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct LongPollArgs {
    /// Long-polls waiting at once (each holds a connection: mind `ulimit -n`).
    #[arg(long, default_value_t = 10_000)]
    polls: usize,
    /// Pending handoffs the long-polls wait on, each by `polls / handoffs` of them
    /// (default: one handoff per long-poll).
    #[arg(long)]
    handoffs: Option<usize>,
    /// Carry the long-polls over HTTP/2 connections, up to the server's limit of
    /// concurrent streams on each, instead of one HTTP/1.1 connection each.
    #[arg(long)]
    http2: bool,
}

pub fn run(args: LongPollArgs) -> anyhow::Result<ExitCode> {
    if args.polls == 0 {
        bail!("--polls must be at least 1");
    }
    let handoffs = args.handoffs.unwrap_or(args.polls);
    if handoffs == 0 || handoffs > args.polls {
        bail!("--handoffs must be between 1 and --polls");
    }
    let dir = temp_dir("longpoll")?;
    let server = BenchServer::start(&dir, &[])?;
    let rt = crate::cli::runtime()?;
    let result = rt.block_on(drive(&server, args.polls, handoffs, args.http2));
    let (cpu, rss) = server.usage();
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!("server process: {cpu:.1} s CPU in all, peak RSS {rss:.1} MiB");
    Ok(ExitCode::SUCCESS)
}

/// The server's count of long-polls waiting, from `/metrics`.
async fn waiting(client: &Client, url: &str) -> anyhow::Result<usize> {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let line = text
        .lines()
        .find(|l| l.starts_with("handoff_long_polls_waiting "))
        .context("the server reports no handoff_long_polls_waiting")?;
    Ok(line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as usize)
}

async fn drive(server: &BenchServer, n: usize, handoffs: usize, http2: bool) -> anyhow::Result<()> {
    let People {
        client,
        agents,
        reviewers,
    } = people(server, 1, 1).await?;
    let agent = agents.into_iter().next().context("no agent key")?;
    let url = server.url.clone();

    // 1. The pending handoffs, 64 submissions at a time.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (client, url, key, next) = (client.clone(), url.clone(), agent.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (body, submit) = (super::load::packet(), format!("{url}/v1/handoffs"));
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < handoffs {
                let answer = submit_one(&client, &submit, &key, &body).await?;
                let v: serde_json::Value = serde_json::from_slice(&answer)?;
                ids.push(v["id"].as_str().context("no id in the answer")?.to_owned());
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(handoffs);
    for t in tasks {
        ids.extend(t.await??);
    }
    println!(
        "{handoffs} handoffs submitted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Each handoff read once, so that the readers' page caches are as full as they get
    // (bounded, 4 × 8 MiB) before the long-polls are counted: what they fill is not what
    // a waiting long-poll holds.
    let rss_submitted = server.rss_now_kib();
    let ids = Arc::new(ids);
    each_id(&ids, {
        let (client, url, key) = (client.clone(), url.clone(), agent.clone());
        move |_, id| {
            client
                .get(format!("{url}/v1/handoffs/{id}"))
                .bearer_auth(&key)
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_now_kib();
    println!(
        "each handoff read once: server RSS {:.1} -> {:.1} MiB (the readers' page caches)",
        rss_submitted / 1024.0,
        before / 1024.0
    );

    // 2. n long-polls, each on its own connection, or over HTTP/2 as many to a connection
    //    as the server takes (one client each, so that each has a connection of its own).
    let per_client = if http2 {
        crate::listen::MAX_STREAMS as usize
    } else {
        n
    };
    let mut clients = Vec::new();
    for _ in 0..n.div_ceil(per_client) {
        let builder = Client::builder()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(90));
        clients.push(if http2 {
            builder.http2_prior_knowledge().build()?
        } else {
            builder.pool_max_idle_per_host(0).build()?
        });
    }
    let started = Instant::now();
    let mut waits = Vec::with_capacity(n);
    for (i, id) in ids.iter().cycle().take(n).enumerate() {
        let req = clients[i / per_client]
            .get(format!("{url}/v1/handoffs/{id}?wait=60"))
            .bearer_auth(&agent);
        waits.push(tokio::spawn(async move {
            let res = req.send().await?.error_for_status()?;
            let body: serde_json::Value = res.json().await?;
            anyhow::Ok((Instant::now(), body["status"] == "approved"))
        }));
    }
    loop {
        let w = waiting(&client, &url).await?;
        if w >= n {
            break;
        }
        if started.elapsed() > Duration::from_secs(40) {
            bail!("only {w} of {n} long-polls were waiting after 40 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let registered = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_now_kib();
    println!(
        "{n} long-polls over {} waiting after {:.2} s; server RSS {:.1} -> {:.1} MiB: {:.1} KiB per waiting long-poll",
        if http2 {
            format!("{} HTTP/2 connections", clients.len())
        } else {
            format!("{n} HTTP/1.1 connections")
        },
        registered.as_secs_f64(),
        before / 1024.0,
        after / 1024.0,
        (after - before) / n as f64
    );

    // 3. The reviewers approve every handoff, 64 at a time; each long-poll answers.
    let decided_from = Instant::now();
    each_id(&ids, move |worker, id| {
        client
            .post(format!("{url}/v1/handoffs/{id}/decisions"))
            .bearer_auth(&reviewers[worker % 2])
            .json(&json!({"action": "approve"}))
    })
    .await?;
    let decided_until = Instant::now();
    let mut last = decided_from;
    let mut approved = 0;
    for w in waits {
        let (at, ok) = w.await??;
        last = last.max(at);
        approved += usize::from(ok);
    }
    println!(
        "{handoffs} decisions in {:.2} s; {approved} of {n} long-polls answered `approved`, the last {:.0} ms after the last decision",
        (decided_until - decided_from).as_secs_f64(),
        last.saturating_duration_since(decided_until).as_secs_f64() * 1000.0
    );
    if approved != n {
        bail!("{} long-polls did not see the approval", n - approved);
    }
    Ok(())
}

/// One request per id, 64 workers at a time, each failing on an error status;
/// `request(worker, id)` makes the request.
async fn each_id<R>(ids: &Arc<Vec<String>>, request: R) -> anyhow::Result<()>
where
    R: Fn(usize, &str) -> reqwest::RequestBuilder + Clone + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..64 {
        let (ids, next, request) = (ids.clone(), next.clone(), request.clone());
        workers.push(tokio::spawn(async move {
            while let Some(id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) {
                request(worker, id).send().await?.error_for_status()?;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(())
}
