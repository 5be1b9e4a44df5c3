//! One change at a time per handoff, from reading its state to the commit that stores the
//! change: the change can then be computed by its caller, on the state as committed, off
//! the single writer's thread (the receipt's signatures, the new state's JSON, the audit
//! entry's canonical form), and the writer only checks the version it was computed on.
//!
//! A turn is an async mutex per handoff id, made when first wanted and forgotten when
//! nobody holds or awaits it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub(super) struct Turns {
    held: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A handoff's turn, held until dropped.
pub(super) struct Turn<'a> {
    turns: &'a Turns,
    id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for `id`'s turn.
    pub(super) async fn take(&self, id: &str) -> Turn<'_> {
        let lock = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_owned())
            .or_default()
            .clone();
        let mut turn = Turn {
            turns: self,
            id: id.to_owned(),
            guard: None,
        };
        turn.guard = Some(lock.lock_owned().await);
        turn
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut held = self.turns.held.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.guard.take());
        // Only the map's own reference left: nobody holds or awaits this turn.
        if held
            .get(&self.id)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            held.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn turns_on_one_id_follow_each_other_and_are_forgotten_after() {
        let turns = Arc::new(Turns::default());
        let first = turns.take("hnd_a").await;
        let other = turns.take("hnd_b").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _second = turns.take("hnd_a").await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second waits for the first");
        drop(first);
        waiting.await.expect("the second turn comes");
        drop(other);
        assert_eq!(turns.len(), 0, "nothing held, nothing kept");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_wait_given_up_leaves_nothing_behind() {
        let turns = Turns::default();
        let first = turns.take("hnd_a").await;
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(1), turns.take("hnd_a")).await;
        assert!(gave_up.is_err(), "the turn was held");
        drop(first);
        assert_eq!(turns.len(), 0);
    }
}
