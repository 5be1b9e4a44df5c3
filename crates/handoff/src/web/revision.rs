//! What the decision page shows of a revision (SPEC §2 `supersedes`): what changed since
//! the version the reviewer saw (a word-level diff of text drafts, through `diff`; a
//! path-level list for JSON drafts, through the domain's `revision::changes`), the earlier
//! rationale beside it, the link to the superseded handoff, and the chain of revisions for
//! the timeline. Everything shown is agent text made visible (`text::reveal`) and escaped
//! by askama; links are built from handoff ids only, never from agent text.

use super::detail::Changes;
use super::{diff, text, view};
use crate::app::Chain;
use handoff_domain::Handoff;
use handoff_domain::revision::{PatchKind, changes};
use serde_json::Value;

/// The "what changed since the last version" panel of a revision.
pub struct Revision {
    /// The superseded handoff (its page is `/handoffs/{id}`).
    pub id: String,
    pub status: &'static str,
    /// The rationale that ended it, made visible; `None` when nobody decided.
    pub rationale: Option<String>,
    /// Who ended it and when ("rejected by ana at …"), when a person did.
    pub ended_by: Option<String>,
    /// For text drafts: the word-level diff.
    pub text: Option<Changes>,
    /// For JSON drafts: one row per path that differs.
    pub paths: Vec<PathRow>,
    /// "3 words changed", "2 paths changed", "no change to the draft".
    pub summary: String,
    /// Set when the caller may not read the superseded handoff: the rows come from the
    /// patch alone (the new values).
    pub partial: bool,
}

/// One changed path of a JSON draft.
pub struct PathRow {
    /// `changed`, `added` or `removed`.
    pub kind: &'static str,
    pub path: String,
    pub old: String,
    pub new: String,
}

/// One handoff of a chain of revisions, for the timeline.
pub struct Link {
    pub id: String,
    pub status: &'static str,
    pub created_at: String,
    /// The page's own handoff (not a link).
    pub current: bool,
}

/// The panel for `h`, when it is a revision.
pub fn panel(h: &Handoff, chain: &Chain) -> Option<Revision> {
    let r = h.revision_of.as_ref()?;
    let old = chain.superseded(h);
    let new_draft = h.agent_draft().cloned().unwrap_or(Value::Null);
    let ended_by = old.and_then(|o| {
        let d = o.state.decision.as_ref()?;
        r.rationale
            .is_some()
            .then(|| format!("{} by {} at {}", d.action, d.by, view::when(d.at)))
    });
    let mut panel = Revision {
        id: r.id.clone(),
        status: r.status.as_str(),
        rationale: r.rationale.as_deref().map(text::reveal),
        ended_by,
        text: None,
        paths: Vec::new(),
        summary: String::new(),
        partial: old.is_none(),
    };
    match old {
        Some(o) => {
            let old_draft = o
                .state
                .current_draft
                .as_deref()
                .cloned()
                .unwrap_or(Value::Null);
            match (&old_draft, &new_draft) {
                (Value::String(a), Value::String(b)) => {
                    let d = diff::diff(a, b);
                    panel.summary = d.summary();
                    panel.text = Some(Changes {
                        summary: d.summary(),
                        lines: d.lines,
                    });
                }
                (a, b) => {
                    panel.paths = changes(a, b)
                        .into_iter()
                        .map(|c| PathRow {
                            kind: match (&c.old, &c.new) {
                                (None, _) => "added",
                                (_, None) => "removed",
                                _ => "changed",
                            },
                            path: shown_path(&c.path),
                            old: c.old.as_ref().map(shown).unwrap_or_default(),
                            new: c.new.as_ref().map(shown).unwrap_or_default(),
                        })
                        .collect();
                    panel.summary = paths_summary(panel.paths.len());
                }
            }
        }
        None => {
            panel.paths = r
                .draft_diff
                .iter()
                .map(|op| PathRow {
                    kind: match op.op {
                        PatchKind::Add => "added",
                        PatchKind::Remove => "removed",
                        PatchKind::Replace => "changed",
                    },
                    path: shown_path(&op.path),
                    old: String::new(),
                    new: op.value.as_ref().map(shown).unwrap_or_default(),
                })
                .collect();
            panel.summary = paths_summary(panel.paths.len());
        }
    }
    Some(panel)
}

/// The chain around `h`, oldest first, `h` marked; empty when `h` is in no chain.
pub fn links(h: &Handoff, chain: &Chain) -> Vec<Link> {
    if chain.older.is_empty() && chain.newer.is_empty() && h.revision_of.is_none() {
        return Vec::new();
    }
    let link = |x: &Handoff, current: bool| Link {
        id: x.id.clone(),
        status: x.state.status.as_str(),
        created_at: view::when(x.created_at),
        current,
    };
    chain
        .older
        .iter()
        .map(|o| link(o, false))
        .chain(std::iter::once(link(h, true)))
        .chain(chain.newer.iter().map(|n| link(n, false)))
        .collect()
}

/// A JSON Pointer as a reader reads it: `/items/0/price` → `items › 0 › price`; the whole
/// draft is "the draft".
fn shown_path(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the draft".to_owned();
    }
    let parts: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|t| text::reveal(&t.replace("~1", "/").replace("~0", "~")))
        .collect();
    parts.join(" › ")
}

/// A value on one line, clipped, made visible.
fn shown(v: &Value) -> String {
    view::clip(&view::show(v), 400)
}

fn paths_summary(n: usize) -> String {
    match n {
        0 => "no change to the draft".to_owned(),
        1 => "1 path changed".to_owned(),
        n => format!("{n} paths changed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(shown_path(""), "the draft");
        assert_eq!(shown_path("/items/0/a~1b"), "items › 0 › a/b");
        assert_eq!(paths_summary(2), "2 paths changed");
    }
}
