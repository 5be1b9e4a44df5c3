//! Turning server JSON into terminal text: untrusted strings made inert, times made relative.
//!
//! Agents write most of what a handoff holds, and a terminal obeys escape sequences: an
//! agent could recolour, hide or rewrite what the reviewer sees, set the window title, or
//! worse. Everything the human output prints from a resource goes through [`clean_line`]
//! or [`clean_text`] first (SPEC §4: agent-written text is never shown live).

use chrono::{DateTime, Utc};

/// The cleaning lives with the client crate, whose problem rendering uses it too.
pub use handoff_client::text::{clean_line, clean_text, truncate};

/// A span in the two largest units that matter: `45s`, `3m`, `1h 20m`, `2d 4h`.
pub fn human_span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    let pair = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua} {b}{ub}")
        }
    };
    match secs {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{m}m"),
        3_600..86_400 => pair(secs / 3_600, "h", m, "m"),
        _ => pair(d, "d", h, "h"),
    }
}

/// `in 1h 20m`, `3m ago` or `now`, from `now` to `at`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    match secs {
        0 => "now".to_owned(),
        1.. => format!("in {}", human_span(secs.unsigned_abs())),
        _ => format!("{} ago", human_span(secs.unsigned_abs())),
    }
}

/// An RFC 3339 time from the server.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `2026-11-21 12:00:00 UTC (in 1h 20m)`; the cleaned text itself when it is not a time.
pub fn when(s: &str, now: DateTime<Utc>) -> String {
    match parse_time(s) {
        Some(t) => format!(
            "{} ({})",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            relative(t, now)
        ),
        None => clean_line(s),
    }
}

/// A word a POSIX shell reads back unchanged, for the `next:` hint of `list`.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=+@%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_a_person_would_say_them() {
        assert_eq!(human_span(45), "45s");
        assert_eq!(human_span(180), "3m");
        assert_eq!(human_span(4_800), "1h 20m");
        assert_eq!(human_span(7_200), "2h");
        assert_eq!(human_span(187_200), "2d 4h");
        let now = parse_time("2026-11-21T10:00:00Z").expect("a time");
        let later = parse_time("2026-11-21T11:20:00Z").expect("a time");
        assert_eq!(relative(later, now), "in 1h 20m");
        assert_eq!(relative(now, later), "1h 20m ago");
        assert_eq!(relative(now, now), "now");
    }

    #[test]
    fn shell_words_read_back_unchanged() {
        assert_eq!(shell_word("eyJ0-_=="), "eyJ0-_==");
        assert_eq!(shell_word("a b'c"), r"'a b'\''c'");
    }
}
