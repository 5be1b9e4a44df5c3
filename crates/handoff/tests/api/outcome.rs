//! The agent's side after a decision: cancelling and reporting outcomes, with the approved
//! draft's digest as the proof of what was approved.

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_cancels_its_pending_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = expect_json(app.cancel(&cast.agent, &id).await, 200).await;
    assert_eq!(h["status"], "cancelled");
    assert_eq!(h["version"], 2);
    assert_eq!(
        app.timeline_actions(&id).await,
        ["handoff.submitted", "handoff.cancelled"]
    );
    let resp = app
        .decide(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    expect_problem(resp, 409).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_twice_is_a_409() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_json(app.cancel(&cast.agent, &id).await, 200).await;
    expect_problem(app.cancel(&cast.agent, &id).await, 409).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executed_outcome_quoting_the_approved_drafts_digest_is_accepted() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let h = app
        .decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let digest = h["draft_versions"]
        .as_array()
        .and_then(|v| v.last())
        .and_then(|d| d["sha256"].as_str())
        .expect("the approved draft's digest")
        .to_owned();
    assert_eq!(digest, text_draft_sha256(CLIENT_REPLY_DRAFT));

    let resp = app
        .outcome(
            &cast.agent,
            &id,
            &json!({"result": "executed", "detail": "sent at 10:02", "draft_sha256": digest}),
        )
        .await;
    let h = expect_json(resp, 200).await;
    assert_eq!(h["status"], "executed");
    assert_eq!(h["outcome"]["result"], "executed");
    assert_eq!(h["outcome"]["detail"], "sent at 10:02");
    assert!(h["outcome"]["at"].is_string());
    assert_eq!(
        app.timeline_actions(&id).await.last().map(String::as_str),
        Some("handoff.outcome")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executed_outcome_quoting_another_digest_is_a_409() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let resp = app
        .outcome(
            &cast.agent,
            &id,
            &json!({"result": "executed", "draft_sha256": text_draft_sha256("something else")}),
        )
        .await;
    expect_problem(resp, 409).await;
    assert_eq!(app.fetch(&cast.agent, &id).await["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_edit_only_the_edited_drafts_digest_matches() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let edited = "Dear client, attached is the invoice copy you asked for.";
    app.decided(&cast.ana, &id, &json!({"action": "edit", "draft": edited}))
        .await;

    let stale =
        json!({"result": "executed", "draft_sha256": text_draft_sha256(CLIENT_REPLY_DRAFT)});
    expect_problem(app.outcome(&cast.agent, &id, &stale).await, 409).await;

    let fresh = json!({"result": "executed", "draft_sha256": text_draft_sha256(edited)});
    let h = expect_json(app.outcome(&cast.agent, &id, &fresh).await, 200).await;
    assert_eq!(h["status"], "executed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_approved_handoff_can_be_executed_failed_or_rolled_back() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let a = app.submitted_id(&agent, &routine_ticket()).await;
    let b = app.submitted_id(&agent, &routine_ticket()).await;
    let h = expect_json(
        app.outcome(
            &agent,
            &a,
            &json!({"result": "failed", "detail": "API down"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(h["status"], "failed");
    expect_json(
        app.outcome(&agent, &b, &json!({"result": "executed"}))
            .await,
        200,
    )
    .await;
    let h = expect_json(
        app.outcome(&agent, &b, &json!({"result": "rolled_back"}))
            .await,
        200,
    )
    .await;
    assert_eq!(h["status"], "rolled_back");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_outcome_result_is_a_422() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let id = app.submitted_id(&agent, &routine_ticket()).await;
    let problem = expect_problem(
        app.outcome(&agent, &id, &json!({"result": "mostly_worked"}))
            .await,
        422,
    )
    .await;
    assert!(
        error_fields(&problem).contains(&"result".to_owned()),
        "{problem}"
    );
    let problem = expect_problem(app.outcome(&agent, &id, &json!({})).await, 422).await;
    assert!(
        error_fields(&problem).contains(&"result".to_owned()),
        "{problem}"
    );
}
