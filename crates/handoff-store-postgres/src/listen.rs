//! What other nodes committed, heard through `LISTEN/NOTIFY` and told to this node's hub.
//!
//! Every batch sends one notification on `handoff_events` inside its transaction (so it
//! is delivered only if, and once, it commits, in commit order): `node:first:last:flags`,
//! the seq range of its audit entries (`o` in the flags when it queued deliveries), then
//! the previous team of each handoff it moved to another team (`writer::events_payload`). The
//! listener reads another node's range back with `events_after` and publishes it to the
//! hub, so long-polls and event streams here wake for a decision made there; this node's
//! own batches were published by its writer when they committed. Keys, the policy and task
//! levels changed on another node arrive on `handoff_notices` as `node:keys`, `node:policy`,
//! `node:task_levels` and become [`Notice`]s.
//!
//! A lost connection is replaced; once listening again, the listener reads every event
//! after the last seq it heard (leaving out this node's own, see `LocalRanges`) and sends
//! every notice, since some may have been missed.

use crate::writer::LocalRanges;
use handoff_store::{Event, Hub, Notice};
use sqlx::postgres::{PgListener, PgPool};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) const EVENTS: &str = "handoff_events";
pub(crate) const NOTICES: &str = "handoff_notices";

/// Events read back per query.
const PAGE: u32 = 1000;

pub(crate) struct Listener {
    pub(crate) pool: PgPool,
    pub(crate) hub: Arc<Hub>,
    pub(crate) node: String,
    pub(crate) local: Arc<Mutex<LocalRanges>>,
    /// The last seq heard of; where a catch-up starts.
    pub(crate) heard: i64,
}

impl Listener {
    /// Runs until the task is aborted (the store closes).
    pub(crate) async fn run(mut self, ready: tokio::sync::oneshot::Sender<()>) {
        let mut ready = Some(ready);
        let mut first = true;
        loop {
            let mut listener = match self.listen().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other nodes' commits; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if first {
                // Listening first, then the tail: a batch committed in between is heard
                // of and left out as already there (`last <= heard`).
                match sqlx::query_scalar::<_, Option<i64>>("SELECT max(seq) FROM audit")
                    .fetch_one(&self.pool)
                    .await
                {
                    Ok(tail) => self.heard = tail.unwrap_or(0),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the audit chain's tail; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
            if !first {
                // Whatever was committed while nobody listened.
                self.catch_up(None).await;
                for n in [Notice::Keys, Notice::Policy, Notice::TaskLevels] {
                    self.hub.notice(n);
                }
            }
            first = false;
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => self.heard_of(n.channel(), n.payload()).await,
                    Ok(None) => {
                        tracing::warn!("the notification connection was lost; listening again");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the notification connection failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut l = PgListener::connect_with(&self.pool).await?;
        l.listen_all([EVENTS, NOTICES]).await?;
        Ok(l)
    }

    async fn heard_of(&mut self, channel: &str, payload: &str) {
        // The node, the range, the flags, and the moved handoffs' previous teams (JSON,
        // which may hold colons of its own).
        let mut parts = payload.splitn(5, ':');
        let node = parts.next().unwrap_or_default();
        let own = node == self.node;
        if channel == NOTICES {
            if own {
                return;
            }
            match parts.next() {
                Some("keys") => self.hub.notice(Notice::Keys),
                Some("policy") => self.hub.notice(Notice::Policy),
                Some("task_levels") => self.hub.notice(Notice::TaskLevels),
                other => tracing::debug!(?other, "an unknown notice"),
            }
            return;
        }
        let first: Option<i64> = parts.next().and_then(|s| s.parse().ok());
        let last: Option<i64> = parts.next().and_then(|s| s.parse().ok());
        let outbox = parts.next().is_some_and(|f| f.contains('o'));
        let moved: HashMap<i64, String> = parts
            .next()
            .and_then(|json| serde_json::from_str::<HashMap<String, String>>(json).ok())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(seq, team)| Some((seq.parse().ok()?, team)))
                    .collect()
            })
            .unwrap_or_default();
        let (Some(first), Some(last)) = (first, last) else {
            tracing::debug!(payload, "an unreadable event notification");
            return;
        };
        if own || last <= self.heard {
            self.heard = self.heard.max(last);
            return;
        }
        if first > self.heard + 1 {
            // A gap: batches committed that were never heard of (a notification lost
            // while reconnecting); read them too.
            self.catch_up(Some(last)).await;
        } else {
            // What this listener already heard of (an overlap) is not published twice.
            // One other node's batch: none of it is this node's.
            self.publish_range(first.max(self.heard + 1), last, Some(&moved))
                .await;
        }
        if outbox {
            self.hub.outbox().notify_one();
        }
    }

    /// Publishes the events after what was heard up to `until` (all when `None`), leaving
    /// out this node's own.
    async fn catch_up(&mut self, until: Option<i64>) {
        let until = until.unwrap_or(i64::MAX);
        self.publish_range(self.heard + 1, until, None).await;
    }

    /// Publishes the events of seqs `first..=last`: one other node's batch, with the
    /// previous teams its notification named (`Some`), or a catch-up over several nodes'
    /// batches (`None`), this node's own left out.
    async fn publish_range(&mut self, first: i64, last: i64, batch: Option<&HashMap<i64, String>>) {
        let mut after = first - 1;
        loop {
            let events = match crate::events_after(&self.pool, after, PAGE).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read other nodes' events");
                    return;
                }
            };
            let full = events.len() == PAGE as usize;
            let mut out = Vec::new();
            let mut end = false;
            {
                let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
                for e in events {
                    if e.seq > last {
                        end = true;
                        break;
                    }
                    after = e.seq;
                    match batch {
                        Some(moved) => {
                            let mut event = Event::of(e.seq, &e.handoff);
                            event.previous_team = moved.get(&e.seq).cloned();
                            out.push(event);
                        }
                        None if local.contains(e.seq) => {}
                        None => out.push(Event::of(e.seq, &e.handoff)),
                    }
                }
            }
            if !out.is_empty() {
                self.hub.publish(out);
            }
            if end || !full {
                break;
            }
        }
        if last != i64::MAX {
            self.heard = self.heard.max(last);
        } else {
            self.heard = self.heard.max(after);
        }
    }
}
