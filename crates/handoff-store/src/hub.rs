//! Who hears of a commit. A store publishes each committed handoff change here, after
//! the commit and never before: long-polls waiting on that one handoff wake at once (no
//! polling of the database), and event streams receive it.
//!
//! Waiters are kept per handoff id, so a decision wakes only the requests waiting on that
//! handoff, whatever the number of others waiting. The outbox's sender is woken the same
//! way when a commit queued deliveries (or made one due again).

use handoff_domain::lifecycle::Status;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast};

/// A committed change to one handoff (the `data` of an SSE event, plus its audience).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The seq of the audit entry that recorded the change.
    pub seq: i64,
    pub id: String,
    pub status: Status,
    pub version: u64,
    pub task: String,
    pub assigned_team: String,
    pub agent: String,
    /// The team it was routed to before this change, when the change moved it (an
    /// escalation): that team's reviewers hear that it left them.
    pub previous_team: Option<String>,
}

impl Event {
    /// The event of `h`'s state as recorded by audit entry `seq`.
    pub fn of(seq: i64, h: &handoff_domain::Handoff) -> Event {
        Event {
            seq,
            id: h.id.clone(),
            status: h.state.status,
            version: h.state.version,
            task: h.task.clone(),
            assigned_team: h.state.assigned_team.clone(),
            agent: h.state.agent.clone(),
            previous_team: None,
        }
    }
}

/// Something other than a handoff changed in the store, written by another node on the
/// same database: the App drops or reloads what it keeps in memory of it. A store that
/// only one process writes (SQLite) never sends these; the App changes its own caches
/// when it makes the change itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A key was created or revoked: forget every cached key.
    Keys,
    /// The active policy was replaced: read it again.
    Policy,
    /// A task's level changed: read the levels in force again.
    TaskLevels,
}

/// How many events a slow stream may fall behind before it must re-read from the log.
const STREAM_BACKLOG: usize = 4096;

pub struct Hub {
    events: broadcast::Sender<Arc<Event>>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    /// Woken after a commit that wrote deliveries to send (see [`Hub::outbox`]).
    outbox: Notify,
    notices: broadcast::Sender<Notice>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            events: broadcast::channel(STREAM_BACKLOG).0,
            waiters: Mutex::new(HashMap::new()),
            outbox: Notify::new(),
            notices: broadcast::channel(64).0,
        }
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("streams", &self.events.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Every committed change from now on. A receiver that lags gets `Lagged` and should
    /// re-read what it missed from the audit log.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Registers interest in one handoff. Create the `notified()` future and `enable()` it
    /// before reading the state, then await it: a commit in between is not missed.
    pub fn watch(&self, id: &str) -> Watch<'_> {
        let notify = self
            .lock()
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone();
        Watch {
            hub: self,
            id: id.to_owned(),
            notify,
        }
    }

    /// The outbox's doorbell: rung (`notify_one`, so a ring while nobody waits is kept)
    /// after each commit that queued deliveries or rescheduled one; the sender also rings
    /// it when a send ends and frees a slot.
    pub fn outbox(&self) -> &Notify {
        &self.outbox
    }

    /// What another node changed besides handoffs, from now on. A receiver that lags
    /// should reload everything it keeps.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Called by a store that hears of another node's change (see [`Notice`]).
    pub fn notice(&self, n: Notice) {
        let _ = self.notices.send(n);
    }

    /// Called by the store after each commit, in commit order.
    pub fn publish(&self, events: Vec<Event>) {
        {
            let waiters = self.lock();
            if !waiters.is_empty() {
                for e in &events {
                    if let Some(n) = waiters.get(&e.id) {
                        n.notify_waiters();
                    }
                }
            }
        }
        if self.events.receiver_count() > 0 {
            for e in events {
                // No receiver left is not an error: nobody is listening.
                let _ = self.events.send(Arc::new(e));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        // A panic while holding this lock leaves the map intact; keep using it.
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Interest in one handoff; dropping it forgets the handoff when nobody else waits on it.
pub struct Watch<'a> {
    hub: &'a Hub,
    id: String,
    notify: Arc<Notify>,
}

impl Watch<'_> {
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut waiters = self.hub.lock();
        // One reference in the map, one here: this was the last waiter.
        if Arc::strong_count(&self.notify) <= 2 {
            waiters.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(id: &str, seq: i64) -> Event {
        Event {
            seq,
            id: id.to_owned(),
            status: Status::Approved,
            version: 2,
            task: "t".to_owned(),
            assigned_team: "ops".to_owned(),
            agent: "bot".to_owned(),
            previous_team: None,
        }
    }

    #[tokio::test]
    async fn a_watcher_wakes_for_its_handoff_only_and_is_forgotten_when_dropped() {
        let hub = Hub::default();
        {
            let watch = hub.watch("a");
            let notified = watch.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            hub.publish(vec![event("b", 1)]);
            let early = tokio::time::timeout(Duration::from_millis(20), notified.as_mut()).await;
            assert!(early.is_err(), "woken by another handoff's change");
            hub.publish(vec![event("a", 2)]);
            let woke = tokio::time::timeout(Duration::from_secs(5), notified).await;
            assert!(woke.is_ok(), "not woken by its own handoff's change");
        }
        assert!(hub.lock().is_empty());
    }

    #[tokio::test]
    async fn streams_receive_events_in_commit_order() {
        let hub = Hub::default();
        let mut rx = hub.subscribe();
        hub.publish(vec![event("a", 1), event("b", 2)]);
        let first = rx.recv().await.map(|e| e.seq).ok();
        let second = rx.recv().await.map(|e| e.seq).ok();
        assert_eq!((first, second), (Some(1), Some(2)));
    }
}
