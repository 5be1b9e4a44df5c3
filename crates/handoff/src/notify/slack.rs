//! Slack's Block Kit (SPEC §8 "Deciding from Slack"): the message a team gets when Slack
//! interactivity is on (the question, summary, level and risk, confidence, flags, time
//! left, the agent's options, and approve / reject / escalate / open buttons, or
//! acknowledge / open for a level-4 alert), the message that replaces it after a
//! decision, and the ephemeral answers to one person.
//!
//! Every button's `value` is `{"id": …, "version": …}`: the handoff and the version the
//! message showed, which the decision is made on (`If-Match`). Agent-written text is
//! escaped for mrkdwn (`&`, `<`, `>`), so it can neither link nor mention; Slack's length
//! limits are kept by clipping before the limit.

use super::message::{flag_list, headline, slack_escape, str_of};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The `block_id` and `action_id` of the rationale input.
pub const RATIONALE: &str = "rationale";
/// The `block_id` of the buttons.
pub const ACTIONS: &str = "handoff_actions";

/// Slack's limit on a section's text, with room to spare.
const SECTION_MAX: usize = 2900;
/// Slack's limit on one field of a section.
const FIELD_MAX: usize = 1900;

/// Escapes `s` for mrkdwn, clipped so the escaped text stays within `max` bytes (an
/// entity is never cut in two).
fn escaped_within(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let piece = match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            c => c.to_string(),
        };
        if out.len() + piece.len() > max.saturating_sub(3) {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": mrkdwn(text)})
}

/// "2h 5m", "45m", "3d 4h"; "overdue by 10m" once past.
pub fn time_left(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (due - now).num_seconds();
    let words = |s: i64| {
        let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
        match (d, h) {
            (0, 0) => format!("{}m", m.max(1)),
            (0, h) => format!("{h}h {m}m"),
            (d, h) => format!("{d}d {h}h"),
        }
    };
    if secs >= 0 {
        words(secs)
    } else {
        format!("overdue by {}", words(-secs))
    }
}

/// The button value: the handoff and the version this message shows.
pub fn button_value(id: &str, version: u64) -> String {
    json!({"id": id, "version": version}).to_string()
}

fn button(action: &str, text: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "action_id": action,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}

/// One line per option the agent offered: its label and what it said of it.
fn options(data: &Value) -> Option<String> {
    let list = data.get("options").and_then(Value::as_array)?;
    if list.is_empty() {
        return None;
    }
    let mut lines = vec!["*The agent's options*".to_owned()];
    for o in list {
        let line = match o {
            Value::String(s) => s.clone(),
            Value::Object(m) => {
                let label = m
                    .get("label")
                    .or_else(|| m.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut parts = Vec::new();
                for k in ["risk", "effort", "impact"] {
                    if let Some(v) = m.get(k).and_then(Value::as_str) {
                        parts.push(format!("{k} {v}"));
                    }
                }
                let mut line = label.to_owned();
                if !parts.is_empty() {
                    line.push_str(&format!(" ({})", parts.join(", ")));
                }
                if let Some(note) = m.get("note").and_then(Value::as_str) {
                    line.push_str(&format!(": {note}"));
                }
                line
            }
            _ => continue,
        };
        lines.push(format!("• {}", escaped_within(&line, 300)));
    }
    let text = lines.join("\n");
    Some(if text.len() > SECTION_MAX {
        // Each line is escaped already: cut at a line, never inside an entity.
        let mut cut = String::new();
        for l in text.lines() {
            if cut.len() + l.len() + 2 > SECTION_MAX {
                cut.push('…');
                break;
            }
            cut.push_str(l);
            cut.push('\n');
        }
        cut
    } else {
        text
    })
}

/// A revision's block: what it revises and how that ended, the reviewer's rationale then,
/// and which parts of the draft changed since (`the draft's text` for a text draft; at
/// most eight JSON paths, then how many more).
fn revision_text(r: &Value) -> String {
    let mut text = format!(
        "*Revision of* {} ({})",
        escaped_within(str_of(r, "id"), 40),
        escaped_within(str_of(r, "status"), 20)
    );
    let rationale = str_of(r, "rationale");
    if !rationale.is_empty() {
        text.push_str(&format!(
            "\n*Earlier rationale:* {}",
            escaped_within(rationale, 1000)
        ));
    }
    let changed: Vec<&str> = r
        .get("changed")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let what = match changed.as_slice() {
        [] => "nothing in the draft".to_owned(),
        [""] => "the draft's text".to_owned(),
        paths => {
            let mut list: Vec<String> = paths
                .iter()
                .take(8)
                .map(|p| format!("`{}`", escaped_within(p, 80).replace('`', "'")))
                .collect();
            if paths.len() > 8 {
                list.push(format!("and {} more", paths.len() - 8));
            }
            list.join(", ")
        }
    };
    text.push_str(&format!("\n*Changed since:* {what}"));
    text
}

/// The blocks describing the handoff of a team event, with buttons for what can be
/// decided from Slack in its status when `buttons` is set.
fn handoff_blocks(kind: &str, data: &Value, now: DateTime<Utc>, buttons: bool) -> Vec<Value> {
    let id = str_of(data, "id");
    let version = data.get("version").and_then(Value::as_u64).unwrap_or(0);
    let mut blocks = vec![section(format!(
        "*{}*",
        escaped_within(&headline(kind, data), 500)
    ))];
    let question = str_of(data, "decision_needed");
    if !question.is_empty() {
        blocks.push(section(format!(
            "*Decision needed:* {}",
            escaped_within(question, SECTION_MAX - 30)
        )));
    }
    blocks.push(section(escaped_within(
        str_of(data, "summary"),
        SECTION_MAX,
    )));
    if let Some(r) = data.get("revision_of").filter(|r| r.is_object()) {
        blocks.push(section(revision_text(r)));
    }
    let confidence = data
        .get("confidence")
        .and_then(Value::as_f64)
        .map_or_else(|| "?".to_owned(), |c| format!("{c:.2}"));
    let due = str_of(data, "sla_due_at");
    let left = DateTime::parse_from_rfc3339(due)
        .map(|d| time_left(d.with_timezone(&Utc), now))
        .unwrap_or_else(|_| "?".to_owned());
    let mut fields = vec![
        mrkdwn(format!(
            "*Level and risk*\n{}, {} risk",
            data.get("level").and_then(Value::as_u64).unwrap_or(0),
            escaped_within(str_of(data, "risk"), 20)
        )),
        mrkdwn(format!("*Confidence*\n{confidence}")),
        mrkdwn(format!(
            "*Flags*\n{}",
            escaped_within(&flag_list(data), FIELD_MAX)
        )),
        mrkdwn(format!(
            "*Time left*\n{left} (SLA due {})",
            slack_escape(due)
        )),
    ];
    let required = data
        .get("approvals_required")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if required > 1 {
        let approvals: Vec<&str> = data
            .get("approvals")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let by = if approvals.is_empty() {
            String::new()
        } else {
            format!(" ({})", escaped_within(&approvals.join(", "), 500))
        };
        fields.push(mrkdwn(format!(
            "*Approvals*\n{} of {required}{by}",
            approvals.len()
        )));
    }
    let subject = str_of(data, "subject");
    if !subject.is_empty() {
        fields.push(mrkdwn(format!(
            "*Subject*\n{}",
            escaped_within(subject, FIELD_MAX)
        )));
    }
    blocks.push(json!({"type": "section", "fields": fields}));
    if let Some(text) = options(data) {
        blocks.push(section(text));
    }
    let value = button_value(id, version);
    let url = str_of(data, "url");
    let open = json!({
        "type": "button",
        "action_id": "open",
        "text": {"type": "plain_text", "text": "Open"},
        "url": url,
        "value": value,
    });
    let status = str_of(data, "status");
    let actions = match (buttons, status) {
        (true, "pending") => {
            blocks.push(json!({
                "type": "input",
                "block_id": RATIONALE,
                "optional": true,
                "label": {"type": "plain_text", "text": "Rationale (needed to reject or escalate)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": RATIONALE,
                    "multiline": true,
                    "max_length": 2000,
                },
            }));
            vec![
                button("approve", "Approve", &value, Some("primary")),
                button("reject", "Reject", &value, Some("danger")),
                button("escalate", "Escalate", &value, None),
                open,
            ]
        }
        (true, "alerted") => vec![
            button("acknowledge", "Acknowledge", &value, Some("primary")),
            open,
        ],
        _ => vec![open],
    };
    blocks.push(json!({"type": "actions", "block_id": ACTIONS, "elements": actions}));
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(format!("{} · version {version}", slack_escape(id)))],
    }));
    blocks
}

/// The incoming-webhook message of a team event with Block Kit buttons. `text` is the
/// notification's fallback (and what one-way clients show).
pub fn interactive(event: &Value, now: DateTime<Utc>) -> Value {
    let kind = str_of(event, "type");
    let data = &event["data"];
    if kind == "task.demoted" {
        return super::message::slack(event);
    }
    json!({
        "text": escaped_within(&headline(kind, data), 500),
        "blocks": handoff_blocks(kind, data, now, true),
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// The message that replaces the one a reviewer pressed a button in: what was decided and
/// by whom, then the handoff as it is now, with buttons for its new version while more
/// can be decided (after the first of two approvals, for instance).
pub fn decided(event: &Value, outcome: &str, now: DateTime<Utc>) -> Value {
    let kind = str_of(event, "type");
    let data = &event["data"];
    let mut blocks = vec![section(format!("*{}*", escaped_within(outcome, 500)))];
    blocks.extend(handoff_blocks(kind, data, now, true));
    json!({
        "replace_original": true,
        "text": escaped_within(outcome, 500),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// A message only the person who pressed sees; the original stays as it was.
pub fn ephemeral(text: &str) -> Value {
    json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": escaped_within(text, SECTION_MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: &str) -> Value {
        json!({"type": "handoff.routed", "timestamp": "t", "data": {
            "id": "hnd_1", "task": "refund", "level": 2, "risk": "medium", "status": status,
            "version": 3, "summary": "<https://evil.example|click> & <!channel>",
            "decision_needed": "Refund <@U123>?", "confidence": 0.72,
            "options": ["<!here>", {"id": "a", "label": "Full refund", "risk": "low", "note": "<b>"}],
            "flags": ["four-eyes"], "sla_due_at": "2026-11-21T12:00:00.000Z",
            "approvals_required": 2, "approvals": ["ana"],
            "url": "https://handoff.example/handoffs/hnd_1", "team": "sales"
        }})
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn agent_text_cannot_link_or_mention_and_buttons_carry_the_version() {
        let m = interactive(&event("pending"), now());
        let all = m.to_string();
        assert!(!all.contains("<https://evil"), "{all}");
        assert!(
            !all.contains("<!channel>") && !all.contains("<!here>"),
            "{all}"
        );
        assert!(!all.contains("<@U123>"), "{all}");
        assert!(all.contains("1h 30m"), "{all}");
        assert!(all.contains("Full refund (risk low): &lt;b&gt;"), "{all}");
        assert!(all.contains("1 of 2 (ana)"), "{all}");
        let actions = m["blocks"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
            .cloned()
            .unwrap_or_default();
        let ids: Vec<&str> = actions["elements"]
            .as_array()
            .map(|e| e.iter().filter_map(|b| b["action_id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(ids, ["approve", "reject", "escalate", "open"]);
        assert_eq!(
            actions["elements"][0]["value"],
            button_value("hnd_1", 3).as_str()
        );
        assert!(all.contains("\"plain_text_input\""));
    }

    #[test]
    fn a_revision_says_what_it_revises_the_earlier_rationale_and_what_changed() {
        let mut e = event("pending");
        e["data"]["revision_of"] = json!({
            "id": "hnd_0", "status": "rejected", "rationale": "Too <b>warm</b>, <!channel>",
            "changed": ["/amount", "/note"],
        });
        let text = interactive(&e, now()).to_string();
        assert!(text.contains("*Revision of* hnd_0 (rejected)"), "{text}");
        assert!(
            text.contains("Too &lt;b&gt;warm&lt;/b&gt;, &lt;!channel&gt;"),
            "{text}"
        );
        assert!(
            text.contains("*Changed since:* `/amount`, `/note`"),
            "{text}"
        );
        e["data"]["revision_of"]["changed"] = json!([""]);
        let text = interactive(&e, now()).to_string();
        assert!(text.contains("*Changed since:* the draft's text"), "{text}");
    }

    #[test]
    fn an_alert_gets_acknowledge_and_a_decided_one_only_open() {
        let ids = |m: &Value| -> Vec<String> {
            m["blocks"]
                .as_array()
                .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
                .and_then(|a| a["elements"].as_array())
                .map(|e| {
                    e.iter()
                        .filter_map(|b| b["action_id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(
            ids(&interactive(&event("alerted"), now())),
            ["acknowledge", "open"]
        );
        assert_eq!(
            ids(&decided(&event("approved"), "Approved by ana", now())),
            ["open"]
        );
    }

    #[test]
    fn long_text_is_clipped_within_slack_limits_without_cutting_an_entity() {
        let long = "&".repeat(5000);
        let clipped = escaped_within(&long, 100);
        assert!(clipped.len() <= 100);
        assert!(clipped.trim_end_matches('…').ends_with("&amp;"));
        assert_eq!(
            time_left(now(), now() + chrono::Duration::minutes(10)),
            "overdue by 10m"
        );
    }
}
