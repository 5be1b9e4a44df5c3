//! What survives a crash or a restart: every acknowledged handoff, the keys, the audit
//! chain.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn every_handoff_acknowledged_before_a_sigkill_is_there_after_restart() {
    let mut app = TestApp::spawn().await;
    let mut agents = Vec::new();
    for n in 0..8 {
        agents.push(app.key("agent", &format!("bot-{n}")).await);
    }

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (n, agent) in agents.iter().cloned().enumerate() {
        let client = app.client.clone();
        let url = app.url("/v1/handoffs");
        let count = Arc::clone(&acknowledged);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0.. {
                let mut p = if n % 2 == 0 {
                    client_reply()
                } else {
                    routine_ticket()
                };
                p["summary"] = json!(format!("bot {n}, handoff {i}"));
                let Ok(resp) = client.post(&url).bearer_auth(&agent).json(&p).send().await else {
                    break;
                };
                if resp.status().as_u16() != 201 {
                    break;
                }
                // Acknowledged means the whole 201 response arrived.
                let Ok(body) = resp.json::<serde_json::Value>().await else {
                    break;
                };
                ids.push(id_of(&body));
                count.fetch_add(1, Ordering::SeqCst);
            }
            ids
        }));
    }

    // Kill mid-stream, once the server is visibly busy.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.load(Ordering::SeqCst) < 80 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.kill9();

    let mut ids = Vec::new();
    for t in tasks {
        let done = tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a submitter hung after the kill")
            .expect("a submitter panicked");
        ids.extend(done);
    }
    assert!(
        ids.len() >= 8,
        "too few submissions before the kill: {}",
        ids.len()
    );
    println!("{} handoffs acknowledged before SIGKILL", ids.len());

    app.start().await;
    let admin = app.admin_key();
    for id in &ids {
        let h = app.fetch(&admin, id).await;
        assert!(
            matches!(h["status"].as_str(), Some("pending" | "approved")),
            "{h}"
        );
    }
    let (listed, _) = app.list_ids(&admin, &[("limit", "500")]).await;
    for id in &ids {
        assert!(listed.contains(id), "{id} is missing from the list");
    }

    let verdict = app.audit_verify().await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    let out = app
        .cli(&["audit", "verify", "--data-dir", &app.data_dir_arg()])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Each acknowledged handoff has its submission in the log.
    for id in ids.iter().take(20) {
        assert_eq!(
            app.timeline_actions(id).await.first().map(String::as_str),
            Some("handoff.submitted")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn handoffs_keys_and_decisions_survive_a_graceful_restart() {
    let mut app = TestApp::spawn().await;
    let cast = app.cast().await;
    let admin = app.admin_key();
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let pending = app.submitted_id(&cast.agent, &client_reply()).await;

    app.restart().await;

    assert_eq!(app.admin_key(), admin, "the admin key is created once");
    let h = app.fetch(&cast.agent, &id).await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["version"], 2);
    // The reviewer's key still works, and the pending one can still be decided.
    let h = app
        .decided(&cast.ben, &pending, &json!({"action": "approve"}))
        .await;
    assert_eq!(h["status"], "approved");
    assert_eq!(app.audit_verify().await["ok"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_neither_prints_nor_replaces_the_admin_key() {
    let mut app = TestApp::spawn().await;
    let admin = app.admin_key();
    let first: Vec<String> = app.stdout_lines();
    assert!(
        first
            .iter()
            .any(|l| l.trim() == format!("admin key: {admin}")),
        "first start prints the key: {first:?}"
    );
    app.restart().await;
    assert_eq!(app.admin_key(), admin);
    let again = app.stdout_lines();
    assert!(
        !again
            .iter()
            .any(|l| l.contains(&admin) || l.starts_with("admin key:")),
        "the key is shown once: {again:?}"
    );
    expect_json(app.get_path(Some(&admin), "/v1/audit/verify").await, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_stays_revoked_after_a_restart() {
    let mut app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let resp = app.revoke_key(&app.admin_key(), "sales-bot").await;
    assert_eq!(resp.status().as_u16(), 204);
    app.restart().await;
    expect_problem(app.submit(&agent, &client_reply()).await, 401).await;
}
