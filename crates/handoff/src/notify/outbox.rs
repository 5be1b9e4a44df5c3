//! The outbox worker: sends what is due, at most [`CONCURRENCY`] at once, and records each
//! attempt with its audit entry (`notification.sent` or `notification.failed`). It sleeps
//! until the next attempt is due and is woken by the store's hub when a commit queues
//! deliveries, and when one of its sends ends. A delivery stays `pending` until an
//! attempt's result is committed, so a crash mid-send means it is sent again after the
//! restart, under the same `webhook-id`: at-least-once, never silently dropped.

use super::send::Sent;
use crate::app::App;
use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::audit::NewEntry;
use handoff_store::{Attempted, Delivery, DeliveryState};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Sends in flight at once.
pub const CONCURRENCY: usize = 64;
/// The longest sleep between looks, a backstop for deliveries added by another process.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// A receiver's `Retry-After` is honoured up to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delay before each attempt: the first at once, then the Standard Webhooks schedule.
/// Its length is the number of attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> RetrySchedule {
        let s = Duration::from_secs;
        RetrySchedule(vec![
            s(0),
            s(5),
            s(5 * 60),
            s(30 * 60),
            s(2 * 3600),
            s(5 * 3600),
            s(10 * 3600),
            s(14 * 3600),
            s(20 * 3600),
            s(24 * 3600),
        ])
    }
}

impl RetrySchedule {
    /// `0s,5s,5m,…` (also `250ms`); at least one attempt.
    pub fn parse(text: &str) -> Result<RetrySchedule, String> {
        let delays = text
            .split(',')
            .map(str::trim)
            .map(|d| {
                if let Some(ms) = d.strip_suffix("ms") {
                    return ms
                        .parse()
                        .map(Duration::from_millis)
                        .map_err(|e| e.to_string());
                }
                if d.trim_end_matches('s') == "0" {
                    return Ok(Duration::ZERO);
                }
                handoff_domain::Span::parse(d).map(|s| Duration::from_secs(s.as_secs()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() {
            return Err("a retry schedule has at least one delay".to_owned());
        }
        Ok(RetrySchedule(delays))
    }

    pub fn attempts(&self) -> u32 {
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }
}

/// A URL as the audit log shows it: scheme, host and port only, since paths of webhook
/// URLs often carry a secret (Slack's do).
pub fn redact(channel: &str, target: &str) -> String {
    if channel == "email" {
        return target.to_owned();
    }
    match url::Url::parse(target) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let path = if u.path().len() > 1 || u.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!(
                "{}://{}{port}{path}",
                u.scheme(),
                u.host_str().unwrap_or("")
            )
        }
        Err(_) => "(unreadable URL)".to_owned(),
    }
}

/// What an attempt leaves `d` as, and the audit entry that records it. `jitter` in
/// [-1, 1] spreads retries by up to a tenth of their delay.
pub fn settle(
    d: &Delivery,
    sent: &Sent,
    schedule: &RetrySchedule,
    now: DateTime<Utc>,
    jitter: f64,
) -> (Attempted, NewEntry) {
    let attempt = d.attempts + 1;
    let mut data = json!({
        "delivery": d.id,
        "event": d.event,
        "channel": d.channel,
        "target": redact(&d.channel, &d.target),
        "attempt": attempt,
    });
    let (state, next_at, last_error, action) = match sent {
        Ok(result) => {
            data["result"] = json!(result);
            (DeliveryState::Delivered, now, None, "notification.sent")
        }
        Err(f) => {
            data["error"] = json!(f.message);
            let more = !f.permanent && attempt < schedule.attempts();
            let next = more.then(|| {
                let planned = schedule.0[attempt as usize];
                let spread = planned.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
                let asked = f.retry_after.map(|r| r.min(MAX_RETRY_AFTER));
                now + chrono::Duration::from_std(spread.max(asked.unwrap_or_default()))
                    .unwrap_or_default()
            });
            data["final"] = json!(next.is_none());
            match next {
                Some(at) => {
                    data["next_attempt_at"] =
                        json!(at.to_rfc3339_opts(SecondsFormat::Millis, true));
                    (
                        DeliveryState::Pending,
                        at,
                        Some(f.message.clone()),
                        "notification.failed",
                    )
                }
                None => (
                    DeliveryState::Failed,
                    now,
                    Some(f.message.clone()),
                    "notification.failed",
                ),
            }
        }
    };
    let attempted = Attempted {
        id: d.id.clone(),
        state,
        attempts: attempt,
        next_at,
        at: now,
        last_error,
    };
    let entry = NewEntry {
        at: now,
        actor: handoff_domain::schedule::BY_SCHEDULER.to_owned(),
        action: action.to_owned(),
        handoff_id: d.handoff_id.clone(),
        data,
    };
    (attempted, entry)
}

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
        let woken = app.store.hub().outbox().notified();
        let sleep = match dispatch(&app, &permits, &inflight).await {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot read deliveries; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
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
    let due = app.store.due_deliveries(page, skip).await?;
    let full = due.len() == CONCURRENCY;
    let now = app.now();
    for d in due {
        if d.next_at > now {
            return Ok((d.next_at - now)
                .to_std()
                .unwrap_or_default()
                .min(MAX_SLEEP));
        }
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
            attempt(&app, d).await;
            inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            drop(permit);
            app.store.hub().outbox().notify_one();
        });
    }
    // A full page may have more behind it: look again as soon as a send ends (each end
    // wakes this loop); else sleep until woken or the backstop.
    Ok(if full { Duration::ZERO } else { MAX_SLEEP })
}

/// One attempt, recorded.
async fn attempt(app: &App, d: Delivery) {
    let sent = app.notifier.send(&d, app.now()).await;
    let now = app.now();
    app.metrics.delivery(&d.channel, sent.is_ok());
    let (attempted, entry) = settle(&d, &sent, &app.notifier.settings.schedule, now, jitter());
    // Every attempt is in the audit log; the log shows only what needs a person.
    match &sent {
        Ok(_) => tracing::debug!(delivery = %d.id, channel = %d.channel, "delivered"),
        Err(f) if attempted.state == DeliveryState::Failed => tracing::warn!(
            delivery = %d.id, channel = %d.channel, attempts = attempted.attempts,
            error = %f.message, "delivery failed for good; an admin can redeliver it"
        ),
        Err(f) => tracing::debug!(
            delivery = %d.id, channel = %d.channel, error = %f.message, "delivery attempt failed"
        ),
    }
    if let Err(e) = app.store.record_attempt(attempted, Some(entry)).await {
        // The delivery stays pending: it is tried again (same id) after the next look.
        tracing::warn!(delivery = %d.id, error = %e, "cannot record a delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::super::send::Failure;
    use super::*;

    fn delivery(attempts: u32) -> Delivery {
        let mut d = Delivery::new(
            "msg_1".into(),
            Some("hnd_1".into()),
            "handoff.routed",
            "slack",
            "https://hooks.slack.com/services/T000/B000/SECRET",
            "{}".into(),
            Utc::now(),
        );
        d.attempts = attempts;
        d
    }

    fn fail(permanent: bool, retry_after: Option<u64>) -> Sent {
        Err(Failure {
            message: "HTTP 500".into(),
            retry_after: retry_after.map(Duration::from_secs),
            permanent,
        })
    }

    #[test]
    fn the_default_schedule_is_the_standard_webhooks_one() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 10);
        assert_eq!(
            s,
            RetrySchedule::parse("0s,5s,5m,30m,2h,5h,10h,14h,20h,24h").unwrap_or_default()
        );
        assert_eq!(
            RetrySchedule::parse("0, 250ms, 1s").map(|s| s.0),
            Ok(vec![
                Duration::ZERO,
                Duration::from_millis(250),
                Duration::from_secs(1)
            ])
        );
        assert!(RetrySchedule::parse("5x").is_err());
    }

    #[test]
    fn a_failure_is_retried_on_the_schedule_then_fails_for_good() {
        let now = Utc::now();
        let s = RetrySchedule::default();
        let (a, e) = settle(&delivery(0), &fail(false, None), &s, now, 0.0);
        assert_eq!((a.state, a.attempts), (DeliveryState::Pending, 1));
        assert_eq!(a.next_at, now + chrono::Duration::seconds(5));
        assert_eq!(e.action, "notification.failed");
        assert_eq!(e.data["final"], false);
        // The audit log does not show the secret path of the URL.
        assert_eq!(e.data["target"], "https://hooks.slack.com/…");

        let (a, _) = settle(&delivery(1), &fail(false, None), &s, now, 1.0);
        assert_eq!(a.next_at, now + chrono::Duration::seconds(330));

        let (a, e) = settle(&delivery(9), &fail(false, None), &s, now, 0.0);
        assert_eq!((a.state, a.attempts), (DeliveryState::Failed, 10));
        assert_eq!(e.data["final"], true);
    }

    #[test]
    fn gone_stops_and_retry_after_is_honoured() {
        let now = Utc::now();
        let s = RetrySchedule::default();
        let (a, _) = settle(&delivery(0), &fail(true, None), &s, now, 0.0);
        assert_eq!(a.state, DeliveryState::Failed);
        let (a, _) = settle(&delivery(0), &fail(false, Some(120)), &s, now, 0.0);
        assert_eq!(a.next_at, now + chrono::Duration::seconds(120));
        let (a, e) = settle(&delivery(3), &Ok("HTTP 204".into()), &s, now, 0.0);
        assert_eq!((a.state, a.attempts), (DeliveryState::Delivered, 4));
        assert_eq!(e.action, "notification.sent");
    }
}
