//! Unauthenticated endpoints: health, readiness, metrics, the API description, and the
//! receipt public key.

use crate::app::App;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()), responses((status = 200, description = "Alive.")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers.
#[utoipa::path(
    get, path = "/readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "Ready to serve: `{\"status\": \"ready\"}`.", body = Object),
        (status = 503, description = "The store does not answer, or the server is draining: `{\"status\": \"unavailable\"}`.", body = Object,
            headers(("Retry-After" = u64, description = "Seconds to wait before asking again."))),
    )
)]
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.ready().await {
        Ok(_) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, crate::api::retry_after())],
                Json(json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()), responses((status = 200, description = "Prometheus text format.", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut text = app.metrics.render();
    app.metrics.render_writer(&mut text, app.writer_stats());
    match app.learning_metrics().await {
        Ok(learning) => text.push_str(&learning),
        // The request metrics still answer when the store cannot.
        Err(e) => tracing::warn!(error = %e, "learning metrics left out"),
    }
    match app.store_metrics().await {
        Ok(store) => text.push_str(&store),
        Err(e) => tracing::warn!(error = %e, "store metrics left out"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// A JWK Set (RFC 7517) holding the receipts' Ed25519 public key (RFC 8037).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    /// `OKP`.
    kty: String,
    /// `Ed25519`.
    crv: String,
    /// The public key, base64url.
    x: String,
    /// The `kid` of receipts' JWS headers.
    kid: String,
    /// `sig`. No `alg`: the key signs receipts under both `EdDSA` and `Ed25519`.
    #[schema(rename = "use")]
    use_: String,
}

/// The public key of approval receipts, as a JWK Set (RFC 8037).
#[utoipa::path(get, path = "/v1/receipt-key", tag = "system", security(()), responses((status = 200, description = "The receipts' public key.", body = JwkSet)))]
pub async fn receipt_key(State(app): State<Arc<App>>) -> Json<Value> {
    Json(app.receipt_jwks())
}

/// The OpenAPI document (served as built at start).
pub async fn openapi(doc: Arc<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.as_str().to_owned(),
    )
        .into_response()
}
