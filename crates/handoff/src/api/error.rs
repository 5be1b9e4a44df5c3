//! The one error policy of the HTTP edge. Every error is an RFC 9457 problem document
//! (`application/problem+json`) with `type`, `title`, `status`, `detail`, and `errors`
//! naming each field at fault. Refusals a client can act on carry their reason; anything
//! unexpected is logged with its cause and answered with a bare 500, never the cause. A
//! `503` (a full disk, a draining node) says when to try again (`Retry-After`).

use crate::app::AppError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use handoff_domain::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    /// Seconds to wait before trying again (`Retry-After`), on 429 and 503.
    retry_after: Option<u64>,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:handoff:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// The same error with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// 422 naming every bad field.
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            errors,
            retry_after: None,
        }
    }

    /// 400 naming the place at fault (a JSON Pointer).
    pub fn malformed_at(pointer: String, message: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            detail: message.clone(),
            errors: vec![FieldError::new(pointer, message)],
            retry_after: None,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no {what} here"))
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, detail)
    }

    fn slug(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "malformed-request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not-found",
            409 => "conflict",
            412 => "precondition-failed",
            413 => "payload-too-large",
            429 => "too-many-requests",
            415 => "unsupported-media-type",
            422 => "invalid-request",
            503 => "unavailable",
            _ => "internal-error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = Problem {
            kind: format!("urn:handoff:problem:{}", self.slug()),
            title,
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self
                .errors
                .into_iter()
                .map(|e| ProblemField {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // A 429 says its own wait; every 503 the same few seconds.
        let wait = self
            .retry_after
            .or((self.status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECS));
        if let Some(seconds) = wait {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// How long a `503` asks the client to wait (`Retry-After`, seconds): a full disk or a
/// draining node is a matter of seconds to minutes, and a client that waits a little
/// spares the server a storm of retries.
pub const RETRY_AFTER_SECS: u64 = 5;

/// [`RETRY_AFTER_SECS`] as the header's value.
pub fn retry_after() -> HeaderValue {
    HeaderValue::from(RETRY_AFTER_SECS)
}

/// The one place an application error becomes HTTP: its variant picks the status.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::Forbidden(m) => ApiError::forbidden(m),
            AppError::Conflict(m) => ApiError::conflict(m),
            e @ AppError::Stale { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string())
            }
            AppError::Invalid(errors) => ApiError::invalid(errors),
            AppError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            e @ AppError::Throttled { retry_after } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()).retry_after(retry_after)
            }
            AppError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

/// Body parsing errors (too large, unreadable) keep their status as a problem document.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(r: axum::extract::rejection::BytesRejection) -> ApiError {
        let status = r.status();
        let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is over 1 MiB".to_owned()
        } else {
            r.body_text()
        };
        ApiError::new(status, detail)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use handoff_store::StoreError;

    #[test]
    fn a_full_disk_is_a_503_problem_with_retry_after() {
        let res =
            ApiError::from(AppError::from(StoreError::Full("no space".into()))).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let other = ApiError::from(AppError::from(StoreError::Write("x".into()))).into_response();
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(other.headers().get(header::RETRY_AFTER).is_none());
    }
}
