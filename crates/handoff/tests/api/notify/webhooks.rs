//! Team webhooks: what is posted and signed, retries under one id, what stops them (410,
//! redirects, a silent receiver), what is not sent (a replay), and fan-out to targets.

use super::support::*;
use crate::common::receiver::{Gate, Receiver, Recorded, Reply};
use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_routed_handoff_is_posted_signed_to_the_team_webhook_and_audited() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hooks/T0P-SECRET"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let id = app
        .submitted_id(&agent, &reply_packet("Refund order 42?"))
        .await;

    let reqs = rx.wait_for("/hooks/T0P-SECRET", 1, WAIT).await;
    let req = &reqs[0];
    assert_signed(req, SECRET);
    assert!(
        !verify(
            SECRET_2,
            &req.header("webhook-id"),
            &req.header("webhook-timestamp"),
            req.body.as_bytes(),
            &req.header("webhook-signature")
        ),
        "only the configured secret signs"
    );
    assert_eq!(
        req.header("webhook-signature").split(' ').count(),
        1,
        "one secret, one signature"
    );
    let body = req.json();
    assert_eq!(body["type"], "handoff.routed", "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(
        body["data"]["url"],
        format!("{PUBLIC_URL}/handoffs/{id}"),
        "{body}"
    );
    assert_eq!(body["data"]["team"], "ops", "{body}");
    assert_eq!(body["data"]["status"], "pending", "{body}");
    assert_eq!(body["data"]["level"], 2, "{body}");
    assert_eq!(body["data"]["summary"], "Refund order 42?", "{body}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let sent: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .collect();
    assert_eq!(sent.len(), 1, "{entries:#?}");
    let data = &sent[0]["data"];
    assert_eq!(
        data["delivery"],
        req.header("webhook-id").as_str(),
        "{data}"
    );
    assert_eq!(data["event"], "handoff.routed", "{data}");
    assert_eq!(data["channel"], "webhook", "{data}");
    assert_eq!(data["attempt"], 1, "{data}");
    // The audit log keeps the URL's path (often a secret) out.
    let all = serde_json::to_string(&timeline(&app, &id).await).expect("JSON");
    assert!(!all.contains("T0P-SECRET"), "the URL path leaked: {all}");
    assert!(
        data["target"]
            .as_str()
            .is_some_and(|t| t.starts_with(&rx.base)),
        "{data}"
    );

    let d = delivery(&app, &req.header("webhook-id")).await;
    assert_eq!(d["state"], "delivered", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["handoff_id"], id.as_str(), "{d}");
    // Exactly one request: nothing is sent twice (and nothing is left to send).
    assert_nothing_pending(&app).await;
    assert_eq!(rx.requests("/hooks/T0P-SECRET").len(), 1);
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_under_the_same_webhook_id_until_delivered() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    rx.script(
        "/hook",
        &[Reply::Status(500), Reply::Status(500), Reply::Status(200)],
    );
    let app = notifying_app_on(&[format!("webhook:{}", rx.url("/hook"))], &[], &clock).await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Retry me")).await;

    // Each retry is due 250 ms (of the server's clock) after the failure, give or take
    // its spread: the clock is moved to it.
    for (seen, attempt) in [(1, 1), (2, 2)] {
        rx.wait_for("/hook", seen, WAIT).await;
        advance_to_retry(&app, &id, attempt).await;
    }
    let reqs = rx.wait_for("/hook", 3, WAIT).await;
    let msg = reqs[0].header("webhook-id");
    for r in &reqs {
        assert_signed(r, SECRET);
        assert_eq!(r.header("webhook-id"), msg, "one id on every attempt");
        assert_eq!(r.body, reqs[0].body, "the same body on every attempt");
    }
    let d = wait_delivery(&app, &msg, "delivered", WAIT).await;
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["handoff_id"], id.as_str(), "{d}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "notification.failed",
            "notification.failed",
            "notification.sent"
        ],
        "{entries:#?}"
    );
    for (n, e) in entries.iter().enumerate() {
        assert_eq!(e["data"]["delivery"], msg.as_str(), "{e}");
        assert_eq!(e["data"]["attempt"], n + 1, "{e}");
    }
    for e in &entries[..2] {
        assert_eq!(e["data"]["error"], "HTTP 500", "{e}");
        assert_eq!(e["data"]["final"], false, "{e}");
        assert!(e["data"]["next_attempt_at"].is_string(), "{e}");
    }
    // Past the whole schedule: nothing after the success.
    app.advance(Duration::from_secs(1));
    assert_nothing_pending(&app).await;
    assert_eq!(rx.requests("/hook").len(), 3, "nothing after the success");
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_stops_at_once_and_an_admin_can_redeliver_under_the_same_id() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    // The second request is answered when the test opens the gate.
    let gate = Gate::default();
    rx.script(
        "/hook",
        &[Reply::Status(410), Reply::After(gate.clone(), 200)],
    );
    let app = notifying_app_on(&[format!("webhook:{}", rx.url("/hook"))], &[], &clock).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let admin = app.admin_key();
    let id = app.submitted_id(&agent, &reply_packet("Gone")).await;

    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let msg = first.header("webhook-id");
    let d = wait_delivery(&app, &msg, "failed", WAIT).await;
    assert_eq!(d["attempts"], 1, "{d}");
    assert!(
        d["last_error"].as_str().is_some_and(|e| e.contains("410")),
        "{d}"
    );
    // With three retries left on the schedule, none is made: past the whole schedule,
    // nothing is pending.
    app.advance(Duration::from_secs(1));
    assert_nothing_pending(&app).await;
    assert_eq!(rx.requests("/hook").len(), 1, "410 stops at once");

    let entries =
        wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.failed").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let data = &entries[0]["data"];
    assert_eq!(data["final"], true, "{data}");
    assert_eq!(data["error"], "HTTP 410", "{data}");
    assert_eq!(data["delivery"], msg.as_str(), "{data}");
    assert!(
        data.get("next_attempt_at").is_none_or(Value::is_null),
        "{data}"
    );

    assert!(delivery_ids(&app, "failed").await.contains(&msg));
    assert!(!delivery_ids(&app, "pending").await.contains(&msg));
    assert!(!delivery_ids(&app, "delivered").await.contains(&msg));

    let path = format!("/v1/deliveries/{msg}/redeliver");
    for key in [&oz, &agent] {
        expect_problem(app.post_json(Some(key), &path, &json!({})).await, 403).await;
    }
    expect_problem(
        app.get_path(Some(&oz), &format!("/v1/deliveries/{msg}"))
            .await,
        403,
    )
    .await;
    expect_problem(
        app.post_json(
            Some(&admin),
            "/v1/deliveries/msg_00000000000000000000000000000000/redeliver",
            &json!({}),
        )
        .await,
        404,
    )
    .await;

    let again = expect_json(app.post_json(Some(&admin), &path, &json!({})).await, 200).await;
    assert_eq!(again["state"], "pending", "{again}");
    assert_eq!(again["id"], msg.as_str(), "{again}");
    // The receiver holds its answer to the new attempt: meanwhile it is pending.
    expect_problem(app.post_json(Some(&admin), &path, &json!({})).await, 409).await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    expect_problem(app.post_json(Some(&admin), &path, &json!({})).await, 409).await;
    gate.open();
    assert_eq!(
        reqs[1].header("webhook-id"),
        msg,
        "redelivered under the same id"
    );
    assert_eq!(reqs[1].body, first.body);
    assert_signed(&reqs[1], SECRET);
    let d = wait_delivery(&app, &msg, "delivered", WAIT).await;
    assert_eq!(d["attempts"], 1, "counted from the first again: {d}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "notification.failed",
            "notification.redelivered",
            "notification.sent"
        ],
        "{entries:#?}"
    );
    assert_eq!(entries[1]["data"]["delivery"], msg.as_str());
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    rx.script("/hook", &[Reply::RetryAfter(429, 2), Reply::Status(200)]);
    let app = notifying_app_on(&[format!("webhook:{}", rx.url("/hook"))], &[], &clock).await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Slow down")).await;

    rx.wait_for("/hook", 1, WAIT).await;
    wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.failed").await;
    // Past the schedule's 250 ms but not the 2 s asked for: the outbox wakes and waits on.
    app.advance(Duration::from_secs(1));
    app.advance(Duration::from_secs(1));
    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "the retry came {gap:?} after a 429 with Retry-After: 2 (schedule: 250ms)"
    );
    assert!(gap < Duration::from_secs(8), "the retry took {gap:?}");
    assert_eq!(reqs[0].header("webhook-id"), reqs[1].header("webhook-id"));
    let d = wait_delivery(&app, &reqs[0].header("webhook-id"), "delivered", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    assert_eq!(entries[0]["action"], "notification.failed");
    assert_eq!(entries[0]["data"]["error"], "HTTP 429");
    assert_eq!(entries[0]["data"]["final"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_never_answers_times_out_and_fails_while_the_server_keeps_serving() {
    let rx = Receiver::start().await;
    rx.script("/hook", &vec![Reply::Hold; 10]);
    let app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "1s", "--retry-schedule", "0s,250ms"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Anyone?")).await;

    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    // While the outbox waits on the silent receiver, the API answers.
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["status"], "pending");
    let other = app.submitted_id(&agent, &reply_packet("Meanwhile")).await;
    assert_ne!(other, id);

    let msg = first.header("webhook-id");
    let d = wait_delivery(&app, &msg, "failed", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timeout")),
        "{d}"
    );
    let reqs = rx.requests("/hook");
    let ours: Vec<&Recorded> = reqs
        .iter()
        .filter(|r| r.header("webhook-id") == msg)
        .collect();
    assert_eq!(ours.len(), 2, "two attempts, as scheduled");
    let gap = ours[1].at - ours[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "the second attempt came {gap:?} after the first: no 1 s timeout?"
    );
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    for e in &entries {
        assert_eq!(e["action"], "notification.failed", "{e}");
        assert!(
            e["data"]["error"]
                .as_str()
                .is_some_and(|m| m.contains("timeout")),
            "{e}"
        );
    }
    assert_eq!(entries[1]["data"]["final"], true);
    assert_audit_ok(&app).await;
}

/// A receiver that answers with a body that never ends: the status decides, the body is
/// never read (neither the memory nor the outbox's time goes into it).
#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_answering_an_endless_body_is_judged_by_its_status_alone() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::Endless(200), Reply::Endless(500)]);
    let app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "2s"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let first = app.submitted_id(&agent, &reply_packet("Big answer")).await;
    let a = rx.wait_about("/hook", &first, 1, WAIT).await[0].clone();
    let d = wait_delivery(&app, &a.header("webhook-id"), "delivered", WAIT).await;
    assert_eq!(d["attempts"], 1, "{d}");

    // A 500 with an endless body is a failure to retry, not a hang.
    let second = app.submitted_id(&agent, &reply_packet("Big error")).await;
    let b = rx.wait_about("/hook", &second, 2, WAIT).await;
    assert_eq!(b[0].header("webhook-id"), b[1].header("webhook-id"));
    wait_delivery(&app, &b[0].header("webhook-id"), "delivered", WAIT).await;
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    let app = notifying_app_on(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--retry-schedule", "0s,250ms"],
        &clock,
    )
    .await;
    // Every answer on /hook is a redirect to /elsewhere.
    rx.script("/hook", &vec![Reply::Redirect(307, "/elsewhere"); 10]);
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Moved")).await;
    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    advance_to_retry(&app, &id, 1).await;
    let d = wait_delivery(&app, &first.header("webhook-id"), "failed", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert!(
        d["last_error"].as_str().is_some_and(|e| e.contains("307")),
        "{d}"
    );
    assert_eq!(rx.requests("/hook").len(), 2);
    assert!(
        rx.requests("/elsewhere").is_empty(),
        "a redirect was followed"
    );
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_submission_notifies_nobody_again() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hook"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let p = reply_packet("Once");
    let a = expect_json(app.submit_idempotent(&agent, "k-1", &p).await, 201).await;
    let b = app.submit_idempotent(&agent, "k-1", &p).await;
    assert!(b.status().is_success(), "{}", b.status());
    let b: Value = b.json().await.expect("JSON");
    assert_eq!(a["id"], b["id"]);
    rx.wait_for("/hook", 1, WAIT).await;
    wait_delivery(
        &app,
        &rx.requests("/hook")[0].header("webhook-id"),
        "delivered",
        WAIT,
    )
    .await;
    assert_nothing_pending(&app).await;
    assert_eq!(rx.requests("/hook").len(), 1, "a replay notifies nobody");
    let ours: Vec<String> = delivery_ids(&app, "delivered").await;
    assert_eq!(ours.len(), 1, "{ours:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_change_makes_one_message_per_target_and_the_list_pages_through_them() {
    let rx = Receiver::start().await;
    let app = notifying_app(
        &[
            format!("webhook:{}", rx.url("/a")),
            format!("webhook:{}", rx.url("/b")),
            format!("slack:{}", rx.url("/c")),
        ],
        &[],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Fan out")).await;
    let a = rx.wait_for("/a", 1, WAIT).await;
    let b = rx.wait_for("/b", 1, WAIT).await;
    rx.wait_for("/c", 1, WAIT).await;
    assert_ne!(a[0].header("webhook-id"), b[0].header("webhook-id"));
    assert_eq!(a[0].body, b[0].body, "one event, verbatim to each webhook");

    let admin = app.admin_key();
    eventually(WAIT, "all three delivered", || async {
        delivery_ids(&app, "delivered").await.len() >= 3
    })
    .await;
    let first = expect_json(
        app.get_path(Some(&admin), "/v1/deliveries?limit=2").await,
        200,
    )
    .await;
    let items = first["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next_cursor");
    let second = expect_json(
        app.get_path(
            Some(&admin),
            &format!("/v1/deliveries?limit=2&cursor={cursor}"),
        )
        .await,
        200,
    )
    .await;
    let rest = second["items"].as_array().expect("items");
    assert_eq!(rest.len(), 1, "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    let all: std::collections::BTreeSet<String> = items.iter().chain(rest).map(id_of).collect();
    assert_eq!(all.len(), 3);
    for d in items.iter().chain(rest) {
        assert_eq!(d["handoff_id"], id.as_str(), "{d}");
        assert_eq!(d["event"], "handoff.routed", "{d}");
    }
    let channels: std::collections::BTreeSet<String> = items
        .iter()
        .chain(rest)
        .map(|d| d["channel"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        channels.into_iter().collect::<Vec<_>>(),
        ["slack", "webhook"]
    );
}
