//! The feed of changes a principal may see: admins every handoff's, agents their own,
//! reviewers their teams' (and the change that moved one away from their team, so an open
//! inbox can drop it). It resumes after an event id by replaying the audit log, re-reads
//! the log when it falls behind, and ends when the server drains.

use super::{App, Principal, Role};
use futures_util::Stream;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

pub use handoff_store::Event;

/// Events read from the log per query while replaying.
const REPLAY_PAGE: u32 = 500;

impl App {
    /// The changes `who` may see from now on, or after the event `resume` (an audit seq)
    /// when given.
    pub fn events(
        self: &Arc<App>,
        who: Principal,
        resume: Option<i64>,
    ) -> impl Stream<Item = Arc<Event>> + Send + use<> {
        self.metrics.stream_opened();
        let feed = Feed {
            rx: self.store.hub().subscribe(),
            app: self.clone(),
            who,
            last: resume.unwrap_or(0),
            replaying: resume.is_some(),
            ready: VecDeque::new(),
        };
        let closing = self.closing();
        let stream = futures_util::stream::unfold(feed, |mut feed| async move {
            feed.next().await.map(|e| (e, feed))
        });
        // The stream ends when the server drains, so that shutdown is not held open.
        futures_util::StreamExt::take_until(stream, closing)
    }
}

struct Feed {
    app: Arc<App>,
    who: Principal,
    rx: broadcast::Receiver<Arc<Event>>,
    /// The seq of the last event considered (sent or not visible).
    last: i64,
    replaying: bool,
    ready: VecDeque<Arc<Event>>,
}

impl Drop for Feed {
    // The stream (and its feed) is dropped when the client goes or the server drains.
    fn drop(&mut self) {
        self.app.metrics.stream_closed();
    }
}

impl Feed {
    async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            if self.replaying {
                let page = match self.app.store.events_after(self.last, REPLAY_PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "event replay failed; closing the stream");
                        return None;
                    }
                };
                if page.is_empty() {
                    self.replaying = false;
                }
                for stored in page {
                    self.last = stored.seq;
                    let e = Event::of(stored.seq, &stored.handoff);
                    if self.visible(&e) {
                        self.ready.push_back(Arc::new(e));
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.seq > self.last => {
                    self.last = e.seq;
                    if self.visible(&e) {
                        return Some(e);
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => self.replaying = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn visible(&self, e: &Event) -> bool {
        match self.who.role {
            Role::Admin => true,
            Role::Agent => e.agent == self.who.name,
            Role::Reviewer => {
                let policy = self.app.policy();
                self.who.reviews(&e.assigned_team, &policy)
                    || e.previous_team
                        .as_deref()
                        .is_some_and(|t| self.who.reviews(t, &policy))
            }
        }
    }
}
