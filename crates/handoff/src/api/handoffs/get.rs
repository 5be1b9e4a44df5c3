//! `GET /v1/handoffs/{id}`, with `?wait=SECONDS` to long-poll while it is pending.

use crate::api::resource::{Resource, respond};
use crate::api::{ApiResult, Problem, query};
use crate::app::{App, MAX_WAIT, Principal};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Wait up to this many seconds while the handoff is `pending`; above 60 is served
    /// as 60.
    #[param(value_type = f64, required = false, minimum = 0, maximum = 1000000000)]
    wait: Option<String>,
}

/// Read one handoff.
#[utoipa::path(
    get, path = "/v1/handoffs/{id}", tag = "handoffs",
    params(("id" = String, Path, description = "The handoff id."), GetQuery),
    responses(
        (status = 200, description = "The handoff, with `ETag: \"<version>\"`.", body = Resource),
        (status = 404, description = "No such handoff, or not yours to see.", body = Problem),
        (status = 422, description = "A bad `wait`.", body = Problem),
    )
)]
pub async fn get(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<GetQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let q = query::read(q)?;
    let mut checked = query::Checked::default();
    let wait = checked.number::<f64>("wait", q.wait.as_deref(), 0.0..=1e9);
    checked.done()?;
    let wait = wait
        .filter(|w| *w > 0.0)
        .map(|w| Duration::from_secs_f64(w.min(MAX_WAIT.as_secs_f64())));
    let h = match wait {
        None => app.visible(&who, &id).await?,
        Some(wait) => app.wait_for_change(&who, &id, wait).await?,
    };
    Ok(respond(StatusCode::OK, &h))
}
