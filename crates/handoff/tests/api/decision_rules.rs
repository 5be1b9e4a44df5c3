//! Decisions that are malformed (`422`), forbidden (`403`) or about handoffs the caller
//! may not see (`404`).

use crate::common::*;
use serde_json::{Value, json};

async fn refused_as_malformed(app: &TestApp, key: &str, id: &str, body: Value, field: &str) {
    let problem = expect_problem(app.decide(key, id, &body).await, 422).await;
    let fields = error_fields(&problem);
    assert!(
        fields.iter().any(|f| f == field),
        "expected `{field}` among {fields:?} for {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_action_is_a_422() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    refused_as_malformed(&app, &cast.ana, &id, json!({"action": "bless"}), "action").await;
    refused_as_malformed(&app, &cast.ana, &id, json!({}), "action").await;
    refused_as_malformed(&app, &cast.ana, &id, json!({"action": 1}), "action").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_and_escalate_without_a_rationale_are_422() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    for action in ["reject", "escalate"] {
        refused_as_malformed(&app, &cast.ana, &id, json!({"action": action}), "rationale").await;
        refused_as_malformed(
            &app,
            &cast.ana,
            &id,
            json!({"action": action, "rationale": ""}),
            "rationale",
        )
        .await;
    }
    assert_eq!(app.fetch(&cast.ana, &id).await["version"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_without_a_draft_is_a_422() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    refused_as_malformed(&app, &cast.ana, &id, json!({"action": "edit"}), "draft").await;
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_decision_body_is_a_400() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = app
        .client
        .post(app.url(&format!("/v1/handoffs/{id}/decisions")))
        .bearer_auth(&cast.ana)
        .header("Content-Type", "application/json")
        .body("{\"action\": ")
        .send()
        .await
        .expect("POST failed");
    expect_problem(resp, 400).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_cannot_decide_even_its_own_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(
        app.decide(&cast.agent, &id, &json!({"action": "approve"}))
            .await,
        403,
    )
    .await;
    expect_problem(
        app.decide(&cast.other_agent, &id, &json!({"action": "approve"}))
            .await,
        403,
    )
    .await;
    assert_eq!(app.fetch(&cast.agent, &id).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_outside_the_team_cannot_decide_and_gets_a_404() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    for outsider in [&cast.dan, &cast.lea, &cast.fay] {
        let resp = app
            .decide(outsider, &id, &json!({"action": "approve"}))
            .await;
        expect_problem(resp, 404).await;
    }
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn deciding_an_unknown_handoff_is_a_404() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let resp = app
        .decide(
            &cast.ana,
            "hnd_01JD0000000000000000000000",
            &json!({"action": "approve"}),
        )
        .await;
    expect_problem(resp, 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deciding_without_a_valid_key_is_a_401() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let path = format!("/v1/handoffs/{id}/decisions");
    let body = json!({"action": "approve"});
    expect_problem(app.post_json(None, &path, &body).await, 401).await;
    expect_problem(app.post_json(Some("hk_forged"), &path, &body).await, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_cannot_cancel_or_report_an_outcome() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(app.cancel(&cast.ana, &id).await, 403).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let resp = app
        .outcome(&cast.ana, &id, &json!({"result": "executed"}))
        .await;
    expect_problem(resp, 403).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_agent_cannot_cancel_or_report_and_gets_a_404() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(app.cancel(&cast.other_agent, &id).await, 404).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let resp = app
        .outcome(&cast.other_agent, &id, &json!({"result": "executed"}))
        .await;
    expect_problem(resp, 404).await;
    assert_eq!(app.fetch(&cast.agent, &id).await["status"], "approved");
}
