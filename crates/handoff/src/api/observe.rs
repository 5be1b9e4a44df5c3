//! What every request passes through, the API's and the web pages': its span, its count
//! and time in the metrics, its request id, `nosniff`, and for the API the `415` of a body
//! that is not JSON.
//!
//! A hand-written layer rather than `axum::middleware::from_fn`: a route's layers each box
//! the request's future once more, and a `from_fn` future carries the request several times
//! over (its closure's, the function's and `Next`'s states). A waiting long-poll holds all
//! of them for up to a minute; this future holds only what the answer needs
//! (docs/PERFORMANCE.md, "HTTP/2 for waiting long-polls").

use super::not_json;
use crate::app::App;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tower_service::Service;

/// Counts and times each request by its matched route, and runs it in a span carrying its
/// request id (the client's `X-Request-Id` when it is a sane one, else ours, answered in
/// `X-Request-Id`) and the handoff id of its path, so that every log line of the request
/// names both. A submission records its new id in the span.
#[derive(Clone)]
pub struct Observe {
    app: Arc<App>,
    json_only: bool,
}

impl Observe {
    /// For the web pages (forms are not JSON).
    pub fn pages(app: Arc<App>) -> Observe {
        Observe {
            app,
            json_only: false,
        }
    }

    /// For the API, which also refuses a `POST` whose body is not JSON ([`not_json`]).
    pub fn api(app: Arc<App>) -> Observe {
        Observe {
            app,
            json_only: true,
        }
    }
}

impl<S> tower_layer::Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            layer: self.clone(),
        }
    }
}

/// A route behind [`Observe`].
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    layer: Observe,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = req.method().clone();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map_or_else(crate::ids::request_id, str::to_owned);
        let span = tracing::info_span!(
            "request",
            id = %request_id,
            method = %method,
            route = %route_name(route.as_ref()),
            handoff = tracing::field::Empty,
        );
        if let Some(handoff) = req.uri().path().split('/').find(|s| s.starts_with("hnd_")) {
            span.record("handoff", handoff);
        }
        let refused = if self.layer.json_only {
            not_json(&req)
        } else {
            None
        };
        let answer = match refused {
            Some(res) => Answer::Refused { res: Some(res) },
            None => Answer::Route {
                future: span.in_scope(|| self.inner.call(req)),
            },
        };
        ObservedFuture {
            answer,
            span,
            started,
            method,
            route,
            request_id,
            app: self.layer.app.clone(),
        }
    }
}

fn route_name(route: Option<&MatchedPath>) -> &str {
    route.map_or("unmatched", MatchedPath::as_str)
}

pin_project! {
    /// Where the answer comes from: the route, or the layer's own refusal (taken once).
    #[project = AnswerProj]
    enum Answer<F> {
        Route { #[pin] future: F },
        Refused { res: Option<Response> },
    }
}

pin_project! {
    /// The route's answer, once it has one, counted, timed and given its headers.
    pub struct ObservedFuture<F> {
        #[pin]
        answer: Answer<F>,
        span: tracing::Span,
        started: Instant,
        method: Method,
        route: Option<MatchedPath>,
        request_id: String,
        app: Arc<App>,
    }
}

impl<F> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut res = match this.answer.project() {
            AnswerProj::Route { future } => match ready!(future.poll(cx)) {
                Ok(res) => res,
                Err(never) => match never {},
            },
            AnswerProj::Refused { res } => res
                .take()
                .expect("an observed request polled after its answer"),
        };
        let elapsed = this.started.elapsed();
        tracing::debug!(status = res.status().as_u16(), elapsed = ?elapsed, "answered");
        if let Ok(v) = HeaderValue::from_str(this.request_id) {
            res.headers_mut().insert("x-request-id", v);
        }
        this.app.metrics.request(
            this.method.as_str(),
            route_name(this.route.as_ref()),
            res.status().as_u16(),
            elapsed,
        );
        res.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Poll::Ready(Ok(res))
    }
}
