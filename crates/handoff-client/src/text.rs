//! Server text made inert for a terminal: escape sequences, control characters and
//! bidirectional overrides removed.
//!
//! Agents write most of what a handoff holds (and what a problem document may quote), and
//! a terminal obeys escape sequences: an agent could recolour, hide or rewrite what a person
//! sees, set the window title, or worse. The CLI prints nothing agent-written without
//! [`clean_line`] or [`clean_text`] (SPEC §4: agent-written text is never shown live), and
//! [`crate::http::render_problem`] cleans what it renders.

use std::iter::Peekable;
use std::str::Chars;

/// One line: escape sequences and control characters removed, line breaks and tabs turned
/// into spaces.
pub fn clean_line(s: &str) -> String {
    clean(s, false)
}

/// Several lines: as [`clean_line`], but line breaks kept (`\r\n` becomes `\n`).
pub fn clean_text(s: &str) -> String {
    clean(s, true)
}

fn clean(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // The C1 forms of CSI, and of DCS, SOS, OSC, PM and APC: some terminals obey them.
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' if multiline => out.push('\n'),
            '\n' => out.push(' '),
            '\t' if multiline => out.push_str("    "),
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Bidirectional overrides and isolates reorder what is shown ("Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// After an ESC: drops the rest of the sequence it starts (ECMA-48).
fn skip_escape(chars: &mut Peekable<Chars<'_>>) {
    match chars.peek() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']' | 'P' | 'X' | '^' | '_') => {
            chars.next();
            skip_string(chars);
        }
        _ => {
            // `ESC c`, `ESC 7`, `ESC ( B`: intermediates, then one final character.
            while chars
                .next_if(|c| ('\u{20}'..='\u{2f}').contains(c))
                .is_some()
            {}
            chars.next_if(|c| ('\u{30}'..='\u{7e}').contains(c));
        }
    }
}

/// A control sequence: parameters and intermediates, then one final byte. A malformed one
/// ends at the first character that cannot belong to it, which is kept.
fn skip_csi(chars: &mut Peekable<Chars<'_>>) {
    while chars
        .next_if(|c| ('\u{20}'..='\u{3f}').contains(c))
        .is_some()
    {}
    chars.next_if(|c| ('\u{40}'..='\u{7e}').contains(c));
}

/// A control string (OSC, DCS…) runs to BEL or ST. When it is never terminated only its
/// introducer is dropped: the rest is then plain text, and hiding it would let an agent
/// make the remainder of a field invisible.
fn skip_string(chars: &mut Peekable<Chars<'_>>) {
    let mut probe = chars.clone();
    while let Some(c) = probe.next() {
        let terminated = match c {
            '\u{7}' | '\u{9c}' => true,
            '\u{1b}' => probe.next_if_eq(&'\\').is_some(),
            _ => false,
        };
        if terminated {
            *chars = probe;
            return;
        }
    }
}

/// At most `max` characters, the last one `…` when something was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        let s =
            "a\u{1b}[31mred\u{1b}[0m b\u{1b}]0;title\u{7}c\u{1b}]8;;http://x\u{1b}\\d\u{7}\u{8}e";
        assert_eq!(clean_line(s), "ared bcde");
        assert_eq!(clean_line("x\u{9b}2Jy\u{1b}cz\u{1b}(Bw"), "xyzw");
        assert_eq!(clean_line("\u{202e}evil\u{2066}"), "evil");
    }

    #[test]
    fn newlines_survive_only_in_multiline_fields() {
        assert_eq!(clean_text("one\r\ntwo\tx"), "one\ntwo    x");
        assert_eq!(clean_line("one\r\ntwo\tx"), "one two x");
    }

    #[test]
    fn an_unterminated_control_string_drops_only_its_introducer() {
        assert_eq!(clean_line("see \u{1b}]0;the rest"), "see 0;the rest");
        assert_eq!(clean_line("end\u{1b}"), "end");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
