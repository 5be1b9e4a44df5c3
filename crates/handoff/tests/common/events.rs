//! Server-sent events of `GET /v1/events`, read chunk by chunk.

use reqwest::Response;
use serde_json::Value;
use std::time::{Duration, Instant};

/// One event of `GET /v1/events`.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }

    /// The `id:` as the audit seq it is.
    pub fn seq(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("event without a numeric id: {self:?}"))
    }
}

/// An open event stream, read chunk by chunk (reqwest's `stream` feature is off).
pub struct EventStream {
    pub(crate) resp: Response,
    pub(crate) buf: String,
}

impl EventStream {
    /// The next event carrying data, or `None` if none came `within` (or the stream ended).
    pub async fn next(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block) {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    // Normalise line ends: SSE allows CRLF and CR as well.
                    if self.buf.contains('\r') {
                        self.buf = self.buf.replace("\r\n", "\n").replace('\r', "\n");
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Every event up to and including the first for which `last` holds; panics if that
    /// one does not come within `within`.
    pub async fn until(&mut self, within: Duration, last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(event) => {
                    let done = last(&event);
                    seen.push(event);
                    if done {
                        return seen;
                    }
                }
                None => panic!("the awaited event did not come within {within:?}; saw {seen:?}"),
            }
        }
    }
}

/// One block of field lines, parsed as the Rust client parses it; `None` without data.
fn parse_event(block: &str) -> Option<Event> {
    handoff_client::events::parse_block(block).map(|e| Event {
        id: e.id,
        event: e.event,
        data: e.data,
    })
}
