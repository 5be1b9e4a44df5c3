//! Waiting for a change: a long-poll answers as soon as a pending handoff is decided (or
//! changes status), at its deadline, or when the server starts draining.

use super::{App, AppResult, Principal};
use handoff_domain::Handoff;
use handoff_domain::lifecycle::Status;
use std::time::Duration;
use tokio::time::Instant;

/// A wait is capped at this.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

impl App {
    /// The handoff once it is no longer pending, or as it is after `wait` (at most
    /// [`MAX_WAIT`]) or when the server drains.
    pub async fn wait_for_change(
        &self,
        who: &Principal,
        id: &str,
        wait: Duration,
    ) -> AppResult<Handoff> {
        let deadline = Instant::now() + wait.min(MAX_WAIT);
        let _waiting = self.metrics.long_poll();
        let watch = self.store.hub().watch(id);
        let closing = self.closing();
        tokio::pin!(closing);
        loop {
            // Register before reading: a decision committed in between still wakes us.
            let notified = watch.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let h = self.visible(who, id).await?;
            if h.state.status != Status::Pending || Instant::now() >= deadline {
                return Ok(h);
            }
            // Not held while waiting: a waiting long-poll keeps only its registration.
            drop(h);
            tokio::select! {
                _ = notified => {}
                () = tokio::time::sleep_until(deadline) => {}
                // Draining: answer with the state as it is now rather than hold the shutdown.
                () = &mut closing => return self.visible(who, id).await,
            }
        }
    }
}
