//! A task type's learning statistics in words, for the dashboard's table and the task
//! page: the level in force, unchanged approvals with their Wilson interval, time to
//! decision, outcomes, the monitor. Task names can come from agents (a task the policy
//! does not list still gets counted), so they are revealed like any agent text and put
//! in links percent-encoded.

use super::chart::pct;
use super::{text, view};
use crate::app::{Monitoring, TaskStats};
use handoff_domain::Level;

/// `/tasks/<name>`, the name percent-encoded (anything but unreserved characters), so a
/// name can never leave its path segment.
pub fn task_href(task: &str) -> String {
    let mut out = String::from("/tasks/");
    for b in task.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The level's number and name: "1 · autonomous".
pub fn level_name(level: u8) -> String {
    match Level::new(i64::from(level)) {
        Ok(l) => format!("{} · {}", l.get(), l.name()),
        Err(_) => level.to_string(),
    }
}

/// "2 · draft & review", or "1 · autonomous (policy file: 2)" when it was changed.
pub fn level_text(t: &TaskStats) -> String {
    if t.level == t.base_level {
        level_name(t.level)
    } else {
        format!("{} (policy file: {})", level_name(t.level), t.base_level)
    }
}

/// "34 of 35 (97%; 95% interval 85–99.5%)", or "no decisions".
pub fn unchanged_text(t: &TaskStats) -> String {
    if t.decisions == 0 {
        return "no decisions".to_owned();
    }
    let mut s = format!(
        "{} of {} ({}",
        t.unchanged,
        t.decisions,
        pct(t.unchanged_rate)
    );
    if let (Some(lo), Some(hi)) = (t.wilson_low, t.wilson_high) {
        s.push_str(&format!(
            "; 95% interval {}–{}",
            pct(Some(lo)),
            pct(Some(hi))
        ));
    }
    s.push(')');
    s
}

/// "p50 12m · p90 1h 05m", or "—".
pub fn ttd_text(p50: Option<f64>, p90: Option<f64>) -> String {
    match (p50, p90) {
        (Some(a), Some(b)) => format!(
            "p50 {} · p90 {}",
            view::span(a.round() as i64),
            view::span(b.round() as i64)
        ),
        _ => "—".to_owned(),
    }
}

/// "12 executed · 1 failed · 0 rolled back", or "none".
pub fn outcomes_text(t: &TaskStats) -> String {
    let o = t.outcomes;
    if o.executed + o.failed + o.rolled_back == 0 {
        return "none".to_owned();
    }
    format!(
        "{} executed · {} failed · {} rolled back",
        o.executed, o.failed, o.rolled_back
    )
}

/// "≥ 85%" or "—".
pub fn threshold_text(t: &TaskStats) -> String {
    t.suggested_threshold
        .map_or_else(|| "—".to_owned(), |v| format!("≥ {}", pct(Some(v))))
}

/// The monitor's two streams in a line, or "" when the task is not monitored.
pub fn monitoring_text(m: Option<&Monitoring>) -> String {
    let Some(m) = m else {
        return String::new();
    };
    format!(
        "{} checked, {} wrong ({}); {} outcomes, {} failed; since {}",
        m.checked,
        m.errors,
        pct(m.error_rate),
        m.outcomes,
        m.failed_outcomes,
        m.since.format("%Y-%m-%d")
    )
}

/// The task's name as shown (agent-made names may hold hidden characters).
pub fn task_name(task: &str) -> String {
    text::reveal(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_name_stays_in_its_path_segment() {
        assert_eq!(task_href("make_purchase"), "/tasks/make_purchase");
        assert_eq!(task_href("a/../b?x=\"<"), "/tasks/a%2F..%2Fb%3Fx%3D%22%3C");
        assert_eq!(task_href("é"), "/tasks/%C3%A9");
    }

    #[test]
    fn levels_have_their_names() {
        assert_eq!(level_name(1), "1 · autonomous");
        assert_eq!(level_name(2), "2 · draft & review");
    }
}
