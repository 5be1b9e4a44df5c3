//! The agent's callback: internal addresses refused (at submission, and at send time when
//! a name resolves to one) unless allow-listed; the decision, the outcome and a cancel
//! told to the agent.

use super::support::*;
use crate::common::receiver::Receiver;
use crate::common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn internal_callback_urls_are_refused_unless_allow_listed() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &[]).await;
    let agent = app.key("agent", "bot").await;
    for url in [
        rx.url("/cb"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://localhost/cb".to_owned(),
        "http://[::1]:9/cb".to_owned(),
        "http://10.1.2.3/cb".to_owned(),
        // Other spellings of internal addresses.
        "http://0177.0.0.1/cb".to_owned(),
        "http://127.1/cb".to_owned(),
        "http://2130706433/cb".to_owned(),
        "http://[::ffff:127.0.0.1]/cb".to_owned(),
        "http://[::ffff:a9fe:a9fe]/latest".to_owned(),
        "http://metadata.google.internal/x".to_owned(),
        "http://LOCALHOST./cb".to_owned(),
        // Not http(s), or with credentials.
        "file:///etc/passwd".to_owned(),
        "http://user:pw@example.com/cb".to_owned(),
    ] {
        let mut p = reply_packet("Call me");
        p["callback_url"] = json!(url);
        let problem = expect_problem(app.submit(&agent, &p).await, 422).await;
        assert!(
            error_fields(&problem).contains(&"callback_url".to_owned()),
            "{url}: {problem}"
        );
    }
    assert!(rx.requests("/cb").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_hears_the_decision_and_the_outcome_at_its_callback() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &["--callback-allow", "127.0.0.1"]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let mut p = reply_packet("Call me back");
    p["callback_url"] = json!(rx.url("/cb"));
    let id = app.submitted_id(&agent, &p).await;
    // Out-of-list internal addresses are still refused.
    let mut q = reply_packet("Call me back");
    q["callback_url"] = json!("http://127.0.0.2:9/cb");
    let problem = expect_problem(app.submit(&agent, &q).await, 422).await;
    assert!(error_fields(&problem).contains(&"callback_url".to_owned()));

    let approved = app.decided(&oz, &id, &json!({"action": "approve"})).await;
    assert_eq!(approved["status"], "approved");
    let req = rx.wait_for("/cb", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.decision", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["status"], "approved", "{body}");
    assert_eq!(
        body["data"]["url"],
        format!("{PUBLIC_URL}/handoffs/{id}"),
        "{body}"
    );
    assert!(
        body["data"]["receipt"].is_string(),
        "the approval's receipt: {body}"
    );
    assert_eq!(body["data"]["receipt"], approved["receipt"], "{body}");

    expect_json(
        app.outcome(&agent, &id, &json!({"result": "executed"}))
            .await,
        200,
    )
    .await;
    let reqs = rx.wait_for("/cb", 2, WAIT).await;
    let out = &reqs[1];
    assert_signed(out, SECRET);
    let body = out.json();
    assert_eq!(body["type"], "handoff.outcome", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["status"], "executed", "{body}");
    assert_ne!(
        out.header("webhook-id"),
        req.header("webhook-id"),
        "two events, two ids"
    );

    let entries = wait_notifications(&app, &id, WAIT, |e| {
        e["action"] == "notification.sent" && e["data"]["event"] == "handoff.outcome"
    })
    .await;
    assert!(
        entries
            .iter()
            .any(|e| e["data"]["event"] == "handoff.decision" && e["data"]["channel"] == "callback"),
        "{entries:#?}"
    );
    assert_nothing_pending(&app).await;
    assert_eq!(rx.requests("/cb").len(), 2, "one event per change");
    assert_audit_ok(&app).await;
}

/// A name (from /etc/hosts) that resolves to a loopback address without being one of the
/// names refused at submission.
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter(|l| l.trim_start().starts_with("127."))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|n| {
            let n = n.to_ascii_lowercase();
            !(n == "localhost"
                || n.ends_with(".localhost")
                || n.ends_with(".local")
                || n.ends_with(".internal")
                || n.starts_with("metadata")
                || n == "instance-data")
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_name_that_resolves_to_loopback_is_refused_at_send_time() {
    let Some(alias) = loopback_alias() else {
        eprintln!("no loopback alias in /etc/hosts: skipped");
        return;
    };
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &[]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let port = rx.base.rsplit(':').next().expect("a port");
    let mut p = reply_packet("Sneaky");
    p["callback_url"] = json!(format!("http://{alias}:{port}/cb"));
    // A name passes at submission; what it resolves to is checked when sending.
    let id = app.submitted_id(&agent, &p).await;
    app.decided(&oz, &id, &json!({"action": "approve"})).await;
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 1, "refused for good at once: {entries:#?}");
    let data = &entries[0]["data"];
    assert_eq!(data["channel"], "callback", "{data}");
    assert!(
        data["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{data}"
    );
    assert_nothing_pending(&app).await;
    assert!(
        rx.requests("/cb").is_empty(),
        "the callback reached loopback"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_handoff_tells_the_agent_at_its_callback() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &["--callback-allow", "127.0.0.1"]).await;
    let agent = app.key("agent", "bot").await;
    let mut p = reply_packet("Never mind");
    p["callback_url"] = json!(rx.url("/cb"));
    let id = app.submitted_id(&agent, &p).await;
    expect_json(app.cancel(&agent, &id).await, 200).await;
    let req = rx.wait_for("/cb", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.cancelled", "{body}");
    assert_eq!(body["data"]["status"], "cancelled", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
}
