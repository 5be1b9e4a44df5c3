//! The reviewer's web inbox (SPEC §4): server-rendered pages over the same `App`
//! operations as the API.
//!
//! - `session`: login, the signed session cookie, bearer access, CSRF, flash messages.
//! - `inbox` (`/`, `/batch`), `detail` (`/handoffs/{id}`), `decide` (its forms),
//!   `dashboard` (`/dashboard`: the KPIs drawn by `chart`, the per-task table), `task`
//!   (`/tasks/{task}`: evidence and the level button), `spot` (`/spot-checks` and the
//!   verdict form): one file per page; `view` turns records into what the templates
//!   show, `evidence` a task type's statistics into words; `page` renders and answers.
//! - `text`: the checks on agent-written text (bidi, invisible, mixed scripts).
//! - `format`: JSON as a reviewer reads it (key order kept, numbers, money, sizes).
//! - `diff`: what an edit changed, line by line then word by word; `revision`: what a
//!   revision changed since the handoff it supersedes, and the chain of revisions; `why`: the policy's
//!   reasons as headlines with the values that matter.
//! - `assets`: the CSS and JS, compiled in, served with long cache lifetimes.
//!
//! Every response carries a strict Content-Security-Policy with a fresh nonce for the
//! page's own scripts; agent text is escaped by askama and never marked safe.

mod assets;
mod chart;
mod dashboard;
mod decide;
mod detail;
mod diff;
mod evidence;
pub mod format;
pub mod inbox;
pub mod page;
mod revision;
mod session;
mod spot;
mod task;
pub mod text;
mod view;
mod why;

pub use assets::version as assets_version;
pub use session::SessionKey;

use crate::app::App;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::convert::Infallible;
use std::sync::Arc;

/// The pages' shared state: the service and the session signing key.
pub struct Web {
    pub app: Arc<App>,
    pub key: SessionKey,
}

/// The web routes, to merge beside the API's.
pub fn router(app: Arc<App>, key: SessionKey) -> Router {
    let web = Arc::new(Web {
        app: app.clone(),
        key,
    });
    Router::new()
        .route("/", get(inbox::page))
        .route("/batch", post(inbox::batch))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/handoffs/{id}", get(detail::page))
        .route("/handoffs/{id}/decide", post(decide::decide))
        .route("/dashboard", get(dashboard::page))
        .route("/tasks/{task}", get(task::page))
        .route("/tasks/{task}/level", post(task::set_level))
        .route("/spot-checks", get(spot::page))
        .route("/handoffs/{id}/spot-check", post(spot::check))
        .route("/events", get(events))
        .route("/static/{file}", get(assets::serve))
        .layer(middleware::from_fn(security_headers))
        .layer(crate::api::Observe::pages(app))
        .layer(DefaultBodyLimit::max(crate::api::MAX_BODY))
        .with_state(web)
}

/// The nonce of this response's Content-Security-Policy, for the page's script tags.
#[derive(Clone)]
pub struct Nonce(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Nonce {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<Nonce>()
            .cloned()
            .unwrap_or_else(|| Nonce(String::new())))
    }
}

/// Sets the security headers on every web response: CSP with a fresh nonce, no sniffing,
/// no referrer, no framing, no caching of pages (static files set their own).
async fn security_headers(mut req: Request, next: Next) -> Response {
    let mut bytes = [0u8; 18];
    if getrandom::fill(&mut bytes).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    req.extensions_mut().insert(Nonce(nonce.clone()));
    let had_flash = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains(session::FLASH_COOKIE)));
    let req_headers = req.headers().clone();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // A flash message is shown once: the page that showed it clears it.
    let is_page = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if had_flash && is_page && res.status().is_success() {
        let clear = session::cookie(
            session::over_https(None, &req_headers),
            session::FLASH_COOKIE,
            "",
            0,
        );
        res.headers_mut().append(header::SET_COOKIE, clear);
    }
    res
}

/// `GET /events`: the API's event stream for cookie sessions (EventSource cannot send an
/// Authorization header). Read-only, so the cookie is enough.
async fn events(
    State(web): State<Arc<Web>>,
    viewer: session::Viewer,
    headers: HeaderMap,
) -> Response {
    match crate::api::event_stream(&web.app, viewer.who, &headers) {
        Ok(stream) => stream.into_response(),
        Err(m) => page::error_page(StatusCode::BAD_REQUEST, &m),
    }
}

/// An `application/x-www-form-urlencoded` body; a name may repeat (`id=a&id=b`).
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value, unless missing or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
