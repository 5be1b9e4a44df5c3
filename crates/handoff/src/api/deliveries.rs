//! The outbox for admins: `GET /v1/deliveries` (by state, newest first), `GET
//! /v1/deliveries/{id}`, and `POST /v1/deliveries/{id}/redeliver` for one that failed.

use crate::api::{ApiResult, Problem, query};
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use handoff_store::{Delivery, DeliveryState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// pending, delivered or failed.
    #[param(value_type = DeliveryState, required = false)]
    state: Option<String>,
    /// At most 500 (default 50).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One page of deliveries, newest first.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// Pass it as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// List notification deliveries.
#[utoipa::path(
    get, path = "/v1/deliveries", tag = "deliveries", params(DeliveryParams),
    responses(
        (status = 200, description = "One page, newest first.", body = DeliveryPage),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 422, description = "A bad state or limit.", body = Problem),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
    q: Result<Query<DeliveryParams>, QueryRejection>,
) -> ApiResult<Json<DeliveryPage>> {
    let p = query::read(q)?;
    let mut checked = query::Checked::default();
    let state = checked.word(
        "state",
        p.state.as_deref(),
        DeliveryState::parse,
        "must be pending, delivered or failed",
    );
    let limit = checked.number(
        "limit",
        p.limit.as_deref(),
        1..=crate::app::MAX_DELIVERY_PAGE,
    );
    checked.done()?;
    let page = app.deliveries(&who, state, p.cursor, limit).await?;
    Ok(Json(DeliveryPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One delivery: where it goes, its attempts, its last error.
#[utoipa::path(
    get, path = "/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = String, Path, description = "The delivery's id (its `webhook-id`).")),
    responses(
        (status = 200, description = "The delivery.", body = Delivery),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 404, description = "No such delivery.", body = Problem),
    )
)]
pub async fn get(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    Ok(Json(app.delivery(&who, &id).await?))
}

/// Send a failed (or delivered) delivery again, from its first attempt, same id.
#[utoipa::path(
    post, path = "/v1/deliveries/{id}/redeliver", tag = "deliveries",
    params(("id" = String, Path, description = "The delivery's id (its `webhook-id`).")),
    responses(
        (status = 200, description = "The delivery, pending again.", body = Delivery),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 404, description = "No such delivery.", body = Problem),
        (status = 409, description = "It is still pending.", body = Problem),
    )
)]
pub async fn redeliver(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    Ok(Json(app.redeliver(&who, &id).await?))
}
