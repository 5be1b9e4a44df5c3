//! `/mcp` under the main server: streamable HTTP (stateless, JSON answers), behind the
//! same bearer authentication as the API: a missing or bad key is `401`, a key that is
//! not an agent's `403` (problem+json), before `rmcp` reads the request.

use super::tools::may_use;
use super::{Backend, HandoffMcp};
use crate::api::ApiError;
use crate::app::{App, Principal, Via};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

/// The `/mcp` routes.
pub fn router(app: Arc<App>) -> Router {
    let backend = Backend::App(app.clone());
    let mut config = StreamableHttpServerConfig::default()
        // The bearer key protects the route, not the Host header: the server is reached
        // by whatever name its operators give it.
        .disable_allowed_hosts();
    // Sessionless: every request stands alone, as the API's do, answered as JSON.
    config.legacy_session_mode = false;
    config.json_response = true;
    config.sse_keep_alive = None;
    let service = StreamableHttpService::new(
        move || Ok(HandoffMcp::new(backend.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(app, authenticate))
}

async fn authenticate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    let who = match Principal::from_request_parts(&mut parts, &app).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    if !may_use(&who) {
        return ApiError::new(StatusCode::FORBIDDEN, "only agents use the MCP tools")
            .into_response();
    }
    parts.extensions.insert(who.through(Via::Mcp));
    next.run(Request::from_parts(parts, body)).await
}
