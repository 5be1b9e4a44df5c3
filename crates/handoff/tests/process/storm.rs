//! A crash storm: one `handoff serve` on SQLite, SIGKILLed [`KILLS`] times at random 1–3 s
//! intervals and restarted on the same data dir and port, under mixed traffic: agents
//! submit with an `Idempotency-Key`, wait for the decision and report the outcome;
//! reviewers decide with `If-Match`, two of them racing for some handoffs; every change
//! notifies the team's webhook and the agent's callback on a local receiver. A request
//! whose answer is lost (the server died) is sent again, the same request, once the
//! server is back: that is what a client does, and what idempotency keys and `If-Match`
//! are for.
//!
//! Then, quiet, the check (Jepsen's way: what the clients were told against what the
//! server has): every acknowledged submission is there with its packet, and its key names
//! it and nothing else; every acknowledged decision and outcome is applied, and no handoff
//! was decided or reported twice; nothing is stored that no client sent; every delivery
//! is delivered, each event under one webhook id and each webhook id for one body; the
//! audit chain verifies (API and CLI), and SQLite's `PRAGMA integrity_check` is `ok`.

use crate::common::receiver::Receiver;
use crate::common::*;
use crate::support::*;
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// SIGKILLs in a storm.
const KILLS: usize = 30;
/// The killer's pause before each SIGKILL, in milliseconds: uniform in this range.
const PAUSE_MS: (u64, u64) = (1_000, 3_000);
const AGENTS: usize = 2;
const REVIEWERS: [&str; 2] = ["oz", "ida"];
/// How long one request may go unanswered across restarts before the test gives up.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// How often a client whose server is down tries again: polling for the restart.
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// Team `ops` (both reviewers) notified on `hook`; every handoff a level-2 `reply`.
fn storm_policy(hook: &str) -> String {
    format!(
        r#"
[defaults]
level = 2
route = "ops"

[teams.ops]
members = ["oz", "ida"]
notify = ["webhook:{hook}"]

[tasks.reply]
level = 2
route = "ops"
"#
    )
}

/// xorshift64*: the killer's intervals and the server's port, repeatable from the printed seed
/// (`HANDOFF_STORM_SEED`).
struct Rng(u64);

impl Rng {
    fn seeded() -> (Rng, u64) {
        let seed = std::env::var("HANDOFF_STORM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            })
            | 1;
        (Rng(seed), seed)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (hi - lo + 1)
    }
}

/// What the clients were told: 2xx answers received in full, and how they got them.
#[derive(Default)]
struct Told {
    /// Idempotency key → the handoff id it was answered with, and the packet sent.
    submissions: BTreeMap<String, (String, Value)>,
    /// Keys sent again after a lost answer, and how many of those were answered as a
    /// replay (`200`, `Idempotent-Replayed`: the first try had been stored).
    retried_keys: usize,
    replays: usize,
    /// Handoff id → the action of the decision answered `200`.
    decisions: BTreeMap<String, String>,
    /// Decisions refused because the version had moved (`412`) or the handoff was decided
    /// (`409`): the other reviewer won, or this reviewer's own lost try had.
    refused_decisions: usize,
    /// Handoffs whose outcome was answered `200`; outcomes refused `409` (a lost try had
    /// been stored).
    outcomes: BTreeSet<String>,
    refused_outcomes: usize,
    /// Requests whose answer was lost (sent again).
    lost: usize,
}

/// A request answered in full.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    /// How many times the answer was lost before this one (or the server said 503).
    lost: usize,
}

/// Sends `make()`'s request until an answer arrives in full, sending the same request
/// again after a lost answer or a 503 (the server restarting); panics after
/// [`ANSWER_WITHIN`] without one.
async fn answered(what: &str, make: impl Fn() -> RequestBuilder) -> Answer {
    let deadline = Instant::now() + ANSWER_WITHIN;
    let mut lost = 0;
    loop {
        if let Ok(resp) = make().send().await {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if let Ok(bytes) = resp.bytes().await
                && status != 503
            {
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                return Answer {
                    status,
                    headers,
                    body,
                    lost,
                };
            }
        }
        lost += 1;
        assert!(
            Instant::now() < deadline,
            "{what}: no answer within {ANSWER_WITHIN:?} ({lost} lost)"
        );
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// One agent's life: submit (with a key), wait for the decision, report the outcome of an
/// approved handoff; again until told to stop.
#[allow(clippy::too_many_arguments)]
async fn agent(
    n: usize,
    client: reqwest::Client,
    base: String,
    key: String,
    callback: String,
    reviewers: Vec<mpsc::UnboundedSender<(String, u64)>>,
    stop: watch::Receiver<bool>,
    told: Arc<Mutex<Told>>,
) {
    for i in 0.. {
        if *stop.borrow() {
            break;
        }
        let idem = format!("storm-{n}-{i}");
        let packet = json!({
            "task": "reply", "summary": idem, "confidence": 0.99,
            "draft": format!("Hello from {idem}."), "callback_url": callback,
        });
        let url = format!("{base}/v1/handoffs");
        let a = answered(&idem, || {
            client
                .post(&url)
                .bearer_auth(&key)
                .header("Idempotency-Key", &idem)
                .json(&packet)
        })
        .await;
        let replayed = a.headers.get("idempotent-replayed").is_some();
        assert!(
            a.status == 201 || (a.status == 200 && replayed && a.lost > 0),
            "{idem}: {} {}",
            a.status,
            a.body
        );
        let id = id_of(&a.body);
        let version = a.body["version"].as_u64().expect("a version");
        {
            let mut t = told.lock().expect("lock");
            t.lost += a.lost;
            if a.lost > 0 {
                t.retried_keys += 1;
            }
            if replayed {
                t.replays += 1;
            }
            t.submissions.insert(idem.clone(), (id.clone(), packet));
        }
        // Pending (or, for a replay, decided since): the reviewers hear of it; every
        // third one both of them, to race.
        if a.body["status"] == "pending" {
            let _ = reviewers[i % 2].send((id.clone(), version));
            if i % 3 == 0 {
                let _ = reviewers[(i + 1) % 2].send((id.clone(), version));
            }
        }
        let status = wait_decided(&client, &base, &key, &id, &told).await;
        if status == "approved" {
            let url = format!("{base}/v1/handoffs/{id}/outcome");
            let a = answered(&id, || {
                client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"result": "executed"}))
            })
            .await;
            let mut t = told.lock().expect("lock");
            t.lost += a.lost;
            match a.status {
                200 => {
                    t.outcomes.insert(id);
                }
                // A lost try was stored: only a try answered after a lost one can be
                // refused.
                409 if a.lost > 0 => t.refused_outcomes += 1,
                s => panic!("outcome of {id}: {s} {}", a.body),
            }
        }
    }
}

/// Long-polls `id` until it is no longer pending; its status.
async fn wait_decided(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    id: &str,
    told: &Mutex<Told>,
) -> String {
    let url = format!("{base}/v1/handoffs/{id}?wait=20");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = answered(id, || client.get(&url).bearer_auth(key)).await;
        told.lock().expect("lock").lost += a.lost;
        assert_eq!(a.status, 200, "{id}: {}", a.body);
        let status = a.body["status"].as_str().unwrap_or_default().to_owned();
        if status != "pending" {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} is still pending");
    }
}

/// One reviewer: decides each handoff it is told of, on the version it was told
/// (`If-Match`); about one in four is rejected.
async fn reviewer(
    client: reqwest::Client,
    base: String,
    key: String,
    mut queue: mpsc::UnboundedReceiver<(String, u64)>,
    told: Arc<Mutex<Told>>,
) {
    while let Some((id, version)) = queue.recv().await {
        let action = if id.bytes().last().unwrap_or(0) % 4 == 0 {
            "reject"
        } else {
            "approve"
        };
        let body = json!({"action": action, "rationale": "storm"});
        let url = format!("{base}/v1/handoffs/{id}/decisions");
        let a = answered(&id, || {
            client
                .post(&url)
                .bearer_auth(&key)
                .header("If-Match", version.to_string())
                .json(&body)
        })
        .await;
        let mut t = told.lock().expect("lock");
        t.lost += a.lost;
        match a.status {
            200 => {
                assert!(
                    t.decisions.insert(id.clone(), action.to_owned()).is_none(),
                    "{id} was decided twice with 200"
                );
            }
            409 | 412 => t.refused_decisions += 1,
            s => panic!("decision on {id}: {s} {}", a.body),
        }
    }
}

/// A port free now, for a server that keeps it across restarts: below Linux's ephemeral
/// range (32768 and up), so that no outgoing connection (a client's, the server's to the
/// receiver) and no other test's port-0 server takes it while the server is down.
fn free_port(rng: &mut Rng) -> u16 {
    for _ in 0..1_000 {
        let port = rng.between(20_000, 32_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}

/// The whole audit log, read by the admin in pages.
async fn audit_log(app: &TestApp) -> Vec<Value> {
    let admin = app.admin_key();
    let mut entries: Vec<Value> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e["seq"].as_i64().unwrap_or(0));
        let resp = app
            .get_path(
                Some(&admin),
                &format!("/v1/audit?after={after}&limit=10000"),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().await.expect("the log");
        let page: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("an entry per line"))
            .collect();
        if page.is_empty() {
            return entries;
        }
        entries.extend(page);
    }
}

/// Every handoff, read by the admin in pages.
async fn all_handoffs(app: &TestApp) -> Vec<Value> {
    let admin = app.admin_key();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "500".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = expect_json(app.list(&admin, &query).await, 200).await;
        all.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return all,
        }
    }
}

/// SQLite's own check of the file, and the idempotency keys stored more than once.
pub async fn inspect_database(path: &std::path::Path) -> (Vec<String>, Vec<(String, String)>) {
    use sqlx::Connection;
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .expect("cannot open the database");
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .expect("PRAGMA integrity_check");
    let doubled: Vec<(String, String)> = sqlx::query_as(
        "SELECT agent, idem_key FROM handoffs WHERE idem_key IS NOT NULL \
         GROUP BY agent, idem_key HAVING COUNT(*) > 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the idempotency keys");
    conn.close().await.expect("close");
    (integrity, doubled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_storm_loses_no_acknowledged_write_and_doubles_none() {
    let started = Instant::now();
    let (mut rng, seed) = Rng::seeded();
    let rx = Receiver::start().await;
    let addr = format!("127.0.0.1:{}", free_port(&mut rng));
    let args = notify_args(&["--addr", &addr, "--callback-allow", "127.0.0.1"]);
    let mut app = Spawned::spawn_with(Some(&storm_policy(&rx.url("/hook"))), &args).await;
    let base = app.address.clone();
    let mut agents = Vec::new();
    for n in 0..AGENTS {
        agents.push(app.key("agent", &format!("bot-{n}")).await);
    }
    let mut reviewer_keys = Vec::new();
    for name in REVIEWERS {
        reviewer_keys.push(app.key("reviewer", name).await);
    }

    let told = Arc::new(Mutex::new(Told::default()));
    let (stop_tx, stop) = watch::channel(false);
    let mut queues = Vec::new();
    let mut reviewer_tasks = Vec::new();
    for key in reviewer_keys {
        let (tx, queue) = mpsc::unbounded_channel();
        queues.push(tx);
        reviewer_tasks.push(tokio::spawn(reviewer(
            app.client.clone(),
            base.clone(),
            key,
            queue,
            told.clone(),
        )));
    }
    let mut agent_tasks = Vec::new();
    for (n, key) in agents.into_iter().enumerate() {
        agent_tasks.push(tokio::spawn(agent(
            n,
            app.client.clone(),
            base.clone(),
            key,
            rx.url("/callback"),
            queues.clone(),
            stop.clone(),
            told.clone(),
        )));
    }
    drop(queues);

    // The storm: the pauses are the only timed part of the test.
    let storm = Instant::now();
    let mut acked_between = Vec::new();
    for _ in 0..KILLS {
        let before = told.lock().expect("lock").submissions.len();
        tokio::time::sleep(Duration::from_millis(rng.between(PAUSE_MS.0, PAUSE_MS.1))).await;
        acked_between.push(told.lock().expect("lock").submissions.len() - before);
        app.kill9();
        app.start().await;
        assert_eq!(app.address, base, "the restart took another port");
    }
    let storm = storm.elapsed();

    // Quiet: the agents finish what they started (a lost answer is sent again), the
    // reviewers what they were told of.
    stop_tx.send_replace(true);
    for t in agent_tasks.into_iter().chain(reviewer_tasks) {
        tokio::time::timeout(Duration::from_secs(90), t)
            .await
            .expect("a client hung after the storm")
            .expect("a client failed");
    }
    let told = Arc::try_unwrap(told)
        .ok()
        .expect("the clients are done")
        .into_inner()
        .expect("lock");
    let quiet_between = acked_between.iter().filter(|n| **n == 0).count();
    assert!(
        quiet_between <= KILLS / 5,
        "no submission was acknowledged between {quiet_between} of {KILLS} kills: {acked_between:?}"
    );

    let checks = Instant::now();
    // Every delivery goes out (those cut off by a kill are sent again after the restart).
    let drained = Instant::now();
    let deadline = drained + Duration::from_secs(60);
    while !delivery_ids(&app, "pending").await.is_empty() {
        assert!(Instant::now() < deadline, "deliveries pending after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = drained.elapsed();
    let failed = delivery_ids(&app, "failed").await;
    assert!(failed.is_empty(), "deliveries failed: {failed:?}");

    // Every acknowledged submission is there with its packet; nothing else is.
    let handoffs: BTreeMap<String, Value> = all_handoffs(&app)
        .await
        .into_iter()
        .map(|h| (id_of(&h), h))
        .collect();
    let mut by_summary: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, h) in &handoffs {
        let summary = h["packet"]["summary"].as_str().unwrap_or_default();
        by_summary
            .entry(summary.to_owned())
            .or_default()
            .push(id.clone());
    }
    for (idem, (id, packet)) in &told.submissions {
        let h = handoffs
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged {id} ({idem}) is missing"));
        assert_eq!(&h["packet"], packet, "{id}");
        assert_eq!(
            by_summary.get(idem),
            Some(&vec![id.clone()]),
            "key {idem} made other handoffs"
        );
    }
    assert_eq!(
        handoffs.len(),
        told.submissions.len(),
        "handoffs stored that no client was told of"
    );

    // The audit trail of each handoff: one submission, at most one decision and one
    // outcome, each from the status the one before left.
    let entries = audit_log(&app).await;
    let mut trail: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &entries {
        if let Some(id) = e["handoff_id"].as_str() {
            trail.entry(id.to_owned()).or_default().push(e);
        }
    }
    let count = |id: &str, action: &str| {
        trail
            .get(id)
            .map_or(0, |es| es.iter().filter(|e| e["action"] == action).count())
    };
    for (id, h) in &handoffs {
        assert_eq!(count(id, "handoff.submitted"), 1, "{id}");
        assert!(count(id, "handoff.decision") <= 1, "{id} decided twice");
        assert!(count(id, "handoff.outcome") <= 1, "{id} reported twice");
        let decision = trail[id].iter().find(|e| e["action"] == "handoff.decision");
        if let Some(d) = decision {
            assert_eq!(d["data"]["from_status"], "pending", "{d}");
        }
        match h["status"].as_str() {
            Some("pending") => assert!(decision.is_none(), "{h}"),
            Some("executed") => assert_eq!(count(id, "handoff.outcome"), 1, "{id}"),
            _ => {}
        }
    }
    for (id, action) in &told.decisions {
        let d = trail[id]
            .iter()
            .find(|e| e["action"] == "handoff.decision")
            .unwrap_or_else(|| panic!("acknowledged decision on {id} is missing"));
        assert_eq!(d["data"]["action"], action.as_str(), "{d}");
        let want: &[&str] = if action == "approve" {
            &["approved", "executed"]
        } else {
            &["rejected"]
        };
        assert!(
            want.contains(&handoffs[id]["status"].as_str().unwrap_or_default()),
            "{id} after an acknowledged {action}: {}",
            handoffs[id]["status"]
        );
    }
    for id in &told.outcomes {
        assert_eq!(handoffs[id]["status"], "executed", "{id}");
        assert_eq!(count(id, "handoff.outcome"), 1, "{id}");
    }

    // Webhooks: each event under one id, each id for one body; exactly the deliveries the
    // outbox holds went out, each at least once.
    let mut ids_of: BTreeMap<(String, String, String, i64), BTreeSet<String>> = BTreeMap::new();
    let mut bodies_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let requests: Vec<_> = rx
        .requests("/hook")
        .into_iter()
        .chain(rx.requests("/callback"))
        .collect();
    for r in &requests {
        let body = r.json();
        let event = (
            r.path.clone(),
            body["type"].as_str().unwrap_or_default().to_owned(),
            body["data"]["id"].as_str().unwrap_or_default().to_owned(),
            body["data"]["version"].as_i64().unwrap_or_default(),
        );
        let webhook_id = r.header("webhook-id");
        ids_of.entry(event).or_default().insert(webhook_id.clone());
        bodies_of
            .entry(webhook_id)
            .or_default()
            .insert(r.body.clone());
    }
    for (event, ids) in &ids_of {
        assert_eq!(ids.len(), 1, "{event:?} went out under {ids:?}");
    }
    for (webhook_id, bodies) in &bodies_of {
        assert_eq!(bodies.len(), 1, "{webhook_id} carried {bodies:#?}");
    }
    let delivered: BTreeSet<String> = delivery_ids(&app, "delivered").await.into_iter().collect();
    let seen: BTreeSet<String> = bodies_of.keys().cloned().collect();
    assert_eq!(seen, delivered, "webhook ids seen ≠ deliveries delivered");
    let heard: BTreeSet<(&str, &str)> = ids_of
        .keys()
        .map(|(path, _, id, _)| (path.as_str(), id.as_str()))
        .collect();
    for (id, _) in told.submissions.values() {
        assert!(
            heard.contains(&("/hook", id.as_str())),
            "the team never heard of {id}"
        );
    }
    for id in told.decisions.keys() {
        assert!(
            heard.contains(&("/callback", id.as_str())),
            "the agent never heard of the decision on {id}"
        );
    }

    // The chain verifies (API, then the CLI on the file of a stopped server), and so does
    // SQLite's own check of the file.
    assert_audit_ok(&app).await;
    let status = app.sigterm().await;
    assert!(status.success(), "{status}");
    let (integrity, doubled) = inspect_database(&app.db_path()).await;
    assert_eq!(integrity, ["ok"], "PRAGMA integrity_check");
    assert!(doubled.is_empty(), "keys stored twice: {doubled:?}");
    app.assert_cli_audit_verifies().await;

    let approvals = told.decisions.values().filter(|a| *a == "approve").count();
    println!(
        "storm (seed {seed}): {KILLS} SIGKILLs in {storm:.1?}; acknowledged: {} submissions \
         ({} keys sent again after a lost answer, {} of them replays), {} decisions \
         ({approvals} approvals; {} refused as stale or decided), {} outcomes ({} refused \
         as reported); {} answers lost; {} handoffs, {} audit entries; {} webhook requests \
         for {} deliveries, drained in {drained:.1?}; checked in {:.1?}; {:.1?} in all",
        told.submissions.len(),
        told.retried_keys,
        told.replays,
        told.decisions.len(),
        told.refused_decisions,
        told.outcomes.len(),
        told.refused_outcomes,
        told.lost,
        handoffs.len(),
        entries.len(),
        requests.len(),
        delivered.len(),
        checks.elapsed(),
        started.elapsed(),
    );
}
