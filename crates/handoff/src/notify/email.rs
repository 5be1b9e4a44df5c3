//! The e-mail form of a team event: a subject that says the decision needed and the time
//! left (`Approve? respond_to_client_inquiry — 3h 20m left`), a plain-text part, and an
//! HTML part made for a phone's mail app: one column, inline styles only (mail apps drop
//! `<style>` and never load what a message links to), no images or other external
//! resources, a large button straight to the decision page. Agent-written text is escaped
//! in the HTML and never becomes a link; the only link is the server's own page URL.
//!
//! The time left is worked out when the mail is sent (`now`), not when the event was
//! written, so a retried mail does not promise time that is gone.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// An e-mail for a team event: subject, plain text and HTML.
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn str_of<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Text for one line (a subject, a label): control characters (CR, LF) become spaces, so
/// no agent text can add a header line; at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// A span as a clock reads it: `2d 4h`, `3h 20m`, `12m`, `under a minute`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => "under a minute".to_owned(),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m:02}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// "3h 20m left", or "overdue by 15m", until `due` at `now`; `None` without a due time.
fn time_left(data: &Value, now: DateTime<Utc>) -> Option<String> {
    let due = DateTime::parse_from_rfc3339(str_of(data, "sla_due_at"))
        .ok()?
        .with_timezone(&Utc);
    let secs = (due - now).num_seconds();
    Some(if secs >= 0 {
        format!("{} left", span(secs))
    } else {
        format!("overdue by {}", span(-secs))
    })
}

/// The decision asked for, by the handoff's status: approve a pending one, take over a
/// handed-over one, acknowledge an alert.
fn ask(kind: &str, data: &Value) -> &'static str {
    match (kind, str_of(data, "status")) {
        ("handoff.alert", _) | (_, "alerted") => "Acknowledge!",
        (_, "handed_over") => "Take over?",
        _ => "Approve?",
    }
}

/// Inline styles: the only ones every mail app keeps.
const BODY: &str = "margin:0;padding:0;background:#f1f3f6;";
const CARD: &str = "max-width:600px;margin:0 auto;padding:20px 16px;background:#ffffff;\
                    color:#1b1f24;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,\
                    Helvetica,Arial,sans-serif;font-size:17px;line-height:1.5;";
const META: &str = "margin:0 0 6px;font-size:14px;color:#5a6270;";
const TITLE: &str = "margin:0 0 12px;font-size:22px;line-height:1.3;font-weight:700;\
                     overflow-wrap:anywhere;word-break:break-word;";
const CLOCK: &str = "display:inline-block;margin:0 0 16px;padding:4px 10px;border-radius:14px;\
                     font-size:15px;font-weight:600;";
const LABEL: &str = "margin:16px 0 4px;font-size:13px;letter-spacing:0.04em;\
                     text-transform:uppercase;color:#5a6270;font-weight:600;";
const TEXT: &str = "margin:0;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;";
const QUESTION: &str = "margin:0;padding:10px 12px;border-left:4px solid #0b57d0;\
                        background:#eef4ff;white-space:pre-wrap;overflow-wrap:anywhere;\
                        word-break:break-word;font-weight:600;";
const REVISION: &str = "margin:16px 0 0;padding:10px 12px;border-left:4px solid #8a5300;\
                        background:#fff4ce;overflow-wrap:anywhere;word-break:break-word;";
const BUTTON: &str = "display:block;margin:24px 0 8px;padding:16px 20px;min-height:24px;\
                      background:#0b57d0;color:#ffffff;text-align:center;text-decoration:none;\
                      font-size:19px;font-weight:700;border-radius:8px;";
const FOOT: &str = "margin:8px 0 0;font-size:13px;color:#5a6270;overflow-wrap:anywhere;\
                    word-break:break-all;";

/// The e-mail for a team event, as it reads at `now`.
pub fn mail(event: &Value, now: DateTime<Utc>) -> Mail {
    let kind = str_of(event, "type");
    let data = &event["data"];
    let url = str_of(data, "url");
    let task = one_line(str_of(data, "task"), 64);
    if kind == "task.demoted" {
        return demoted(data, &task, url);
    }
    let ask = ask(kind, data);
    let left = time_left(data, now);
    let reminder = if kind == "handoff.reminder" {
        "Reminder: "
    } else {
        ""
    };
    let subject = match &left {
        Some(l) if ask != "Acknowledge!" => format!("{reminder}{ask} {task} — {l}"),
        _ => format!("{reminder}{ask} {task} — level 4 alert"),
    };
    let level = data.get("level").and_then(Value::as_u64).unwrap_or(0);
    let risk = str_of(data, "risk");
    let team = str_of(data, "team");
    let meta = format!("Level {level} · {risk} risk · team {team}");
    let summary = str_of(data, "summary");
    let question = str_of(data, "decision_needed");
    let flags: Vec<&str> = data
        .get("flags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let approvals = data
        .get("approvals_required")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let revision = data.get("revision_of").filter(|r| r.is_object());
    let confidence = data
        .get("confidence")
        .and_then(Value::as_f64)
        .map(|c| format!("{:.0}%", c * 100.0));
    let button = match ask {
        "Acknowledge!" => "Open the alert",
        "Take over?" => "Open and take over",
        _ => "Open the decision page",
    };

    // Plain text: the same, in the same order.
    let mut text = format!("{subject}\n{meta}\n\n");
    if !question.is_empty() {
        text.push_str(&format!("The question:\n{question}\n\n"));
    }
    text.push_str(&format!("Summary:\n{summary}\n\n"));
    if let Some(r) = revision {
        text.push_str(&revision_text(r));
        text.push_str("\n\n");
    }
    if !flags.is_empty() {
        text.push_str(&format!("Flags: {}\n", flags.join(", ")));
    }
    if let Some(c) = &confidence {
        text.push_str(&format!("Agent's confidence: {c}\n"));
    }
    if approvals > 1 {
        text.push_str(&format!("Needs {approvals} approvals.\n"));
    }
    text.push_str(&format!(
        "SLA due: {}\n\n{button}: {url}\n",
        str_of(data, "sla_due_at")
    ));

    // HTML: one column, inline styles, one link.
    let e = html_escape;
    let clock_colour = if left.as_deref().is_some_and(|l| l.starts_with("overdue")) {
        "background:#fce8e6;color:#b3261e;"
    } else {
        "background:#e7f5ea;color:#146c2e;"
    };
    let mut html = String::with_capacity(4096);
    html.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light\"><title>{}</title></head>\n\
         <body style=\"{BODY}\"><div style=\"{CARD}\">\n",
        e(&subject)
    ));
    html.push_str(&format!("<p style=\"{META}\">{}</p>\n", e(&meta)));
    html.push_str(&format!(
        "<h1 style=\"{TITLE}\">{} {}</h1>\n",
        e(ask),
        e(&task)
    ));
    match &left {
        Some(l) if ask != "Acknowledge!" => html.push_str(&format!(
            "<p style=\"{CLOCK}{clock_colour}\">{}</p>\n",
            e(l)
        )),
        _ => html.push_str(&format!(
            "<p style=\"{CLOCK}background:#fce8e6;color:#b3261e;\">Level 4 alert: nothing is done until someone acknowledges</p>\n"
        )),
    }
    if !question.is_empty() {
        html.push_str(&format!(
            "<p style=\"{LABEL}\">The question</p>\n<p style=\"{QUESTION}\">{}</p>\n",
            e(question)
        ));
    }
    html.push_str(&format!(
        "<p style=\"{LABEL}\">Summary</p>\n<p style=\"{TEXT}\">{}</p>\n",
        e(summary)
    ));
    if let Some(r) = revision {
        html.push_str(&format!(
            "<p style=\"{REVISION}\">{}</p>\n",
            e(&revision_text(r))
        ));
    }
    if !flags.is_empty() {
        html.push_str(&format!(
            "<p style=\"{LABEL}\">Flags</p>\n<p style=\"{TEXT}\">{}</p>\n",
            e(&flags.join(", "))
        ));
    }
    let mut facts = Vec::new();
    if let Some(c) = &confidence {
        facts.push(format!("Agent's confidence {c}"));
    }
    if approvals > 1 {
        facts.push(format!("needs {approvals} approvals"));
    }
    if !facts.is_empty() {
        html.push_str(&format!(
            "<p style=\"{META}margin-top:16px;\">{}</p>\n",
            e(&facts.join(" · "))
        ));
    }
    html.push_str(&format!(
        "<a href=\"{0}\" style=\"{BUTTON}\">{1}</a>\n\
         <p style=\"{FOOT}\">Or open {0}</p>\n</div></body></html>\n",
        e(url),
        e(button)
    ));
    Mail {
        subject,
        text,
        html,
    }
}

/// "Revises hnd_… (rejected): “the rationale”".
fn revision_text(r: &Value) -> String {
    let mut t = format!("This revises {} ({})", str_of(r, "id"), str_of(r, "status"));
    match r.get("rationale").and_then(Value::as_str) {
        Some(why) => t.push_str(&format!(", which ended with: “{why}”")),
        None => t.push('.'),
    }
    t
}

fn demoted(data: &Value, task: &str, url: &str) -> Mail {
    let from = data.get("from_level").and_then(Value::as_u64).unwrap_or(0);
    let to = data.get("to_level").and_then(Value::as_u64).unwrap_or(0);
    let how = if data.get("automatic").and_then(Value::as_bool) == Some(true) {
        " automatically"
    } else {
        ""
    };
    let head = format!("{task} demoted from level {from} to level {to}{how}");
    let reason = str_of(data, "reason");
    let text = format!(
        "{head}\n\nReason: {reason}\nTeam: {}\n\nOpen the task: {url}\n",
        str_of(data, "team")
    );
    let e = html_escape;
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{0}</title></head>\n\
         <body style=\"{BODY}\"><div style=\"{CARD}\">\n<h1 style=\"{TITLE}\">{0}</h1>\n\
         <p style=\"{LABEL}\">Reason</p>\n<p style=\"{TEXT}\">{1}</p>\n\
         <a href=\"{2}\" style=\"{BUTTON}\">Open the task</a>\n<p style=\"{FOOT}\">Or open {2}</p>\n</div></body></html>\n",
        e(&head),
        e(reason),
        e(url)
    );
    Mail {
        subject: one_line(&head, 200),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn event(kind: &str, status: &str) -> Value {
        json!({"type": kind, "timestamp": "t", "data": {
            "id": "hnd_1", "task": "respond_to_client_inquiry", "status": status,
            "level": 2, "risk": "medium", "team": "sales",
            "summary": "Refund <b>Fish & \"chips\"</b> <script>x</script>\r\nBcc: a@b",
            "decision_needed": "Send <a href=\"https://evil.example\">this</a>?",
            "flags": ["four-eyes"], "confidence": 0.82, "approvals_required": 2,
            "sla_due_at": "2026-11-21T12:00:00.000Z",
            "revision_of": {"id": "hnd_0", "status": "rejected", "rationale": "Too <i>warm</i>"},
            "url": "https://handoff.example/handoffs/hnd_1"
        }})
    }

    #[test]
    fn the_subject_says_the_decision_needed_and_the_time_left() {
        let m = mail(
            &event("handoff.routed", "pending"),
            at("2026-11-21T08:40:00Z"),
        );
        assert_eq!(
            m.subject,
            "Approve? respond_to_client_inquiry — 3h 20m left"
        );
        let m = mail(
            &event("handoff.reminder", "pending"),
            at("2026-11-21T11:59:30Z"),
        );
        assert_eq!(
            m.subject,
            "Reminder: Approve? respond_to_client_inquiry — under a minute left"
        );
        let m = mail(
            &event("handoff.routed", "pending"),
            at("2026-11-21T12:15:00Z"),
        );
        assert!(m.subject.ends_with("— overdue by 15m"), "{}", m.subject);
        let m = mail(
            &event("handoff.routed", "handed_over"),
            at("2026-11-20T12:00:00Z"),
        );
        assert_eq!(
            m.subject,
            "Take over? respond_to_client_inquiry — 1d 0h left"
        );
        let m = mail(
            &event("handoff.alert", "alerted"),
            at("2026-11-21T08:40:00Z"),
        );
        assert_eq!(
            m.subject,
            "Acknowledge! respond_to_client_inquiry — level 4 alert"
        );
    }

    #[test]
    fn both_parts_carry_the_link_and_the_html_escapes_every_agent_text() {
        let m = mail(
            &event("handoff.routed", "pending"),
            at("2026-11-21T08:40:00Z"),
        );
        let link = "https://handoff.example/handoffs/hnd_1";
        assert!(m.text.contains(&format!("Open the decision page: {link}")));
        assert!(m.text.contains("Too <i>warm</i>"), "{}", m.text);
        assert!(m.html.contains(&format!("<a href=\"{link}\"")));
        // One link, the server's; the agent's markup is text.
        assert_eq!(m.html.matches("<a ").count(), 1, "{}", m.html);
        for raw in ["<script>", "<b>Fish", "<i>warm", "href=\"https://evil"] {
            assert!(!m.html.contains(raw), "{raw} in {}", m.html);
        }
        assert!(
            m.html
                .contains("Refund &lt;b&gt;Fish &amp; &quot;chips&quot;&lt;/b&gt;")
        );
        // Nothing is loaded from elsewhere, and it is laid out for a phone.
        for external in ["<img", "<link", "<style", "src=", "url("] {
            assert!(!m.html.contains(external), "{external} in the HTML");
        }
        assert!(m.html.contains("width=device-width"));
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
    }

    #[test]
    fn spans_read_like_a_clock() {
        assert_eq!(span(0), "under a minute");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h 05m");
        assert_eq!(span(2 * 86_400 + 4 * 3600), "2d 4h");
    }
}
