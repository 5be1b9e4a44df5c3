//! Rendering and answering: a template becomes an HTML response; an error becomes a page
//! that says what happened; a done action becomes a redirect with a flash message.

use super::Web;
use super::session::{self, Viewer};
use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What every page's frame shows: who is signed in, the form token for logout, the
/// flash message, the nonce for script tags.
pub struct Layout {
    pub title: String,
    pub nonce: String,
    pub user: String,
    pub role: &'static str,
    /// Empty for bearer callers; the pages then show no logout form.
    pub csrf: String,
    pub flash: Option<String>,
    pub assets: &'static str,
}

impl Layout {
    pub fn new(title: impl Into<String>, nonce: &str, viewer: &Viewer) -> Layout {
        Layout {
            title: title.into(),
            nonce: nonce.to_owned(),
            user: viewer.who.name.clone(),
            role: viewer.who.role.as_str(),
            csrf: viewer.csrf.clone(),
            flash: viewer.flash.clone(),
            assets: super::assets::version(),
        }
    }

    /// For pages shown to nobody in particular (errors, the login form).
    pub fn anonymous(title: impl Into<String>) -> Layout {
        Layout {
            title: title.into(),
            nonce: String::new(),
            user: String::new(),
            role: "",
            csrf: String::new(),
            flash: None,
            assets: super::assets::version(),
        }
    }
}

pub fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => html_response(status, html),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // As the API's 503s: a full disk or a draining node, worth another try soon.
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, crate::api::retry_after());
    }
    res
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    message: &'a str,
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    render(
        status,
        &ErrorPage {
            layout: Layout::anonymous(title),
            status: status.as_u16(),
            message,
        },
    )
}

/// A refusal as a page: its status and what it tells the reader.
pub fn app_error(e: &crate::app::AppError) -> Response {
    error_page(super::view::error_status(e), &super::view::error_text(e))
}

/// `303 See Other` to `to`, with `message` shown once on the page it leads to.
pub fn done(web: &Web, headers: &HeaderMap, to: &str, message: &str) -> Response {
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    let flash = web.key.flash(message, web.app.now().timestamp());
    res.headers_mut().append(
        header::SET_COOKIE,
        session::cookie(
            session::over_https(Some(web), headers),
            session::FLASH_COOKIE,
            &flash,
            60,
        ),
    );
    res
}
