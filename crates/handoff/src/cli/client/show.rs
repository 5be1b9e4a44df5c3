//! `handoff show`: one handoff resource (SPEC §3) as a readable page.
//!
//! Pure: JSON and the current time in, text out. Fields the server leaves out are skipped,
//! so an older or newer server still renders.

use super::text::{clean_line, clean_text, when};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Labels are padded to this width; continuation lines are indented by it.
const LABEL: usize = 17;

pub fn render_show(h: &Value, now: DateTime<Utc>) -> String {
    let mut out = Page::default();
    let packet = &h["packet"];
    let eval = &h["evaluation"];
    out.text.push_str(&format!(
        "{}  {}  version {}\n",
        clean_line(str_of(&h["id"])),
        clean_line(str_of(&h["status"])),
        scalar(&h["version"])
    ));
    out.line("task", &clean_line(str_of(&h["task"])));
    out.line("agent", &clean_line(str_of(&h["agent"])));
    out.line("subject", &clean_line(str_of(&packet["subject"])));
    out.line("level", &level_line(eval, packet));
    out.line("team", &clean_line(str_of(&h["assigned_team"])));
    out.line("approvals", &approvals_line(h, eval));
    out.line("sla due", &opt_when(&eval["sla_due_at"], now));
    out.line("expires", &opt_when(&eval["expires_at"], now));
    out.line("flags (policy)", &joined(&eval["flags"]));
    out.line("flags (agent)", &joined(&packet["flags"]));
    let reasons: Vec<String> = items(&eval["reasons"])
        .map(|r| {
            format!(
                "{} → {}",
                clean_line(str_of(&r["rule"])),
                clean_line(str_of(&r["effect"]))
            )
        })
        .collect();
    out.line("reasons", &reasons.join("\n"));
    out.line("summary", &clean_text(str_of(&packet["summary"])));
    out.line(
        "decision needed",
        &clean_text(str_of(&packet["decision_needed"])),
    );
    out.line(
        "recommended",
        &clean_text(str_of(&packet["recommended_action"])),
    );
    let options: Vec<String> = items(&packet["options"]).map(option_line).collect();
    out.line("options", &options.join("\n"));
    let evidence: Vec<String> = items(&packet["evidence"]).map(evidence_line).collect();
    out.line("evidence", &evidence.join("\n"));
    out.line("assumptions", &bullets(&packet["assumptions"]));
    out.line("open questions", &bullets(&packet["open_questions"]));
    draft_block(&mut out, h);
    decision_lines(&mut out, &h["decision"], now);
    outcome_lines(&mut out, &h["outcome"], now);
    let versions: Vec<String> = items(&h["draft_versions"])
        .map(|v| {
            format!(
                "{}  {}  {}",
                scalar(&v["version"]),
                clean_line(str_of(&v["by"])),
                clean_line(v["sha256"].as_str().unwrap_or("(no draft)"))
            )
        })
        .collect();
    out.line("draft versions", &versions.join("\n"));
    out.line("receipt", &clean_line(str_of(&h["receipt"])));
    out.text
}

#[derive(Default)]
struct Page {
    text: String,
}

impl Page {
    /// `label  value`, continuation lines aligned under the value; nothing when empty.
    fn line(&mut self, label: &str, value: &str) {
        let value = value.trim_end();
        if value.is_empty() {
            return;
        }
        let indent = " ".repeat(LABEL);
        for (i, l) in value.lines().enumerate() {
            if i == 0 {
                self.text.push_str(&format!("{label:<LABEL$}{l}\n"));
            } else if l.is_empty() {
                self.text.push('\n');
            } else {
                self.text.push_str(&format!("{indent}{l}\n"));
            }
        }
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A number or string as text, cleaned; empty for null or anything else.
fn scalar(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => clean_line(s),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn joined(v: &Value) -> String {
    let words: Vec<String> = items(v).map(scalar).collect();
    words.join(", ")
}

fn bullets(v: &Value) -> String {
    let lines: Vec<String> = items(v).map(|s| format!("- {}", scalar(s))).collect();
    lines.join("\n")
}

fn opt_when(v: &Value, now: DateTime<Utc>) -> String {
    v.as_str().map(|s| when(s, now)).unwrap_or_default()
}

pub fn level_name(level: u64) -> &'static str {
    match level {
        1 => "autonomous",
        2 => "draft & review",
        3 => "flag & stop",
        4 => "alert",
        _ => "?",
    }
}

fn level_line(eval: &Value, packet: &Value) -> String {
    let Some(level) = eval["level"].as_u64() else {
        return String::new();
    };
    let mut s = format!("{level} ({})", level_name(level));
    if let Some(risk) = eval["risk"].as_str() {
        s.push_str(&format!(", risk {}", clean_line(risk)));
    }
    if let Some(c) = packet["confidence"].as_f64() {
        s.push_str(&format!(", confidence {c}"));
    }
    s
}

fn approvals_line(h: &Value, eval: &Value) -> String {
    let given: Vec<String> = items(&h["approvals"])
        .map(|a| clean_line(str_of(&a["by"])))
        .collect();
    match eval["approvals_required"].as_u64() {
        Some(required) if given.is_empty() => format!("0 of {required}"),
        Some(required) => format!("{} of {required}: {}", given.len(), given.join(", ")),
        None => given.join(", "),
    }
}

fn option_line(o: &Value) -> String {
    if let Some(s) = o.as_str() {
        return format!("- {}", clean_line(s));
    }
    let mut s = format!(
        "- {}: {}",
        clean_line(str_of(&o["id"])),
        clean_line(str_of(&o["label"]))
    );
    let traits: Vec<String> = ["risk", "effort", "impact"]
        .into_iter()
        .filter_map(|k| o[k].as_str().map(|v| format!("{k} {}", clean_line(v))))
        .collect();
    if !traits.is_empty() {
        s.push_str(&format!(" ({})", traits.join(", ")));
    }
    if let Some(note) = o["note"].as_str().filter(|n| !n.is_empty()) {
        s.push_str(&format!(" — {}", clean_line(note)));
    }
    s
}

fn evidence_line(e: &Value) -> String {
    let mut s = format!("- {}", clean_line(str_of(&e["label"])));
    if let Some(d) = e["detail"].as_str().filter(|d| !d.is_empty()) {
        s.push_str(&format!(": {}", clean_line(d)));
    }
    if let Some(u) = e["url"].as_str().filter(|u| !u.is_empty()) {
        s.push_str(&format!(" <{}>", clean_line(u)));
    }
    s
}

/// The draft that matters now: the approved one once there is one, else the current one
/// if the server sends it, else the agent's; JSON pretty-printed, a string as its text.
fn draft_block(out: &mut Page, h: &Value) {
    let latest = h["draft_versions"].as_array().and_then(|v| v.last());
    let described = |label: &str, v: Option<&Value>| match v {
        Some(v) => format!(
            "{label} (version {} by {})",
            scalar(&v["version"]),
            clean_line(str_of(&v["by"]))
        ),
        None => label.to_owned(),
    };
    let (label, draft) = if !h["approved_draft"].is_null() {
        (described("approved draft", latest), &h["approved_draft"])
    } else if let Some(d) = ["draft", "current_draft"]
        .into_iter()
        .map(|k| &h[k])
        .find(|d| !d.is_null())
    {
        (described("draft", latest), d)
    } else if !h["packet"]["draft"].is_null() {
        let first = h["draft_versions"].as_array().and_then(|v| v.first());
        (described("agent's draft", first), &h["packet"]["draft"])
    } else {
        return;
    };
    let text = match draft {
        Value::String(s) => clean_text(s),
        // serde_json escapes control characters; cleaning catches C1 and bidi controls.
        other => clean_text(&serde_json::to_string_pretty(other).unwrap_or_default()),
    };
    out.text.push_str(&format!("{label}:\n"));
    for l in text.lines() {
        out.text.push_str(&format!("  {l}\n"));
    }
}

fn decision_lines(out: &mut Page, d: &Value, now: DateTime<Utc>) {
    let Some(action) = d["action"].as_str() else {
        return;
    };
    let mut s = format!("{} by {}", clean_line(action), clean_line(str_of(&d["by"])));
    if let Some(at) = d["at"].as_str() {
        s.push_str(&format!(", {}", when(at, now)));
    }
    if let Some(option) = d["option"].as_str() {
        s.push_str(&format!(", option {}", clean_line(option)));
    }
    out.line("decision", &s);
    out.line("rationale", &clean_text(str_of(&d["rationale"])));
}

fn outcome_lines(out: &mut Page, o: &Value, now: DateTime<Utc>) {
    let Some(result) = o["result"].as_str() else {
        return;
    };
    let mut s = clean_line(result);
    if let Some(at) = o["at"].as_str() {
        s.push_str(&format!(", {}", when(at, now)));
    }
    out.line("outcome", &s);
    out.line("detail", &clean_text(str_of(&o["detail"])));
}
