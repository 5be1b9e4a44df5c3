//! What survives a crash or a restart: every acknowledged handoff, the keys, the audit
//! chain.

use crate::common::*;
use serde_json::json;

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
async fn a_revoked_key_stays_revoked_after_a_restart() {
    let mut app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let resp = app.revoke_key(&app.admin_key(), "sales-bot").await;
    assert_eq!(resp.status().as_u16(), 204);
    app.restart().await;
    expect_problem(app.submit(&agent, &client_reply()).await, 401).await;
}
