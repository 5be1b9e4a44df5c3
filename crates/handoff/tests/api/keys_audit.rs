//! API keys (`/v1/keys`, `handoff keys create`) and the audit log (`/v1/audit`,
//! `handoff audit verify | export`).

use crate::common::*;
use serde_json::{Value, json};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_creates_keys_for_each_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key();
    for (role, name) in [
        ("agent", "sales-bot"),
        ("reviewer", "ana"),
        ("admin", "root2"),
    ] {
        let resp = app
            .create_key(&admin, &json!({"role": role, "name": name}))
            .await;
        let body = expect_json(resp, 201).await;
        assert_eq!(body["name"], name);
        assert_eq!(body["role"], role);
        let key = body["key"].as_str().expect("key");
        assert!(key.starts_with("hk_") && key.len() > 20, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_key_works_at_once_in_its_role() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let root2 = app.key("admin", "root2").await;
    app.submitted(&agent, &client_reply()).await;
    expect_json(app.get_path(Some(&root2), "/v1/audit/verify").await, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_key_name_is_a_409() {
    let app = TestApp::spawn().await;
    app.key("agent", "sales-bot").await;
    let resp = app
        .create_key(
            &app.admin_key(),
            &json!({"role": "reviewer", "name": "sales-bot"}),
        )
        .await;
    expect_problem(resp, 409).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_role_is_a_422() {
    let app = TestApp::spawn().await;
    let resp = app
        .create_key(&app.admin_key(), &json!({"role": "overlord", "name": "x"}))
        .await;
    let problem = expect_problem(resp, 422).await;
    assert!(
        error_fields(&problem).contains(&"role".to_owned()),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_admin_manages_keys() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let ana = app.key("reviewer", "ana").await;
    for key in [&agent, &ana] {
        let resp = app
            .create_key(key, &json!({"role": "admin", "name": "me-too"}))
            .await;
        expect_problem(resp, 403).await;
        expect_problem(app.revoke_key(key, "sales-bot").await, 403).await;
    }
    expect_problem(
        app.post_json(None, "/v1/keys", &json!({"role": "admin", "name": "anon"}))
            .await,
        401,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let id = app.submitted_id(&agent, &client_reply()).await;
    let resp = app.revoke_key(&app.admin_key(), "sales-bot").await;
    assert_eq!(resp.status().as_u16(), 204);
    expect_problem(app.get(&agent, &id).await, 401).await;
    expect_problem(app.submit(&agent, &client_reply()).await, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_an_unknown_key_is_a_404() {
    let app = TestApp::spawn().await;
    expect_problem(app.revoke_key(&app.admin_key(), "nobody").await, 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_create_on_the_command_line_works_beside_a_running_server() {
    let app = TestApp::spawn().await;
    let data_dir = app.data_dir_arg();
    let out = app
        .cli(&[
            "keys",
            "create",
            "--role",
            "agent",
            "--name",
            "cli-bot",
            "--data-dir",
            &data_dir,
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on one line: {printed:?}");
    let key = lines[0].trim();
    assert!(key.starts_with("hk_"), "{key}");

    let h = app.submitted(key, &client_reply()).await;
    assert_eq!(h["agent"], "cli-bot");

    let out = app
        .cli(&[
            "keys",
            "create",
            "--role",
            "reviewer",
            "--name",
            "ana",
            "--data-dir",
            &data_dir,
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let ana = stdout(&out).trim().to_owned();
    app.decided(&ana, &id_of(&h), &json!({"action": "approve"}))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_changes_are_audited_without_the_key_itself() {
    let app = TestApp::spawn().await;
    let key = app.key("agent", "sales-bot").await;
    let resp = app.revoke_key(&app.admin_key(), "sales-bot").await;
    assert_eq!(resp.status().as_u16(), 204);
    let entries = audit_lines(&app, "").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert!(actions.contains(&"key.created"), "{actions:?}");
    assert!(actions.contains(&"key.revoked"), "{actions:?}");
    let text = serde_json::to_string(&entries).unwrap_or_default();
    assert!(!text.contains(&key), "a key never reaches the audit log");
    assert!(
        !text.contains(&app.admin_key()),
        "a key never reaches the audit log"
    );
}

/// `GET /v1/audit{query}` as JSON lines, parsed.
async fn audit_lines(app: &TestApp, query: &str) -> Vec<Value> {
    let resp = app
        .get_path(Some(&app.admin_key()), &format!("/v1/audit{query}"))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = header(&resp, "content-type");
    assert!(
        content_type.starts_with("application/x-ndjson"),
        "{content_type}"
    );
    let text = resp.text().await.expect("the audit body");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

async fn some_activity(app: &TestApp) -> Cast {
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    app.decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    app.submitted(&cast.agent, &data_deletion()).await;
    cast
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_is_json_lines_of_chained_entries() {
    let app = TestApp::spawn().await;
    some_activity(&app).await;
    let entries = audit_lines(&app, "").await;
    assert!(
        entries.len() >= 13,
        "10 keys, 2 submissions, 1 decision: {}",
        entries.len()
    );
    let mut prev: Option<&Value> = None;
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"].as_i64(), Some(i as i64 + 1), "{e}");
        for field in ["at", "actor", "action", "prev_hash", "hash"] {
            assert!(e[field].is_string(), "no `{field}` in {e}");
        }
        assert!(e.get("data").is_some(), "{e}");
        match prev {
            None => assert_eq!(e["prev_hash"], "0".repeat(64)),
            Some(p) => assert_eq!(e["prev_hash"], p["hash"]),
        }
        prev = Some(e);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_pages_with_after_and_limit() {
    let app = TestApp::spawn().await;
    some_activity(&app).await;
    let page = audit_lines(&app, "?after=2&limit=3").await;
    let seqs: Vec<i64> = page
        .iter()
        .map(|e| e["seq"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(seqs, [3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_admin_reads_the_audit_log() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for key in [&cast.agent, &cast.ana] {
        expect_problem(app.get_path(Some(key), "/v1/audit").await, 403).await;
        expect_problem(app.get_path(Some(key), "/v1/audit/verify").await, 403).await;
    }
    expect_problem(app.get_path(None, "/v1/audit").await, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untouched_chain_verifies_through_the_api_and_the_cli() {
    let app = TestApp::spawn().await;
    some_activity(&app).await;
    let n = audit_lines(&app, "").await.len() as u64;
    let verdict = app.audit_verify().await;
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(verdict["entries"].as_u64(), Some(n));
    assert!(verdict.get("first_bad_seq").is_none_or(Value::is_null));

    let out = app
        .cli(&["audit", "verify", "--data-dir", &app.data_dir_arg()])
        .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_export_prints_the_same_json_lines_as_the_api() {
    let app = TestApp::spawn().await;
    some_activity(&app).await;
    let api = audit_lines(&app, "").await;
    let out = app
        .cli(&["audit", "export", "--data-dir", &app.data_dir_arg()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let exported: Vec<Value> = stdout(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let hashes = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|e| e["hash"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(hashes(&exported), hashes(&api));
}
