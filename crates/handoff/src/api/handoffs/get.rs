//! `GET /v1/handoffs/{id}`, with `?wait=SECONDS` to long-poll while it is pending.

use crate::api::ApiResult;
use crate::api::resource::respond;
use crate::app::{App, Principal};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use handoff_domain::lifecycle::Status;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use utoipa::IntoParams;

/// Long-polls are capped at this many seconds.
const MAX_WAIT: f64 = 60.0;

#[derive(Debug, Deserialize, IntoParams)]
pub struct GetQuery {
    /// Wait up to this many seconds (at most 60) while the handoff is `pending`.
    wait: Option<f64>,
}

/// Read one handoff.
#[utoipa::path(
    get, path = "/v1/handoffs/{id}", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id."), GetQuery),
    responses(
        (status = 200, description = "The handoff, with `ETag: \"<version>\"`.", body = Object),
        (status = 404, description = "No such handoff, or not yours to see.", body = crate::api::Problem),
    )
)]
pub async fn get(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult<Response> {
    let wait = q
        .wait
        .filter(|w| w.is_finite() && *w > 0.0)
        .map(|w| w.min(MAX_WAIT));
    let Some(wait) = wait else {
        return Ok(respond(StatusCode::OK, &app.visible(&who, &id).await?));
    };
    let deadline = Instant::now() + Duration::from_secs_f64(wait);
    let watch = app.store.hub().watch(&id);
    let closing = app.closing();
    tokio::pin!(closing);
    loop {
        // Register before reading: a decision committed in between still wakes us.
        let notified = watch.notify().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let h = app.visible(&who, &id).await?;
        if h.state.status != Status::Pending || Instant::now() >= deadline {
            return Ok(respond(StatusCode::OK, &h));
        }
        tokio::select! {
            _ = notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            // Draining: answer with the state as it is now rather than hold the shutdown.
            () = &mut closing => return Ok(respond(StatusCode::OK, &app.visible(&who, &id).await?)),
        }
    }
}
