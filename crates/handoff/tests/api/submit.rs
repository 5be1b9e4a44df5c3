//! `POST /v1/handoffs`: what an agent sends and what comes back (SPEC §2, §3).

use crate::common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_article_packet_is_accepted_verbatim() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;

    let resp = app.submit(&agent, &seed_packet()).await;
    assert_eq!(header(&resp, "etag"), "\"1\"");
    let h = expect_json(resp, 201).await;

    let id = id_of(&h);
    assert!(id.starts_with("hnd_") && id.len() == 4 + 26, "id {id}");
    assert_eq!(h["version"], 1);
    assert_eq!(h["status"], "pending");
    assert_eq!(h["task"], "respond_to_client_inquiry");
    assert_eq!(h["agent"], "sales-bot");
    // Canonical names: the aliases `client` and `draft_response` are gone.
    assert_eq!(h["packet"]["subject"], "Acme Corp");
    assert_eq!(h["packet"]["draft"], "...");
    assert!(h["packet"].get("client").is_none() && h["packet"].get("draft_response").is_none());
    assert_eq!(h["packet"]["confidence"], 0.72);
    assert_eq!(h["packet"]["recommended_action"], "send_with_modifications");
    assert_eq!(
        h["packet"]["options"],
        json!(["approve", "edit", "reject", "escalate_to_sales"])
    );
    assert_eq!(
        h["packet"]["flags"],
        json!(["non-standard request", "high-value account"])
    );
    let ev = &h["evaluation"];
    assert_eq!(ev["level"], 2);
    assert_eq!(ev["risk"], "medium");
    assert_eq!(ev["route"], "sales-leads");
    assert_eq!(ev["approvals_required"], 2);
    assert_eq!(ev["flags"], json!(["four-eyes"]));
    assert_eq!(
        ev["policy_version"],
        format!("sha256:{}", sha256_hex(EXAMPLE_POLICY.as_bytes()))
    );
    assert!(ev["sla_due_at"].is_string() && ev["expires_at"].is_string());
    assert!(!ev["reasons"].as_array().expect("reasons").is_empty());
    assert_eq!(h["assigned_team"], "sales-leads");
    assert_eq!(h["approvals"], json!([]));
    assert_eq!(
        h["draft_versions"],
        json!([{"version": 1, "by": "agent", "sha256": text_draft_sha256("...")}])
    );
    assert!(h["created_at"].is_string() && h["updated_at"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn sla_due_at_and_expires_at_count_from_created_at() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let h = app.submitted(&agent, &client_reply()).await;
    let at = |field: &Value| {
        chrono::DateTime::parse_from_rfc3339(field.as_str().expect("a time")).expect("RFC 3339")
    };
    let created = at(&h["created_at"]);
    // respond_to_client_inquiry: sla 2h; defaults: expire_after 72h.
    assert_eq!(
        at(&h["evaluation"]["sla_due_at"]) - created,
        chrono::Duration::hours(2)
    );
    assert_eq!(
        at(&h["evaluation"]["expires_at"]) - created,
        chrono::Duration::hours(72)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_1_handoff_is_approved_by_policy_with_a_receipt() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let h = app.submitted(&agent, &routine_ticket()).await;
    assert_eq!(h["evaluation"]["level"], 1);
    assert_eq!(h["status"], "approved");
    assert_eq!(h["decision"]["by"], "policy");
    assert_eq!(h["assigned_team"], "ops");
    let receipt = h["receipt"].as_str().expect("a receipt string");
    assert_eq!(receipt.split('.').count(), 3, "a compact JWS: {receipt}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_2_handoff_waits_pending_for_its_team() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let h = app.submitted(&agent, &client_reply()).await;
    assert_eq!(h["evaluation"]["level"], 2);
    assert_eq!(h["status"], "pending");
    assert_eq!(h["assigned_team"], "sales");
    assert!(h.get("receipt").is_none_or(Value::is_null), "{h}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_3_handoff_is_handed_over() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "data-bot").await;
    let h = app.submitted(&agent, &data_deletion()).await;
    assert_eq!(h["evaluation"]["level"], 3);
    assert_eq!(h["status"], "handed_over");
    assert_eq!(h["assigned_team"], "data");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_4_handoff_is_alerted() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "data-bot").await;
    let h = app.submitted(&agent, &fraud_report()).await;
    assert_eq!(h["evaluation"]["level"], 4);
    assert_eq!(h["status"], "alerted");
    assert_eq!(h["assigned_team"], "security");
    assert_eq!(h["evaluation"]["flags"], json!(["alert"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_task_is_never_autonomous() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let h = app.submitted(&agent, &packet("rename_files", 0.99)).await;
    assert_eq!(h["status"], "pending");
    assert_eq!(h["assigned_team"], "ops");
    assert_eq!(h["evaluation"]["flags"], json!(["unknown task"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_cannot_talk_its_way_below_the_policy_level() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "data-bot").await;
    let mut p = data_deletion();
    p["rubric"] = json!({"impact": "low", "reversibility": "low", "uncertainty": "low"});
    p["context"] = json!({"level": 1});
    p["level"] = json!(1);
    let h = app.submitted(&agent, &p).await;
    assert_eq!(h["evaluation"]["level"], 3);
    assert_eq!(h["status"], "handed_over");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_top_level_fields_are_kept_in_packet_extra() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let mut p = routine_ticket();
    p["ticket_url"] = json!("https://tickets.example/4411");
    let h = app.submitted(&agent, &p).await;
    assert_eq!(
        h["packet"]["extra"]["ticket_url"],
        "https://tickets.example/4411"
    );
    assert_eq!(h["status"], "approved");
}

/// A valid packet with `field` set to `value` (or removed, for `null`).
fn with(field: &str, value: Value) -> Value {
    let mut p = client_reply();
    let obj = p.as_object_mut().expect("a packet is an object");
    if value.is_null() {
        obj.remove(field);
    } else {
        obj.insert(field.to_owned(), value);
    }
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_field_is_a_422_naming_that_field() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let cases: Vec<(&str, Value)> = vec![
        ("task", with("task", Value::Null)),
        ("task", with("task", json!("Respond To Client"))),
        ("task", with("task", json!("x".repeat(65)))),
        ("task", with("task", json!(""))),
        ("task", with("task", json!(42))),
        ("summary", with("summary", Value::Null)),
        ("summary", with("summary", json!(""))),
        ("summary", with("summary", json!("s".repeat(2001)))),
        ("confidence", with("confidence", Value::Null)),
        ("confidence", with("confidence", json!(1.5))),
        ("confidence", with("confidence", json!(-0.1))),
        ("confidence", with("confidence", json!("high"))),
        ("subject", with("subject", json!("s".repeat(201)))),
        ("draft", with("draft", json!("d".repeat(256 * 1024 + 1)))),
        ("flags", with("flags", json!("urgent"))),
        ("flags", with("flags", json!(vec!["f"; 33]))),
        ("flags", with("flags", json!(["f".repeat(101)]))),
        ("options", with("options", json!(vec!["o"; 9]))),
        ("options", with("options", json!([{"label": "no id"}]))),
        (
            "evidence",
            with("evidence", json!([{"detail": "no label"}])),
        ),
        ("rubric", with("rubric", json!({"impact": "huge"}))),
        ("rubric", with("rubric", json!({"colour": "low"}))),
        ("context", with("context", json!(["not", "an", "object"]))),
        (
            "context",
            with("context", json!({"blob": "c".repeat(64 * 1024)})),
        ),
        ("callback_url", with("callback_url", json!("not a url"))),
        (
            "callback_url",
            with("callback_url", json!("ftp://example.com/x")),
        ),
    ];
    for (field, packet) in cases {
        let problem = expect_problem(app.submit(&agent, &packet).await, 422).await;
        let fields = error_fields(&problem);
        assert!(
            fields.iter().any(|f| f == field
                || f.starts_with(&format!("{field}["))
                || f.starts_with(&format!("{field}."))),
            "expected `{field}` among {fields:?} for {}",
            &packet.to_string()[..packet.to_string().len().min(200)]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_packet_with_several_bad_fields_names_them_all_at_once() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let p = json!({"task": "Bad Task", "summary": "", "confidence": 7});
    let problem = expect_problem(app.submit(&agent, &p).await, 422).await;
    let fields = error_fields(&problem);
    for field in ["task", "summary", "confidence"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_packet_that_is_not_an_object_is_a_422() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    expect_problem(app.submit(&agent, &json!(["task"])).await, 422).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_name_twice_is_a_400_naming_its_place_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    // The policy must judge what every reader sees: serde would keep the last `task`
    // (a level-1 tag), another reader the first (a client reply).
    let body = r#"{"task":"respond_to_client_inquiry","summary":"s","confidence":0.9,"task":"tag_ticket"}"#;
    let problem = expect_problem(app.submit_raw(&cast.agent, body).await, 400).await;
    assert_eq!(error_fields(&problem), ["/task"]);
    let nested = r#"{"task":"make_purchase","summary":"s","confidence":0.9,"context":{"amount":10,"amount":48000}}"#;
    let problem = expect_problem(app.submit_raw(&cast.agent, nested).await, 400).await;
    assert_eq!(error_fields(&problem), ["/context/amount"]);
    let listed = expect_json(app.list(&cast.agent, &[]).await, 200).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );

    // Decisions too.
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = app
        .client
        .post(app.url(&format!("/v1/handoffs/{id}/decisions")))
        .bearer_auth(&cast.ana)
        .header("content-type", "application/json")
        .body(r#"{"action":"reject","rationale":"no","action":"approve"}"#)
        .send()
        .await
        .expect("POST");
    let problem = expect_problem(resp, 400).await;
    assert_eq!(error_fields(&problem), ["/action"]);
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    expect_problem(app.submit_raw(&agent, "{\"task\": \"x\",").await, 400).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_one_mebibyte_is_a_413() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let mut p = client_reply();
    p["padding"] = json!("p".repeat(1024 * 1024 + 1));
    let body = serde_json::to_vec(&p).expect("JSON");
    expect_problem(app.submit_raw(&agent, body).await, 413).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_just_under_one_mebibyte_is_not_refused_for_its_size() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let mut p = client_reply();
    p["padding"] = json!("p".repeat(1000 * 1000));
    app.submitted(&agent, &p).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submitting_without_a_key_or_with_an_unknown_key_is_a_401() {
    let app = TestApp::spawn().await;
    let resp = app.post_json(None, "/v1/handoffs", &client_reply()).await;
    expect_problem(resp, 401).await;
    let resp = app.submit("hk_not_a_real_key", &client_reply()).await;
    expect_problem(resp, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_cannot_submit() {
    let app = TestApp::spawn().await;
    let ana = app.key("reviewer", "ana").await;
    expect_problem(app.submit(&ana, &client_reply()).await, 403).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_and_body_return_the_same_handoff() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let first = app
        .submit_idempotent(&agent, "req-1", &client_reply())
        .await;
    assert_ne!(header(&first, "idempotent-replayed"), "true");
    let first = expect_json(first, 201).await;

    let again = app
        .submit_idempotent(&agent, "req-1", &client_reply())
        .await;
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    let again = expect_json(again, 200).await;
    assert_eq!(id_of(&again), id_of(&first));

    let (ids, _) = app.list_ids(&agent, &[]).await;
    assert_eq!(ids, vec![id_of(&first)], "a replay stores nothing new");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_with_another_body_is_a_422() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    expect_json(
        app.submit_idempotent(&agent, "req-1", &client_reply())
            .await,
        201,
    )
    .await;
    let other = app
        .submit_idempotent(&agent, "req-1", &routine_ticket())
        .await;
    expect_problem(other, 422).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_over_255_characters_is_a_422() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let resp = app
        .submit_idempotent(&agent, &"k".repeat(256), &client_reply())
        .await;
    expect_problem(resp, 422).await;
    let resp = app
        .submit_idempotent(&agent, &"k".repeat(255), &client_reply())
        .await;
    expect_json(resp, 201).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_are_scoped_to_the_agent() {
    let app = TestApp::spawn().await;
    let one = app.key("agent", "sales-bot").await;
    let two = app.key("agent", "ops-bot").await;
    let a = expect_json(
        app.submit_idempotent(&one, "shared", &client_reply()).await,
        201,
    )
    .await;
    let resp = app.submit_idempotent(&two, "shared", &client_reply()).await;
    assert_ne!(header(&resp, "idempotent-replayed"), "true");
    let b = expect_json(resp, 201).await;
    assert_ne!(id_of(&a), id_of(&b));
    assert_eq!(b["agent"], "ops-bot");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_does_not_say_it_is_json_is_a_415() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let body = serde_json::to_string(&client_reply()).expect("JSON");
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = app
            .client
            .post(app.url("/v1/handoffs"))
            .bearer_auth(&cast.agent)
            .body(body.clone());
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        let resp = req.send().await.expect("POST");
        let p = expect_problem(resp, 415).await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap_or("")
                .contains("application/json")
        );
    }
    // A JSON type with parameters, or another +json type, is JSON.
    for t in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let resp = app
            .client
            .post(app.url("/v1/handoffs"))
            .bearer_auth(&cast.agent)
            .header("Content-Type", t)
            .body(body.clone())
            .send()
            .await
            .expect("POST");
        assert_eq!(resp.status(), 201, "{t}");
    }
    // A POST without a body needs no type.
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let resp = app
        .client
        .post(app.url(&format!("/v1/handoffs/{id}/cancel")))
        .bearer_auth(&cast.agent)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 200);
}
