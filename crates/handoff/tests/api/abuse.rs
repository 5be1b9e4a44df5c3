//! The attack list of docs/SECURITY.md that has no better home: guessing keys (429 with
//! `Retry-After`), a key in the query string, `Last-Event-ID` garbage, JSON nested past
//! the parser's limit and numbers no reader agrees on.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

fn retry_after(resp: &reqwest::Response) -> u64 {
    let v = header(resp, "retry-after");
    v.parse()
        .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {v:?}"))
}

#[tokio::test]
async fn guessing_keys_is_slowed_to_ten_a_minute_with_429_and_retry_after() {
    let app = TestApp::spawn_manual(None, &[]).await;
    let agent = app.key("agent", "bot").await;
    for i in 0..10 {
        let resp = app
            .get_path(Some(&format!("hk_guess{i}")), "/v1/handoffs")
            .await;
        expect_problem(resp, 401).await;
    }
    // The eleventh guess is refused before its key is looked at.
    let resp = app.get_path(Some("hk_guess10"), "/v1/handoffs").await;
    let wait = retry_after(&resp);
    assert!((1..=6).contains(&wait), "Retry-After {wait}");
    let problem = expect_problem(resp, 429).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("too many")),
        "{problem}"
    );
    // A good key from the same address waits too: the source is refused, not the key.
    let resp = app.get_path(Some(&agent), "/v1/handoffs").await;
    assert_eq!(resp.status().as_u16(), 429);
    // Every front door that takes a key counts against the same source: MCP too.
    let resp = app
        .post_json(
            Some("hk_guess11"),
            "/mcp",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 429, "MCP");

    // Once the wait has passed, one more try; a good key works.
    app.advance(Duration::from_secs(wait));
    expect_json(app.get_path(Some(&agent), "/v1/handoffs").await, 200).await;
    // And each failure costs six more seconds.
    expect_problem(app.get_path(Some("hk_guess12"), "/v1/handoffs").await, 401).await;
    let resp = app.get_path(Some(&agent), "/v1/handoffs").await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(retry_after(&resp), 6);

    let metrics = app
        .get_path(None, "/metrics")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        metrics.contains("handoff_auth_failures_total 11"),
        "{metrics}"
    );
    assert!(
        metrics.contains("handoff_auth_throttled_total "),
        "{metrics}"
    );
}

#[tokio::test]
async fn requests_without_a_key_are_not_counted_as_guesses() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "bot").await;
    for _ in 0..30 {
        expect_problem(app.get_path(None, "/v1/handoffs").await, 401).await;
    }
    expect_json(app.get_path(Some(&agent), "/v1/handoffs").await, 200).await;
}

#[tokio::test]
async fn the_limit_is_a_serve_flag_and_off_turns_it_off() {
    let app = TestApp::spawn_with(None, &["--auth-failures", "off"]).await;
    let agent = app.key("agent", "bot").await;
    for i in 0..30 {
        let resp = app
            .get_path(Some(&format!("hk_guess{i}")), "/v1/handoffs")
            .await;
        expect_problem(resp, 401).await;
    }
    expect_json(app.get_path(Some(&agent), "/v1/handoffs").await, 200).await;

    let out = handoff_cli(&["serve", "--auth-failures", "ten a minute"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auth-failures"), "{err}");
}

#[tokio::test]
async fn a_key_in_the_query_string_never_authenticates() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "bot").await;
    for name in ["key", "api_key", "access_token", "token", "authorization"] {
        let path = format!("/v1/handoffs?{name}={agent}");
        let resp = app.get_path(None, &path).await;
        assert!(
            matches!(resp.status().as_u16(), 401 | 422),
            "?{name}= answered {}",
            resp.status()
        );
    }
}

#[tokio::test]
async fn last_event_id_garbage_is_a_400_naming_the_header() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for garbage in [
        "abc",
        "-1",
        "1.5",
        "1e3",
        "0x10",
        "99999999999999999999999",
        "",
    ] {
        let resp = app
            .client
            .get(app.url("/v1/events"))
            .bearer_auth(&cast.ana)
            .header("Last-Event-ID", garbage)
            .send()
            .await
            .expect("GET /v1/events");
        let problem = expect_problem(resp, 400).await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Last-Event-ID")),
            "{garbage:?}: {problem}"
        );
    }
    let resp = app
        .client
        .get(app.url("/v1/events"))
        .bearer_auth(&cast.ana)
        .header("Last-Event-ID", "1")
        .header("Last-Event-ID", "2")
        .send()
        .await
        .expect("GET /v1/events");
    expect_problem(resp, 400).await;
    // What the stream itself sends is taken.
    let _stream = app.events(&cast.ana, Some("0")).await;
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn json_nested_past_the_limit_is_a_400_that_says_so() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut packet = client_reply();
    packet["context"] = json!({"deep": "PLACEHOLDER"});
    let text = packet
        .to_string()
        .replace("\"PLACEHOLDER\"", &nested(100_000));
    let resp = app.submit_raw(&cast.agent, text).await;
    let problem = expect_problem(resp, 400).await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("nest"), "{detail}");

    // Within the limit it is an ordinary packet.
    let text = packet.to_string().replace("\"PLACEHOLDER\"", &nested(50));
    expect_json(app.submit_raw(&cast.agent, text).await, 201).await;
}

#[tokio::test]
async fn numbers_no_reader_agrees_on_are_refused_and_exact_ones_kept() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for (number, status) in [("1e400", 400), ("-1e400", 400), ("NaN", 400), ("01", 400)] {
        let mut packet = client_reply();
        packet["context"] = json!({"amount": "PLACEHOLDER"});
        let text = packet.to_string().replace("\"PLACEHOLDER\"", number);
        let resp = app.submit_raw(&cast.agent, text).await;
        expect_problem(resp, status).await;
    }
    // A large integer is kept as written, not rounded through a float.
    let mut packet = client_reply();
    packet["context"] = json!({"amount": "PLACEHOLDER"});
    let text = packet
        .to_string()
        .replace("\"PLACEHOLDER\"", "9007199254740993");
    let h = expect_json(app.submit_raw(&cast.agent, text).await, 201).await;
    let got = app.get(&cast.agent, &id_of(&h)).await.text().await;
    assert!(
        got.is_ok_and(|t| t.contains("9007199254740993")),
        "the integer was not kept exactly"
    );
}
