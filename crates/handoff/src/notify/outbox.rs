//! The outbox's rules, without the loop (`jobs/outbox.rs`): the retry schedule, what an
//! attempt leaves a delivery as and the audit entry that records it, and how targets are
//! shown in the log. A delivery stays `pending` until an attempt's result is committed,
//! so a crash mid-send means it is sent again after the restart, under the same
//! `webhook-id`: at-least-once, never silently dropped.

use super::send::Sent;
use chrono::{DateTime, SecondsFormat, Utc};
use handoff_domain::audit::NewEntry;
use handoff_store::{Attempted, Channel, Delivery, DeliveryState};
use serde_json::json;
use std::time::Duration;

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
pub fn redact(channel: Channel, target: &str) -> String {
    if channel == Channel::Email {
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
        "target": redact(d.channel, &d.target),
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

#[cfg(test)]
mod tests {
    use super::super::send::Failure;
    use super::*;

    fn delivery(attempts: u32) -> Delivery {
        let mut d = Delivery::new(
            "msg_1".into(),
            Some("hnd_1".into()),
            "handoff.routed",
            Channel::Slack,
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
