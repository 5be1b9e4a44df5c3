//! `POST /v1/keys`, `DELETE /v1/keys/{name}`: admins create and revoke API keys. The key
//! is shown once; only its SHA-256 is stored; a revoked key stops working at once.

use crate::api::{ApiError, ApiResult, json_body};
use crate::app::{App, Principal, Role, register_key};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use handoff_domain::audit::NewEntry;

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// agent, reviewer or admin.
    role: String,
    /// The principal's name: 1–64 of letters, digits, `_ . @ -`. Reviewers are named in
    /// the policy's team `members`.
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    name: String,
    role: String,
    /// Shown once; only its SHA-256 is kept.
    key: String,
}

pub fn valid_key_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
}

/// Create an API key.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    responses(
        (status = 201, description = "The new key, shown once.", body = CreatedKey),
        (status = 409, description = "A key by that name exists.", body = crate::api::Problem),
        (status = 422, description = "A bad role or name.", body = crate::api::Problem),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    who.require_admin("manage keys")?;
    let req: CreateKey = json_body(&body?)?;
    let mut errors = Vec::new();
    let role = Role::parse(&req.role);
    if role.is_none() {
        errors.push(handoff_domain::FieldError::new(
            "role",
            "must be agent, reviewer or admin",
        ));
    }
    if !valid_key_name(&req.name) {
        errors.push(handoff_domain::FieldError::new(
            "name",
            "1 to 64 letters, digits, '_', '.', '@' or '-'",
        ));
    }
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let key = crate::ids::api_key();
    if !register_key(app.store.as_ref(), &key, &req.name, role, &who.name).await? {
        return Err(ApiError::conflict(format!(
            "a key named {:?} exists",
            req.name
        )));
    }
    let created = CreatedKey {
        name: req.name,
        role: role.as_str().to_owned(),
        key,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an API key, at once.
#[utoipa::path(
    delete, path = "/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "The key's name.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No key by that name.", body = crate::api::Problem),
    )
)]
pub async fn revoke(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    who.require_admin("manage keys")?;
    let audit = NewEntry {
        at: app.now(),
        actor: who.name.clone(),
        action: "key.revoked".to_owned(),
        handoff_id: None,
        data: json!({ "name": name }),
    };
    // Forget it before and after: no request may authenticate with it from now on.
    app.forget_key(&name);
    let revoked = app.store.revoke_key(name.clone(), audit).await?;
    app.forget_key(&name);
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("key by that name"))
    }
}
