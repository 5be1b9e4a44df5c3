//! `handoff stats` and `handoff tasks`: the JSON of `GET /v1/stats` and of a level change
//! as terminal text. Pure: a value in, lines out. Task names may come from agents (a task
//! the policy does not list still has statistics), so every string is cleaned.

use super::text::{clean_line, human_span, truncate};
use serde_json::Value;

const TASK_WIDTH: usize = 32;
const HEADERS: [&str; 12] = [
    "TASK",
    "LEVEL",
    "DECISIONS",
    "UNCHANGED",
    "WILSON 95%",
    "EDITS",
    "REJECTS",
    "TTD P50/P90",
    "SLA",
    "OUTCOMES OK/FAIL/RB",
    "THRESHOLD",
    "SINCE",
];

/// The per-task table (a line under each task for its monitor and its recommendation),
/// then the KPIs.
pub fn render_stats(stats: &Value) -> String {
    let mut out = format!("window {}\n\n", text(&stats["window"]));
    let tasks = stats["tasks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if tasks.is_empty() {
        out.push_str("no task types\n");
    } else {
        let rows: Vec<[String; 12]> = tasks.iter().map(row).collect();
        let mut widths = HEADERS.map(|h| h.chars().count());
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        push_row(&mut out, &HEADERS.map(str::to_owned), &widths);
        for (t, r) in tasks.iter().zip(&rows) {
            push_row(&mut out, r, &widths);
            if let Some(m) = monitoring(&t["monitoring"]) {
                out.push_str(&format!("  monitoring: {m}\n"));
            }
            if let Some(r) = t["recommendation"].as_str() {
                out.push_str(&format!("  promotion: {}\n", clean_line(r)));
            }
        }
    }
    out.push('\n');
    out.push_str(&kpis(&stats["kpis"]));
    out
}

fn row(t: &Value) -> [String; 12] {
    let level = match (t["level"].as_u64(), t["base_level"].as_u64()) {
        (Some(l), Some(b)) if l != b => format!("{l} (file {b})"),
        (Some(l), _) => l.to_string(),
        _ => "-".to_owned(),
    };
    let wilson = match (t["wilson_low"].as_f64(), t["wilson_high"].as_f64()) {
        (Some(lo), Some(hi)) => format!("{lo:.3}–{hi:.3}"),
        _ => "-".to_owned(),
    };
    let ttd = match (
        t["time_to_decision_p50_s"].as_f64(),
        t["time_to_decision_p90_s"].as_f64(),
    ) {
        (Some(a), Some(b)) => format!("{}/{}", span(a), span(b)),
        _ => "-".to_owned(),
    };
    let o = &t["outcomes"];
    let outcomes = format!(
        "{}/{}/{}",
        int(&o["executed"]),
        int(&o["failed"]),
        int(&o["rolled_back"])
    );
    let edits = match t["edit_size"]["json_paths"]
        .as_i64()
        .zip(t["edit_size"]["characters"].as_i64())
    {
        Some((p, c)) if p + c > 0 => format!("{} ({p} paths, {c} chars)", int(&t["edited"])),
        _ => int(&t["edited"]),
    };
    let since = t["level_since"]
        .as_str()
        .map(|s| clean_line(s.get(..16).unwrap_or(s)).replace('T', " "))
        .unwrap_or_else(|| "-".to_owned());
    [
        truncate(&text(&t["task"]), TASK_WIDTH),
        level,
        int(&t["decisions"]),
        percent(&t["unchanged_rate"]),
        wilson,
        edits,
        int(&t["rejected"]),
        ttd,
        percent(&t["sla_compliance"]),
        outcomes,
        t["suggested_threshold"]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
        since,
    ]
}

/// `12 checked, 1 error (8.3%); outcomes 40, 0 failed`: the spot-check stream, then the
/// outcome stream; `None` for a task that is not monitored.
fn monitoring(m: &Value) -> Option<String> {
    if !m.is_object() {
        return None;
    }
    let errors = m["errors"].as_i64().unwrap_or(0);
    Some(format!(
        "{} checked, {errors} error{} ({}); outcomes {}, {} failed or rolled back",
        int(&m["checked"]),
        if errors == 1 { "" } else { "s" },
        percent(&m["error_rate"]),
        int(&m["outcomes"]),
        int(&m["failed_outcomes"]),
    ))
}

fn kpis(k: &Value) -> String {
    let ttd = match (
        k["time_to_decision_p50_s"].as_f64(),
        k["time_to_decision_p90_s"].as_f64(),
    ) {
        (Some(a), Some(b)) => format!("p50 {}, p90 {}", span(a), span(b)),
        _ => "-".to_owned(),
    };
    let audit = &k["audit_readiness"];
    let chain = match audit["chain_ok"].as_bool() {
        Some(true) => "chain verified",
        Some(false) => "CHAIN BROKEN",
        None => "chain not checked",
    };
    let mut out = String::from("KPIs\n");
    let lines = [
        ("escalation precision", percent(&k["escalation_precision"])),
        ("time to decision", ttd),
        (
            "approval SLA compliance",
            percent(&k["approval_sla_compliance"]),
        ),
        ("rollback rate", percent(&k["rollback_rate"])),
        (
            "audit readiness",
            format!(
                "{chain}; {} of decisions with a rationale",
                percent(&audit["decisions_with_rationale"])
            ),
        ),
    ];
    for (name, value) in lines {
        out.push_str(&format!("  {name:<25}{value}\n"));
    }
    let weeks = k["incident_trend"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !weeks.is_empty() {
        out.push_str("  incidents per week        failed / rolled back / alerts\n");
        for w in weeks {
            out.push_str(&format!(
                "    {:<23}{} / {} / {}\n",
                text(&w["week"]),
                int(&w["failed"]),
                int(&w["rolled_back"]),
                int(&w["alerts"])
            ));
        }
    }
    out
}

/// What `tasks promote|demote` prints: the new level and the evidence.
pub fn render_level_change(v: &Value) -> String {
    let e = &v["evidence"];
    let wilson = e["wilson_low"]
        .as_f64()
        .map_or_else(|| "-".to_owned(), |w| format!("{w:.3}"));
    format!(
        "{}: level {} (was {})\nevidence over {}: {} {}, {} approved unchanged ({}), Wilson 95% lower bound {wilson}\n",
        text(&v["task"]),
        int(&v["level"]),
        int(&v["previous_level"]),
        text(&e["window"]),
        int(&e["decisions"]),
        if e["decisions"].as_i64() == Some(1) {
            "decision"
        } else {
            "decisions"
        },
        int(&e["unchanged"]),
        percent(&e["unchanged_rate"]),
    )
}

fn text(v: &Value) -> String {
    match v.as_str() {
        Some(s) if !s.is_empty() => clean_line(s),
        _ => "-".to_owned(),
    }
}

fn int(v: &Value) -> String {
    v.as_i64().map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn percent(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn span(secs: f64) -> String {
    if secs.is_finite() && secs >= 0.0 {
        human_span(secs.round() as u64)
    } else {
        "-".to_owned()
    }
}

fn push_row(out: &mut String, cells: &[String; 12], widths: &[usize; 12]) {
    let last = cells.len() - 1;
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        out.push_str(cell);
        if i != last {
            out.push_str(&" ".repeat(w - cell.chars().count() + 2));
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_row_shows_its_evidence_and_its_monitor() {
        let stats = json!({
            "window": "30d",
            "tasks": [{
                "task": "reply\u{1b}[31m", "level": 1, "base_level": 2,
                "level_since": "2026-11-30T10:00:00Z",
                "decisions": 40, "unchanged": 39, "edited": 1, "rejected": 0,
                "unchanged_rate": 0.975, "wilson_low": 0.8712, "wilson_high": 0.9956,
                "time_to_decision_p50_s": 720.0, "time_to_decision_p90_s": 3600.0,
                "sla_compliance": 1.0,
                "outcomes": {"executed": 3, "failed": 1, "rolled_back": 0},
                "edit_size": {"json_paths": 0, "characters": 12},
                "suggested_threshold": 0.85,
                "monitoring": {"checked": 12, "errors": 1, "error_rate": 0.0833,
                               "outcomes": 40, "failed_outcomes": 0},
                "recommendation": null
            }],
            "kpis": {"escalation_precision": null, "time_to_decision_p50_s": 720.0,
                     "time_to_decision_p90_s": 3600.0, "approval_sla_compliance": 1.0,
                     "rollback_rate": 0.0,
                     "audit_readiness": {"chain_ok": true, "decisions_with_rationale": 0.5},
                     "incident_trend": [{"week": "2026-W48", "failed": 1, "rolled_back": 0, "alerts": 2}]}
        });
        let text = render_stats(&stats);
        assert!(!text.contains('\u{1b}') && !text.contains("[31m"), "{text}");
        for part in [
            "window 30d",
            "reply ",
            "1 (file 2)",
            "97.5%",
            "0.871–0.996",
            "1 (0 paths, 12 chars)",
            "12m/1h",
            "3/1/0",
            "0.85",
            "2026-11-30 10:00",
            "monitoring: 12 checked, 1 error (8.3%); outcomes 40, 0 failed",
            "escalation precision     -",
            "p50 12m, p90 1h",
            "chain verified; 50.0% of decisions with a rationale",
            "2026-W48               1 / 0 / 2",
        ] {
            assert!(text.contains(part), "`{part}` missing from\n{text}");
        }
    }

    #[test]
    fn a_level_change_prints_the_evidence() {
        let v = json!({"task": "t", "level": 1, "previous_level": 2,
            "evidence": {"window": "30d", "decisions": 35, "unchanged": 35,
                         "unchanged_rate": 1.0, "wilson_low": 0.9011}});
        assert_eq!(
            render_level_change(&v),
            "t: level 1 (was 2)\nevidence over 30d: 35 decisions, 35 approved unchanged (100.0%), Wilson 95% lower bound 0.901\n"
        );
    }
}
