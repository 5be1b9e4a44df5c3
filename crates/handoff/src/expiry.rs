//! Expiry (SPEC §3): a pending handoff whose `expires_at` passes becomes `expired`, never
//! approved. One task sleeps until the earliest deadline in the database and is woken
//! early when a submission brings an earlier one; deadlines that passed while the server
//! was down fire at start. Each expiry is a lifecycle step in the store, so it happens
//! once: a decision that won the race leaves nothing to expire (409, ignored).

use crate::app::App;
use chrono::Utc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Deadlines read per query.
const PAGE: u32 = 32;
/// Sleep at most this long between looks, as a backstop for deadlines added elsewhere.
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub async fn run(app: Arc<App>) {
    let closing = app.closing();
    tokio::pin!(closing);
    loop {
        let sleep = match expire_due(&app).await {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!(error = %e, "expiry: cannot read deadlines; retrying");
                Duration::from_secs(1)
            }
        };
        let wake_at = Utc::now() + chrono::Duration::from_std(sleep).unwrap_or_default();
        app.next_expiry_check
            .store(wake_at.timestamp_millis(), Ordering::Relaxed);
        let woken = app.deadlines.notified();
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            () = woken => {}
            () = &mut closing => return,
        }
    }
}

/// Expires everything due; returns how long to sleep until the next deadline.
async fn expire_due(app: &App) -> anyhow::Result<Duration> {
    loop {
        let due = app.store.next_expiring(PAGE).await?;
        let now = Utc::now();
        let mut expired_any = false;
        for (id, at) in &due {
            if *at > now {
                let wait = (*at - now).to_std().unwrap_or_default();
                return Ok(wait.min(MAX_SLEEP) + Duration::from_millis(1));
            }
            app.expire(id).await;
            expired_any = true;
        }
        if !expired_any || due.len() < PAGE as usize {
            return Ok(MAX_SLEEP);
        }
    }
}
