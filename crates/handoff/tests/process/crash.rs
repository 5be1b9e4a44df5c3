//! A crash (SIGKILL) loses no acknowledged handoff; a restart neither prints nor replaces
//! the admin key.

use crate::common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread")]
async fn every_handoff_acknowledged_before_a_sigkill_is_there_after_restart() {
    let mut app = Spawned::spawn().await;
    let mut agents = Vec::new();
    for n in 0..8 {
        agents.push(app.key("agent", &format!("bot-{n}")).await);
    }

    // How many submissions were acknowledged; the test waits on it, not on a timer.
    let acknowledged = Arc::new(watch::Sender::new(0usize));
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
                count.send_modify(|n| *n += 1);
            }
            ids
        }));
    }

    // Kill mid-stream, once the server is visibly busy.
    let mut busy = acknowledged.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(20), busy.wait_for(|n| *n >= 80)).await;
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
    app.assert_cli_audit_verifies().await;
    // Each acknowledged handoff has its submission in the log.
    for id in ids.iter().take(20) {
        assert_eq!(
            app.timeline_actions(id).await.first().map(String::as_str),
            Some("handoff.submitted")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_neither_prints_nor_replaces_the_admin_key() {
    let mut app = Spawned::spawn().await;
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
