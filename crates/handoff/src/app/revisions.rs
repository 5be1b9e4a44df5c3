//! The chain of revisions around a handoff (SPEC §2 `supersedes`): the handoffs it
//! revises, back to the first, and those that revise it. A submission's `supersedes` is
//! checked in `handoffs.rs` (`App::submit`); this reads what was stored.

use super::{App, AppResult, Principal};
use handoff_domain::Handoff;

/// How many handoffs a chain shows on each side: an agent that revises more often than
/// this needs a person, not a longer list.
const MAX_CHAIN: usize = 20;

/// A handoff's revisions as one principal may see them.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// What `h` revises, oldest first, ending with the one it supersedes directly. A
    /// handoff the caller may not see ends the walk (it and all before it are left out).
    pub older: Vec<Handoff>,
    /// The handoffs that supersede `h`, and those that supersede them, oldest first.
    pub newer: Vec<Handoff>,
}

impl Chain {
    /// The handoff `h` supersedes directly, when the caller may see it.
    pub fn superseded(&self, h: &Handoff) -> Option<&Handoff> {
        let id = &h.revision_of.as_ref()?.id;
        self.older.last().filter(|o| &o.id == id)
    }
}

impl App {
    /// The chain of revisions around `h`, which `who` may see (the caller read it through
    /// [`App::visible`]); each handoff in it is one `who` may see too.
    pub async fn revision_chain(&self, who: &Principal, h: &Handoff) -> AppResult<Chain> {
        let policy = self.policy();
        let mut chain = Chain::default();
        let mut next = h.revision_of.as_ref().map(|r| r.id.clone());
        while let Some(id) = next.take() {
            if chain.older.len() >= MAX_CHAIN {
                break;
            }
            match self.store.get(&id).await? {
                Some(o) if who.can_see(&o, &policy) => {
                    next = o.revision_of.as_ref().map(|r| r.id.clone());
                    chain.older.push(o);
                }
                _ => break,
            }
        }
        chain.older.reverse();

        // Newer: breadth first, as revisions may branch (two revisions of one rejection).
        let mut frontier = std::collections::VecDeque::from([h.id.clone()]);
        let mut read = 0;
        while let Some(id) = frontier.pop_front() {
            for n in self.store.revisions_of(h.agent(), &id).await? {
                read += 1;
                if read > MAX_CHAIN {
                    break;
                }
                frontier.push_back(n.id.clone());
                if who.can_see(&n, &policy) {
                    chain.newer.push(n);
                }
            }
        }
        chain.newer.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(chain)
    }
}
