//! The API description (`GET /openapi.json`) and the handoff resource's JSON shape,
//! snapshot-tested with insta in the manner of crates.io's `tests/openapi.rs`: a change of
//! either shows up as a reviewed diff of `tests/snapshots/`, never by accident.
//!
//! `insta`'s `redactions` feature is off, so volatile values (ids, times, the receipt, the
//! policy version) are replaced by hand, each after checking that it looks as it should.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The operations of SPEC §4 that this server implements, as `(METHOD, path)`.
const SPEC_OPERATIONS: [(&str, &str); 21] = [
    ("POST", "/v1/handoffs"),
    ("GET", "/v1/handoffs"),
    ("GET", "/v1/handoffs/{id}"),
    ("POST", "/v1/handoffs/{id}/decisions"),
    ("POST", "/v1/handoffs/{id}/cancel"),
    ("POST", "/v1/handoffs/{id}/outcome"),
    ("GET", "/v1/handoffs/{id}/timeline"),
    ("GET", "/v1/events"),
    ("POST", "/v1/keys"),
    ("DELETE", "/v1/keys/{name}"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/audit/verify"),
    ("GET", "/v1/policy"),
    ("PUT", "/v1/policy"),
    ("POST", "/v1/policy/explain"),
    ("GET", "/v1/receipt-key"),
    ("POST", "/v1/integrations/slack"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    // Listed last: not in the document, which does not describe itself.
    ("GET", "/openapi.json"),
];

/// The endpoints SPEC §4 opens to everyone ("who: none").
const PUBLIC_PATHS: [&str; 4] = ["/v1/receipt-key", "/healthz", "/readyz", "/metrics"];
/// The endpoints that take no bearer key because the caller signs its requests instead
/// ("who: Slack (signed)").
const SIGNED_PATHS: [&str; 1] = ["/v1/integrations/slack"];

async fn openapi(app: &TestApp) -> Value {
    let resp = app.get_path(None, "/openapi.json").await;
    let content_type = header(&resp, "content-type");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    expect_json(resp, 200).await
}

/// Every `(METHOD, path)` the document describes.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item is an object");
            methods
                .keys()
                .filter(|m| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&m.as_str())
                })
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

/// The `(method, route)` labels of `handoff_http_requests_total` in `/metrics`.
fn matched_routes(metrics: &str) -> BTreeSet<(String, String)> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("handoff_http_requests_total{"))
        .filter_map(|rest| {
            let label = |name: &str| {
                let start = rest.find(&format!("{name}=\""))? + name.len() + 2;
                let len = rest[start..].find('"')?;
                Some(rest[start..start + len].to_owned())
            };
            Some((label("method")?, label("route")?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_matches_its_snapshot() {
    let app = TestApp::spawn().await;
    let mut doc = openapi(&app).await;

    assert_eq!(doc["openapi"], "3.1.0", "an OpenAPI 3.1 document");
    // The package version moves with every release; the snapshot should not.
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    doc["info"]["version"] = json!("[version]");

    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_of_the_spec_is_documented() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let documented = documented_operations(&doc);

    let missing: Vec<String> = SPEC_OPERATIONS
        .iter()
        .filter(|(_, path)| *path != "/openapi.json")
        .filter(|(m, p)| !documented.contains(&((*m).to_owned(), (*p).to_owned())))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "not in /openapi.json: {missing:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_is_served_by_the_router() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key();
    let doc = openapi(&app).await;
    let documented = documented_operations(&doc);
    assert!(
        documented.len() >= SPEC_OPERATIONS.len() - 1,
        "{documented:?}"
    );

    // Call each operation once, with made-up ids and an empty body: the answer may well be
    // 404 or 422, but it must come from the operation's route and not from the fallback.
    for (method, path) in &documented {
        let url = app.url(
            &path
                .replace("{id}", "hnd_00000000000000000000000000")
                .replace("{name}", "nobody"),
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let resp = app
            .client
            .request(method.clone(), url)
            .bearer_auth(&admin)
            .json(&json!({}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        assert_ne!(status, 405, "{method} {path} is documented but not routed");
        // The event stream never ends: its headers are enough.
        drop(resp);
    }

    let metrics = app.get_path(None, "/metrics").await;
    assert_eq!(metrics.status().as_u16(), 200);
    let served = matched_routes(&metrics.text().await.expect("the metrics text"));
    let unrouted: Vec<String> = documented
        .iter()
        .filter(|op| !served.contains(op))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        unrouted.is_empty(),
        "answered by no route of their own: {unrouted:?}; the router matched {served:?}"
    );
    assert!(
        !served.iter().any(|(_, route)| route == "unmatched"),
        "a documented operation fell through to the fallback: {served:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_public_endpoints_are_documented_without_a_bearer_key() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    assert_eq!(
        doc["security"],
        json!([{"bearer": []}]),
        "bearer by default"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );

    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let public: BTreeSet<&str> = paths
        .iter()
        .filter(|(_, item)| {
            item.as_object()
                .expect("a path item is an object")
                .values()
                .any(|op| op["security"] == json!([{}]))
        })
        .map(|(path, _)| path.as_str())
        .collect();
    let expected: BTreeSet<&str> = PUBLIC_PATHS.into_iter().chain(SIGNED_PATHS).collect();
    assert_eq!(public, expected);

    // And the server agrees: each answers without a key.
    for path in PUBLIC_PATHS {
        let status = app.get_path(None, path).await.status().as_u16();
        assert_eq!(status, 200, "GET {path} without a key");
    }
}

/// Replaces the string at `pointer` by `[label]`, insisting that it is there and that
/// `looks_right` accepts it: a redaction must not hide a wrong value.
fn redact(v: &mut Value, pointer: &str, label: &str, looks_right: impl Fn(&str) -> bool) {
    let slot = v
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("nothing at {pointer}"));
    let text = slot
        .as_str()
        .unwrap_or_else(|| panic!("{pointer} is not a string: {slot}"));
    assert!(looks_right(text), "{pointer} = {text:?}");
    *slot = json!(format!("[{label}]"));
}

fn is_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok_and(|t| t.offset().local_minus_utc() == 0)
}

fn is_handoff_id(s: &str) -> bool {
    s.strip_prefix("hnd_")
        .is_some_and(|ulid| ulid.len() == 26 && ulid.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn is_policy_version(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn is_compact_jws(s: &str) -> bool {
    s.split('.').count() == 3 && s.split('.').all(|part| !part.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_handoff_resource_has_the_shape_of_its_snapshot() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let ana = app.key("reviewer", "ana").await;

    // A handoff through most of its life: submitted, edited (and so approved), executed.
    let mut packet = client_reply();
    packet["subject"] = json!("Acme Corp");
    packet["flags"] = json!(["returning client"]);
    packet["context"] = json!({"tier": "gold"});
    let id = app.submitted_id(&agent, &packet).await;
    let edited = "Dear client, the invoice copy is attached.";
    let body = json!({"action": "edit", "draft": edited, "rationale": "friendlier"});
    app.decided(&ana, &id, &body).await;
    let outcome =
        json!({"result": "executed", "detail": "sent", "draft_sha256": text_draft_sha256(edited)});
    let mut h = expect_json(app.outcome(&agent, &id, &outcome).await, 200).await;
    assert_eq!(
        h,
        app.fetch(&agent, &id).await,
        "the answer is the stored resource"
    );

    redact(&mut h, "/id", "id", is_handoff_id);
    for time in [
        "/created_at",
        "/updated_at",
        "/evaluation/sla_due_at",
        "/evaluation/expires_at",
        "/approvals/0/at",
        "/decision/at",
        "/outcome/at",
    ] {
        redact(&mut h, time, "time", is_time);
    }
    redact(
        &mut h,
        "/evaluation/policy_version",
        "policy_version",
        is_policy_version,
    );
    redact(&mut h, "/receipt", "receipt", is_compact_jws);
    redact(&mut h, "/receipt_ed25519", "receipt", is_compact_jws);
    // Draft digests stay: they depend on the draft alone (SPEC §3), so they are stable.

    insta::assert_json_snapshot!("handoff_resource", h);
}

/// Query parameters are documented in the query (a parameter "in path" that the path does
/// not name made generated clients and schemathesis send requests nobody could serve),
/// and every error is problem+json, with 401 wherever a key is needed.
#[tokio::test(flavor = "multi_thread")]
async fn parameters_sit_where_they_are_read_and_errors_are_problems() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut public = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("operations") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or("");
                match p["in"].as_str() {
                    Some("path") => assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name}"
                    ),
                    Some("query") => assert_eq!(p["required"], false, "{method} {path}: {name}"),
                    Some("header") => {}
                    other => panic!("{method} {path}: {name} in {other:?}"),
                }
            }
            for (code, response) in op["responses"].as_object().expect("responses") {
                // `/readyz` answers its own small JSON, also when not ready.
                if (code.starts_with('4') || code.starts_with('5')) && path != "/readyz" {
                    let content = response["content"].as_object().expect("content");
                    assert!(
                        content.keys().all(|k| k == "application/problem+json"),
                        "{method} {path} {code}: {content:?}"
                    );
                }
            }
            let keyless = op["security"] == json!([{}]);
            if keyless {
                public += 1;
            } else {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path}: no 401"
                );
            }
            // 400 and 415 are about JSON: Slack's form is neither parsed as JSON nor typed.
            let json_body = op["requestBody"]["content"]
                .as_object()
                .is_some_and(|c| c.keys().any(|k| k.contains("json")));
            if json_body && method == "post" {
                for code in ["400", "413", "415"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path}: no {code}"
                    );
                }
            }
        }
    }
    assert!(public >= 4, "the public endpoints say they need no key");
}
