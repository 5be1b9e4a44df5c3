//! Routes to a team over time: an escalation by a reviewer, SLA reminders and escalations
//! up the chain (on a manual clock), level-4 alerts, and an expiry that passed while the
//! server was stopped.

use super::support::*;
use crate::common::receiver::Receiver;
use crate::common::*;
use handoff::app::Clock;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Two teams: `ops` (reviewer `oz`, SLA `sla`) escalates to `leads` (reviewer `lea`);
/// each notified at its own webhook; task `alarm` is level 4.
fn chain_policy(ops_hook: &str, leads_hook: &str, sla: &str) -> String {
    format!(
        r#"
[defaults]
level = 2
route = "ops"
sla = "{sla}"

[teams.ops]
members = ["oz"]
escalate_to = "leads"
notify = ["webhook:{ops_hook}"]

[teams.leads]
members = ["lea"]
notify = ["webhook:{leads_hook}"]

[tasks.reply]
level = 2
route = "ops"

[tasks.alarm]
level = 4
route = "ops"
"#
    )
}

fn chain_args() -> Vec<&'static str> {
    vec![
        "--public-url",
        PUBLIC_URL,
        "--webhook-secret",
        SECRET,
        "--retry-schedule",
        "0s,250ms,250ms",
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escalation_by_a_reviewer_routes_to_the_next_team_which_hears_of_it() {
    let rx = Receiver::start().await;
    let app = TestApp::spawn_with(
        Some(&chain_policy(&rx.url("/ops"), &rx.url("/leads"), "4h")),
        &chain_args(),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let id = app.submitted_id(&agent, &reply_packet("Up")).await;
    let routed = rx.wait_for("/ops", 1, WAIT).await[0].clone();
    assert_eq!(routed.json()["type"], "handoff.routed");

    let h = app
        .decided(
            &oz,
            &id,
            &json!({"action": "escalate", "rationale": "above my pay grade"}),
        )
        .await;
    assert_eq!(h["assigned_team"], "leads", "{h}");
    let req = rx.wait_for("/leads", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.routed", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["team"], "leads", "{body}");
    assert_ne!(req.header("webhook-id"), routed.header("webhook-id"));
    wait_delivery(&app, &req.header("webhook-id"), "delivered", WAIT).await;
    assert_nothing_pending(&app).await;
    assert_eq!(rx.requests("/ops").len(), 1, "ops heard once");
    assert_eq!(rx.requests("/leads").len(), 1, "leads heard once");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sla_reminds_the_team_then_escalates_up_the_chain() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    let app = TestApp::spawn_on(
        Some(&chain_policy(&rx.url("/ops"), &rx.url("/leads"), "2s")),
        &chain_args(),
        Clock::Manual(clock.clone()),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Tick tock")).await;

    rx.wait_for("/ops", 1, WAIT).await;
    // Half the SLA: the reminder.
    app.advance(Duration::from_secs(1));
    let ops = rx.wait_for("/ops", 2, WAIT).await;
    let types: Vec<Value> = ops.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types[..2],
        [json!("handoff.routed"), json!("handoff.reminder")]
    );
    let gap = ops[1].at - ops[0].at;
    assert!(
        gap >= Duration::from_millis(700),
        "the reminder came {gap:?} after submission; half the SLA is 1 s"
    );
    // The whole SLA: the escalation.
    app.advance(Duration::from_secs(1));
    let leads = rx.wait_for("/leads", 1, WAIT).await;
    let body = leads[0].json();
    assert_eq!(body["type"], "handoff.routed", "{body}");
    assert_eq!(body["data"]["team"], "leads", "{body}");
    assert!(
        leads[0].at - ops[0].at >= Duration::from_millis(1700),
        "escalated after {:?}; the SLA is 2 s",
        leads[0].at - ops[0].at
    );
    for r in ops.iter().chain(&leads) {
        assert_signed(r, SECRET);
        assert_eq!(r.json()["data"]["id"], id.as_str());
    }
    let actions = app.timeline_actions(&id).await;
    for a in ["handoff.reminded", "handoff.escalated", "notification.sent"] {
        assert!(actions.contains(&a.to_owned()), "no {a} in {actions:?}");
    }
    let ids: std::collections::BTreeSet<String> = ops
        .iter()
        .chain(&leads)
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), ops.len() + leads.len(), "one id per message");

    // What an operator sees: the SLA breach counted for the team it passed at, and the
    // handoff open at the team it went to.
    let metrics = app
        .get_path(None, "/metrics")
        .await
        .text()
        .await
        .expect("metrics");
    for line in [
        "handoff_sla_breaches_total{team=\"ops\"} 1",
        "handoff_open_handoffs{team=\"leads\",level=\"2\",status=\"pending\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_4_handoff_sends_an_alert() {
    let rx = Receiver::start().await;
    let app = TestApp::spawn_with(
        Some(&chain_policy(&rx.url("/ops"), &rx.url("/leads"), "4h")),
        &chain_args(),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let created = app
        .submitted(
            &agent,
            &json!({"task": "alarm", "summary": "Possible fraud", "confidence": 0.9}),
        )
        .await;
    assert_eq!(created["status"], "alerted", "{created}");
    let req = rx.wait_for("/ops", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.alert", "{body}");
    assert_eq!(body["data"]["id"], created["id"], "{body}");
    assert_eq!(body["data"]["level"], 4, "{body}");
    assert_eq!(body["data"]["status"], "alerted", "{body}");
    assert_eq!(body["data"]["alert"], 1, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_escalation_chain_climbs_each_sla_and_every_notice_has_its_own_id() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    // Three teams sharing one webhook, as teams sharing one chat channel do.
    let hook = rx.url("/shared");
    let policy = format!(
        r#"
[defaults]
level = 2
route = "ops"
sla = "2s"

[teams.ops]
members = ["oz"]
escalate_to = "leads"
notify = ["webhook:{hook}"]

[teams.leads]
members = ["lea"]
escalate_to = "top"
notify = ["webhook:{hook}"]

[teams.top]
members = ["tim"]
notify = ["webhook:{hook}"]

[tasks.reply]
level = 2
route = "ops"
"#
    );
    let app = TestApp::spawn_on(Some(&policy), &chain_args(), Clock::Manual(clock.clone())).await;
    let agent = app.key("agent", "bot").await;
    let id = app
        .submitted_id(&agent, &reply_packet("Anyone up there?"))
        .await;

    // Every half SLA (1 s of the server's clock) brings the next notice.
    rx.wait_for("/shared", 1, WAIT).await;
    for n in 2..=7 {
        app.advance(Duration::from_secs(1));
        rx.wait_for("/shared", n, WAIT).await;
    }
    let reqs = rx.requests("/shared");
    let seen: Vec<(String, String)> = reqs
        .iter()
        .map(|r| {
            let b = r.json();
            assert_eq!(b["data"]["id"], id.as_str(), "{b}");
            (
                b["type"].as_str().unwrap_or_default().to_owned(),
                b["data"]["team"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("handoff.routed", "ops"),
        ("handoff.reminder", "ops"),
        ("handoff.routed", "leads"),
        ("handoff.reminder", "leads"),
        ("handoff.routed", "top"),
        ("handoff.reminder", "top"),
        ("handoff.reminder", "top"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(seen, want);
    let ids: std::collections::BTreeSet<String> =
        reqs.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 7, "one id per notice: {reqs:#?}");
    for r in &reqs {
        assert_signed(r, SECRET);
    }
    // Overdue at the top of the chain is the last notice: 2.5 s later, none more. The
    // scheduler's looks are not observable, so a second handoff is the barrier: its
    // escalation falls due at the end of those 2.5 s, and the scheduler fires what is due
    // in the order of the deadlines.
    app.advance(Duration::from_millis(500));
    let barrier = app.submitted_id(&agent, &reply_packet("Barrier")).await;
    rx.wait_about("/shared", &barrier, 1, WAIT).await;
    app.advance(Duration::from_secs(1));
    rx.wait_about("/shared", &barrier, 2, WAIT).await;
    app.advance(Duration::from_secs(1));
    let escalated_barrier = rx.wait_about("/shared", &barrier, 3, WAIT).await;
    assert_eq!(escalated_barrier[2].json()["data"]["team"], "leads");
    eventually(WAIT, "the outbox is drained", || async {
        delivery_ids(&app, "pending").await.is_empty()
    })
    .await;
    assert_eq!(rx.requests_about("/shared", &id).len(), 7);
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["status"], "pending", "{h}");
    assert_eq!(h["assigned_team"], "top", "{h}");
    let escalated = app
        .timeline_actions(&id)
        .await
        .iter()
        .filter(|a| *a == "handoff.escalated")
        .count();
    assert_eq!(escalated, 2);
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_whose_expiry_passed_while_the_server_was_stopped_expires_at_start() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    let mut app = TestApp::spawn_on(
        Some(&policy(&[], "3s")),
        &[
            "--public-url",
            PUBLIC_URL,
            "--webhook-secret",
            SECRET,
            "--retry-schedule",
            "0s,250ms,250ms",
            "--callback-allow",
            "127.0.0.1",
        ],
        Clock::Manual(clock.clone()),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let mut p = json!({"task": "quick", "summary": "Expire me", "confidence": 0.99});
    p["callback_url"] = json!(rx.url("/cb"));
    let submitted_at = clock.now();
    let created = app.submitted(&agent, &p).await;
    let id = id_of(&created);
    assert_eq!(created["status"], "pending", "{created}");
    let stopped = app.stop().await;
    assert!(stopped.is_ok(), "{stopped:?}");
    assert!(
        clock.now() - submitted_at < chrono::Duration::milliseconds(2800),
        "the server took too long to stop; the handoff may have expired before"
    );

    // Its expiry passes while the server is stopped.
    app.advance(Duration::from_secs(4));
    assert!(rx.requests("/cb").is_empty(), "nothing while stopped");
    app.start().await;

    let deadline = Instant::now() + WAIT;
    let mut h = app.fetch(&agent, &id).await;
    while h["status"] == "pending" && Instant::now() < deadline {
        h = expect_json(app.get_waiting(&agent, &id, 2).await, 200).await;
    }
    assert_eq!(h["status"], "expired", "{h}");
    assert!(h.get("receipt").is_none_or(Value::is_null), "{h}");
    assert!(
        app.timeline_actions(&id)
            .await
            .contains(&"handoff.expired".to_owned())
    );

    let req = rx.wait_for("/cb", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.expired", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["status"], "expired", "{body}");
    wait_notifications(&app, &id, WAIT, |e| {
        e["action"] == "notification.sent" && e["data"]["event"] == "handoff.expired"
    })
    .await;
    assert_audit_ok(&app).await;
}

/// The clock jumping (SECURITY.md's attack list: a VM resumed, an NTP step, a wrong clock
/// set right): back before a deadline, nothing fires early; forward past it, it fires once;
/// back and forward over it again, it does not fire again; a jump of a month expires the
/// handoff once, and expiry never approves.
#[tokio::test(flavor = "multi_thread")]
async fn the_clock_jumping_back_and_forth_fires_each_deadline_once_never_early() {
    let clock = manual_clock();
    let rx = Receiver::start_on(&clock).await;
    let mut policy = policy(&[format!("webhook:{}", rx.url("/ops"))], "8h");
    policy = policy.replace("[defaults]\n", "[defaults]\nsla = \"1h\"\n");
    let app = TestApp::spawn_on(
        Some(&policy),
        &notify_args(&[]),
        Clock::Manual(clock.clone()),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app
        .submitted_id(
            &agent,
            &json!({"task": "quick", "summary": "Jumpy", "confidence": 0.9}),
        )
        .await;
    rx.wait_for("/ops", 1, WAIT).await;
    let t0 = clock.now();
    let reminders =
        |actions: &[String]| actions.iter().filter(|a| *a == "handoff.reminded").count();

    // Back two hours: nothing is due, nothing fires.
    clock.set(t0 - chrono::Duration::hours(2));
    // Forward past half the SLA: the reminder, once. (Had the jump back fired anything,
    // it would be in the timeline before it.)
    clock.set(t0 + chrono::Duration::minutes(31));
    rx.wait_for("/ops", 2, WAIT).await;
    let actions = app.timeline_actions(&id).await;
    assert_eq!(reminders(&actions), 1, "{actions:?}");
    assert!(
        !actions.contains(&"handoff.expired".to_owned()),
        "{actions:?}"
    );

    // Back before the reminder and over it again: it does not come twice.
    clock.set(t0 + chrono::Duration::minutes(5));
    clock.set(t0 + chrono::Duration::minutes(40));
    // A marker the scheduler must pass through: the SLA itself (an overdue notice, since
    // ops has nobody above it).
    clock.set(t0 + chrono::Duration::minutes(61));
    rx.wait_for("/ops", 3, WAIT).await;
    let actions = app.timeline_actions(&id).await;
    assert_eq!(
        reminders(&actions),
        2,
        "the half-way reminder once, the overdue one once: {actions:?}"
    );

    // A month ahead at once: expired once, never approved, and the clock going back
    // afterwards changes nothing.
    clock.set(t0 + chrono::Duration::days(30));
    let h = loop {
        let h = app.fetch(&agent, &id).await;
        if h["status"] != "pending" {
            break h;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(h["status"], "expired", "{h}");
    assert!(h["receipt"].is_null(), "expiry never approves: {h}");
    clock.set(t0);
    clock.set(t0 + chrono::Duration::days(31));
    let h2 = app.fetch(&agent, &id).await;
    assert_eq!(
        h2["version"], h["version"],
        "nothing happened after the expiry"
    );
    let actions = app.timeline_actions(&id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "handoff.expired").count(),
        1,
        "{actions:?}"
    );
    assert!(
        !actions
            .iter()
            .any(|a| a == "handoff.approved" || a == "handoff.decided"),
        "{actions:?}"
    );
}
