//! The time operations and timers read: the system's; tokio's (paused in unit tests); or a
//! manual clock that a test moves by hand. Timers sleep on tokio's clock but also wake
//! when a manual clock moves, so black-box tests of SLA, reminders, expiry and retries
//! move time instead of sleeping.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// `start` at the tokio instant `at`, moving as tokio's clock moves.
    Tokio {
        start: DateTime<Utc>,
        at: tokio::time::Instant,
    },
    /// Moves only when told.
    Manual(Arc<ManualClock>),
}

/// A clock a test sets; whoever sleeps until a time on it is woken when it moves.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
    moved: tokio::sync::watch::Sender<i64>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now_ms: AtomicI64::new(start.timestamp_millis()),
            moved: tokio::sync::watch::Sender::new(start.timestamp_millis()),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms.load(Ordering::SeqCst)).unwrap_or_default()
    }

    /// Sets the clock to `to`, forward or back (a VM resumed, an NTP step), and wakes the
    /// sleepers.
    pub fn set(&self, to: DateTime<Utc>) {
        let ms = to.timestamp_millis();
        self.now_ms.store(ms, Ordering::SeqCst);
        self.moved.send_replace(ms);
    }

    /// Moves the clock forward by `by` and wakes the sleepers.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let now = self.now_ms.fetch_add(ms, Ordering::SeqCst) + ms;
        self.moved.send_replace(now);
    }
}

impl Clock {
    /// A tokio clock reading `start` now.
    pub fn tokio(start: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            start,
            at: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { start, at } => {
                *start + chrono::Duration::from_std(at.elapsed()).unwrap_or_default()
            }
            Clock::Manual(m) => m.now(),
        }
    }

    /// Sleeps for `d` of real (tokio) time, or until a manual clock moves from `read_at`
    /// (the reading `d` was computed from), whichever is first: the caller reads the clock
    /// again either way. A move between that reading and this call is not missed.
    pub async fn sleep(&self, read_at: DateTime<Utc>, d: std::time::Duration) {
        match self {
            Clock::Manual(m) => {
                let mut rx = m.moved.subscribe();
                if m.now() != read_at {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(d) => {}
                    _ = rx.changed() => {}
                }
            }
            _ => tokio::time::sleep(d).await,
        }
    }
}
