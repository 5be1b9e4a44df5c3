//! Who is looking at a page: a session cookie set by `/login`, or `Authorization: Bearer`
//! (scripts). The cookie is a stateless signed token that names the key by its SHA-256
//! digest (never the key), so each request looks the key up again and a revoked key stops
//! working at once. CSRF tokens are an HMAC of the session token; flash messages are
//! short-lived signed cookies. The signing key lives in `<data-dir>/web.key`.

use super::{Web, page};
use crate::app::Via;
use crate::app::{App, AppError, Principal};
use anyhow::Context;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "handoff_session";
pub const FLASH_COOKIE: &str = "handoff_flash";
/// How long a login lasts.
pub const SESSION_SECS: i64 = 12 * 3600;
/// How long a flash message waits to be shown.
const FLASH_SECS: i64 = 60;

/// The server's secret for session, CSRF and flash signatures.
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Reads `<data-dir>/web.key`, or makes one (mode 0600) on first start. Deleting the
    /// file and restarting signs everyone out.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<SessionKey> {
        let path = data_dir.join("web.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| format!("{} does not hold a web key", path.display()))?;
                Ok(SessionKey(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                crate::secrets::write_secret(&path, &URL_SAFE_NO_PAD.encode(bytes))?;
                Ok(SessionKey(bytes))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    #[cfg(test)]
    pub fn fixed(bytes: [u8; 32]) -> SessionKey {
        SessionKey(bytes)
    }

    /// HMAC-SHA256 over a purpose label and the message, base64url: one key, separate uses.
    fn sign(&self, purpose: &str, msg: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(msg.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn check(&self, purpose: &str, msg: &str, sig: &str) -> bool {
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(msg.as_bytes());
        mac.verify_slice(&sig).is_ok()
    }

    /// `v1.<key sha256 hex>.<expiry, Unix seconds>.<signature>`.
    pub fn session_token(&self, key_sha256: &str, now: i64) -> String {
        let body = format!("v1.{key_sha256}.{}", now + SESSION_SECS);
        let sig = self.sign("session", &body);
        format!("{body}.{sig}")
    }

    /// The key digest a live token names.
    pub fn open_session<'t>(&self, token: &'t str, now: i64) -> Option<&'t str> {
        let (body, sig) = token.rsplit_once('.')?;
        if !self.check("session", body, sig) {
            return None;
        }
        let mut parts = body.split('.');
        let (Some("v1"), Some(digest), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        (exp.parse::<i64>().ok()? > now).then_some(digest)
    }

    /// The CSRF token of a session: bound to it, so it is useless with another.
    pub fn csrf(&self, session_token: &str) -> String {
        self.sign("csrf", session_token)
    }

    pub fn check_csrf(&self, session_token: &str, csrf: &str) -> bool {
        self.check("csrf", session_token, csrf)
    }

    pub fn flash(&self, message: &str, now: i64) -> String {
        let body = format!("{}.{}", now + FLASH_SECS, URL_SAFE_NO_PAD.encode(message));
        let sig = self.sign("flash", &body);
        format!("{body}.{sig}")
    }

    pub fn open_flash(&self, value: &str, now: i64) -> Option<String> {
        let (body, sig) = value.rsplit_once('.')?;
        if !self.check("flash", body, sig) {
            return None;
        }
        let (exp, msg) = body.split_once('.')?;
        if exp.parse::<i64>().ok()? <= now {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(msg).ok()?).ok()
    }
}

/// The caller of a page.
pub struct Viewer {
    pub who: Principal,
    /// The session token, for cookie sessions; `None` when the bearer key was sent.
    session: Option<String>,
    /// The form token to embed ("" for bearer callers, who need none).
    pub csrf: String,
    /// The flash message waiting for this viewer, if any.
    pub flash: Option<String>,
}

impl Viewer {
    /// Why a state-changing request from this viewer may not go ahead (a 403 page), if it
    /// may not: it must come from this site (`Origin`, `Sec-Fetch-Site`) and, for cookie
    /// sessions, carry the form token.
    pub fn refuse_post(
        &self,
        web: &Web,
        headers: &HeaderMap,
        csrf: Option<&str>,
    ) -> Option<Response> {
        if !same_origin(headers) {
            return Some(forbidden("This form was sent from another site."));
        }
        if !is_form(headers) {
            return Some(not_a_form());
        }
        if let Some(session) = &self.session
            && !csrf.is_some_and(|c| web.key.check_csrf(session, c))
        {
            return Some(forbidden(
                "The form's security token is missing or stale. Reload the page and try again.",
            ));
        }
        None
    }
}

fn forbidden(msg: &str) -> Response {
    page::error_page(StatusCode::FORBIDDEN, msg)
}

/// Whether the body is what this site's forms send. A cross-site form can also post
/// `text/plain` or `multipart/form-data` without a CORS preflight; neither is read here.
fn is_form(headers: &HeaderMap) -> bool {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let first = types.next().and_then(|v| v.to_str().ok());
    types.next().is_none()
        && first.is_some_and(|t| {
            t.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

fn not_a_form() -> Response {
    page::error_page(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "This site's forms send application/x-www-form-urlencoded; nothing else is read.",
    )
}

/// Whether a request comes from this server's own pages. Browsers say where a request
/// comes from in `Sec-Fetch-Site` (which page script cannot set) and `Origin`; scripts
/// send neither. Under `Referrer-Policy: no-referrer` Chromium sends `Origin: null` even
/// for same-origin forms, so `Sec-Fetch-Site: same-origin` decides when present; without
/// it, every `Origin` given must be this server.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    headers
        .get_all(header::ORIGIN)
        .iter()
        .all(|origin| match (origin.to_str(), host) {
            (Ok(origin), Some(host)) => {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            }
            _ => false,
        })
}

/// Whether the browser reaches us over https: the public URL (`--public-url`) says so, or
/// a proxy does (`X-Forwarded-Proto`). Only then is the cookie marked `Secure`, or it
/// would never come back over plain http.
pub fn over_https(web: Option<&Web>, headers: &HeaderMap) -> bool {
    let public = web.is_some_and(|w| {
        w.app
            .notify_settings()
            .public_url
            .to_ascii_lowercase()
            .starts_with("https://")
    });
    public
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub fn cookie(https: bool, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The principal a key digest names, looked up each time: a revoked key's row is gone.
async fn principal_by_digest(app: &App, digest: &str) -> Option<Principal> {
    app.authenticate_digest(digest).await.ok().flatten()
}

impl FromRequestParts<Arc<Web>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        let now = web.app.now().timestamp();
        let flash =
            read_cookie(&parts.headers, FLASH_COOKIE).and_then(|v| web.key.open_flash(v, now));
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let key = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let who = match key {
                Some(k) if !k.is_empty() => {
                    match web
                        .app
                        .authenticate_from(k, crate::peer::ip(&parts.extensions))
                        .await
                    {
                        Ok(who) => who,
                        Err(AppError::Throttled { retry_after }) => {
                            return Err(throttled(
                                page::error_page(
                                    StatusCode::TOO_MANY_REQUESTS,
                                    "Too many unknown keys from here: try again later.",
                                ),
                                retry_after,
                            ));
                        }
                        Err(_) => None,
                    }
                }
                _ => None,
            };
            return match who {
                Some(who) => Ok(Viewer {
                    who: who.through(Via::Web),
                    session: None,
                    csrf: String::new(),
                    flash,
                }),
                None => Err(page::error_page(
                    StatusCode::UNAUTHORIZED,
                    "Unknown or revoked key.",
                )),
            };
        }
        let session = read_cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
        if let Some(token) = session
            && let Some(digest) = web.key.open_session(&token, now)
            && let Some(who) = principal_by_digest(&web.app, digest).await
        {
            let csrf = web.key.csrf(&token);
            return Ok(Viewer {
                who: who.through(Via::Web),
                session: Some(token),
                csrf,
                flash,
            });
        }
        if parts.method == Method::GET || parts.method == Method::HEAD {
            Err(Redirect::to("/login").into_response())
        } else {
            Err(forbidden(
                "You are not signed in (or your session ended). Sign in again.",
            ))
        }
    }
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    assets: &'static str,
    error: Option<&'a str>,
}

pub async fn login_form() -> Response {
    page::render(
        StatusCode::OK,
        &LoginPage {
            assets: super::assets::version(),
            error: None,
        },
    )
}

pub async fn login(
    State(web): State<Arc<Web>>,
    peer: Peer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !same_origin(&headers) {
        return forbidden("This form was sent from another site.");
    }
    if !is_form(&headers) {
        return not_a_form();
    }
    let form = super::Form::parse(&body);
    let key = form.get("key").unwrap_or_default().trim();
    let who = if key.is_empty() {
        None
    } else {
        match web.app.authenticate_from(key, peer.0).await {
            Ok(who) => who,
            Err(AppError::Throttled { retry_after }) => {
                let page = page::render(
                    StatusCode::TOO_MANY_REQUESTS,
                    &LoginPage {
                        assets: super::assets::version(),
                        error: Some("Too many unknown keys from here: try again later."),
                    },
                );
                return throttled(page, retry_after);
            }
            Err(_) => None,
        }
    };
    if who.is_none() {
        let error = "That key is unknown or revoked.";
        return page::render(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                assets: super::assets::version(),
                error: Some(error),
            },
        );
    }
    let token = web
        .key
        .session_token(&crate::ids::key_sha256(key), web.app.now().timestamp());
    let mut res = Redirect::to("/").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(
            over_https(Some(&web), &headers),
            SESSION_COOKIE,
            &token,
            SESSION_SECS,
        ),
    );
    res
}

pub async fn logout(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = super::Form::parse(&body);
    if let Some(res) = viewer.refuse_post(&web, &headers, form.get("csrf")) {
        return res;
    }
    let mut res = Redirect::to("/login").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie(over_https(Some(&web), &headers), SESSION_COOKIE, "", 0),
    );
    res
}

/// A refusal for too many failed keys, with `Retry-After`.
fn throttled(mut res: Response, retry_after: u64) -> Response {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    res
}

/// The client's address, for counting failed keys (never a rejection).
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(crate::peer::ip(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_token_names_the_digest_until_it_expires() {
        let k = SessionKey::fixed([7; 32]);
        let t = k.session_token("abc123", 1000);
        assert_eq!(k.open_session(&t, 1000), Some("abc123"));
        assert_eq!(k.open_session(&t, 1000 + SESSION_SECS), None);
        let forged = t.replace("abc123", "abc124");
        assert_eq!(k.open_session(&forged, 1000), None);
        assert_eq!(SessionKey::fixed([8; 32]).open_session(&t, 1000), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let k = SessionKey::fixed([7; 32]);
        let a = k.session_token("a", 0);
        let b = k.session_token("b", 0);
        assert!(k.check_csrf(&a, &k.csrf(&a)));
        assert!(!k.check_csrf(&b, &k.csrf(&a)));
        assert!(!k.check_csrf(&a, ""));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_trusts_sec_fetch_site_then_origin() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host])), "scripts send neither");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "https://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(
            !same_origin(&headers(&[("origin", "http://127.0.0.1:8080")])),
            "no Host"
        );
        assert!(
            same_origin(&headers(&[
                host,
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ])),
            "Chromium under no-referrer"
        );
        for site in ["cross-site", "same-site", "none"] {
            let h = headers(&[
                host,
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", site),
            ]);
            assert!(!same_origin(&h), "{site}");
        }
        let two = headers(&[
            host,
            ("origin", "http://127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(!same_origin(&two), "every Origin must be ours");
    }

    #[test]
    fn flash_messages_are_signed_and_short_lived() {
        let k = SessionKey::fixed([7; 32]);
        let f = k.flash("Approved hnd_1", 100);
        assert_eq!(k.open_flash(&f, 100).as_deref(), Some("Approved hnd_1"));
        assert_eq!(k.open_flash(&f, 100 + FLASH_SECS), None);
        assert_eq!(k.open_flash(&f.replacen('1', "2", 1), 100), None);
    }
}
