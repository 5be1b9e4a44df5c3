//! `GET /v1/events`: Server-Sent Events of the changes the caller may see (`App::events`
//! decides which), resuming after `Last-Event-ID`.

use crate::api::{ApiError, ApiResult, Problem};
use crate::app::{App, Event, Principal};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
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
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (an audit seq): digits only, as the stream sent it; anything else is a 400.", pattern = "^[0-9]{1,18}$")),
    responses(
        (status = 200, description = "Each event: `event: handoff`, `id: <seq>`, `data:` a `HandoffEvent` as JSON. A comment line (`:`) keeps the connection alive.", content_type = "text/event-stream", body = HandoffEventFrame),
        (status = 400, description = "`Last-Event-ID` is not an event id (digits only), or is given twice.", body = Problem),
    )
)]
pub async fn events(
    State(app): State<Arc<App>>,
    who: Principal,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    stream(&app, who, &headers).map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, m))
}

/// The stream of what `who` may see, resuming after `Last-Event-ID` when given; shared
/// by the API and the web pages (which authenticate by cookie). A `Last-Event-ID` that is
/// not an id this stream sends (digits, at most 18) is refused, never taken as "from
/// now" or "from the start": the reason is the error.
pub fn stream(
    app: &Arc<App>,
    who: Principal,
    headers: &HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>>, String> {
    let resume = resume_after(headers)?;
    let events = app.events(who, resume).map(|e| Ok(render(&e)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The seq in `Last-Event-ID`, if the header is there.
fn resume_after(headers: &HeaderMap) -> Result<Option<i64>, String> {
    let mut values = headers.get_all("last-event-id").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("Last-Event-ID is given twice".to_owned());
    }
    let text = value.to_str().unwrap_or_default();
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Last-Event-ID must be an event id this stream sent (digits only)".to_owned());
    }
    text.parse::<i64>()
        .map(Some)
        .map_err(|_| "Last-Event-ID is out of range".to_owned())
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
