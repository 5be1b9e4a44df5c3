//! `GET /v1/events`: Server-Sent Events of the changes the caller may see (`App::events`
//! decides which), resuming after `Last-Event-ID`.

use crate::api::ApiResult;
use crate::app::{App, Event, Principal};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use handoff_domain::lifecycle::Status;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// The `data` of an `event: handoff`: which handoff changed, and where it stands now.
#[derive(Serialize, ToSchema)]
pub struct HandoffEvent<'a> {
    id: &'a str,
    status: Status,
    version: u64,
    task: &'a str,
    assigned_team: &'a str,
}

/// One event of the stream as an SSE parser gives it (the schema schemathesis and other
/// tools check each event against; OpenAPI 3.1 has no `itemSchema`).
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: the stream is written by `SseEvent`
pub struct HandoffEventFrame {
    /// Always `handoff`.
    #[schema(pattern = "^handoff$")]
    event: String,
    /// The seq of the audit entry that recorded the change: send it back as
    /// `Last-Event-ID` to resume after it.
    #[schema(pattern = "^[0-9]+$")]
    id: String,
    /// A `HandoffEvent`, as JSON text.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// Stream handoff changes.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (an audit seq).")),
    responses((status = 200, description = "Each event: `event: handoff`, `id: <seq>`, `data:` a `HandoffEvent` as JSON. A comment line (`:`) keeps the connection alive.", content_type = "text/event-stream", body = HandoffEventFrame))
)]
pub async fn events(
    State(app): State<Arc<App>>,
    who: Principal,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    Ok(stream(&app, who, &headers))
}

/// The stream of what `who` may see, resuming after `Last-Event-ID` when given; shared
/// by the API and the web pages (which authenticate by cookie).
pub fn stream(
    app: &Arc<App>,
    who: Principal,
    headers: &HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let events = app.events(who, resume).map(|e| Ok(render(&e)));
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn render(e: &Event) -> SseEvent {
    let data = HandoffEvent {
        id: &e.id,
        status: e.status,
        version: e.version,
        task: &e.task,
        assigned_team: &e.assigned_team,
    };
    SseEvent::default()
        .id(e.seq.to_string())
        .event("handoff")
        .data(serde_json::to_string(&data).unwrap_or_default())
}
