//! What the page shows of a word-level diff (`handoff_domain::diff`: line by line, then word
//! by word, folded, counted in words): the same lines with every piece of agent text made
//! visible (`text::reveal`: bidi controls and invisible characters named), ready to escape.

use super::text;
use handoff_domain::diff as words;

pub use handoff_domain::diff::{Diff, Line};

/// The diff of `new` against `old`, its text made visible.
pub fn diff(old: &str, new: &str) -> Diff {
    let mut d = words::diff(old, new);
    for line in &mut d.lines {
        for seg in &mut line.segs {
            seg.text = text::reveal(&seg.text);
        }
        for hidden in &mut line.hidden {
            *hidden = text::reveal(hidden);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_shown_in_the_diff() {
        let d = diff("pay", "pay\u{202E}");
        let shown: String = d
            .lines
            .iter()
            .flat_map(|l| l.segs.iter().map(|s| s.text.clone()))
            .collect();
        assert!(shown.contains("U+202E"), "{shown}");
    }
}
