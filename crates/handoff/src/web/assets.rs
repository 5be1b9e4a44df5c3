//! The pages' CSS and JavaScript, compiled into the binary. URLs carry a digest of the
//! files (`?v=…`), so browsers may keep them for a year.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const FILES: [(&str, &str, &str); 3] = [
    (
        "web.css",
        "text/css; charset=utf-8",
        include_str!("../../static/web.css"),
    ),
    (
        "inbox.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/inbox.js"),
    ),
    (
        "handoff.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/handoff.js"),
    ),
];

/// The first 12 hex digits of the SHA-256 of all files.
pub fn version() -> &'static str {
    static V: LazyLock<String> = LazyLock::new(|| {
        let mut h = Sha256::new();
        for (_, _, text) in FILES {
            h.update(text.as_bytes());
        }
        h.finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    });
    &V
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some((_, mime, text)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = (*text).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    res
}
