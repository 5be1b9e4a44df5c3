//! `GET /v1/handoffs/{id}` and its timeline: who may see what (SPEC §4).

use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_submitting_agent_reads_its_handoff_with_an_etag_of_its_version() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let resp = app.get(&cast.agent, &id).await;
    assert_eq!(header(&resp, "etag"), "\"1\"");
    let h = expect_json(resp, 200).await;
    assert_eq!(id_of(&h), id);

    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let resp = app.get(&cast.agent, &id).await;
    assert_eq!(header(&resp, "etag"), "\"2\"");
    assert_eq!(expect_json(resp, 200).await["version"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_agents_handoff_is_a_404() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(app.get(&cast.other_agent, &id).await, 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_of_the_assigned_team_reads_the_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.fetch(&cast.ana, &id).await;
    app.fetch(&cast.ben, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_outside_the_assigned_team_gets_a_404() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(app.get(&cast.dan, &id).await, 404).await;
    expect_problem(app.get(&cast.lea, &id).await, 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_in_no_team_sees_nothing() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let stranger = app.key("reviewer", "nobody-knows-me").await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_problem(app.get(&stranger, &id).await, 404).await;
    let (ids, _) = app.list_ids(&stranger, &[]).await;
    assert!(ids.is_empty(), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_reads_every_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.fetch(&app.admin_key(), &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_id_is_a_404() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let missing = "hnd_01JD0000000000000000000000";
    expect_problem(app.get(&cast.agent, missing).await, 404).await;
    expect_problem(app.get(&app.admin_key(), missing).await, 404).await;
    expect_problem(app.get(&app.admin_key(), "not-an-id").await, 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_without_a_valid_key_is_a_401() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let path = format!("/v1/handoffs/{id}");
    expect_problem(app.get_path(None, &path).await, 401).await;
    expect_problem(app.get_path(Some("hk_wrong"), &path).await, 401).await;
    expect_problem(app.get_path(Some("Basic abc"), &path).await, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_lists_the_audit_entries_of_a_handoff_oldest_first() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let other = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(
        &cast.ana,
        &id,
        &json!({"action": "approve", "rationale": "fine", "option": "approve"}),
    )
    .await;
    expect_json(
        app.outcome(&cast.agent, &id, &json!({"result": "executed"}))
            .await,
        200,
    )
    .await;

    let body = expect_json(app.timeline(&cast.agent, &id).await, 200).await;
    let items = body["items"].as_array().expect("items");
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["handoff.submitted", "handoff.decision", "handoff.outcome"]
    );
    let seqs: Vec<i64> = items
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        items.iter().all(|e| e["handoff_id"] == json!(id)),
        "only its own entries"
    );
    assert!(!other.is_empty());
    assert_eq!(items[0]["actor"], "sales-bot");
    assert_eq!(items[1]["actor"], "ana");
    let data = &items[1]["data"];
    assert_eq!(data["action"], "approve");
    assert_eq!(data["rationale"], "fine");
    assert_eq!(data["option"], "approve");
    assert_eq!(data["from_status"], "pending");
    assert_eq!(data["to_status"], "approved");
    assert_eq!(data["draft_sha256"], text_draft_sha256(CLIENT_REPLY_DRAFT));
    assert!(data.as_object().expect("data").contains_key("to_team"));
    for e in items {
        for field in ["at", "prev_hash", "hash"] {
            assert!(e[field].is_string(), "no `{field}` in {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_follows_the_same_visibility_as_the_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    expect_json(app.timeline(&cast.ana, &id).await, 200).await;
    expect_json(app.timeline(&app.admin_key(), &id).await, 200).await;
    expect_problem(app.timeline(&cast.other_agent, &id).await, 404).await;
    expect_problem(app.timeline(&cast.dan, &id).await, 404).await;
}
