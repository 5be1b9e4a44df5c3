//! What the templates show, made from the stored records: plain strings and numbers, so
//! that templates stay simple and everything agent-written reaches them as text to escape.

use super::text;
use crate::app::AppError;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use handoff_domain::Handoff;
use serde_json::Value;

/// A warning badge's text for each suspicious thing in `s`.
pub fn warnings(s: &str) -> Vec<String> {
    text::scan(s).iter().map(text::Finding::describe).collect()
}

/// A string field of the packet as the agent wrote it ("" when absent): for checks and
/// the editor.
pub fn raw<'a>(h: &'a Handoff, name: &str) -> &'a str {
    h.packet
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A string field of the packet for display: bidi controls and invisible characters made
/// visible, so that nothing reorders or hides the text around it.
pub fn field(h: &Handoff, name: &str) -> String {
    text::reveal(raw(h, name))
}

/// An array-of-strings field of the packet.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(show).collect())
        .unwrap_or_default()
}

/// Any JSON value as text for display: a string as itself, anything else as compact
/// JSON; hidden characters made visible.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => text::reveal(s),
        other => text::reveal(&other.to_string()),
    }
}

/// Pretty JSON for display (keys included), hidden characters made visible.
pub fn pretty(v: &Value) -> String {
    text::reveal(&serde_json::to_string_pretty(v).unwrap_or_default())
}

/// A span of seconds as a clock reads it: "2d 2h", "1h 05m", "12m", "40s".
pub fn span(s: i64) -> String {
    let s = s.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// "1h 05m left" or "overdue by 12m".
pub fn time_left(due: DateTime<Utc>, now: DateTime<Utc>) -> (String, bool) {
    let secs = (due - now).num_seconds();
    if secs >= 0 {
        (format!("{} left", span(secs)), false)
    } else {
        (format!("overdue by {}", span(-secs)), true)
    }
}

pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The level's number and name: "2 · draft & review".
pub fn level(h: &Handoff) -> String {
    format!(
        "{} · {}",
        h.evaluation.level.get(),
        h.evaluation.level.name()
    )
}

/// What a refusal says, with the fields at fault; never the cause of a store failure.
pub fn error_text(e: &AppError) -> String {
    match e {
        AppError::Store(cause) => {
            tracing::error!(error = %cause, "store failure");
            "internal error".to_owned()
        }
        AppError::Invalid(fields) if fields.len() > 1 => {
            let mut out = e.to_string();
            for f in fields {
                out.push_str(&format!("; {}: {}", f.field, f.message));
            }
            out
        }
        e => e.to_string(),
    }
}

/// The status a page answers a refusal with.
pub fn error_status(e: &AppError) -> StatusCode {
    match e {
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Stale { .. } => StatusCode::PRECONDITION_FAILED,
        AppError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Text cut to `max` characters, for table cells (the page shows it whole).
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn time_left_reads_like_a_clock() {
        let now = Utc::now();
        assert_eq!(
            time_left(now + Duration::minutes(65), now),
            ("1h 05m left".to_owned(), false)
        );
        assert_eq!(
            time_left(now - Duration::minutes(12), now),
            ("overdue by 12m".to_owned(), true)
        );
        assert_eq!(time_left(now + Duration::hours(50), now).0, "2d 2h left");
    }

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("ääää", 2), "ää…");
        assert_eq!(clip("ab", 2), "ab");
    }
}
