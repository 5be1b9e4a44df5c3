//! Rendering of sample resources: a pending handoff, an approved one with a receipt, an
//! edited one; and agent-written escape sequences that must not reach the terminal.

use super::show::render_show;
use super::table::render_table;
use super::{ClientCommand, parse_action, parse_timeout};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use handoff_domain::DecisionAction;
use serde_json::{Value, json};
use std::time::Duration;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T10:40:00Z")
        .expect("a time")
        .with_timezone(&Utc)
}

fn pending() -> Value {
    json!({
        "id": "hnd_01JD0000000000000000000001", "version": 1, "status": "pending",
        "task": "respond_to_client_inquiry", "agent": "sales-bot",
        "packet": {
            "task": "respond_to_client_inquiry",
            "summary": "Client asks for a 20% discount.\nThey threaten to leave.",
            "confidence": 0.72, "subject": "ACME Corp",
            "draft": {"to": "cfo@acme.example", "body": "Hello"},
            "flags": ["high-value account"],
            "decision_needed": "Offer 10% or hold the price?",
            "options": [{"id": "ten", "label": "Offer 10%", "risk": "low"}, "hold the price"],
        },
        "evaluation": {
            "level": 2, "risk": "medium", "route": "sales-leads", "approvals_required": 2,
            "sla_due_at": "2026-11-21T12:00:00Z", "expires_at": "2026-11-24T10:00:00Z",
            "flags": ["four-eyes"],
            "reasons": [
                {"rule": "confidence below threshold", "effect": "level >= 2"},
                {"rule": "high-value account", "effect": "approvals >= 2"}
            ],
            "policy_version": "sha256:abc"
        },
        "assigned_team": "sales-leads", "approvals": [],
        "decision": null,
        "draft_versions": [{"version": 1, "by": "agent", "sha256": "aa11"}],
        "approved_draft": null, "outcome": null,
        "created_at": "2026-11-21T10:00:00Z", "updated_at": "2026-11-21T10:00:00Z"
    })
}

fn approved_with_receipt() -> Value {
    let mut h = pending();
    h["version"] = json!(3);
    h["status"] = json!("approved");
    h["approvals"] = json!([
        {"by": "ana", "at": "2026-11-21T10:10:00Z"},
        {"by": "lea", "at": "2026-11-21T10:20:00Z"}
    ]);
    h["decision"] = json!({"action": "approve", "by": "lea", "at": "2026-11-21T10:20:00Z",
        "rationale": null, "option": "ten"});
    h["approved_draft"] = h["packet"]["draft"].clone();
    h["receipt"] = json!("eyJhbGciOiJFZERTQSJ9.eyJoYW5kb2ZmIjoiaG5kIn0.c2ln");
    h
}

fn edited() -> Value {
    let mut h = approved_with_receipt();
    h["status"] = json!("executed");
    h["decision"] = json!({"action": "edit", "by": "ana", "at": "2026-11-21T10:30:00Z",
        "rationale": "softer tone", "option": null});
    h["approved_draft"] = json!("Dear client,\nwe can offer 10%.");
    h["draft_versions"] = json!([
        {"version": 1, "by": "agent", "sha256": "aa11"},
        {"version": 2, "by": "ana", "sha256": "bb22"}
    ]);
    h["outcome"] =
        json!({"result": "executed", "detail": "mail sent", "at": "2026-11-21T10:35:00Z"});
    h
}

#[test]
fn a_pending_handoff_shows_what_the_reviewer_needs() {
    let text = render_show(&pending(), now());
    for want in [
        "hnd_01JD0000000000000000000001  pending  version 1\n",
        "level            2 (draft & review), risk medium, confidence 0.72\n",
        "approvals        0 of 2\n",
        "sla due          2026-11-21 12:00:00 UTC (in 1h 20m)\n",
        "expires          2026-11-24 10:00:00 UTC (in 2d 23h)\n",
        "flags (policy)   four-eyes\n",
        "flags (agent)    high-value account\n",
        "reasons          confidence below threshold → level >= 2\n                 high-value account → approvals >= 2\n",
        "summary          Client asks for a 20% discount.\n                 They threaten to leave.\n",
        "decision needed  Offer 10% or hold the price?\n",
        "options          - ten: Offer 10% (risk low)\n                 - hold the price\n",
        "agent's draft (version 1 by agent):\n  {\n    \"to\": \"cfo@acme.example\",\n    \"body\": \"Hello\"",
        "draft versions   1  agent  aa11\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("receipt"), "{text}");
    assert!(!text.contains("decision  "), "{text}");
}

#[test]
fn an_approved_handoff_shows_its_approvers_decision_and_receipt() {
    let text = render_show(&approved_with_receipt(), now());
    for want in [
        "  approved  version 3\n",
        "approvals        2 of 2: ana, lea\n",
        "decision         approve by lea, 2026-11-21 10:20:00 UTC (20m ago), option ten\n",
        "approved draft (version 1 by agent):\n",
        "receipt          eyJhbGciOiJFZERTQSJ9.eyJoYW5kb2ZmIjoiaG5kIn0.c2ln\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn an_edited_handoff_shows_the_new_draft_and_its_versions() {
    let text = render_show(&edited(), now());
    for want in [
        "decision         edit by ana, 2026-11-21 10:30:00 UTC (10m ago)\n",
        "rationale        softer tone\n",
        "approved draft (version 2 by ana):\n  Dear client,\n  we can offer 10%.\n",
        "outcome          executed, 2026-11-21 10:35:00 UTC (5m ago)\n",
        "detail           mail sent\n",
        "draft versions   1  agent  aa11\n                 2  ana  bb22\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn the_table_has_one_aligned_row_per_handoff() {
    let mut long = pending();
    long["packet"]["subject"] = json!("A subject far too long to fit in the table's column");
    let text = render_table(&[pending(), edited(), long], now());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("ID"));
    for header in [
        "STATUS", "LEVEL", "RISK", "TASK", "TEAM", "SUBJECT", "SLA DUE",
    ] {
        assert!(lines[0].contains(header), "{text}");
    }
    // Aligned: every column starts at the same offset on every line.
    let at = |l: &str, word: &str| l.find(word);
    assert_eq!(at(lines[0], "STATUS"), at(lines[1], "pending"));
    assert_eq!(at(lines[0], "SUBJECT"), at(lines[1], "ACME Corp"));
    assert!(lines[1].ends_with("in 1h 20m"), "{text}");
    // A decided handoff has no SLA to meet.
    assert!(
        lines[2].contains("executed") && lines[2].ends_with('-'),
        "{text}"
    );
    assert!(
        lines[3].contains("A subject far too long to fit in the ta…"),
        "{text}"
    );
    assert_eq!(render_table(&[], now()), "no handoffs\n");
}

#[test]
fn escape_sequences_from_the_agent_are_not_printed_raw() {
    let mut h = pending();
    h["packet"]["summary"] =
        json!("ok\u{1b}[2J\u{1b}]0;pwned\u{7} then\u{1b}[8m hidden\nline 2\u{0}");
    h["packet"]["subject"] = json!("ACME\u{1b}[31m red\nsecond");
    h["approved_draft"] = json!("draft \u{9b}31m text");
    let show = render_show(&h, now());
    let table = render_table(&[h], now());
    for text in [&show, &table] {
        assert!(!text.contains('\u{1b}'), "raw ESC in {text:?}");
        assert!(!text.contains('\u{9b}') && !text.contains('\u{7}') && !text.contains('\u{0}'));
    }
    assert!(show.contains("summary          ok then hidden\n                 line 2\n"));
    assert!(show.contains("  draft  text\n"), "{show}");
    assert!(table.contains("ACME red second"), "{table}");
}

#[derive(Debug, Parser)]
struct TestCli {
    #[command(subcommand)]
    cmd: TestCommand,
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    #[command(flatten)]
    Client(ClientCommand),
}

#[test]
fn the_commands_parse_as_documented() {
    let parse = |args: &[&str]| TestCli::try_parse_from([&["handoff"], args].concat());
    assert!(parse(&["submit", "p.json", "--key", "k", "--idempotency-key", "x"]).is_ok());
    assert!(
        parse(&[
            "list", "--status", "pending", "--level", "2", "--all", "--json"
        ])
        .is_ok()
    );
    assert!(parse(&["list", "--status", "nope"]).is_err());
    assert!(parse(&["list", "--limit", "501"]).is_err());
    assert!(parse(&["wait", "hnd_1", "--timeout", "90"]).is_ok());
    assert!(parse(&["decide", "hnd_1", "take-over", "--if-match", "3"]).is_ok());
    assert!(
        parse(&[
            "decide",
            "hnd_1",
            "edit",
            "--draft",
            "a",
            "--draft-text",
            "b"
        ])
        .is_err()
    );
    assert!(parse(&["outcome", "hnd_1", "rolled_back", "--draft-sha256", "ab"]).is_err());
    assert!(parse(&["cancel", ".."]).is_err());
    assert!(parse(&["stats", "--json", "--task", "t", "--window", "7d"]).is_ok());
    assert!(parse(&["tasks", "promote", "t", "--reason", "earned"]).is_ok());
    assert!(parse(&["tasks", "demote", "t", "--reason", "r", "--level", "3"]).is_ok());
    assert!(
        parse(&["tasks", "promote", "t"]).is_err(),
        "a reason is required"
    );
    assert!(parse(&["tasks", "demote", "t", "--reason", "r", "--level", "5"]).is_err());
    assert!(parse(&["export", "decisions", "--since", "2026-11-01T00:00:00Z"]).is_ok());
    assert!(parse(&["export", "decisions", "--json"]).is_err());
    assert_eq!(parse_action("take-over"), Ok(DecisionAction::TakeOver));
    assert_eq!(parse_action("Approve"), Ok(DecisionAction::Approve));
    assert_eq!(parse_timeout("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_timeout("1h30m"), Ok(Duration::from_secs(5400)));
    assert!(parse_timeout("soon").is_err());
}
