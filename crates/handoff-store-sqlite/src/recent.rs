//! The handoffs written last, kept in memory: a decision on a handoff submitted a moment
//! ago, and the agent's long-poll on it, need not read and decode it from the file again.
//!
//! Only the writer fills it, after each commit and before anyone is told of the commit,
//! so it never holds a state that is not durable nor one older than the file's. That holds
//! because one server process owns the database's handoffs (other processes beside it
//! only add keys and read).

use handoff_domain::Handoff;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub(super) struct Recent {
    map: HashMap<String, Arc<Handoff>>,
    /// Ids in the order they first came in; the oldest leaves first.
    order: VecDeque<String>,
    cap: usize,
}

impl Recent {
    pub(super) fn new(cap: usize) -> Recent {
        Recent {
            map: HashMap::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            cap,
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<Handoff>> {
        self.map.get(id).cloned()
    }

    /// Keeps `h`; what it displaces (its older state, the oldest handoff) is handed back
    /// to be dropped by the caller, outside the lock and once the writer's callers have
    /// their answers, since freeing a handoff is not free.
    pub(super) fn put(&mut self, h: Handoff, displaced: &mut Vec<Arc<Handoff>>) {
        let id = h.id.clone();
        match self.map.insert(id.clone(), Arc::new(h)) {
            Some(older) => displaced.push(older),
            None => {
                self.order.push_back(id);
                while self.order.len() > self.cap {
                    if let Some(old) = self.order.pop_front()
                        && let Some(gone) = self.map.remove(&old)
                    {
                        displaced.push(gone);
                    }
                }
            }
        }
    }
}
