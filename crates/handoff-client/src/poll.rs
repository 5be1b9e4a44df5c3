//! The long-poll loop (SPEC §4: `GET /v1/handoffs/{id}?wait=SECONDS`, at most a minute
//! per request), shared by [`crate::Client::wait_for_decision`] and `handoff wait`.

use crate::http::{Api, ApiError, REQUEST_TIMEOUT};
use serde_json::Value;
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// The server holds a long poll at most this long.
pub const MAX_POLL: Duration = Duration::from_secs(60);
/// How long the server may stay unreachable, once it answered, before waiting gives up.
pub const OUTAGE_LIMIT: Duration = Duration::from_secs(300);

/// Long-polls until the handoff is no longer `pending` or `deadline` passes (never, when
/// `None`), and answers its JSON as it is then: **pending when time ran out**. A server
/// that was never reached fails at once (a wrong URL should not look like waiting); one
/// that goes away after answering (a restart) is waited for, up to [`OUTAGE_LIMIT`].
pub async fn wait_while_pending(
    api: &Api,
    id: &str,
    deadline: Option<Instant>,
) -> Result<Value, ApiError> {
    let path = ["v1", "handoffs", id];
    let mut reached = false;
    let mut outage_since: Option<Instant> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wait = left.map_or(MAX_POLL, |l| l.min(MAX_POLL));
        let secs = wait.as_secs();
        let asked = Instant::now();
        let timeout = REQUEST_TIMEOUT + Duration::from_secs(secs);
        match api.get(&path, &[("wait", secs.to_string())], timeout).await {
            Ok(reply) => {
                reached = true;
                outage_since = None;
                backoff = Duration::from_secs(1);
                let past_deadline = deadline.is_some_and(|d| Instant::now() >= d);
                if reply.body["status"].as_str() != Some("pending") || past_deadline {
                    return Ok(reply.body);
                }
                // The server may answer early while still pending (one approval of two, or
                // no long-poll at all): never poll more than once a second.
                let pause = Duration::from_secs(1).saturating_sub(asked.elapsed());
                sleep(cap(pause, deadline)).await;
            }
            Err(e) if e.is_transient() && (reached || !e.is_connect()) => {
                reached = true;
                let since = *outage_since.get_or_insert_with(Instant::now);
                let past_deadline = deadline.is_some_and(|d| Instant::now() >= d);
                if since.elapsed() >= OUTAGE_LIMIT || past_deadline {
                    return Err(e);
                }
                sleep(cap(backoff, deadline)).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    }
}

fn cap(d: Duration, deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(end) => d.min(end.saturating_duration_since(Instant::now())),
        None => d,
    }
}
