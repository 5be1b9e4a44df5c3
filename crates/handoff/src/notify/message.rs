//! What a notification says. Every channel starts from the same event, `{type, timestamp,
//! data}` with `data.id` the handoff id: a webhook sends it verbatim (and signed), Slack
//! and e-mail (`email.rs`) render it. Agent-written text (the summary, the question) is
//! untrusted: in Slack's markup `<`, `>` and `&` are escaped so it cannot forge links or
//! mentions, and in the e-mail's HTML part everything is escaped.

use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::Handoff;
use handoff_domain::schedule::Notice;
use serde_json::{Value, json};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn text<'a>(h: &'a Handoff, field: &str) -> &'a str {
    h.packet.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Every flag on the handoff: the policy's, then the agent's.
fn flags(h: &Handoff) -> Vec<String> {
    let mut out = h.evaluation.flags.clone();
    if let Some(agent) = h.packet.get("flags").and_then(Value::as_array) {
        out.extend(agent.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    out
}

/// The event a team receives: enough to triage without opening the page, and the link.
pub fn team_event(
    h: &Handoff,
    team: &str,
    notice: Notice,
    link: &str,
    now: DateTime<Utc>,
) -> String {
    let e = &h.evaluation;
    let body = json!({
        "type": notice.event_type(),
        "timestamp": ts(now),
        "data": {
            "id": h.id,
            "task": h.task,
            "status": h.state.status,
            "version": h.state.version,
            "team": team,
            "level": e.level.get(),
            "risk": e.risk,
            "summary": text(h, "summary"),
            "decision_needed": text(h, "decision_needed"),
            "subject": text(h, "subject"),
            "options": h.packet.get("options").cloned().unwrap_or_else(|| json!([])),
            "approvals": h.state.approvers(),
            "confidence": h.packet.get("confidence"),
            "flags": flags(h),
            "approvals_required": h.state.approvals_required,
            "sla_due_at": ts(e.sla_due_at),
            "expires_at": ts(e.expires_at),
            "alert": (notice == Notice::Alert).then_some(h.timers.alerts.max(1)),
            // A revision says what it revises, why that ended, and which parts of the draft
            // changed (the values and the word diff are on the page).
            "revision_of": h.revision_of.as_ref().map(|r| json!({
                "id": r.id, "status": r.status, "rationale": r.rationale,
                "changed": r.draft_diff.iter().map(|op| op.path.as_str()).collect::<Vec<_>>(),
            })),
            "url": link,
        }
    });
    body.to_string()
}

/// The event the agent receives at its `callback_url`: the new status, the decision, the
/// approved draft and its receipt, or the outcome.
pub fn agent_event(h: &Handoff, event: &str, link: &str, now: DateTime<Utc>) -> String {
    let s = &h.state;
    let body = json!({
        "type": event,
        "timestamp": ts(now),
        "data": {
            "id": h.id,
            "task": h.task,
            "status": s.status,
            "version": s.version,
            "decision": s.decision,
            "approved_draft": s.approved_draft(),
            "draft_sha256": s.current_draft_sha256(),
            "receipt": h.receipt,
            "outcome": s.outcome,
            "url": link,
        }
    });
    body.to_string()
}

/// Escapes text for Slack's mrkdwn: only `&`, `<` and `>` are special.
pub(crate) fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn str_of<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A one-line headline: "Level 2, medium risk: respond_to_client_inquiry needs a decision".
pub(crate) fn headline(kind: &str, data: &Value) -> String {
    if kind == "task.demoted" {
        return format!(
            "{} demoted from level {} to level {}{}",
            str_of(data, "task"),
            data.get("from_level").and_then(Value::as_u64).unwrap_or(0),
            data.get("to_level").and_then(Value::as_u64).unwrap_or(0),
            if data.get("automatic").and_then(Value::as_bool) == Some(true) {
                " automatically"
            } else {
                ""
            },
        );
    }
    let what = match kind {
        "handoff.reminder" => "is waiting for a decision (reminder)",
        "handoff.alert" => "raised a level-4 alert",
        _ => "needs a decision",
    };
    format!(
        "Level {}, {} risk: {} {what}",
        data.get("level").and_then(Value::as_u64).unwrap_or(0),
        str_of(data, "risk"),
        str_of(data, "task"),
    )
}

pub(crate) fn flag_list(data: &Value) -> String {
    let flags: Vec<&str> = data
        .get("flags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if flags.is_empty() {
        "none".to_owned()
    } else {
        flags.join(", ")
    }
}

/// A Slack incoming-webhook message for a team event.
pub fn slack(event: &Value) -> Value {
    let kind = str_of(event, "type");
    let data = &event["data"];
    if kind == "task.demoted" {
        let text = format!(
            "*{}*\n{}\n<{}|Open the task>",
            slack_escape(&headline(kind, data)),
            slack_escape(str_of(data, "reason")),
            slack_escape(str_of(data, "url")),
        );
        return json!({ "text": text, "unfurl_links": false, "unfurl_media": false });
    }
    let text = format!(
        "*{}*\n{}\nFlags: {} · SLA due {}\n<{}|Open the decision page>",
        slack_escape(&headline(kind, data)),
        slack_escape(str_of(data, "summary")),
        slack_escape(&flag_list(data)),
        str_of(data, "sla_due_at"),
        slack_escape(str_of(data, "url")),
    );
    json!({ "text": text, "unfurl_links": false, "unfurl_media": false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({"type": "handoff.routed", "timestamp": "t", "data": {
            "id": "hnd_1", "task": "refund", "level": 2, "risk": "medium",
            "summary": "<https://evil.example|click> & <!channel> <script>x</script>\r\nBcc: a@b",
            "flags": ["four-eyes"], "sla_due_at": "2026-11-21T12:00:00.000Z",
            "url": "https://handoff.example/handoffs/hnd_1", "team": "sales"
        }})
    }

    #[test]
    fn slack_text_cannot_forge_links_or_mentions() {
        let text = slack(&event())["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!text.contains("<https://evil"));
        assert!(!text.contains("<!channel>"));
        assert!(text.contains("&lt;https://evil.example|click&gt; &amp; &lt;!channel&gt;"));
        assert!(text.contains("<https://handoff.example/handoffs/hnd_1|Open the decision page>"));
        assert!(text.contains("Level 2, medium risk"));
    }
}
