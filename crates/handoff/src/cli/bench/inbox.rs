//! `handoff bench inbox`: stores many handoffs (through the store, in big batches, the way
//! the server stores them), then starts the server on that database and times the
//! reviewer's inbox query: the first page by SLA due time, a filtered page, and a page
//! deep into the list through its cursor.

use super::report::Samples;
use super::server::{BenchServer, temp_dir};
use anyhow::Context;
use chrono::{Duration as Span, Utc};
use clap::Args;
use handoff_domain::{Handoff, Packet, Policy};
use handoff_store::Submission;
use reqwest::Client;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Handoffs to store.
    #[arg(long, default_value_t = 1_000_000)]
    handoffs: usize,
    /// Queries per measurement.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Also time the web inbox page (`/`): the listing and the template, in process, the
    /// function the page's handler calls.
    #[arg(long)]
    page: bool,
}

/// Tasks and their teams in the example policy; the inbox belongs to `sales` (ana).
const TASKS: [&str; 4] = [
    "respond_to_client_inquiry",
    "publish_content",
    "draft_contract_clause",
    "report_data_anomaly",
];

pub fn run(args: InboxArgs) -> anyhow::Result<ExitCode> {
    let dir = temp_dir("inbox")?;
    let rt = crate::cli::runtime()?;
    let key = rt.block_on(seed(&dir, args.handoffs))?;
    let server = BenchServer::start(&dir, &[])?;
    let result = rt.block_on(query(&server, &key, args.queries));
    let (_, rss) = server.usage();
    server.stop();
    let result = match result {
        Ok(()) if args.page => rt.block_on(page(&dir, args.handoffs, args.queries)),
        other => other,
    };
    let size = std::fs::metadata(dir.join("handoff.db")).map_or(0, |m| m.len())
        + std::fs::metadata(dir.join("handoff.db-wal")).map_or(0, |m| m.len());
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!(
        "server peak RSS {rss:.1} MiB; database {:.0} MiB ({:.2} KB per handoff, audit included)",
        size as f64 / 1048576.0,
        size as f64 / 1024.0 / args.handoffs.max(1) as f64
    );
    Ok(ExitCode::SUCCESS)
}

/// Stores `n` handoffs spread over four teams and a reviewer key; returns the key.
async fn seed(dir: &std::path::Path, n: usize) -> anyhow::Result<String> {
    let store = crate::server::open_store(dir, None).await?;
    let policy = Policy::example();
    let started = Instant::now();
    let t0 = Utc::now() - Span::days(1);
    let mut pending = Vec::new();
    for i in 0..n {
        let task = TASKS[i % TASKS.len()];
        let packet = Packet::parse(json!({
            "task": task,
            "subject": format!("Customer {i}"),
            "summary": "The customer asks to move from annual to monthly billing and keep the discount.",
            "draft": "Hello, yes: monthly billing starts next month and your discount carries over.",
            "confidence": 0.9,
        }))
        .map_err(|e| anyhow::anyhow!("bench packet: {e:?}"))?;
        // Spread creation times so that SLA due times differ.
        let now = t0 + Span::milliseconds(i64::try_from(i).unwrap_or(0) * 37 % 86_400_000);
        let e = policy.evaluate(&packet, now);
        let h = Handoff::submitted(crate::ids::handoff_id(now), "bench-agent", &packet, e, now)?;
        let audit = h.submitted_entry();
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            store
                .submit(Submission {
                    handoff: h,
                    audit,
                    idempotency: None,
                    deliveries: Vec::new(),
                })
                .await
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
        "stored {n} handoffs in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    let key = crate::ids::api_key();
    crate::app::register_key(
        store.as_ref(),
        &key,
        "ana",
        crate::app::Role::Reviewer,
        "bench",
    )
    .await?;
    store.close().await;
    Ok(key)
}

/// Times the web inbox page for ana (team `sales`: a quarter of the handoffs, all open).
async fn page(dir: &std::path::Path, n: usize, queries: usize) -> anyhow::Result<()> {
    use crate::app::{App, Principal, Role};
    use crate::web::inbox::{self, Filter};
    use crate::web::page::Layout;
    let store = crate::server::open_store(dir, None).await?;
    let receipts = crate::receipt::ReceiptKey::load_or_create(dir)?;
    let notifier =
        crate::notify::Notifier::new(crate::notify::Settings::defaults("http://127.0.0.1:8080")?)?;
    let app = App::new(store.clone(), Policy::example(), receipts, notifier);
    let ana = Principal::new("ana", Role::Reviewer);
    let layout = || Layout {
        title: "Inbox".to_owned(),
        nonce: "bench-nonce".to_owned(),
        user: "ana".to_owned(),
        role: "reviewer",
        csrf: "bench-csrf".to_owned(),
        flash: None,
        assets: crate::web::assets_version(),
    };
    // A cursor far into the list: 20 pages of 500.
    let mut deep = Filter::default();
    for _ in 0..20 {
        let l = inbox::list(&app, &ana, &deep, Some(500))
            .await
            .map_err(|e| anyhow::anyhow!("listing: {}", e))?;
        deep.cursor = Some(l.next_cursor.context("the inbox ended early")?);
    }
    println!(
        "web inbox page for ana: {} open handoffs in her team, {} rows a page",
        n.div_ceil(TASKS.len()),
        inbox::PAGE
    );
    let pending = Filter {
        status: Some("pending".to_owned()),
        ..Filter::default()
    };
    for (what, filter) in [
        ("page /, first 50 by SLA", Filter::default()),
        ("page /?status=pending", pending),
        ("page /, 50 after 10,000", deep),
    ] {
        let mut lat = Samples::default();
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..queries {
            let t = Instant::now();
            let (status, html) = inbox::render(&app, &ana, filter.clone(), layout()).await;
            lat.push(t.elapsed());
            anyhow::ensure!(status.is_success(), "{what}: {status}");
            bytes = html.len();
        }
        println!(
            "{}  ({} KB of HTML)",
            lat.line(what, started.elapsed()),
            bytes / 1024
        );
    }
    store.close().await;
    Ok(())
}

async fn query(server: &BenchServer, key: &str, queries: usize) -> anyhow::Result<()> {
    let client = Client::builder().timeout(Duration::from_secs(30)).build()?;
    let get = |q: String| {
        let client = client.clone();
        let url = format!("{}/v1/handoffs?{q}", server.url);
        let key = key.to_owned();
        async move {
            let t = Instant::now();
            let page: Value = client
                .get(url)
                .bearer_auth(key)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            anyhow::Ok((t.elapsed(), page))
        }
    };
    // A cursor far into the list: follow 20 pages of 500.
    let mut cursor = String::new();
    for _ in 0..20 {
        let (_, page) = get(format!("limit=500{cursor}")).await?;
        let next = page["next_cursor"]
            .as_str()
            .context("the inbox ended early")?;
        cursor = format!("&cursor={next}");
    }
    for (what, q) in [
        ("inbox, first 50 by SLA", "limit=50".to_owned()),
        (
            "inbox, status=pending, 50",
            "status=pending&limit=50".to_owned(),
        ),
        ("inbox, 50 after 10,000", format!("limit=50{cursor}")),
    ] {
        let mut lat = Samples::default();
        let started = Instant::now();
        for _ in 0..queries {
            let (took, page) = get(q.clone()).await?;
            if page["items"].as_array().map_or(0, Vec::len) != 50 {
                anyhow::bail!("{what}: not a full page");
            }
            lat.push(took);
        }
        println!("{}", lat.line(what, started.elapsed()));
    }
    Ok(())
}
