//! Checks of responses: status and JSON, RFC 9457 problems, digests.

use reqwest::Response;
use serde_json::{Value, json};

pub fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no `id` in {resource}"))
        .to_owned()
}

pub fn header(resp: &Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Insists on `status`, then parses the body as JSON; on a mismatch the body is shown.
pub async fn expect_json(resp: Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let url = resp.url().to_string();
    let text = resp.text().await.expect("cannot read the response body");
    assert_eq!(got, status, "{url} answered {got}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// Insists on `status` and an RFC 9457 problem document; returns the document.
pub async fn expect_problem(resp: Response, status: u16) -> Value {
    let content_type = header(&resp, "content-type");
    let problem = expect_json(resp, status).await;
    assert!(
        content_type.starts_with("application/problem+json"),
        "content-type {content_type} for {problem}"
    );
    for field in ["type", "title", "detail"] {
        assert!(problem[field].is_string(), "no `{field}` in {problem}");
    }
    assert_eq!(problem["status"], json!(status), "{problem}");
    if status == 422 {
        let errors = problem["errors"].as_array().expect("a 422 has `errors`");
        assert!(
            !errors.is_empty(),
            "a 422 names the fields at fault: {problem}"
        );
        for e in errors {
            assert!(e["field"].is_string() && e["message"].is_string(), "{e}");
        }
    }
    problem
}

/// The `field`s of a 422 problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The SHA-256 the SPEC gives a text draft: lowercase hex of its RFC 8785 canonical JSON,
/// which for plain ASCII text is the quoted string itself.
pub fn text_draft_sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    assert!(
        text.chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\'),
        "keep test drafts to plain ASCII"
    );
    hex(&Sha256::digest(format!("\"{text}\"").as_bytes()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` names `seq N` (and not `seq N0`).
pub fn names_seq(text: &str, seq: i64) -> bool {
    let needle = format!("seq {seq}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// An answer's status line and headers, read from a raw connection up to the blank line.
pub async fn read_head(conn: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await.expect("read the answer");
        assert!(n > 0, "the connection closed before answering");
        head.extend_from_slice(&buf[..n]);
    }
    head
}
