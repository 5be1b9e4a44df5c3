//! The outbox worker: sends what is due, at most [`CONCURRENCY`] at once, each attempt
//! recorded through `App` with its audit entry (`notify::outbox` holds the rules). It
//! sleeps until the next attempt is due and is woken by the store's hub when a commit
//! queues deliveries, and when one of its sends ends.

use crate::app::App;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Sends in flight at once.
pub const CONCURRENCY: usize = 64;
/// The longest sleep between looks, a backstop for deliveries added by another process.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How long a delivery whose attempt could not be recorded waits before the next one.
const UNRECORDED_BACKOFF: Duration = Duration::from_secs(1);

/// A uniform value in [-1, 1].
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    if getrandom::fill(&mut b).is_err() {
        return 0.0;
    }
    f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 2.0 - 1.0
}

pub async fn run(app: Arc<App>) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let inflight = Arc::new(Mutex::new(HashSet::new()));
    let closing = app.closing();
    tokio::pin!(closing);
    loop {
        let woken = app.outbox_bell().notified();
        let read_at = app.now();
        let sleep = match dispatch(&app, &permits, &inflight).await {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read deliveries; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = app.clock().sleep(read_at, sleep) => {}
            () = woken => {}
            () = &mut closing => return,
        }
    }
}

/// Starts every due delivery not already in flight; returns how long to sleep.
async fn dispatch(
    app: &Arc<App>,
    permits: &Arc<Semaphore>,
    inflight: &Arc<Mutex<HashSet<String>>>,
) -> anyhow::Result<Duration> {
    // A page of due deliveries, none already in flight; each waits for a free slot.
    let skip: Vec<String> = inflight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    let page = u32::try_from(CONCURRENCY).unwrap_or(64);
    let claimed = app.claim_deliveries(page, skip).await?;
    let full = claimed.due.len() == CONCURRENCY;
    let now = app.now();
    let sleep = claimed.next_at.map_or(MAX_SLEEP, |at| {
        (at - now).to_std().unwrap_or_default().min(MAX_SLEEP)
    });
    for d in claimed.due {
        if !inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.id.clone())
        {
            continue;
        }
        let permit = permits.clone().acquire_owned().await?;
        let app = app.clone();
        let inflight = inflight.clone();
        tokio::spawn(async move {
            let id = d.id.clone();
            if !app.attempt_delivery(d, jitter()).await {
                // Its result could not be stored (a full disk): the delivery is still due.
                // Held back a while, it is not sent again and again while the store
                // refuses writes.
                let closing = app.closing();
                tokio::select! {
                    () = app.clock().sleep(app.now(), UNRECORDED_BACKOFF) => {}
                    () = closing => {}
                }
            }
            inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            drop(permit);
            app.outbox_bell().notify_one();
        });
    }
    // A full page may have more behind it: look again as soon as a send ends (each end
    // wakes this loop); else sleep until the next attempt, woken, or the backstop.
    Ok(if full { Duration::ZERO } else { sleep })
}
