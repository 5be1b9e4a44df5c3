//! The service around the API: health, metrics, the OpenAPI document, the first start and
//! a graceful stop.

use crate::common::*;

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
async fn every_error_is_a_problem_document() {
    let app = TestApp::spawn().await;
    expect_problem(app.get_path(None, "/v1/handoffs").await, 401).await;
    let agent = app.key("agent", "ops-bot").await;
    expect_problem(app.get_path(Some(&agent), "/v1/audit").await, 403).await;
    expect_problem(app.get(&agent, "hnd_01JD0000000000000000000000").await, 404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_parameters_of_the_wrong_type_or_range_are_422_naming_each() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key();
    for (path, fields) in [
        ("/v1/audit?limit=1.5&after=-1", vec!["after", "limit"]),
        ("/v1/audit?limit=0", vec!["limit"]),
        ("/v1/deliveries?limit=abc", vec!["limit"]),
        (
            "/v1/deliveries?state=lost&limit=501",
            vec!["state", "limit"],
        ),
        ("/v1/handoffs?level=7&limit=x", vec!["level", "limit"]),
        ("/v1/handoffs/hnd_01ABC?wait=soon", vec!["wait"]),
        ("/v1/handoffs/hnd_01ABC?wait=-1", vec!["wait"]),
    ] {
        let problem = expect_problem(app.get_path(Some(&admin), path).await, 422).await;
        let mut got = error_fields(&problem);
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "{path}");
    }
    // Good values still work; a wait above 60 is served as 60, not refused.
    let audit = app
        .get_path(Some(&admin), "/v1/audit?after=0&limit=2")
        .await;
    assert_eq!(audit.status().as_u16(), 200);
    assert_eq!(audit.text().await.unwrap_or_default().lines().count(), 2);
    expect_json(
        app.get_path(Some(&admin), "/v1/deliveries?limit=1").await,
        200,
    )
    .await;
    let problem = expect_problem(
        app.get_path(Some(&admin), "/v1/handoffs/hnd_01ABC?wait=600")
            .await,
        404,
    )
    .await;
    assert_eq!(
        problem["status"], 404,
        "the wait parsed; the handoff does not exist"
    );
}

/// The port speaks HTTP/1.1 and HTTP/2 (h2c), told apart by the first bytes: a request
/// whose first byte could begin HTTP/2's preface, arriving a byte at a time, is still
/// served as HTTP/1.1.
#[tokio::test(flavor = "multi_thread")]
async fn an_http1_request_that_starts_like_http2s_preface_is_served_as_http1() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    conn.set_nodelay(true).expect("nodelay");
    let request = format!("POST /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    let (first, rest) = request.as_bytes().split_at(1);
    conn.write_all(first).await.expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    conn.write_all(rest).await.expect("send");
    let answer = read_head(&mut conn).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 405"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// docs/API.md: every answer carries `X-Request-Id` (the client's when it is a sane one, else
/// the server's `req_…`) and `nosniff`, the observe layer's `415` included.
#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_a_request_id_and_nosniff_even_the_layers_own_415() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let sent = |id: &str| {
        app.client
            .get(app.url("/healthz"))
            .header("x-request-id", id)
            .send()
    };
    let echoed = sent("trace-1:a.b_c").await.expect("healthz");
    assert_eq!(header(&echoed, "x-request-id"), "trace-1:a.b_c");
    for insane in ["has space", "semi;colon", ""] {
        let resp = sent(insane).await.expect("healthz");
        let id = header(&resp, "x-request-id");
        assert!(id.starts_with("req_"), "{insane:?} answered as {id:?}");
    }
    let id = header(
        &sent(&"x".repeat(65)).await.expect("healthz"),
        "x-request-id",
    );
    assert!(id.starts_with("req_"), "{id}");

    let refused = app
        .client
        .post(app.url("/v1/handoffs"))
        .bearer_auth(&agent)
        .header("content-type", "text/plain")
        .header("x-request-id", "mine")
        .body("{}")
        .send()
        .await
        .expect("submit");
    assert_eq!(refused.status().as_u16(), 415);
    assert_eq!(header(&refused, "x-request-id"), "mine");
    assert_eq!(header(&refused, "x-content-type-options"), "nosniff");
    let fresh = app.get_path(Some(&agent), "/v1/handoffs").await;
    assert_eq!(fresh.status().as_u16(), 200);
    assert!(header(&fresh, "x-request-id").starts_with("req_"));
    assert_eq!(header(&fresh, "x-content-type-options"), "nosniff");
}
