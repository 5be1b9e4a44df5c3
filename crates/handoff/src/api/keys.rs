//! `POST /v1/keys`, `DELETE /v1/keys/{name}`: admins create and revoke API keys.

use crate::api::{ApiResult, Problem, json_body};
use crate::app::{App, Principal, Role};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(value_type = Role)]
    role: String,
    /// The principal's name: 1–64 of letters, digits, `_ . @ -`. Reviewers are named in
    /// the policy's team `members`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.@-]{1,64}$")]
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    name: String,
    role: Role,
    /// Shown once; only its SHA-256 is kept.
    key: String,
}

/// Create an API key.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses(
        (status = 201, description = "The new key, shown once.", body = CreatedKey),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 409, description = "A key by that name exists.", body = Problem),
        (status = 422, description = "A bad role or name.", body = Problem),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let req: CreateKey = json_body(&body?)?;
    let k = app.create_key(&who, &req.role, &req.name).await?;
    let created = CreatedKey {
        name: k.name,
        role: k.role,
        key: k.key,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an API key, at once.
#[utoipa::path(
    delete, path = "/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "The key's name.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 403, description = "Admins only.", body = Problem),
        (status = 404, description = "No key by that name.", body = Problem),
    )
)]
pub async fn revoke(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    app.revoke_key(&who, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
