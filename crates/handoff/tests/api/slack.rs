//! Deciding from Slack (SPEC §8, issue 15) seen from outside: requests signed as Slack
//! signs them (`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`) posted to
//! `/v1/integrations/slack` through the real port, a local receiver standing in for both
//! the team's incoming webhook and the `response_url`, and the server on a manual clock
//! so that a stale timestamp is a move of the clock, not a sleep.

use crate::common::receiver::{Receiver, Recorded};
use crate::common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::time::Duration;

/// The signing secret of Slack's own documentation example.
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const WAIT: Duration = Duration::from_secs(15);
const ENDPOINT: &str = "/v1/integrations/slack";
const ANA: &str = "UANA0001";
const BEN: &str = "UBEN0001";
const OZ: &str = "UOZ00001";
const SAM: &str = "USAM0001";

fn policy(webhook: &str) -> String {
    format!(
        r#"
[defaults]
route = "ops"

[teams.ops]
members = ["oz"]

[teams.sales]
members = ["ana", "ben"]
escalate_to = "sales-leads"
notify = ["slack:{webhook}"]

[teams.sales-leads]
members = ["lea"]

[teams.security]
members = ["sam"]
notify = ["slack:{webhook}"]

[people.ana]
slack = "{ANA}"

[people.ben]
slack = "{BEN}"

[people.oz]
slack = "{OZ}"

[people.sam]
slack = "{SAM}"

[tasks.reply]
level = 2
route = "sales"

[[rules]]
name = "four eyes"
when = "'four-eyes' in handoff.flags"
approvals = 2

[[rules]]
name = "fraud"
when = "'possible fraud' in handoff.flags"
level = 4
route = "security"
"#
    )
}

/// A server with Slack interactivity on, its receiver (webhook and `response_url`), keys
/// for the agent and the reviewers.
struct Slack {
    app: TestApp,
    rx: Receiver,
    agent: String,
    admin: String,
}

const WEBHOOK: &str = "/services/T0/B0/XYZ";
const RESPONSE: &str = "/actions/T0/1/response";

impl Slack {
    async fn start() -> Slack {
        Slack::start_with(&["--slack-signing-secret", SECRET]).await
    }

    async fn start_with(args: &[&str]) -> Slack {
        let rx = Receiver::start().await;
        let mut all = vec![
            "--callback-allow",
            "127.0.0.1",
            "--public-url",
            "https://handoff.example",
        ];
        all.extend_from_slice(args);
        let app = TestApp::spawn_manual(Some(&policy(&rx.url(WEBHOOK))), &all).await;
        let agent = app.key("agent", "bot").await;
        for name in ["ana", "ben", "oz", "sam", "lea"] {
            app.key("reviewer", name).await;
        }
        let admin = app.admin_key();
        Slack {
            app,
            rx,
            agent,
            admin,
        }
    }

    async fn submit(&self, flags: &[&str]) -> String {
        let p = json!({
            "task": "reply",
            "summary": "Answer Acme <!channel> about <https://evil.example|the invoice>",
            "decision_needed": "Send this reply?",
            "confidence": 0.91,
            "flags": flags,
            "options": [{"id": "send", "label": "Send as is", "risk": "low"}, "Ask for a call"],
            "draft": "Dear Acme, the invoice is attached.",
        });
        self.app.submitted_id(&self.agent, &p).await
    }

    async fn handoff(&self, id: &str) -> Value {
        self.app.fetch(&self.admin, id).await
    }

    fn now(&self) -> i64 {
        self.app.manual_clock().now().timestamp()
    }

    /// A press as Slack posts it, signed at the server's now.
    async fn press(
        &self,
        user: &str,
        action: &str,
        value: &str,
        rationale: Option<&str>,
    ) -> reqwest::Response {
        let body = form(&payload(
            user,
            action,
            value,
            rationale,
            &self.rx.url(RESPONSE),
        ));
        let ts = self.now().to_string();
        let sig = sign(SECRET, &ts, &body);
        self.post(&body, &ts, &sig).await
    }

    async fn post(&self, body: &str, ts: &str, sig: &str) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(ENDPOINT))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body.to_owned())
            .send()
            .await
            .expect("POST /v1/integrations/slack failed")
    }

    /// The `n`th message to the response_url (1-based), waited for.
    async fn response(&self, n: usize) -> Value {
        self.rx.wait_for(RESPONSE, n, WAIT).await[n - 1].json()
    }

    /// Once `n` messages reached the response_url, the last that replaced the original
    /// (answers are sent after Slack is answered, so two may arrive in either order).
    async fn replacement(&self, n: usize) -> Value {
        let all = self.rx.wait_for(RESPONSE, n, WAIT).await;
        all.iter()
            .map(Recorded::json)
            .rfind(|m| m["replace_original"] == true)
            .unwrap_or_else(|| panic!("no replacement among {all:#?}"))
    }

    /// The decision entries of a handoff's timeline.
    async fn decisions(&self, id: &str) -> Vec<Value> {
        let body = expect_json(self.app.timeline(&self.admin, id).await, 200).await;
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["action"] == "handoff.decision")
            .cloned()
            .collect()
    }
}

/// `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`: Slack's signature.
fn sign(secret: &str, ts: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

fn value(id: &str, version: u64) -> String {
    json!({"id": id, "version": version}).to_string()
}

/// A `block_actions` payload as Slack sends it for a button press in a message.
fn payload(
    user: &str,
    action: &str,
    value: &str,
    rationale: Option<&str>,
    response_url: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0"},
        "api_app_id": "A0",
        "team": {"id": "T0", "domain": "example"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0"},
        "channel": {"id": "C0", "name": "sales"},
        "trigger_id": "1.2.3",
        "state": {"values": {"rationale": {"rationale": {"type": "plain_text_input", "value": rationale}}}},
        "response_url": response_url,
        "actions": [{
            "action_id": action, "block_id": "handoff_actions", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": action}, "action_ts": "1700000001.000200"
        }],
    })
}

fn form(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

fn actions_of(message: &Value) -> Vec<Value> {
    message["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
        .and_then(|a| a["elements"].as_array())
        .cloned()
        .unwrap_or_default()
}

fn button<'a>(message: &'a Value, action: &str) -> Option<&'a Value> {
    message["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["type"] == "actions")?["elements"]
        .as_array()?
        .iter()
        .find(|e| e["action_id"] == action)
}

async fn ephemeral(resp: reqwest::Response) -> String {
    let body = expect_json(resp, 200).await;
    assert_eq!(body["response_type"], "ephemeral", "{body}");
    assert_eq!(body["replace_original"], false, "{body}");
    body["text"].as_str().unwrap_or_default().to_owned()
}

// ---- messages -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_team_message_carries_buttons_and_approve_decides_as_the_mapped_reviewer() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let message: Recorded = s.rx.wait_for(WEBHOOK, 1, WAIT).await[0].clone();
    let message = message.json();
    let all = message.to_string();
    assert!(
        !all.contains("<!channel>") && !all.contains("<https://evil"),
        "{all}"
    );
    assert!(
        all.contains("Send this reply?") && all.contains("Send as is (risk low)"),
        "{all}"
    );
    assert!(all.contains("0.91") && all.contains("Time left"), "{all}");
    let actions = actions_of(&message);
    let ids: Vec<&str> = actions
        .iter()
        .filter_map(|e| e["action_id"].as_str())
        .collect();
    assert_eq!(ids, ["approve", "reject", "escalate", "open"], "{all}");
    let open = button(&message, "open").expect("an open button");
    assert_eq!(
        open["url"],
        format!("https://handoff.example/handoffs/{id}")
    );
    assert!(
        all.contains("plain_text_input"),
        "no rationale input: {all}"
    );

    // Press the message's own approve button, with the value it carries.
    let approve = button(&message, "approve").expect("an approve button")["value"]
        .as_str()
        .expect("a value")
        .to_owned();
    assert_eq!(approve, value(&id, 1));
    let resp = s.press(ANA, "approve", &approve, None).await;
    let body = expect_json(resp, 200).await;
    assert_eq!(body["replace_original"], true, "{body}");
    assert_eq!(s.handoff(&id).await["status"], "approved");
    let decisions = s.decisions(&id).await;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["actor"], "ana");
    assert_eq!(decisions[0]["data"]["via"], "slack");
    assert_eq!(decisions[0]["data"]["action"], "approve");

    // The message is replaced with who decided what; no buttons to decide are left.
    let replaced = s.response(1).await;
    assert_eq!(replaced["replace_original"], true, "{replaced}");
    assert!(
        replaced["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Approved by ana"),
        "{replaced}"
    );
    assert!(button(&replaced, "approve").is_none(), "{replaced}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_with_a_rationale_rejects_and_records_it() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let resp = s
        .press(BEN, "reject", &value(&id, 1), Some("Wrong invoice number"))
        .await;
    expect_json(resp, 200).await;
    let h = s.handoff(&id).await;
    assert_eq!(h["status"], "rejected");
    let d = &s.decisions(&id).await[0];
    assert_eq!(
        (d["actor"].as_str(), d["data"]["via"].as_str()),
        (Some("ben"), Some("slack"))
    );
    assert_eq!(d["data"]["rationale"], "Wrong invoice number");
    let replaced = s.response(1).await;
    let text = replaced["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Rejected by ben") && text.contains("Wrong invoice number"),
        "{replaced}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reject_without_a_rationale_asks_for_one_and_changes_nothing() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    for blank in [None, Some("   ")] {
        let text = ephemeral(s.press(ANA, "reject", &value(&id, 1), blank).await).await;
        assert!(text.contains("rationale"), "{text}");
    }
    let h = s.handoff(&id).await;
    assert_eq!(
        (h["status"].as_str(), h["version"].as_u64()),
        (Some("pending"), Some(1))
    );
    assert!(s.decisions(&id).await.is_empty());
    // The person was asked through the response_url too; the message was not replaced.
    assert_eq!(s.response(1).await["response_type"], "ephemeral");
}

#[tokio::test(flavor = "multi_thread")]
async fn escalate_with_a_rationale_moves_it_to_the_escalation_team() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let text = ephemeral(s.press(ANA, "escalate", &value(&id, 1), None).await).await;
    assert!(text.contains("rationale"), "{text}");
    assert_eq!(s.handoff(&id).await["version"], 1);
    let resp = s
        .press(ANA, "escalate", &value(&id, 1), Some("Needs a lead's eye"))
        .await;
    expect_json(resp, 200).await;
    let h = s.handoff(&id).await;
    assert_eq!(h["assigned_team"], "sales-leads", "{h}");
    let d = &s.decisions(&id).await[0];
    assert_eq!(d["data"]["action"], "escalate");
    assert_eq!(d["data"]["via"], "slack");
    let replaced = s.replacement(2).await;
    let text = replaced["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Escalated by ana to sales-leads") && text.contains("Needs a lead's eye"),
        "{replaced}"
    );
}

// ---- refused: 401, nothing happens ------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_or_missing_signature_is_401_and_changes_nothing() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let body = form(&payload(
        ANA,
        "approve",
        &value(&id, 1),
        None,
        &s.rx.url(RESPONSE),
    ));
    let ts = s.now().to_string();
    let good = sign(SECRET, &ts, &body);
    let other_secret = sign("not-the-secret", &ts, &body);
    let other_body = sign(SECRET, &ts, &body.replace("approve", "reject"));
    let cases = [
        ("another secret", other_secret.as_str(), ts.as_str()),
        ("another body", other_body.as_str(), ts.as_str()),
        ("no v0= prefix", good.trim_start_matches("v0="), ts.as_str()),
        ("not hex", "v0=zz", ts.as_str()),
        ("empty", "", ts.as_str()),
        ("no timestamp", good.as_str(), ""),
    ];
    for (what, sig, ts) in cases {
        let resp = s.post(&body, ts, sig).await;
        assert_eq!(resp.status(), 401, "{what}");
    }
    // No headers at all.
    let resp = s
        .app
        .client
        .post(s.app.url(ENDPOINT))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 401);
    assert_eq!(s.handoff(&id).await["version"], 1);
    assert!(s.decisions(&id).await.is_empty());
    // The good signature still works: the refusals did not use it up.
    assert_eq!(s.post(&body, &ts, &good).await.status(), 200);
    assert_eq!(s.handoff(&id).await["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timestamp_over_five_minutes_off_is_401_and_changes_nothing() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let body = form(&payload(
        ANA,
        "approve",
        &value(&id, 1),
        None,
        &s.rx.url(RESPONSE),
    ));
    let signed_at = s.now();
    let ts = signed_at.to_string();
    let sig = sign(SECRET, &ts, &body);
    // Sent five minutes and a second later.
    s.app.advance(Duration::from_secs(301));
    assert_eq!(s.post(&body, &ts, &sig).await.status(), 401);
    // From five minutes in the future, as well.
    let future = (s.now() + 301).to_string();
    let sig = sign(SECRET, &future, &body);
    assert_eq!(s.post(&body, &future, &sig).await.status(), 401);
    // Timestamps at i64's ends are refused, not an overflow.
    for far in [i64::MIN.to_string(), i64::MAX.to_string()] {
        let sig = sign(SECRET, &far, &body);
        assert_eq!(s.post(&body, &far, &sig).await.status(), 401, "{far}");
    }
    assert_eq!(s.handoff(&id).await["version"], 1);
    assert!(s.decisions(&id).await.is_empty());
    // Within the window it is taken.
    let ts = (s.now() - 299).to_string();
    let sig = sign(SECRET, &ts, &body);
    assert_eq!(s.post(&body, &ts, &sig).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_request_is_401_and_changes_nothing() {
    let s = Slack::start().await;
    let id = s.submit(&["four-eyes"]).await;
    let body = form(&payload(
        ANA,
        "approve",
        &value(&id, 1),
        None,
        &s.rx.url(RESPONSE),
    ));
    let ts = s.now().to_string();
    let sig = sign(SECRET, &ts, &body);
    assert_eq!(s.post(&body, &ts, &sig).await.status(), 200);
    let after_first = s.handoff(&id).await;
    assert_eq!(after_first["version"], 2);
    s.app.advance(Duration::from_secs(60));
    let resp = s.post(&body, &ts, &sig).await;
    assert_eq!(resp.status(), 401);
    let problem = expect_problem(resp, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("replay"),
        "{problem}"
    );
    assert_eq!(s.handoff(&id).await, after_first);
    assert_eq!(s.decisions(&id).await.len(), 1);
}

// ---- refused: told to the person, HTTP 200, nothing changed -------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_slack_user_is_told_and_nothing_changes() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let text = ephemeral(s.press("UNOBODY1", "approve", &value(&id, 1), None).await).await;
    assert!(
        text.contains("not linked") && text.contains("UNOBODY1"),
        "{text}"
    );
    assert_eq!(s.handoff(&id).await["version"], 1);
    assert!(s.decisions(&id).await.is_empty());
    assert_eq!(s.response(1).await["response_type"], "ephemeral");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_teams_handoff_is_refused_in_an_ephemeral_message() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    let text = ephemeral(s.press(OZ, "approve", &value(&id, 1), None).await).await;
    assert!(text.contains("oz") && text.contains("not routed"), "{text}");
    assert_eq!(s.handoff(&id).await["status"], "pending");
    assert!(s.decisions(&id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_button_of_an_older_version_is_refused_not_applied() {
    let s = Slack::start().await;
    let id = s.submit(&["four-eyes"]).await;
    // Ana approves first: the handoff is at version 2 now.
    let resp = s.press(ANA, "approve", &value(&id, 1), None).await;
    expect_json(resp, 200).await;
    assert_eq!(s.handoff(&id).await["version"], 2);
    // Ben presses the button of the message he still has, showing version 1.
    let text = ephemeral(s.press(BEN, "approve", &value(&id, 1), None).await).await;
    assert!(
        text.contains("changed since this message") && text.contains("version 2"),
        "{text}"
    );
    let h = s.handoff(&id).await;
    assert_eq!(
        (h["status"].as_str(), h["version"].as_u64()),
        (Some("pending"), Some(2))
    );
    assert_eq!(s.decisions(&id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn four_eyes_needs_two_different_slack_users() {
    let s = Slack::start().await;
    let id = s.submit(&["four-eyes"]).await;
    expect_json(s.press(ANA, "approve", &value(&id, 1), None).await, 200).await;
    assert_eq!(s.handoff(&id).await["status"], "pending");
    // The replaced message has buttons for the new version.
    let replaced = s.response(1).await;
    assert!(
        replaced["text"]
            .as_str()
            .unwrap_or_default()
            .contains("1 of 2"),
        "{replaced}"
    );
    let next = button(&replaced, "approve").expect("buttons for version 2")["value"]
        .as_str()
        .expect("a value")
        .to_owned();
    assert_eq!(next, value(&id, 2));
    // The same person again: refused, nothing changed.
    let text = ephemeral(s.press(ANA, "approve", &next, None).await).await;
    assert!(text.contains("already approved"), "{text}");
    let h = s.handoff(&id).await;
    assert_eq!(
        (h["status"].as_str(), h["version"].as_u64()),
        (Some("pending"), Some(2))
    );
    // Another person: approved.
    expect_json(s.press(BEN, "approve", &next, None).await, 200).await;
    let h = s.handoff(&id).await;
    assert_eq!(h["status"], "approved", "{h}");
    let decisions = s.decisions(&id).await;
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["actor"], "ana");
    assert_eq!(decisions[1]["actor"], "ben");
    let last = s.replacement(3).await;
    assert!(
        last["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Approved by ben"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_reviewer_is_refused_from_slack_at_once() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    assert_eq!(s.app.revoke_key(&s.admin, "ana").await.status(), 204);
    let text = ephemeral(s.press(ANA, "approve", &value(&id, 1), None).await).await;
    assert!(text.contains("no live reviewer key"), "{text}");
    assert_eq!(s.handoff(&id).await["status"], "pending");
    assert!(s.decisions(&id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_4_alert_gets_an_acknowledge_button_that_works() {
    let s = Slack::start().await;
    let p = json!({"task": "reply", "summary": "Card testing", "confidence": 0.9, "flags": ["possible fraud"]});
    let id = s.app.submitted_id(&s.agent, &p).await;
    assert_eq!(s.handoff(&id).await["status"], "alerted");
    let message = s.rx.wait_for(WEBHOOK, 1, WAIT).await[0].json();
    let actions = actions_of(&message);
    let ids: Vec<&str> = actions
        .iter()
        .filter_map(|e| e["action_id"].as_str())
        .collect();
    assert_eq!(ids, ["acknowledge", "open"], "{message}");
    assert_eq!(
        button(&message, "acknowledge").expect("acknowledge")["value"],
        value(&id, 1).as_str()
    );
    let text = ephemeral(s.press(ANA, "acknowledge", &value(&id, 1), None).await).await;
    assert!(text.contains("not routed"), "{text}");
    expect_json(s.press(SAM, "acknowledge", &value(&id, 1), None).await, 200).await;
    assert_eq!(s.handoff(&id).await["status"], "acknowledged");
    let replaced = s.replacement(2).await;
    assert!(
        replaced["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Acknowledged by sam"),
        "{replaced}"
    );
}

// ---- response_url -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_response_url_to_a_host_not_allowed_is_not_followed() {
    let s = Slack::start().await;
    let id = s.submit(&[]).await;
    // `localhost` reaches the same receiver, but only 127.0.0.1 is allowed.
    let port = s.rx.base.rsplit(':').next().expect("a port").to_owned();
    let elsewhere = format!("http://localhost:{port}/elsewhere");
    let body = form(&payload(ANA, "reject", &value(&id, 1), None, &elsewhere));
    let ts = s.now().to_string();
    let text = ephemeral(s.post(&body, &ts, &sign(SECRET, &ts, &body)).await).await;
    assert!(text.contains("rationale"), "{text}");
    // Then a press whose response_url is allowed: it arrives, the other never did.
    let text = ephemeral(s.press(ANA, "reject", &value(&id, 1), None).await).await;
    assert!(text.contains("rationale"), "{text}");
    s.response(1).await;
    assert!(s.rx.requests("/elsewhere").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_signing_secret_the_endpoint_is_401_and_messages_are_one_way() {
    let s = Slack::start_with(&[]).await;
    let id = s.submit(&[]).await;
    let message = s.rx.wait_for(WEBHOOK, 1, WAIT).await[0].json();
    assert!(message.get("blocks").is_none(), "{message}");
    assert!(
        message["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Open the decision page")
    );
    let resp = s.press(ANA, "approve", &value(&id, 1), None).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(s.handoff(&id).await["status"], "pending");
}
