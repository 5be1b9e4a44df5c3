//! The scheduler (SPEC §8, §3): SLA reminders, escalation up the chain, expiry (never
//! approval), level-4 re-alerts. Deadlines live in the database, one per handoff (its
//! next, kept in an index by the store); this task sleeps until the earliest and is woken
//! early when a submission brings an earlier one. There is no scan of everything: each
//! look reads the first rows of that index. Deadlines that passed while the server was
//! down fire at start. Each firing is a store update that records the timer in the
//! handoff, so it fires once: a decision that won the race leaves nothing to fire.

use crate::app::App;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Deadlines read per look.
const PAGE: u32 = 64;
/// Sleep at most this long between looks, a backstop for deadlines added elsewhere.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// After a look that found due rows but could fire none of them (another scheduler won).
const STUCK: Duration = Duration::from_secs(1);

pub async fn run(app: Arc<App>) {
    let closing = app.closing();
    tokio::pin!(closing);
    loop {
        let woken = app.deadlines.notified();
        // Read before firing: a manual clock moved meanwhile wakes the sleep below at once.
        let read_at = app.now();
        let sleep = match fire_due(&app).await {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler: cannot read deadlines; retrying");
                STUCK
            }
        };
        let wake_at = app.now() + chrono::Duration::from_std(sleep).unwrap_or_default();
        app.next_deadline_check
            .store(wake_at.timestamp_millis(), Ordering::Relaxed);
        tokio::select! {
            () = app.clock().sleep(read_at, sleep) => {}
            () = woken => {}
            () = &mut closing => return,
        }
    }
}

/// Fires everything due, again while firing makes more due (a server that was down
/// catches up); returns how long to sleep until the next deadline.
async fn fire_due(app: &App) -> anyhow::Result<Duration> {
    loop {
        let due = app.next_deadlines(PAGE).await?;
        let mut fired = false;
        for (id, at) in &due {
            let now = app.now();
            if *at > now {
                let wait = (*at - now).to_std().unwrap_or_default();
                return Ok(wait.min(MAX_SLEEP) + Duration::from_millis(1));
            }
            fired |= app.fire_due(id).await;
        }
        if due.is_empty() {
            return Ok(MAX_SLEEP);
        }
        if !fired {
            return Ok(STUCK);
        }
    }
}

#[cfg(test)]
mod tests;
