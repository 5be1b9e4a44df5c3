//! `GET /v1/events`: Server-Sent Events of the handoff changes the caller may see.
//! `Last-Event-ID` (an audit seq) replays what came after it from the log, then the stream
//! goes live; a stream that falls behind the live feed re-reads from the log, so nothing
//! is skipped. A replayed event carries the handoff as it is now.

use crate::api::ApiResult;
use crate::app::{App, Principal, Role};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use handoff_store::Event;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

/// Events read from the log per query while replaying.
const REPLAY_PAGE: u32 = 500;

/// Stream handoff changes.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (an audit seq).")),
    responses((status = 200, description = "`text/event-stream`: `event: handoff`, `id: <seq>`, `data: {id, status, version, task, assigned_team}`."))
)]
pub async fn events(
    State(app): State<Arc<App>>,
    who: Principal,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    Ok(stream(app, who, &headers))
}

/// The stream of what `who` may see, resuming after `Last-Event-ID` when given; shared
/// by the API and the web pages (which authenticate by cookie).
pub fn stream(
    app: Arc<App>,
    who: Principal,
    headers: &HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let feed = Feed {
        rx: app.store.hub().subscribe(),
        app,
        who,
        last: resume.unwrap_or(0),
        replaying: resume.is_some(),
        ready: VecDeque::new(),
    };
    let closing = feed.app.closing();
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|e| (Ok(e), feed))
    });
    // The stream ends when the server drains, so that shutdown is not held open.
    let stream = futures_util::StreamExt::take_until(stream, closing);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

struct Feed {
    app: Arc<App>,
    who: Principal,
    rx: broadcast::Receiver<Arc<Event>>,
    /// The seq of the last event considered (sent or not visible).
    last: i64,
    replaying: bool,
    ready: VecDeque<Event>,
}

impl Feed {
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(render(&e));
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
                        self.ready.push_back(e);
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.seq > self.last => {
                    self.last = e.seq;
                    if self.visible(&e) {
                        return Some(render(&e));
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
            // A reviewer also hears that a handoff left their team (an escalation), so
            // an open inbox can drop it.
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

fn render(e: &Event) -> SseEvent {
    let data = serde_json::json!({
        "id": e.id,
        "status": e.status,
        "version": e.version,
        "task": e.task,
        "assigned_team": e.assigned_team,
    });
    SseEvent::default()
        .id(e.seq.to_string())
        .event("handoff")
        .data(data.to_string())
}
