//! The HTTP API (SPEC §4): one file per resource and action, each handler thin (parse,
//! one `App` operation, render). Routes are registered through `utoipa_axum::routes!`
//! so the OpenAPI document (`/openapi.json`) and the router cannot drift.

mod audit;
mod auth;
mod checkpoints;
mod deliveries;
mod error;
mod events;
mod handoffs;
mod integrations;
mod keys;
mod learning;
mod observe;
mod openapi;
mod packet;
mod policy;
mod query;
pub(crate) mod resource;
mod system;

pub use error::{ApiError, ApiResult, Problem, RETRY_AFTER_SECS, retry_after};
pub use events::stream as event_stream;

use crate::app::App;
use auth::BearerAuth;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, header};
use axum::response::Response;
pub use observe::Observe;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Slack's interactivity requests: a form, not JSON.
const SLACK_PATH: &str = "/v1/integrations/slack";

/// Request bodies above this are refused with 413.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "handoff",
        description = "Risk-based handoffs between AI agents and the people who own the risk.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(Problem, events::HandoffEvent))
)]
struct ApiDoc;

/// The routes and the OpenAPI document describing them.
pub fn router(app: Arc<App>) -> (Router, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handoffs::submit::submit, handoffs::list::list))
        .routes(routes!(handoffs::get::get))
        .routes(routes!(handoffs::decide::decide))
        .routes(routes!(handoffs::cancel::cancel))
        .routes(routes!(handoffs::outcome::outcome))
        .routes(routes!(handoffs::timeline::timeline))
        .routes(routes!(events::events))
        .routes(routes!(keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(audit::log))
        .routes(routes!(audit::verify))
        .routes(routes!(checkpoints::create, checkpoints::list))
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::get))
        .routes(routes!(deliveries::redeliver))
        .routes(routes!(learning::stats))
        .routes(routes!(learning::recommendations))
        .routes(routes!(learning::set_level))
        .routes(routes!(learning::spot_checks))
        .routes(routes!(learning::spot_check))
        .routes(routes!(learning::export))
        .routes(routes!(policy::get, policy::put))
        .routes(routes!(policy::explain))
        .routes(routes!(integrations::slack::interact))
        .routes(routes!(system::receipt_key))
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .split_for_parts();
    let mut doc = doc;
    openapi::complete(&mut doc);
    let doc_json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || system::openapi(doc_json.clone())),
        )
        .layer(Observe::api(app.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    (router, doc)
}

/// The API's `415`: a `POST` with a body must say it is JSON (`application/json` or another
/// `+json` type), refused before a handler reads it (SPEC §2). A `POST` without a body
/// (`cancel`, `redeliver`) needs no type; `PUT /v1/policy` takes TOML; Slack posts a form
/// to `/v1/integrations/slack` (its signature covers the raw body, read as it came).
pub(crate) fn not_json(req: &Request) -> Option<Response> {
    use axum::response::IntoResponse;
    if req.method() != axum::http::Method::POST || req.uri().path() == SLACK_PATH {
        return None;
    }
    let headers = req.headers();
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
        || headers.contains_key(header::TRANSFER_ENCODING);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        });
    (has_body && !is_json).then(|| {
        ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with Content-Type: application/json",
        )
        .into_response()
    })
}

/// A JSON body as a value, read once: text that is not JSON is 400; a member name twice
/// in one object is 400 naming its place (I-JSON: readers disagree on which one counts).
pub fn json_value(body: &Bytes) -> ApiResult<serde_json::Value> {
    use handoff_domain::ijson::{Rejected, from_slice};
    from_slice(body).map_err(|r| match r {
        Rejected::Duplicate(d) => ApiError::malformed_at(d.pointer, d.message),
        Rejected::Json(e) if e.to_string().starts_with("recursion limit exceeded") => {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                format!(
                    "the body nests arrays and objects deeper than {} levels ({})",
                    handoff_domain::ijson::MAX_DEPTH,
                    e
                ),
            )
        }
        Rejected::Json(e) => ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        ),
    })
}

/// Parses a JSON body into `T`: unreadable JSON is 400 (see [`json_value`]); JSON of the
/// wrong shape is 422 naming the field at fault (`action`, `draft.x`, …).
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let value = json_value(body)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde names a missing or unknown field in backticks, at the level above it.
        let named = message
            .strip_prefix("missing field `")
            .or_else(|| message.strip_prefix("unknown field `"))
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "body".to_owned(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_owned(),
        };
        ApiError::field(&field, message)
    })
}

/// `If-Match: 3` or `If-Match: "3"` (or `W/"3"`, or `*` for any version). A header that is not a version at all is
/// `400` naming it (it is malformed, not a mismatch); a version that is not the current one
/// is `412`, where the operation compares it.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default().trim();
    // `*` (RFC 9110): any current version; a missing handoff is still 404.
    if text == "*" {
        return Ok(None);
    }
    let text = text.strip_prefix("W/").unwrap_or(text);
    let digits = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let is_version = (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    match digits.parse() {
        Ok(v) if is_version => Ok(Some(v)),
        _ => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "If-Match must be a version: 3 or \"3\"",
        )),
    }
}
