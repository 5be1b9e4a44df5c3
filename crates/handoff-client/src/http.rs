//! The raw layer: one `reqwest::Client`, bearer auth, JSON in and out, and the two ways a
//! request fails: the server said no (an RFC 9457 problem), or there was no usable answer.
//! The typed [`crate::Client`], the CLI and the MCP stdio tools all send through [`Api`].

use crate::text::{clean_line, truncate};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Plain requests; a long poll gets its wait on top of this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`Api::new`] refused a server URL or a key, before any request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("`{server}` is not a URL: {reason}")]
    NotAUrl { server: String, reason: String },
    #[error("{server}: `{scheme}` is not http or https")]
    NotHttp { server: String, scheme: String },
    #[error("{server} has no host")]
    NoHost { server: String },
    #[error("no API key")]
    NoKey,
    #[error("the API key holds characters a key cannot have")]
    BadKey,
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// A connection to one server with one key.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    key: String,
}

impl fmt::Debug for Api {
    // The server only: the key must never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("server", &self.server())
            .finish_non_exhaustive()
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: Value,
    /// `Idempotent-Replayed: true`: an earlier submission with the same key was returned.
    pub replayed: bool,
}

/// An RFC 9457 problem document, as the server sends it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub errors: Vec<FieldProblem>,
}

/// One field at fault, as a problem document names it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct FieldProblem {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub message: String,
}

/// Why a request got no answer the caller can use.
#[derive(Debug)]
pub enum ApiError {
    /// The server answered with an error status.
    Problem(Problem),
    /// No usable answer: no connection, no answer in time, or not the API's JSON.
    Transport {
        message: String,
        transient: bool,
        /// A connection was made: the URL is right, whatever happened next.
        connected: bool,
    },
}

impl ApiError {
    /// Worth trying again in a moment: the server restarting, or a proxy in front of it.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Problem(p) => matches!(p.status, 502..=504),
            ApiError::Transport { transient, .. } => *transient,
        }
    }

    /// Could not even connect: a wrong `--server`, or a server that is not running.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            ApiError::Transport {
                connected: false,
                ..
            }
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Problem(p) => f.write_str(render_problem(p).trim_end()),
            ApiError::Transport { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for ApiError {}

/// `<status> <title>: <detail>`, then `  <field>: <message>` per field, one per line. The
/// server may quote what the agent sent, so all of it is cleaned.
pub fn render_problem(p: &Problem) -> String {
    let title = match p.title.trim() {
        "" => StatusCode::from_u16(p.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_owned(),
        t => t.to_owned(),
    };
    let mut out = format!("{} {}", p.status, clean_line(&title));
    if let Some(detail) = p.detail.as_deref().filter(|d| !d.trim().is_empty()) {
        out.push_str(": ");
        out.push_str(&clean_line(detail));
    }
    out.push('\n');
    for e in &p.errors {
        out.push_str(&format!(
            "  {}: {}\n",
            clean_line(&e.field),
            clean_line(&e.message)
        ));
    }
    out
}

impl Api {
    /// A client of the server at `server` (an `http://` or `https://` base URL; a path
    /// prefix is kept) holding `key`. Nothing is sent yet.
    pub fn new(server: &str, key: &str) -> Result<Api, ConnectError> {
        let base = Url::parse(server.trim()).map_err(|e| ConnectError::NotAUrl {
            server: server.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ConnectError::NotHttp {
                server: server.to_owned(),
                scheme: base.scheme().to_owned(),
            });
        }
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(ConnectError::NoHost {
                server: server.to_owned(),
            });
        }
        let key = key.trim();
        if key.is_empty() {
            return Err(ConnectError::NoKey);
        }
        if !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConnectError::BadKey);
        }
        crate::install_tls();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // An API client has no business following redirects, least of all with a key.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("handoff-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectError::Setup(e.to_string()))?;
        Ok(Api {
            http,
            base,
            key: key.to_owned(),
        })
    }

    /// The server's base URL as the user gave it, for messages.
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The base URL with `segments` appended, each percent-encoded: an id cannot add a path.
    fn url(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| ApiError::Transport {
                message: format!("{} cannot take a path", self.server()),
                transient: false,
                connected: false,
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A GET of JSON; `timeout` covers the whole exchange (a long poll adds its wait).
    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        timeout: Duration,
    ) -> Result<Reply, ApiError> {
        let url = self.url(segments)?;
        let req = self.http.get(url).query(query).timeout(timeout);
        self.send(req).await
    }

    /// A GET whose body is read as it arrives (no overall timeout: an export may be long,
    /// an event stream endless); an error status is still a problem.
    pub async fn get_stream(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, ApiError> {
        let url = self.url(segments)?;
        let mut req = self.http.get(url).query(query).bearer_auth(&self.key);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let res = req.send().await.map_err(|e| self.transport(&e))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let bytes = res.bytes().await.map_err(|e| self.transport(&e))?;
        Err(ApiError::Problem(problem_from(status, &bytes)))
    }

    /// A POST of a JSON body, with extra headers (`Idempotency-Key`, `If-Match`).
    pub async fn post(
        &self,
        segments: &[&str],
        body: &Value,
        headers: &[(&str, String)],
    ) -> Result<Reply, ApiError> {
        let url = self.url(segments)?;
        let mut req = self
            .http
            .request(Method::POST, url)
            .json(body)
            .timeout(REQUEST_TIMEOUT);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        self.send(req).await
    }

    async fn send(&self, req: RequestBuilder) -> Result<Reply, ApiError> {
        let res = req
            .bearer_auth(&self.key)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let status = res.status();
        let replayed = res
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let bytes = res.bytes().await.map_err(|e| self.transport(&e))?;
        if status.is_success() {
            let body = serde_json::from_slice(&bytes).map_err(|_| ApiError::Transport {
                message: format!(
                    "{} answered {status} without JSON; is it a handoff server?",
                    self.server()
                ),
                transient: false,
                connected: true,
            })?;
            return Ok(Reply { body, replayed });
        }
        Err(ApiError::Problem(problem_from(status, &bytes)))
    }

    fn transport(&self, e: &reqwest::Error) -> ApiError {
        let server = self.server();
        let cause = root_cause(e);
        if e.is_connect() {
            ApiError::Transport {
                message: format!(
                    "cannot connect to the handoff server at {server} ({cause}); is it running? (--server / HANDOFF_URL)"
                ),
                transient: true,
                connected: false,
            }
        } else if e.is_timeout() {
            ApiError::Transport {
                message: format!("the handoff server at {server} did not answer in time"),
                transient: true,
                connected: true,
            }
        } else {
            ApiError::Transport {
                message: format!("request to the handoff server at {server} failed: {cause}"),
                transient: e.is_request() || e.is_body(),
                connected: true,
            }
        }
    }
}

/// The problem document, or one made from the status when the body is not one (a proxy's
/// HTML page, an empty body).
fn problem_from(status: StatusCode, body: &[u8]) -> Problem {
    if let Ok(mut p) = serde_json::from_slice::<Problem>(body) {
        if p.status == 0 {
            p.status = status.as_u16();
        }
        return p;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    Problem {
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("error").to_owned(),
        detail: (!text.is_empty()).then(|| truncate(&clean_line(text), 200)),
        errors: Vec::new(),
    }
}

/// The innermost error: "Connection refused (os error 111)" says more than the layers above.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_prints_its_status_title_detail_and_fields() {
        let body = br#"{"type":"about:blank","title":"Unprocessable Entity","status":422,
            "detail":"the packet has 2 bad fields",
            "errors":[{"field":"confidence","message":"must be between 0 and 1"},
                      {"field":"task","message":"is required"}]}"#;
        let p = problem_from(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(
            render_problem(&p),
            "422 Unprocessable Entity: the packet has 2 bad fields\n  confidence: must be between 0 and 1\n  task: is required\n"
        );
    }

    #[test]
    fn a_body_that_is_not_a_problem_still_gives_status_and_title() {
        let p = problem_from(StatusCode::BAD_GATEWAY, b"<html>\x1b[2Jbad gateway</html>");
        assert_eq!(
            render_problem(&p),
            "502 Bad Gateway: <html>bad gateway</html>\n"
        );
        assert!(ApiError::Problem(p).is_transient());
        let empty = problem_from(StatusCode::NOT_FOUND, b"");
        assert_eq!(render_problem(&empty), "404 Not Found\n");
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        let api = Api::new("http://127.0.0.1:8080/prefix/", "k").expect("an api");
        let url = api.url(&["v1", "handoffs", "../keys?x=1"]).expect("a url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/prefix/v1/handoffs/..%2Fkeys%3Fx=1"
        );
    }

    #[test]
    fn a_missing_key_or_a_server_that_is_not_http_is_refused_before_any_request() {
        assert_eq!(
            Api::new("http://127.0.0.1:8080", " ").err(),
            Some(ConnectError::NoKey)
        );
        assert!(matches!(
            Api::new("ftp://example.com", "k").err(),
            Some(ConnectError::NotHttp { .. })
        ));
        assert!(matches!(
            Api::new("not a url", "k").err(),
            Some(ConnectError::NotAUrl { .. })
        ));
        assert!(Api::new("https://example.com/prefix", "k").is_ok());
    }
}
