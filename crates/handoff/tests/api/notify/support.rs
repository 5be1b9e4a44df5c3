//! What the notification tests share (the in-process ones in `tests/api/notify/` and the
//! crash ones in `tests/process/`): the Standard Webhooks signature check, the policy and
//! the server flags, and the admin's view of the outbox.
//!
//! Delivery results (`/v1/deliveries`, `notification.*` timeline entries) are committed
//! after the receiver answered and publish no event, so [`wait_delivery`],
//! [`wait_notifications`] and [`eventually`] are bounded wait-for-condition loops: the
//! only ones in these tests. Arrivals at the receiver are awaited, never polled.

use crate::common::receiver::Recorded;
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The Standard Webhooks known-answer secret; also the tests' current secret.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second secret, for a rotation (base64 of 32 ASCII bytes).
pub const SECRET_2: &str = "whsec_aGFuZG9mZi10ZXN0cy1zZWNvbmQtc2VjcmV0LWtleSE=";
pub const PUBLIC_URL: &str = "https://handoff.example";

pub const WAIT: Duration = Duration::from_secs(15);

// ---- signatures -------------------------------------------------------------------------

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the key of a `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("the secret is base64");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether one of the space-separated signatures of `header` is `secret`'s.
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let want = sign(secret, id, timestamp, body);
    header.split(' ').any(|sig| sig == want)
}

/// Insists that `req` is a Standard Webhooks request signed by `secret`, sent just now.
pub fn assert_signed(req: &Recorded, secret: &str) {
    let id = req.header("webhook-id");
    let ts = req.header("webhook-timestamp");
    let sig = req.header("webhook-signature");
    assert!(id.starts_with("msg_"), "webhook-id {id:?}");
    let secs: i64 = ts
        .parse()
        .unwrap_or_else(|_| panic!("webhook-timestamp {ts:?}"));
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - secs).abs() < 120,
        "webhook-timestamp {secs} is not now ({now})"
    );
    assert!(
        verify(secret, &id, &ts, req.body.as_bytes(), &sig),
        "no valid signature by {secret} in {sig:?} for id {id}, ts {ts}, body {}",
        req.body
    );
    assert!(
        req.header("content-type").starts_with("application/json"),
        "content-type {:?}",
        req.header("content-type")
    );
}

// ---- the server -------------------------------------------------------------------------
/// task `quick` expires after `expire_after`.
pub fn policy(notify: &[String], expire_after: &str) -> String {
    let notify = notify
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[defaults]
level = 2
route = "ops"

[teams.ops]
members = ["oz"]
notify = [{notify}]

[tasks.reply]
level = 2
route = "ops"

[tasks.quick]
level = 2
route = "ops"
expire_after = "{expire_after}"
"#
    )
}

pub fn reply_packet(summary: &str) -> Value {
    json!({"task": "reply", "summary": summary, "confidence": 0.99, "draft": "Hello."})
}

/// The flags of a notifying server: the public URL, the tests' secret, a fast retry
/// schedule, a 5 s delivery timeout; the caller's `args` replace ours of the same name.
pub fn notify_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--public-url",
        PUBLIC_URL,
        "--webhook-secret",
        SECRET,
        "--retry-schedule",
        "0s,250ms,250ms,250ms",
        "--delivery-timeout",
        "5s",
    ];
    // Later occurrences of a flag would clash with clap; the caller's replace ours.
    let overridden: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| a.starts_with("--"))
        .collect();
    let mut i = 0;
    while i < all.len() {
        if overridden.contains(&all[i]) {
            all.drain(i..i + 2);
        } else {
            i += 2;
        }
    }
    all.extend_from_slice(args);
    all
}

/// A server with `notify` for team `ops`, the tests' secret, the public URL and `args`.
pub async fn notifying_app(notify: &[String], args: &[&str]) -> TestApp {
    TestApp::spawn_with(Some(&policy(notify, "72h")), &notify_args(args)).await
}

/// [`notifying_app`] on `clock` (a manual clock: retries wait for [`TestApp::advance`]).
pub async fn notifying_app_on(
    notify: &[String],
    args: &[&str],
    clock: &std::sync::Arc<handoff::app::ManualClock>,
) -> TestApp {
    TestApp::spawn_on(
        Some(&policy(notify, "72h")),
        &notify_args(args),
        handoff::app::Clock::Manual(clock.clone()),
    )
    .await
}

/// A manual clock reading now, for a server and the receivers timing its requests.
pub fn manual_clock() -> std::sync::Arc<handoff::app::ManualClock> {
    handoff::app::ManualClock::new(chrono::Utc::now())
}

/// Nothing is left to send: a delivered or failed delivery is never sent again, so once
/// the outbox holds no pending delivery, no further request can come (until a change or
/// a timer queues one).
pub async fn assert_nothing_pending(app: &TestApp) {
    let pending = delivery_ids(app, "pending").await;
    assert!(pending.is_empty(), "deliveries still pending: {pending:?}");
}

/// Waits (up to `within`) until `check` holds, looking again every 10 ms: for what
/// commits without telling anyone (a delivery's result).
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn delivery(app: &TestApp, id: &str) -> Value {
    expect_json(
        app.get_path(Some(&app.admin_key()), &format!("/v1/deliveries/{id}"))
            .await,
        200,
    )
    .await
}

/// Waits until delivery `id` is in `state`; the delivery.
pub async fn wait_delivery(app: &TestApp, id: &str, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let d = delivery(app, id).await;
        if d["state"] == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "delivery {id} is not {state} within {within:?}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The ids of the deliveries listed under `state` (all pages).
pub async fn delivery_ids(app: &TestApp, state: &str) -> Vec<String> {
    let admin = app.admin_key();
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/deliveries?state={state}&limit=500");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = expect_json(app.get_path(Some(&admin), &path).await, 200).await;
        for d in page["items"].as_array().expect("items") {
            assert_eq!(d["state"], state, "{d}");
            ids.push(id_of(d));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

/// The timeline entries of a handoff, oldest first.
pub async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let body = expect_json(app.timeline(&app.admin_key(), id).await, 200).await;
    body["items"].as_array().expect("items").clone()
}

/// The `notification.*` entries of a handoff's timeline, waiting until `last` holds for
/// one of them.
pub async fn wait_notifications(
    app: &TestApp,
    id: &str,
    within: Duration,
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let entries: Vec<Value> = timeline(app, id)
            .await
            .into_iter()
            .filter(|e| {
                e["action"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("notification."))
            })
            .collect();
        if entries.iter().any(&last) {
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "the awaited notification entry is not on {id}'s timeline within {within:?}: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn assert_audit_ok(app: &TestApp) {
    let verdict = app.audit_verify().await;
    assert_eq!(verdict["ok"], true, "{verdict}");
}

/// Waits until attempt `attempt` of handoff `id`'s delivery failed with a retry planned,
/// then moves the manual clock just past that retry's `next_attempt_at` (retries are
/// spread by up to a tenth of their delay, so the schedule alone does not say when).
pub async fn advance_to_retry(app: &TestApp, id: &str, attempt: u64) {
    let planned = |e: &Value| {
        e["action"] == "notification.failed"
            && e["data"]["attempt"] == attempt
            && e["data"]["next_attempt_at"].is_string()
    };
    let entries = wait_notifications(app, id, WAIT, planned).await;
    let entry = entries
        .iter()
        .find(|e| planned(e))
        .expect("the entry awaited");
    let at = entry["data"]["next_attempt_at"]
        .as_str()
        .unwrap_or_default();
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .unwrap_or_else(|e| panic!("next_attempt_at {at:?}: {e}"))
        .with_timezone(&chrono::Utc);
    let now = app.manual_clock().now();
    if at >= now {
        let by = (at - now).to_std().unwrap_or_default() + Duration::from_millis(1);
        app.advance(by);
    }
}
