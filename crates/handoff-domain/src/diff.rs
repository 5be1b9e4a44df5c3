//! A word-level diff of two texts, as a reviewer reads it: line by line (longest common
//! subsequence), and inside each changed block word by word, so that a one-word change
//! marks one word. Removed lines come before the lines that replace them; long runs of
//! unchanged lines are folded; the counts are of words, as a reader sees them ("3 words
//! changed"), not of lines touched. The decision page shows an edit against the agent's
//! draft and a revision against the draft it supersedes with it (the web layer makes
//! hidden characters visible in what it shows); the texts are kept exactly, so that the
//! old and the new text can be read back from the diff (property-tested).

/// Unchanged lines kept around each change.
const CONTEXT: usize = 2;
/// The largest LCS table (cells) worked out in full; beyond it a block is shown as removed
/// and added whole (after the common start and end are taken off, which is what most
/// edits leave).
const MAX_CELLS: usize = 2_000_000;

/// One piece of a line: text, and whether it is what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub text: String,
    pub changed: bool,
}

/// One line of the diff as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `same`, `del`, `add`, or `fold` (unchanged lines hidden: `hidden`).
    pub kind: &'static str,
    pub segs: Vec<Seg>,
    pub hidden: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub lines: Vec<Line>,
    /// Words replaced by others, added, removed.
    pub changed: usize,
    pub added: usize,
    pub removed: usize,
    /// Whether anything differs at all (whitespace included).
    pub differs: bool,
}

impl Diff {
    /// "3 words changed", "1 word changed, 4 words added", "only whitespace changed".
    pub fn summary(&self) -> String {
        let words =
            |n: usize, what: &str| format!("{n} word{} {what}", if n == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        if self.changed > 0 {
            parts.push(words(self.changed, "changed"));
        }
        if self.added > 0 {
            parts.push(words(self.added, "added"));
        }
        if self.removed > 0 {
            parts.push(words(self.removed, "removed"));
        }
        match (parts.is_empty(), self.differs) {
            (false, _) => parts.join(", "),
            (true, true) => "only whitespace changed".to_owned(),
            (true, false) => "no change".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same(usize, usize),
    Del(usize),
    Add(usize),
}

/// The edit script from `a` to `b`: common start and end taken off, LCS in between, each
/// run of changes with its removals first.
fn script<T: PartialEq>(a: &[T], b: &[T]) -> Vec<Op> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut ops: Vec<Op> = (0..pre).map(|i| Op::Same(i, i)).collect();
    let (n, m) = (am.len(), bm.len());
    if (n + 1).saturating_mul(m + 1) > MAX_CELLS {
        ops.extend((0..n).map(|i| Op::Del(pre + i)));
        ops.extend((0..m).map(|j| Op::Add(pre + j)));
    } else {
        // dp[i][j]: the LCS length of am[i..] and bm[j..].
        let w = m + 1;
        let mut dp = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                dp[i * w + j] = if am[i] == bm[j] {
                    dp[(i + 1) * w + j + 1] + 1
                } else {
                    dp[(i + 1) * w + j].max(dp[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        let mut dels = Vec::new();
        let mut adds = Vec::new();
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.append(&mut dels);
                ops.append(&mut adds);
                ops.push(Op::Same(pre + i, pre + j));
                i += 1;
                j += 1;
            } else if i < n && (j == m || dp[(i + 1) * w + j] >= dp[i * w + j + 1]) {
                dels.push(Op::Del(pre + i));
                i += 1;
            } else {
                adds.push(Op::Add(pre + j));
                j += 1;
            }
        }
        ops.append(&mut dels);
        ops.append(&mut adds);
    }
    let (ta, tb) = (a.len() - suf, b.len() - suf);
    ops.extend((0..suf).map(|k| Op::Same(ta + k, tb + k)));
    ops
}

/// Words, runs of spaces, and line ends, as tokens that join back into the text.
fn tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut kind = None;
    for (i, c) in s.char_indices() {
        let k = if c == '\n' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        };
        if c == '\n' || kind != Some(k) {
            if i > start {
                out.push(&s[start..i]);
            }
            start = i;
            kind = Some(k);
        }
        if c == '\n' {
            out.push(&s[i..i + 1]);
            start = i + 1;
            kind = None;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn is_word(t: &str) -> bool {
    !t.chars().all(char::is_whitespace)
}

/// Splits tokens marked changed or not into lines of segments.
fn lines_of(toks: &[(&str, bool)]) -> Vec<Vec<Seg>> {
    let mut lines = vec![Vec::new()];
    for (t, changed) in toks {
        if *t == "\n" {
            lines.push(Vec::new());
            continue;
        }
        let line: &mut Vec<Seg> = lines.last_mut().expect("one line at least");
        match line.last_mut() {
            Some(s) if s.changed == *changed => s.text.push_str(t),
            _ => line.push(Seg {
                text: (*t).to_owned(),
                changed: *changed,
            }),
        }
    }
    lines
}

/// The diff of `new` against `old`.
pub fn diff(old: &str, new: &str) -> Diff {
    let a: Vec<&str> = old.split('\n').collect();
    let b: Vec<&str> = new.split('\n').collect();
    let mut d = Diff {
        differs: old != new,
        ..Diff::default()
    };
    let ops = script(&a, &b);
    let mut raw: Vec<Line> = Vec::new();
    let mut k = 0;
    while k < ops.len() {
        if let Op::Same(i, _) = ops[k] {
            raw.push(Line {
                kind: "same",
                segs: vec![Seg {
                    text: a[i].to_owned(),
                    changed: false,
                }],
                hidden: Vec::new(),
            });
            k += 1;
            continue;
        }
        // A block of changed lines: its words compared with each other.
        let (mut olds, mut news) = (Vec::new(), Vec::new());
        while let Some(op) = ops.get(k) {
            match *op {
                Op::Del(i) => olds.push(a[i]),
                Op::Add(j) => news.push(b[j]),
                Op::Same(..) => break,
            }
            k += 1;
        }
        let (ot, nt) = (olds.join("\n"), news.join("\n"));
        let (ta, tb) = (tokens(&ot), tokens(&nt));
        let mut ma: Vec<(&str, bool)> = ta.iter().map(|t| (*t, true)).collect();
        let mut mb: Vec<(&str, bool)> = tb.iter().map(|t| (*t, true)).collect();
        let (mut run_del, mut run_add) = (0, 0);
        let close = |del: &mut usize, add: &mut usize, d: &mut Diff| {
            let both = (*del).min(*add);
            d.changed += both;
            d.removed += *del - both;
            d.added += *add - both;
            (*del, *add) = (0, 0);
        };
        for op in script(&ta, &tb) {
            match op {
                Op::Same(i, j) => {
                    ma[i].1 = false;
                    mb[j].1 = false;
                    close(&mut run_del, &mut run_add, &mut d);
                }
                Op::Del(i) => run_del += usize::from(is_word(ta[i])),
                Op::Add(j) => run_add += usize::from(is_word(tb[j])),
            }
        }
        close(&mut run_del, &mut run_add, &mut d);
        for (kind, toks, count) in [("del", &ma, olds.len()), ("add", &mb, news.len())] {
            if count == 0 {
                continue;
            }
            raw.extend(lines_of(toks).into_iter().map(|segs| Line {
                kind,
                segs,
                hidden: Vec::new(),
            }));
        }
    }
    d.lines = fold(raw);
    d
}

/// Folds runs of unchanged lines, keeping `CONTEXT` lines next to each change.
fn fold(raw: Vec<Line>) -> Vec<Line> {
    let near: Vec<bool> = (0..raw.len())
        .map(|i| {
            let lo = i.saturating_sub(CONTEXT);
            let hi = (i + CONTEXT + 1).min(raw.len());
            raw[lo..hi].iter().any(|l| l.kind != "same")
        })
        .collect();
    let mut out: Vec<Line> = Vec::new();
    let mut held: Vec<Line> = Vec::new();
    let flush = |held: &mut Vec<Line>, out: &mut Vec<Line>| {
        if held.len() > 1 {
            out.push(Line {
                kind: "fold",
                segs: Vec::new(),
                hidden: held
                    .drain(..)
                    .map(|l| l.segs.into_iter().map(|s| s.text).collect())
                    .collect(),
            });
        } else {
            out.append(held);
        }
    };
    for (line, near) in raw.into_iter().zip(near) {
        if line.kind == "same" && !near {
            held.push(line);
        } else {
            flush(&mut held, &mut out);
            out.push(line);
        }
    }
    flush(&mut held, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The diff as text: `-`/`+`/` ` lines, changed words in [brackets], folds as `…n`.
    fn show(d: &Diff) -> Vec<String> {
        d.lines
            .iter()
            .map(|l| {
                let sign = match l.kind {
                    "del" => "-",
                    "add" => "+",
                    "fold" => return format!("…{}", l.hidden.len()),
                    _ => " ",
                };
                let body: String = l
                    .segs
                    .iter()
                    .map(|s| {
                        if s.changed {
                            format!("[{}]", s.text)
                        } else {
                            s.text.clone()
                        }
                    })
                    .collect();
                format!("{sign}{body}")
            })
            .collect()
    }

    #[test]
    fn a_one_word_change_marks_that_word_with_the_removal_first() {
        let d = diff(
            "we can pay at no cost.\nbye",
            "we can pay at a small cost.\nbye",
        );
        assert_eq!(
            show(&d),
            [
                "-we can pay at [no] cost.",
                "+we can pay at [a small] cost.",
                " bye"
            ]
        );
        assert_eq!(d.summary(), "1 word changed, 1 word added");
    }

    #[test]
    fn three_edits_count_three_words_not_six_lines() {
        let old = "Dear Ms Fuller,\n\nthe invoice is attached.\nWe split it in two.\nDue on 1 December.\n\nKind regards";
        let new = "Dear Mr Fuller,\n\nthe invoice is attached.\nWe split it in three.\nDue on 2 December.\n\nKind regards";
        let d = diff(old, new);
        assert_eq!(d.summary(), "3 words changed");
        assert_eq!(d.lines.iter().filter(|l| l.kind == "del").count(), 3);
        assert_eq!(d.lines.iter().filter(|l| l.kind == "add").count(), 3);
        // Every removal comes before the line that replaces it.
        let kinds: Vec<&str> = d.lines.iter().map(|l| l.kind).collect();
        let first_del = kinds.iter().position(|k| *k == "del").expect("a removal");
        let first_add = kinds.iter().position(|k| *k == "add").expect("an addition");
        assert!(first_del < first_add);
    }

    #[test]
    fn unchanged_context_is_folded() {
        let old: Vec<String> = (1..=20).map(|i| format!("line {i}")).collect();
        let mut new = old.clone();
        new[10] = "line eleven".to_owned();
        let d = diff(&old.join("\n"), &new.join("\n"));
        assert_eq!(
            show(&d),
            [
                "…8",
                " line 9",
                " line 10",
                "-line [11]",
                "+line [eleven]",
                " line 12",
                " line 13",
                "…7"
            ]
        );
        assert_eq!(d.lines[0].hidden[0], "line 1");
        assert_eq!(d.summary(), "1 word changed");
    }

    #[test]
    fn added_and_removed_lines_count_their_words() {
        let d = diff("a\nb c\nd", "a\nd\ne f g");
        assert_eq!(show(&d), [" a", "-[b c]", " d", "+[e f g]"]);
        assert_eq!(d.summary(), "3 words added, 2 words removed");
    }

    #[test]
    fn identical_and_whitespace_only() {
        assert_eq!(diff("a b", "a b").summary(), "no change");
        assert!(diff("a b", "a b").lines.iter().all(|l| l.kind == "same"));
        assert_eq!(diff("a b", "a  b").summary(), "only whitespace changed");
    }

    #[test]
    fn a_huge_change_is_shown_whole_not_worked_out() {
        let old: String = (0..3000).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..3000).map(|i| format!("b{i}\n")).collect();
        let d = diff(&old, &new);
        assert_eq!(d.summary(), "3000 words changed");
    }

    /// The old text (`old`) or the new one, read back from the diff's lines.
    fn side(d: &Diff, old: bool) -> String {
        let mut lines: Vec<String> = Vec::new();
        for l in &d.lines {
            match (l.kind, old) {
                ("fold", _) => lines.extend(l.hidden.iter().cloned()),
                ("same", _) | ("del", true) | ("add", false) => {
                    lines.push(l.segs.iter().map(|s| s.text.as_str()).collect())
                }
                _ => {}
            }
        }
        lines.join("\n")
    }

    use proptest::prelude::*;

    /// Texts of a few words over a small vocabulary, so that they share words and lines.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("pay"),
                Just("no"),
                Just(" "),
                Just("  "),
                Just("\n"),
                Just("é"),
                Just("\t"),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn both_texts_can_be_read_back_from_the_diff(old in text(), new in text()) {
            let d = diff(&old, &new);
            prop_assert_eq!(side(&d, true), old.clone());
            prop_assert_eq!(side(&d, false), new.clone());
            prop_assert_eq!(d.differs, old != new);
            if old == new {
                prop_assert_eq!(d.summary(), "no change");
                prop_assert!(d.lines.iter().all(|l| l.kind == "same" || l.kind == "fold"));
            }
        }

        #[test]
        fn only_changed_words_are_marked_and_counted(old in text(), new in text()) {
            let d = diff(&old, &new);
            // Unchanged lines mark nothing; a marked segment is on a removed or added line.
            for l in &d.lines {
                if l.segs.iter().any(|s| s.changed) {
                    prop_assert!(l.kind == "del" || l.kind == "add");
                }
            }
            // Counting words: nothing counted means no word was marked.
            let marked_words = d.lines.iter().flat_map(|l| &l.segs)
                .filter(|s| s.changed && !s.text.trim().is_empty()).count();
            if d.changed + d.added + d.removed == 0 {
                prop_assert_eq!(marked_words, 0);
            }
        }
    }
}
