//! Every status × every command: what SPEC §3's table allows is `200`, everything else is
//! `409` and changes nothing.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

const STATUSES: [&str; 11] = [
    "pending",
    "approved",
    "rejected",
    "handed_over",
    "alerted",
    "acknowledged",
    "resolved",
    "cancelled",
    "executed",
    "failed",
    "rolled_back",
];

/// A well-formed body for each action, so that a refusal can only be about the state.
fn decision(action: &str) -> Value {
    match action {
        "edit" => json!({"action": "edit", "draft": "An edited draft from the matrix test."}),
        // An explicit team: the security team has no `escalate_to`.
        "escalate" => {
            json!({"action": "escalate", "rationale": "needs a lead", "to_team": "ops-leads"})
        }
        "reject" => json!({"action": "reject", "rationale": "not this way"}),
        other => json!({"action": other}),
    }
}

/// `(from, action) → to` for the decisions SPEC §3 allows.
fn allowed(from: &str, action: &str) -> Option<&'static str> {
    match (from, action) {
        ("pending", "approve" | "edit") => Some("approved"),
        ("pending", "reject") => Some("rejected"),
        ("pending", "escalate") => Some("pending"),
        ("pending", "take_over") => Some("handed_over"),
        ("handed_over" | "acknowledged", "resolve") => Some("resolved"),
        ("alerted", "acknowledge") => Some("acknowledged"),
        _ => None,
    }
}

const ACTIONS: [&str; 7] = [
    "approve",
    "edit",
    "reject",
    "escalate",
    "take_over",
    "resolve",
    "acknowledge",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_decision_the_table_allows_is_accepted_with_its_target_status() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for from in STATUSES {
        for action in ACTIONS {
            let Some(to) = allowed(from, action) else {
                continue;
            };
            let (id, reviewer) = app.handoff_in(&cast, from).await;
            let before = app.fetch(&reviewer, &id).await["version"].as_u64();
            let resp = app.decide(&reviewer, &id, &decision(action)).await;
            let h = expect_json(resp, 200).await;
            assert_eq!(h["status"], to, "{from} --{action}-->");
            assert_eq!(
                h["version"].as_u64(),
                before.map(|v| v + 1),
                "{from} --{action}-->"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_other_decision_is_a_409_that_changes_nothing() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for from in STATUSES {
        let (id, reviewer) = app.handoff_in(&cast, from).await;
        let before = app.fetch(&reviewer, &id).await;
        let entries = app.timeline_actions(&id).await.len();
        for action in ACTIONS {
            if allowed(from, action).is_some() {
                continue;
            }
            let resp = app.decide(&reviewer, &id, &decision(action)).await;
            let got = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            assert_eq!(
                got, 409,
                "{from} --{action}--> should be 409, got {got}: {body}"
            );
        }
        let after = app.fetch(&reviewer, &id).await;
        assert_eq!(after["status"], before["status"], "{from}");
        assert_eq!(after["version"], before["version"], "{from}");
        assert_eq!(
            app.timeline_actions(&id).await.len(),
            entries,
            "{from}: no audit entry"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_cancels_only_a_pending_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for from in STATUSES {
        let (id, _) = app.handoff_in(&cast, from).await;
        let resp = app.cancel(&cast.agent, &id).await;
        if from == "pending" {
            let h = expect_json(resp, 200).await;
            assert_eq!(h["status"], "cancelled");
            assert_eq!(
                app.timeline_actions(&id).await.last().map(String::as_str),
                Some("handoff.cancelled")
            );
        } else {
            let got = resp.status().as_u16();
            assert_eq!(got, 409, "cancel from {from}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outcomes_follow_the_table_and_nothing_else() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for from in STATUSES {
        for result in ["executed", "failed", "rolled_back"] {
            let to = match (from, result) {
                ("approved", "executed" | "failed") => Some(result),
                ("executed", "rolled_back") => Some("rolled_back"),
                _ => None,
            };
            let (id, _) = app.handoff_in(&cast, from).await;
            let resp = app
                .outcome(
                    &cast.agent,
                    &id,
                    &json!({"result": result, "detail": "from the matrix"}),
                )
                .await;
            match to {
                Some(to) => {
                    let h = expect_json(resp, 200).await;
                    assert_eq!(h["status"], to, "{from} --{result}-->");
                    assert_eq!(h["outcome"]["result"], result);
                    assert_eq!(h["outcome"]["detail"], "from the matrix");
                }
                None => {
                    let got = resp.status().as_u16();
                    assert_eq!(got, 409, "outcome {result} from {from}");
                }
            }
        }
    }
}

/// A task that expires one second after submission (on the manual clock).
const QUICK_POLICY: &str = r#"
[defaults]
level = 2
route = "ops"

[teams.ops]
members = ["oz"]

[teams.ops-leads]
members = ["olga"]

[tasks.quick]
route = "ops"
expire_after = "1s"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_handoff_expires_when_expires_at_passes_and_expiry_never_approves() {
    let app = TestApp::spawn_manual(Some(QUICK_POLICY), &[]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let mut p = packet("quick", 0.99);
    p["draft"] = json!("A draft nobody approved.");
    let id = app.submitted_id(&agent, &p).await;
    assert_eq!(app.fetch(&agent, &id).await["status"], "pending");
    // Its `expires_at` passes; the scheduler wakes and expires it (the long-poll sees it).
    app.advance(Duration::from_secs(1));

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut h = app.fetch(&agent, &id).await;
    while h["status"] == "pending" && std::time::Instant::now() < deadline {
        h = expect_json(app.get_waiting(&agent, &id, 5).await, 200).await;
    }
    assert_eq!(h["status"], "expired", "{h}");
    assert!(h.get("receipt").is_none_or(Value::is_null));
    assert!(h.get("approved_draft").is_none_or(Value::is_null));
    assert!(
        app.timeline_actions(&id)
            .await
            .contains(&"handoff.expired".to_owned())
    );

    for action in ACTIONS {
        let resp = app.decide(&oz, &id, &decision(action)).await;
        assert_eq!(
            resp.status().as_u16(),
            409,
            "{action} on an expired handoff"
        );
    }
    assert_eq!(app.cancel(&agent, &id).await.status().as_u16(), 409);
    let resp = app
        .outcome(&agent, &id, &json!({"result": "executed"}))
        .await;
    assert_eq!(resp.status().as_u16(), 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn assign_makes_a_handed_over_handoff_the_callers_and_keeps_its_status() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &data_deletion()).await;
    let h = app.fetch(&cast.dan, &id).await;
    assert_eq!(h["status"], "handed_over");

    let h = app
        .decided(&cast.dan, &id, &json!({"action": "assign"}))
        .await;
    assert_eq!(
        h["status"], "handed_over",
        "assigning changes who, not where it stands"
    );
    assert_eq!(h["decision"]["action"], "assign");
    assert_eq!(h["decision"]["by"], "dan");
    assert_eq!(h["version"], 2);

    // dan owns it already; an agent never assigns; a pending handoff has nothing to own.
    expect_problem(
        app.decide(&cast.dan, &id, &json!({"action": "assign"}))
            .await,
        409,
    )
    .await;
    expect_problem(
        app.decide(&cast.agent, &id, &json!({"action": "assign"}))
            .await,
        403,
    )
    .await;
    let pending = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(
        app.decide(&cast.ana, &pending, &json!({"action": "assign"}))
            .await,
        409,
    )
    .await;

    let h = app
        .decided(
            &cast.dan,
            &id,
            &json!({"action": "resolve", "rationale": "erased in all three systems"}),
        )
        .await;
    assert_eq!(h["status"], "resolved");
}
