//! The outbox for admins: `GET /v1/deliveries` (by state, newest first), `GET
//! /v1/deliveries/{id}`, and `POST /v1/deliveries/{id}/redeliver` for one that failed.

use crate::api::{ApiError, ApiResult};
use crate::app::{App, Principal};
use axum::Json;
use axum::extract::{Path, Query, State};
use handoff_store::{Delivery, DeliveryState};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::IntoParams;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryParams {
    /// pending, delivered or failed.
    state: Option<String>,
    /// At most 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List notification deliveries.
#[utoipa::path(
    get, path = "/v1/deliveries", tag = "deliveries", params(DeliveryParams),
    responses(
        (status = 200, description = "`{items, next_cursor}`, newest first.", body = Object),
        (status = 422, description = "A bad state or limit.", body = crate::api::Problem),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    who: Principal,
    Query(p): Query<DeliveryParams>,
) -> ApiResult<Json<Value>> {
    who.require_admin("read deliveries")?;
    let state = p
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s)
                .ok_or_else(|| ApiError::field("state", "must be pending, delivered or failed"))
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 500"));
    }
    let mut items = app.store.deliveries(state, p.cursor, limit + 1).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| d.id.clone())
    } else {
        None
    };
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}

/// One delivery: where it goes, its attempts, its last error.
#[utoipa::path(
    get, path = "/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = String, Path, description = "The delivery's id (its `webhook-id`).")),
    responses(
        (status = 200, description = "The delivery.", body = Object),
        (status = 404, description = "No such delivery.", body = crate::api::Problem),
    )
)]
pub async fn get(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    who.require_admin("read deliveries")?;
    match app.store.delivery(&id).await? {
        Some(d) => Ok(Json(d)),
        None => Err(ApiError::not_found("such delivery")),
    }
}

/// Send a failed (or delivered) delivery again, from its first attempt, same id.
#[utoipa::path(
    post, path = "/v1/deliveries/{id}/redeliver", tag = "deliveries",
    params(("id" = String, Path, description = "The delivery's id (its `webhook-id`).")),
    responses(
        (status = 200, description = "The delivery, pending again.", body = Object),
        (status = 404, description = "No such delivery.", body = crate::api::Problem),
        (status = 409, description = "It is still pending.", body = crate::api::Problem),
    )
)]
pub async fn redeliver(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Delivery>> {
    Ok(Json(app.redeliver(&who, &id).await?))
}
