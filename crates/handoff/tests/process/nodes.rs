//! Two `handoff serve` nodes on one PostgreSQL, as docs/DEPLOY.md runs them: a decision on
//! one wakes a long-poll held by the other, a key revoked and a policy replaced on one are
//! in force on the other, and when one node is SIGKILLed under load, no
//! acknowledged handoff is lost, no decision is applied twice, no deadline fires twice,
//! no webhook goes out under two ids, and the audit chain verifies.

use crate::common::receiver::Receiver;
use crate::common::*;
use crate::support::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, watch};

/// What the load did: every acknowledged handoff (its id, whether it is a `quick` one
/// left to expire) and every decision answered 200.
#[derive(Default)]
struct Done {
    acknowledged: Vec<(String, bool)>,
    approved: BTreeSet<String>,
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .get_path(None, "/metrics")
        .await
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_one_database_and_a_sigkilled_node_loses_nothing_and_doubles_nothing() {
    let db = handoff_testpg::fresh_database().await;
    let rx = Receiver::start().await;
    let policy = policy(&[format!("webhook:{}", rx.url("/hook"))], "2s");
    let args = notify_args(&["--database-url", &db, "--delivery-timeout", "2s"]);
    let a = Spawned::spawn_with(Some(&policy), &args).await;
    let mut b = Spawned::spawn_beside(&a, Some(&policy), &args).await;
    let admin = a.admin_key();
    assert_eq!(b.admin_key(), admin, "one admin key for both nodes");
    let oz = a.key("reviewer", "oz").await;
    let mut agents = Vec::new();
    for n in 0..6 {
        agents.push(a.key("agent", &format!("bot-{n}")).await);
    }

    // A decision made on B wakes the long-poll A holds (registered before the decision).
    let id = a.submitted_id(&agents[0], &reply_packet("wake me")).await;
    let poll = {
        let (client, url, key) = (
            a.client.clone(),
            a.url(&format!("/v1/handoffs/{id}?wait=30")),
            agents[0].clone(),
        );
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(key)
                .send()
                .await?
                .json::<Value>()
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&a, "handoff_long_polls_waiting").await < 1.0 {
        assert!(Instant::now() < deadline, "the long-poll never waited on A");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let decided_at = Instant::now();
    b.decided(&oz, &id, &json!({"action": "approve"})).await;
    let seen = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("A's long-poll did not wake for B's decision")
        .expect("the poll task panicked")
        .expect("the long-poll failed");
    assert_eq!(seen["status"], "approved", "{seen}");
    println!(
        "A's long-poll answered {:?} after B's decision was sent",
        decided_at.elapsed()
    );

    // A key revoked on A is refused on B, which had it cached; a policy replaced on A is
    // the one B evaluates with.
    let spare = a.key("agent", "spare").await;
    assert_eq!(
        b.get_path(Some(&spare), "/v1/handoffs")
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(a.revoke_key(&admin, "spare").await.status().as_u16(), 204);
    let revoked_at = Instant::now();
    while b
        .get_path(Some(&spare), "/v1/handoffs")
        .await
        .status()
        .as_u16()
        != 401
    {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "B still lets the revoked key in"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "B refused the key revoked on A after {:?}",
        revoked_at.elapsed()
    );
    let replaced = a
        .client
        .put(a.url("/v1/policy"))
        .bearer_auth(&admin)
        .header("Content-Type", "application/toml")
        .body(format!("{policy}\n[tasks.extra]\nroute = \"ops\"\n"))
        .send()
        .await
        .expect("PUT /v1/policy");
    let version = expect_json(replaced, 200).await["policy_version"].clone();
    let replaced_at = Instant::now();
    loop {
        let explained = expect_json(
            b.post_json(
                Some(&agents[1]),
                "/v1/policy/explain",
                &reply_packet("which policy?"),
            )
            .await,
            200,
        )
        .await;
        if explained["policy_version"] == version {
            break;
        }
        assert!(
            replaced_at.elapsed() < Duration::from_secs(5),
            "B evaluates with {explained}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "B evaluated with A's new policy {:?} after the PUT",
        replaced_at.elapsed()
    );

    // Load on both nodes: agent n submits to node n mod 2 (every fourth handoff a `quick`
    // one, which expires after 2 s); oz approves the others on the other node.
    let nodes = [a.address.clone(), b.address.clone()];
    let done = Arc::new(Mutex::new(Done::default()));
    let count = Arc::new(watch::Sender::new(0usize));
    let (stop_tx, stop) = watch::channel(false);
    let (ids_tx, ids_rx) = mpsc::unbounded_channel::<(String, usize)>();
    let ids_rx = Arc::new(Mutex::new(ids_rx));
    let mut tasks = Vec::new();
    for (n, key) in agents.iter().cloned().enumerate() {
        let (client, url) = (a.client.clone(), format!("{}/v1/handoffs", nodes[n % 2]));
        let (done, count, stop, ids_tx) =
            (done.clone(), count.clone(), stop.clone(), ids_tx.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                if *stop.borrow() {
                    break;
                }
                let quick = i % 4 == 3;
                let mut p = reply_packet(&format!("bot {n}, handoff {i}"));
                if quick {
                    p["task"] = json!("quick");
                }
                let Ok(resp) = client.post(&url).bearer_auth(&key).json(&p).send().await else {
                    break;
                };
                if resp.status().as_u16() != 201 {
                    break;
                }
                let Ok(body) = resp.json::<Value>().await else {
                    break;
                };
                let id = id_of(&body);
                done.lock().await.acknowledged.push((id.clone(), quick));
                count.send_modify(|c| *c += 1);
                if !quick {
                    let _ = ids_tx.send((id, n % 2));
                }
            }
        }));
    }
    drop(ids_tx);
    for _ in 0..2 {
        let (client, nodes, oz, done, ids_rx) = (
            a.client.clone(),
            nodes.clone(),
            oz.clone(),
            done.clone(),
            ids_rx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = ids_rx.lock().await.recv().await;
                let Some((id, node)) = next else { break };
                let url = format!("{}/v1/handoffs/{id}/decisions", nodes[(node + 1) % 2]);
                let resp = client
                    .post(url)
                    .bearer_auth(&oz)
                    .json(&json!({"action": "approve"}))
                    .send()
                    .await;
                if let Ok(r) = resp
                    && r.status().as_u16() == 200
                    && r.bytes().await.is_ok()
                {
                    done.lock().await.approved.insert(id);
                }
            }
        }));
    }

    // SIGKILL B once both nodes are visibly busy; A goes on for a while, then the load ends.
    let mut seen = count.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(30), seen.wait_for(|c| *c >= 80)).await;
    b.kill9();
    let at_kill = *count.borrow();
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        seen.wait_for(|c| *c >= at_kill + 40),
    )
    .await;
    stop_tx.send_replace(true);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("a load task hung")
            .expect("a load task panicked");
    }
    let done = done.lock().await;
    println!(
        "{} handoffs acknowledged ({at_kill} before B was killed), {} approvals answered",
        done.acknowledged.len(),
        done.approved.len()
    );
    assert!(
        done.acknowledged.len() > at_kill,
        "A took no load after the kill"
    );

    // Nothing acknowledged is lost; nothing is decided twice; every quick one expires once
    // (A's scheduler fires what B's would have).
    for (id, quick) in &done.acknowledged {
        let actions = if *quick {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let h = a.fetch(&admin, id).await;
                if h["status"] == "expired" {
                    break;
                }
                assert!(Instant::now() < deadline, "{id} never expired: {h}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let actions = a.timeline_actions(id).await;
            let fired = actions.iter().filter(|a| *a == "handoff.expired").count();
            assert_eq!(fired, 1, "{id}: {actions:?}");
            actions
        } else {
            let h = a.fetch(&admin, id).await;
            let actions = a.timeline_actions(id).await;
            let decisions = actions.iter().filter(|a| *a == "handoff.decision").count();
            if done.approved.contains(id) {
                assert_eq!(h["status"], "approved", "{h}");
                assert_eq!(decisions, 1, "{id}: {actions:?}");
            } else {
                assert!(decisions <= 1, "{id}: {actions:?}");
            }
            actions
        };
        assert_eq!(
            actions.first().map(String::as_str),
            Some("handoff.submitted")
        );
    }

    // Every delivery is settled (B's claims lapse, A sends them), and no event went out
    // under two webhook ids.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !delivery_ids(&a, "pending").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "deliveries still pending after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids_of: BTreeMap<(String, String, i64), BTreeSet<String>> = BTreeMap::new();
    for r in rx.requests("/hook") {
        let body = r.json();
        let event = (
            body["data"]["id"].as_str().unwrap_or_default().to_owned(),
            body["type"].as_str().unwrap_or_default().to_owned(),
            body["data"]["version"].as_i64().unwrap_or_default(),
        );
        ids_of
            .entry(event)
            .or_default()
            .insert(r.header("webhook-id"));
    }
    assert!(!ids_of.is_empty(), "no webhook arrived");
    for (event, ids) in &ids_of {
        assert_eq!(ids.len(), 1, "{event:?} went out under {ids:?}");
    }

    // One chain, verified by the API and by the CLI on the database.
    let verdict = a.audit_verify().await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    a.assert_cli_audit_verifies().await;
}
