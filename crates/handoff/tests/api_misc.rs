//! The service around the API: health, metrics, the OpenAPI document, the first start and
//! a graceful stop.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz_answer_200_without_a_key() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app.get_path(None, path).await;
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_prometheus_text_about_handoff() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    app.submitted(&agent, &routine_ticket()).await;
    let resp = app.get_path(None, "/metrics").await;
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = header(&resp, "content-type");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = resp.text().await.expect("metrics text");
    assert!(text.contains("handoff_"), "{text}");
    assert!(
        !text.contains("hnd_"),
        "metrics are labelled by route, never by raw path or id"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_3_1_and_lists_the_handoffs_endpoints() {
    let app = TestApp::spawn().await;
    let doc = expect_json(app.get_path(None, "/openapi.json").await, 200).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "openapi {version}");
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/handoffs",
        "/v1/handoffs/{id}",
        "/v1/handoffs/{id}/decisions",
        "/v1/keys",
        "/v1/receipt-key",
    ] {
        assert!(paths.contains_key(path), "{path} not in {:?}", paths.keys());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_receipt_key_is_an_ed25519_jwk_set_without_auth() {
    let app = TestApp::spawn().await;
    let jwks = expect_json(app.get_path(None, "/v1/receipt-key").await, 200).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(k["kty"], "OKP");
        assert_eq!(k["crv"], "Ed25519");
        let x = k["x"].as_str().unwrap_or_default();
        assert_eq!(x.len(), 43, "32 bytes in unpadded base64url: {x}");
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(k.get("d").is_none(), "never the private part");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_start_creates_the_data_dir_and_a_private_admin_key_file() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    assert!(app.db_path().exists(), "SQLite at DIR/handoff.db");
    let file = app.data_dir().join("admin.key");
    let mode = std::fs::metadata(&file)
        .expect("admin.key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let text = std::fs::read_to_string(&file).expect("admin.key");
    assert_eq!(text.trim().lines().count(), 1);
    let key = app.admin_key();
    assert!(key.starts_with("hk_"), "{key}");
    let lines = app.stdout_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.trim() == format!("admin key: {key}")),
        "{lines:?}"
    );
    // The key printed is the key that works.
    expect_json(app.get_path(Some(&key), "/v1/audit/verify").await, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0() {
    let mut app = TestApp::spawn().await;
    let status = app.sigterm().await;
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_an_in_flight_request_before_exiting_0() {
    let mut app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let poll = {
        let client = app.client.clone();
        let url = app.url(&format!("/v1/handoffs/{id}?wait=2"));
        let agent = cast.agent.clone();
        tokio::spawn(async move {
            let resp = client.get(url).bearer_auth(agent).send().await;
            match resp {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body: Option<Value> = r.json().await.ok();
                    (status, body)
                }
                Err(e) => panic!("the in-flight request was cut off: {e}"),
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.send_sigterm();
    let (status, body) = poll.await.expect("the in-flight request panicked");
    assert_eq!(status, 200);
    assert_eq!(
        body.map(|b| b["status"].clone()),
        Some(Value::from("pending"))
    );
    let exit = app
        .wait_for_exit(Duration::from_secs(30))
        .await
        .expect("the server did not exit within 30 s of SIGTERM");
    assert_eq!(exit.code(), Some(0), "{exit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_0_even_with_an_event_stream_open() {
    let mut app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let _stream = app.events(&agent, None).await;
    app.send_sigterm();
    let exit = app
        .wait_for_exit(Duration::from_secs(15))
        .await
        .expect("an open event stream kept the server from exiting");
    assert_eq!(exit.code(), Some(0), "{exit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_a_problem_document() {
    let app = TestApp::spawn().await;
    expect_problem(app.get_path(None, "/v1/handoffs").await, 401).await;
    let agent = app.key("agent", "ops-bot").await;
    expect_problem(app.get_path(Some(&agent), "/v1/audit").await, 403).await;
    expect_problem(app.get(&agent, "hnd_01JD0000000000000000000000").await, 404).await;
}
