//! Slack and e-mail: what each says (escaped), the SMTP conversation, refusals and
//! deferrals.

use super::smtp::{SmtpSink, alternative_parts, decode_header};
use super::support::*;
use crate::common::receiver::Receiver;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn slack_gets_the_summary_escaped_and_a_link_to_the_decision_page() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[format!("slack:{}", rx.url("/services/T0/B0/XYZ"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let summary = "Pay <https://evil.example|click> <!channel> & more";
    let id = app.submitted_id(&agent, &reply_packet(summary)).await;

    let req = rx.wait_for("/services/T0/B0/XYZ", 1, WAIT).await[0].clone();
    assert!(req.header("content-type").starts_with("application/json"));
    let body = req.json();
    let text = body["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {body}"));
    assert!(
        text.contains("Pay &lt;https://evil.example|click&gt; &lt;!channel&gt; &amp; more"),
        "{text}"
    );
    assert!(!text.contains("<https://evil"), "a forged link: {text}");
    assert!(!text.contains("<!channel>"), "a forged mention: {text}");
    let link = format!("<{PUBLIC_URL}/handoffs/{id}|");
    assert!(text.contains(&link), "no {link}…> in {text}");
    assert!(text.contains("Level 2"), "{text}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    assert_eq!(entries[0]["data"]["channel"], "slack");
    let all = serde_json::to_string(&entries).expect("JSON");
    assert!(
        !all.contains("XYZ"),
        "the Slack URL's secret path leaked: {all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_through_smtp_with_text_and_escaped_html_parts() {
    let smtp = SmtpSink::start().await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = notifying_app(
        &["email:ops-team@example.com".to_owned()],
        &[
            "--smtp-url",
            &smtp_url,
            "--mail-from",
            "handoff <noreply@handoff.example>",
        ],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let summary = r#"Refund <b>Fish & "chips"</b> <script>alert(1)</script>"#;
    let id = app.submitted_id(&agent, &reply_packet(summary)).await;

    let mails = smtp.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.to, ["<ops-team@example.com>"], "{mail:?}");
    assert_eq!(mail.from, "<noreply@handoff.example>", "{mail:?}");
    let (headers, parts) = alternative_parts(&mail.text);
    assert!(
        headers
            .get("to")
            .is_some_and(|t| t.contains("ops-team@example.com")),
        "{headers:?}"
    );
    assert!(headers.contains_key("subject"), "{headers:?}");
    assert_eq!(parts.len(), 2, "{parts:#?}");
    let link = format!("{PUBLIC_URL}/handoffs/{id}");
    let text = parts
        .iter()
        .find(|(ct, _)| ct.starts_with("text/plain"))
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| panic!("no text/plain part: {parts:#?}"));
    let html = parts
        .iter()
        .find(|(ct, _)| ct.starts_with("text/html"))
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| panic!("no text/html part: {parts:#?}"));
    assert!(text.contains(&link), "{text}");
    assert!(text.contains(summary), "{text}");
    assert!(html.contains(&link), "{html}");
    assert!(
        html.contains("Refund &lt;b&gt;Fish &amp; &quot;chips&quot;&lt;/b&gt; &lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>Fish"), "{html}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let data = &entries[0]["data"];
    assert_eq!(data["channel"], "email", "{data}");
    assert_eq!(data["target"], "ops-team@example.com", "{data}");
    let msg = data["delivery"].as_str().expect("a delivery id");
    assert!(
        headers.get("message-id").is_some_and(|m| m.contains(msg)),
        "the Message-ID carries the delivery id {msg}: {headers:?}"
    );
    assert_nothing_pending(&app).await;
    assert_eq!(smtp.mails.lock().expect("lock").len(), 1, "one message");

    // A summary cannot add header lines (a Bcc) to the mail.
    let sneaky = "Hello\r\nBcc: evil@example.com\r\nX-Evil: 1";
    app.submitted_id(&agent, &reply_packet(sneaky)).await;
    let mails = smtp.wait_for(2, WAIT).await;
    let mail = &mails[1];
    assert_eq!(mail.to, ["<ops-team@example.com>"], "{mail:?}");
    let (headers, _) = alternative_parts(&mail.text);
    assert!(
        !headers.contains_key("bcc") && !headers.contains_key("x-evil"),
        "{headers:?}"
    );
    assert_audit_ok(&app).await;
}

/// The mail a reviewer reads on a phone: the subject says the decision and the time left,
/// the text and HTML parts both link straight to the decision page, the HTML is one
/// column with nothing loaded from elsewhere and every agent text escaped; a revision says
/// what it revises and why that ended.
#[tokio::test(flavor = "multi_thread")]
async fn an_email_says_the_decision_and_time_left_and_links_to_the_page_in_both_parts() {
    let smtp = SmtpSink::start().await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let clock = manual_clock();
    let app = notifying_app_on(
        &["email:ops-team@example.com".to_owned()],
        &[
            "--smtp-url",
            &smtp_url,
            "--mail-from",
            "noreply@handoff.example",
        ],
        &clock,
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let first = app.submitted_id(&agent, &reply_packet("First try")).await;
    smtp.wait_for(1, WAIT).await;
    app.decided(
        &oz,
        &first,
        &json!({"action": "reject", "rationale": "Say <em>when</em> it ships"}),
    )
    .await;
    // 20 minutes later the agent revises; the mail goes out at once, 4h SLA ahead.
    clock.advance(std::time::Duration::from_secs(20 * 60));
    let mut p = reply_packet("Second try, <b>with</b> the date");
    p["decision_needed"] = json!("Send it <a href=\"https://evil.example\">now</a>?");
    p["supersedes"] = json!(first);
    let id = app.submitted_id(&agent, &p).await;

    let mails = smtp.wait_for(2, WAIT).await;
    let (headers, parts) = alternative_parts(&mails[1].text);
    let subject = decode_header(headers.get("subject").expect("a subject"));
    assert_eq!(subject, "Approve? reply — 4h 00m left", "{headers:?}");
    let part = |ct: &str| {
        parts
            .iter()
            .find(|(t, _)| t.starts_with(ct))
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no {ct} part: {parts:#?}"))
    };
    let (text, html) = (part("text/plain"), part("text/html"));
    let link = format!("{PUBLIC_URL}/handoffs/{id}");
    assert!(
        text.contains(&format!("Open the decision page: {link}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("This revises {first} (rejected)")),
        "{text}"
    );
    assert!(text.contains("Say <em>when</em> it ships"), "{text}");
    assert!(html.contains(&format!("<a href=\"{link}\"")), "{html}");
    assert_eq!(
        html.matches("<a ").count(),
        1,
        "one link, the page's: {html}"
    );
    assert!(html.contains("width=device-width"), "{html}");
    for raw in [
        "<b>with",
        "<em>when",
        "href=\"https://evil",
        "<img",
        "<style",
        "src=",
    ] {
        assert!(!html.contains(raw), "{raw} in {html}");
    }
    assert!(
        html.contains("Second try, &lt;b&gt;with&lt;/b&gt; the date"),
        "{html}"
    );
    assert!(html.contains("4h 00m left"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_target_without_a_mail_server_fails_for_good_and_says_why() {
    let app = notifying_app(&["email:ops-team@example.com".to_owned()], &[]).await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("No SMTP")).await;
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let data = &entries[0]["data"];
    assert_eq!(data["channel"], "email", "{data}");
    assert!(
        data["error"]
            .as_str()
            .is_some_and(|e| e.contains("--smtp-url")),
        "{data}"
    );
    let msg = data["delivery"].as_str().expect("a delivery id");
    assert!(delivery_ids(&app, "failed").await.contains(&msg.to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_refusals_stop_and_smtp_deferrals_are_retried() {
    let smtp = SmtpSink::start().await;
    smtp.rcpt_replies
        .lock()
        .expect("lock")
        .extend(["550 5.1.1 no such mailbox", "451 4.3.0 try again later"]);
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let clock = manual_clock();
    let app = notifying_app_on(
        &["email:ops-team@example.com".to_owned()],
        &["--smtp-url", &smtp_url],
        &clock,
    )
    .await;
    let agent = app.key("agent", "bot").await;

    // 550: a permanent refusal, one attempt only.
    let refused = app.submitted_id(&agent, &reply_packet("Bounce")).await;
    let entries = wait_notifications(&app, &refused, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert!(
        entries[0]["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("550")),
        "{entries:#?}"
    );

    // 451: a deferral, tried again and then delivered.
    let deferred = app.submitted_id(&agent, &reply_packet("Later")).await;
    // The retry is due 250 ms (of the server's clock) after the deferral.
    advance_to_retry(&app, &deferred, 1).await;
    let entries = wait_notifications(&app, &deferred, WAIT, |e| {
        e["action"] == "notification.sent"
    })
    .await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        ["notification.failed", "notification.sent"],
        "{entries:#?}"
    );
    assert_eq!(entries[0]["data"]["final"], false);
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(*smtp.rcpts.lock().expect("lock"), 3);
}
