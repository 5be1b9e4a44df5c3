//! `handoff list`: handoff resources as an aligned table, one row each.

use super::text::{clean_line, parse_time, relative, truncate};
use chrono::{DateTime, Utc};
use serde_json::Value;

const HEADERS: [&str; 8] = [
    "ID", "STATUS", "LEVEL", "RISK", "TASK", "TEAM", "SUBJECT", "SLA DUE",
];
const SUBJECT_WIDTH: usize = 40;

/// The rows under a header line; `no handoffs` when there are none. The SLA is shown only
/// while a person is expected to act: for a decided handoff a past due date means nothing.
pub fn render_table(items: &[Value], now: DateTime<Utc>) -> String {
    if items.is_empty() {
        return "no handoffs\n".to_owned();
    }
    let rows: Vec<[String; 8]> = items.iter().map(|h| row(h, now)).collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_row(&mut out, &HEADERS.map(str::to_owned), &widths);
    for r in &rows {
        push_row(&mut out, r, &widths);
    }
    out
}

fn row(h: &Value, now: DateTime<Utc>) -> [String; 8] {
    let cell = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => clean_line(s),
        Value::Number(n) => n.to_string(),
        _ => "-".to_owned(),
    };
    let eval = &h["evaluation"];
    let status = h["status"].as_str().unwrap_or("");
    let open = handoff_domain::Status::parse(status).is_some_and(|s| s.is_open());
    let due = match eval["sla_due_at"].as_str().and_then(parse_time) {
        Some(t) if open => relative(t, now),
        _ => "-".to_owned(),
    };
    [
        cell(&h["id"]),
        cell(&h["status"]),
        cell(&eval["level"]),
        cell(&eval["risk"]),
        cell(&h["task"]),
        cell(&h["assigned_team"]),
        truncate(&cell(&h["packet"]["subject"]), SUBJECT_WIDTH),
        due,
    ]
}

fn push_row(out: &mut String, cells: &[String; 8], widths: &[usize; 8]) {
    let last = cells.len() - 1;
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        if i == last {
            out.push_str(cell);
        } else {
            out.push_str(cell);
            out.push_str(&" ".repeat(w - cell.chars().count() + 2));
        }
    }
    out.push('\n');
}
