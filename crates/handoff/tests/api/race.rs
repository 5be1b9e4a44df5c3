//! Concurrent deciders on one handoff: exactly one decision wins, the rest are `409`, and
//! the audit log holds exactly one `handoff.decision`.

use crate::common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Barrier;

/// One team of eight reviewers, so that eight distinct people can race.
const DESK_POLICY: &str = r#"
[defaults]
level = 2
route = "desk"

[teams.desk]
members = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"]
escalate_to = "leads"

[teams.leads]
members = ["lead"]

[tasks.reply]
route = "desk"

[tasks.pair]
route = "desk"
approvals = 2
"#;

/// Sends every `(key, body)` at the same moment; the status codes in order.
async fn race(app: &TestApp, id: &str, deciders: Vec<(String, Value)>) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(deciders.len()));
    let mut tasks = Vec::new();
    for (key, body) in deciders {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/handoffs/{id}/decisions"));
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .expect("POST decisions failed")
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.expect("a decider panicked"));
    }
    codes
}

fn tally(codes: &[u16]) -> (usize, usize) {
    let ok = codes.iter().filter(|&&c| c == 200).count();
    let conflict = codes.iter().filter(|&&c| c == 409).count();
    (ok, conflict)
}

async fn reviewers(app: &TestApp) -> Vec<String> {
    let mut keys = Vec::new();
    for n in 1..=8 {
        keys.push(app.key("reviewer", &format!("r{n}")).await);
    }
    keys
}

async fn decisions_in_timeline(app: &TestApp, id: &str) -> usize {
    app.timeline_actions(id)
        .await
        .iter()
        .filter(|a| *a == "handoff.decision")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_reviewers_approving_at_once_make_exactly_one_decision() {
    let app = TestApp::spawn_with_policy(DESK_POLICY).await;
    let agent = app.key("agent", "bot").await;
    let keys = reviewers(&app).await;
    let id = app.submitted_id(&agent, &packet("reply", 0.99)).await;

    let codes = race(
        &app,
        &id,
        keys.into_iter()
            .map(|k| (k, json!({"action": "approve"})))
            .collect(),
    )
    .await;
    assert_eq!(tally(&codes), (1, 7), "{codes:?}");
    assert_eq!(decisions_in_timeline(&app, &id).await, 1);
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["version"], 2);
    assert_eq!(h["approvals"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_different_decisions_at_once_leave_exactly_one_winner() {
    let app = TestApp::spawn_with_policy(DESK_POLICY).await;
    let agent = app.key("agent", "bot").await;
    let keys = reviewers(&app).await;
    let id = app.submitted_id(&agent, &packet("reply", 0.99)).await;
    let bodies = [
        json!({"action": "approve"}),
        json!({"action": "reject", "rationale": "no"}),
        json!({"action": "take_over"}),
        json!({"action": "edit", "draft": "mine"}),
        json!({"action": "approve"}),
        json!({"action": "reject", "rationale": "also no"}),
        json!({"action": "take_over"}),
        json!({"action": "edit", "draft": "no, mine"}),
    ];
    let codes = race(&app, &id, keys.into_iter().zip(bodies).collect()).await;
    assert_eq!(tally(&codes), (1, 7), "{codes:?}");
    assert_eq!(decisions_in_timeline(&app, &id).await, 1);
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["version"], 2);
    assert_ne!(h["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_reviewer_approving_eight_times_at_once_counts_once() {
    let app = TestApp::spawn_with_policy(DESK_POLICY).await;
    let agent = app.key("agent", "bot").await;
    let r1 = app.key("reviewer", "r1").await;
    let id = app.submitted_id(&agent, &packet("pair", 0.99)).await;
    let codes = race(
        &app,
        &id,
        (0..8)
            .map(|_| (r1.clone(), json!({"action": "approve"})))
            .collect(),
    )
    .await;
    assert_eq!(tally(&codes), (1, 7), "{codes:?}");
    assert_eq!(decisions_in_timeline(&app, &id).await, 1);
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["status"], "pending", "two approvals needed, one counted");
    assert_eq!(h["approvals"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_escalations_at_once_escalate_once() {
    let app = TestApp::spawn_with_policy(DESK_POLICY).await;
    let agent = app.key("agent", "bot").await;
    let keys = reviewers(&app).await;
    let id = app.submitted_id(&agent, &packet("reply", 0.99)).await;
    let codes = race(
        &app,
        &id,
        keys.into_iter()
            .map(|k| {
                (
                    k,
                    json!({"action": "escalate", "rationale": "above my pay grade"}),
                )
            })
            .collect(),
    )
    .await;
    // Once escalated, the losers are outside the assigned team: 404 is as good a refusal
    // as 409 here; what matters is that one escalation happened.
    let ok = codes.iter().filter(|&&c| c == 200).count();
    assert_eq!(ok, 1, "{codes:?}");
    assert!(
        codes.iter().all(|c| matches!(c, 200 | 404 | 409)),
        "{codes:?}"
    );
    assert_eq!(decisions_in_timeline(&app, &id).await, 1);
    let h = app.fetch(&agent, &id).await;
    assert_eq!(
        (h["assigned_team"].as_str(), h["version"].as_u64()),
        (Some("leads"), Some(2))
    );
}
