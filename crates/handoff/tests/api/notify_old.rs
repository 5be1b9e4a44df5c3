//! Notifications (SPEC §8, issue 5) seen from outside: real receivers on loopback (an HTTP
//! listener scripted per path, a tiny SMTP listener), the real server with a fast retry
//! schedule, and the admin's view of the outbox (`/v1/deliveries`, the timeline).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The Standard Webhooks known-answer secret; also the tests' current secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A second secret, for a rotation (base64 of 32 ASCII bytes).
const SECRET_2: &str = "whsec_aGFuZG9mZi10ZXN0cy1zZWNvbmQtc2VjcmV0LWtleSE=";
const PUBLIC_URL: &str = "https://handoff.example";

// ---- signatures -------------------------------------------------------------------------

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the key of a `whsec_` secret.
fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .expect("the secret is base64");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether one of the space-separated signatures of `header` is `secret`'s.
fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let want = sign(secret, id, timestamp, body);
    header.split(' ').any(|sig| sig == want)
}

/// Insists that `req` is a Standard Webhooks request signed by `secret`, sent just now.
fn assert_signed(req: &Recorded, secret: &str) {
    let id = req.header("webhook-id");
    let ts = req.header("webhook-timestamp");
    let sig = req.header("webhook-signature");
    assert!(id.starts_with("msg_"), "webhook-id {id:?}");
    let secs: i64 = ts
        .parse()
        .unwrap_or_else(|_| panic!("webhook-timestamp {ts:?}"));
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - secs).abs() < 120,
        "webhook-timestamp {secs} is not now ({now})"
    );
    assert!(
        verify(secret, &id, &ts, req.body.as_bytes(), &sig),
        "no valid signature by {secret} in {sig:?} for id {id}, ts {ts}, body {}",
        req.body
    );
    assert!(
        req.header("content-type").starts_with("application/json"),
        "content-type {:?}",
        req.header("content-type")
    );
}

#[test]
fn the_test_verifier_passes_the_standard_webhooks_known_answer_vector() {
    let (id, ts, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );
    let want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(sign(SECRET, id, ts, body), want);
    assert!(verify(SECRET, id, ts, body, want));
    assert!(verify(SECRET, id, ts, body, &format!("v1,bm90IGl0 {want}")));
    assert!(!verify(SECRET, id, ts, br#"{"test": 2432232315}"#, want));
    assert!(!verify(SECRET_2, id, ts, body, want));
}

// ---- an HTTP receiver -------------------------------------------------------------------

/// One request the receiver saw.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    at: Instant,
}

impl Recorded {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).cloned().unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.body))
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    /// A status with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Answers `status` after `delay`.
    Late(Duration, u16),
    /// Never answers (holds the connection for an hour).
    Hold,
    /// A redirect (`status`) to `Location: path` on the same receiver.
    Redirect(u16, &'static str),
}

#[derive(Default)]
struct ReceiverState {
    seen: Mutex<Vec<Recorded>>,
    /// Per path, the replies still to give; `200` once a script runs out.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
}

#[derive(Clone)]
struct Receiver {
    /// `http://127.0.0.1:PORT`.
    base: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    state.seen.lock().expect("lock").push(Recorded {
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let reply = state
        .script
        .lock()
        .expect("lock")
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Reply::Status(200));
    let status = |code: u16| StatusCode::from_u16(code).expect("a status code");
    match reply {
        Reply::Status(code) => (status(code), "scripted").into_response(),
        Reply::RetryAfter(code, secs) => (
            status(code),
            [("retry-after", secs.to_string())],
            "slow down",
        )
            .into_response(),
        Reply::Late(delay, code) => {
            tokio::time::sleep(delay).await;
            (status(code), "late").into_response()
        }
        Reply::Redirect(code, to) => (status(code), [("location", to)], "moved").into_response(),
        Reply::Hold => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            (status(200), "too late").into_response()
        }
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the receiver");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Replies for the next requests to `path`, in order.
    fn script(&self, path: &str, replies: &[Reply]) {
        self.state
            .script
            .lock()
            .expect("lock")
            .insert(path.to_owned(), replies.iter().cloned().collect());
    }

    /// Waits until `path` has seen `n` requests about handoff `id`; those requests.
    async fn wait_about(&self, path: &str, id: &str, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + within;
        loop {
            let seen: Vec<Recorded> = self
                .requests(path)
                .into_iter()
                .filter(|r| r.json()["data"]["id"] == id)
                .collect();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{path} saw {} requests about {id} within {within:?}, not {n}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn requests(&self, path: &str) -> Vec<Recorded> {
        self.state
            .seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits (up to `within`) until `path` has seen `n` requests; all of them.
    async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.requests(path);
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{path} saw {} requests within {within:?}, not {n}: {seen:#?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ---- an SMTP listener -------------------------------------------------------------------

/// One message the SMTP listener accepted.
#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: Vec<String>,
    /// The DATA, dot-unstuffed, lines joined with CRLF.
    text: String,
}

#[derive(Clone)]
struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    /// Answers to the next `RCPT TO`s (e.g. `451 …`, `550 …`); `250` once it runs out.
    rcpt_replies: Arc<Mutex<VecDeque<&'static str>>>,
    /// How many `RCPT TO`s came.
    rcpts: Arc<Mutex<usize>>,
}

impl SmtpSink {
    async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the SMTP listener");
        let port = listener.local_addr().expect("an address").port();
        let sink = SmtpSink {
            port,
            mails: Arc::default(),
            rcpt_replies: Arc::default(),
            rcpts: Arc::default(),
        };
        let session = sink.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(smtp_session(sock, session.clone()));
            }
        });
        sink
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails.lock().expect("lock").clone();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} mails within {within:?}, not {n}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn smtp_session(sock: tokio::net::TcpStream, sink: SmtpSink) {
    let mails = sink.mails.clone();
    let (read, mut write) = sock.into_split();
    let mut lines = BufReader::new(read);
    let say = async |w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        w.write_all(text.as_bytes()).await.is_ok()
    };
    if !say(&mut write, "220 sink.test ESMTP ready\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            "250-sink.test greets you\r\n250 8BITMIME\r\n".to_owned()
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd["MAIL FROM:".len()..].trim().to_owned();
            to.clear();
            "250 OK\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            *sink.rcpts.lock().expect("lock") += 1;
            match sink.rcpt_replies.lock().expect("lock").pop_front() {
                Some(reply) => format!("{reply}\r\n"),
                None => {
                    to.push(cmd["RCPT TO:".len()..].trim().to_owned());
                    "250 OK\r\n".to_owned()
                }
            }
        } else if upper == "DATA" {
            if !say(&mut write, "354 end with <CRLF>.<CRLF>\r\n").await {
                return;
            }
            let mut data = Vec::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push(l.strip_prefix('.').unwrap_or(l).to_owned());
            }
            mails.lock().expect("lock").push(Mail {
                from: from.clone(),
                to: to.clone(),
                text: data.join("\r\n"),
            });
            "250 OK queued\r\n".to_owned()
        } else if upper == "QUIT" {
            let _ = say(&mut write, "221 bye\r\n").await;
            return;
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            "250 OK\r\n".to_owned()
        } else {
            "502 not implemented\r\n".to_owned()
        };
        if !say(&mut write, &reply).await {
            return;
        }
    }
}

/// Headers (unfolded, names lowercased) and body of a MIME entity.
fn split_entity(text: &str) -> (HashMap<String, String>, String) {
    let text = text.replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let headers = unfolded
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (headers, body.to_owned())
}

fn decode_quoted_printable(s: &str) -> String {
    let s = s.replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_part(headers: &HashMap<String, String>, body: &str) -> String {
    let cte = headers
        .get("content-transfer-encoding")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8_lossy(&STANDARD.decode(joined).expect("a base64 part")).into_owned()
        }
        "quoted-printable" => decode_quoted_printable(body),
        _ => body.to_owned(),
    }
}

/// The parts of a multipart/alternative message: (content type, decoded body).
fn alternative_parts(message: &str) -> (HashMap<String, String>, Vec<(String, String)>) {
    let (headers, body) = split_entity(message);
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    assert!(
        content_type
            .to_ascii_lowercase()
            .starts_with("multipart/alternative"),
        "content-type {content_type:?} of\n{message}"
    );
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .expect("a boundary")
        .trim_matches('"')
        .to_owned();
    let delimiter = format!("--{boundary}");
    let parts = body
        .split(&delimiter)
        .skip(1)
        .filter(|p| !p.starts_with("--"))
        .map(|p| {
            let (h, b) = split_entity(p.trim_start_matches('\n'));
            let ct = h.get("content-type").cloned().unwrap_or_default();
            (ct, decode_part(&h, &b))
        })
        .collect();
    (headers, parts)
}

// ---- the server -------------------------------------------------------------------------

/// One team, `ops` (reviewer `oz`), notified at `notify`; task `reply` is level 2 and
/// task `quick` expires after `expire_after`.
fn policy(notify: &[String], expire_after: &str) -> String {
    let notify = notify
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[defaults]
level = 2
route = "ops"

[teams.ops]
members = ["oz"]
notify = [{notify}]

[tasks.reply]
level = 2
route = "ops"

[tasks.quick]
level = 2
route = "ops"
expire_after = "{expire_after}"
"#
    )
}

fn reply_packet(summary: &str) -> Value {
    json!({"task": "reply", "summary": summary, "confidence": 0.99, "draft": "Hello."})
}

/// A server with `notify` for team `ops`, the tests' secret, the public URL and `args`.
async fn notifying_app(notify: &[String], args: &[&str]) -> TestApp {
    let mut all = vec![
        "--public-url",
        PUBLIC_URL,
        "--webhook-secret",
        SECRET,
        "--retry-schedule",
        "0s,250ms,250ms,250ms",
        "--delivery-timeout",
        "5s",
    ];
    // Later occurrences of a flag would clash with clap; the caller's replace ours.
    let overridden: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| a.starts_with("--"))
        .collect();
    let mut i = 0;
    while i < all.len() {
        if overridden.contains(&all[i]) {
            all.drain(i..i + 2);
        } else {
            i += 2;
        }
    }
    all.extend_from_slice(args);
    TestApp::spawn_with(Some(&policy(notify, "72h")), &all).await
}

async fn delivery(app: &TestApp, id: &str) -> Value {
    expect_json(
        app.get_path(Some(&app.admin_key()), &format!("/v1/deliveries/{id}"))
            .await,
        200,
    )
    .await
}

/// Waits until delivery `id` is in `state`; the delivery.
async fn wait_delivery(app: &TestApp, id: &str, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let d = delivery(app, id).await;
        if d["state"] == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "delivery {id} is not {state} within {within:?}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of the deliveries listed under `state` (all pages).
async fn delivery_ids(app: &TestApp, state: &str) -> Vec<String> {
    let admin = app.admin_key();
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/deliveries?state={state}&limit=500");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = expect_json(app.get_path(Some(&admin), &path).await, 200).await;
        for d in page["items"].as_array().expect("items") {
            assert_eq!(d["state"], state, "{d}");
            ids.push(id_of(d));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

/// The timeline entries of a handoff, oldest first.
async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let body = expect_json(app.timeline(&app.admin_key(), id).await, 200).await;
    body["items"].as_array().expect("items").clone()
}

/// The `notification.*` entries of a handoff's timeline, waiting until `last` holds for
/// one of them.
async fn wait_notifications(
    app: &TestApp,
    id: &str,
    within: Duration,
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let entries: Vec<Value> = timeline(app, id)
            .await
            .into_iter()
            .filter(|e| {
                e["action"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("notification."))
            })
            .collect();
        if entries.iter().any(&last) {
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "the awaited notification entry is not on {id}'s timeline within {within:?}: {entries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assert_audit_ok(app: &TestApp) {
    let verdict = app.audit_verify().await;
    assert_eq!(verdict["ok"], true, "{verdict}");
}

const WAIT: Duration = Duration::from_secs(15);

// ---- team webhooks ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_routed_handoff_is_posted_signed_to_the_team_webhook_and_audited() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hooks/T0P-SECRET"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let id = app
        .submitted_id(&agent, &reply_packet("Refund order 42?"))
        .await;

    let reqs = rx.wait_for("/hooks/T0P-SECRET", 1, WAIT).await;
    let req = &reqs[0];
    assert_signed(req, SECRET);
    assert!(
        !verify(
            SECRET_2,
            &req.header("webhook-id"),
            &req.header("webhook-timestamp"),
            req.body.as_bytes(),
            &req.header("webhook-signature")
        ),
        "only the configured secret signs"
    );
    assert_eq!(
        req.header("webhook-signature").split(' ').count(),
        1,
        "one secret, one signature"
    );
    let body = req.json();
    assert_eq!(body["type"], "handoff.routed", "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(
        body["data"]["url"],
        format!("{PUBLIC_URL}/handoffs/{id}"),
        "{body}"
    );
    assert_eq!(body["data"]["team"], "ops", "{body}");
    assert_eq!(body["data"]["status"], "pending", "{body}");
    assert_eq!(body["data"]["level"], 2, "{body}");
    assert_eq!(body["data"]["summary"], "Refund order 42?", "{body}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let sent: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .collect();
    assert_eq!(sent.len(), 1, "{entries:#?}");
    let data = &sent[0]["data"];
    assert_eq!(
        data["delivery"],
        req.header("webhook-id").as_str(),
        "{data}"
    );
    assert_eq!(data["event"], "handoff.routed", "{data}");
    assert_eq!(data["channel"], "webhook", "{data}");
    assert_eq!(data["attempt"], 1, "{data}");
    // The audit log keeps the URL's path (often a secret) out.
    let all = serde_json::to_string(&timeline(&app, &id).await).expect("JSON");
    assert!(!all.contains("T0P-SECRET"), "the URL path leaked: {all}");
    assert!(
        data["target"]
            .as_str()
            .is_some_and(|t| t.starts_with(&rx.base)),
        "{data}"
    );

    let d = delivery(&app, &req.header("webhook-id")).await;
    assert_eq!(d["state"], "delivered", "{d}");
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["handoff_id"], id.as_str(), "{d}");
    // Exactly one request: nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests("/hooks/T0P-SECRET").len(), 1);
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn during_a_secret_rotation_every_secret_signs() {
    let rx = Receiver::start().await;
    let secrets = format!("{SECRET},{SECRET_2}");
    let app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--webhook-secret", &secrets],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Rotate")).await;

    let req = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    assert_signed(&req, SECRET_2);
    let sig = req.header("webhook-signature");
    let parts: Vec<&str> = sig.split(' ').collect();
    assert_eq!(parts.len(), 2, "{sig}");
    let (msg, ts) = (req.header("webhook-id"), req.header("webhook-timestamp"));
    assert_eq!(parts[0], sign(SECRET, &msg, &ts, req.body.as_bytes()));
    assert_eq!(parts[1], sign(SECRET_2, &msg, &ts, req.body.as_bytes()));
    assert_eq!(req.json()["data"]["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_under_the_same_webhook_id_until_delivered() {
    let rx = Receiver::start().await;
    rx.script(
        "/hook",
        &[Reply::Status(500), Reply::Status(500), Reply::Status(200)],
    );
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hook"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Retry me")).await;

    let reqs = rx.wait_for("/hook", 3, WAIT).await;
    let msg = reqs[0].header("webhook-id");
    for r in &reqs {
        assert_signed(r, SECRET);
        assert_eq!(r.header("webhook-id"), msg, "one id on every attempt");
        assert_eq!(r.body, reqs[0].body, "the same body on every attempt");
    }
    let d = wait_delivery(&app, &msg, "delivered", WAIT).await;
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["handoff_id"], id.as_str(), "{d}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "notification.failed",
            "notification.failed",
            "notification.sent"
        ],
        "{entries:#?}"
    );
    for (n, e) in entries.iter().enumerate() {
        assert_eq!(e["data"]["delivery"], msg.as_str(), "{e}");
        assert_eq!(e["data"]["attempt"], n + 1, "{e}");
    }
    for e in &entries[..2] {
        assert_eq!(e["data"]["error"], "HTTP 500", "{e}");
        assert_eq!(e["data"]["final"], false, "{e}");
        assert!(e["data"]["next_attempt_at"].is_string(), "{e}");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.requests("/hook").len(), 3, "nothing after the success");
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_stops_at_once_and_an_admin_can_redeliver_under_the_same_id() {
    let rx = Receiver::start().await;
    rx.script(
        "/hook",
        &[
            Reply::Status(410),
            Reply::Late(Duration::from_millis(1500), 200),
        ],
    );
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hook"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let admin = app.admin_key();
    let id = app.submitted_id(&agent, &reply_packet("Gone")).await;

    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let msg = first.header("webhook-id");
    let d = wait_delivery(&app, &msg, "failed", WAIT).await;
    assert_eq!(d["attempts"], 1, "{d}");
    assert!(
        d["last_error"].as_str().is_some_and(|e| e.contains("410")),
        "{d}"
    );
    // With three retries left on the schedule, none is made.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(rx.requests("/hook").len(), 1, "410 stops at once");

    let entries =
        wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.failed").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let data = &entries[0]["data"];
    assert_eq!(data["final"], true, "{data}");
    assert_eq!(data["error"], "HTTP 410", "{data}");
    assert_eq!(data["delivery"], msg.as_str(), "{data}");
    assert!(
        data.get("next_attempt_at").is_none_or(Value::is_null),
        "{data}"
    );

    assert!(delivery_ids(&app, "failed").await.contains(&msg));
    assert!(!delivery_ids(&app, "pending").await.contains(&msg));
    assert!(!delivery_ids(&app, "delivered").await.contains(&msg));

    let path = format!("/v1/deliveries/{msg}/redeliver");
    for key in [&oz, &agent] {
        expect_problem(app.post_json(Some(key), &path, &json!({})).await, 403).await;
    }
    expect_problem(
        app.get_path(Some(&oz), &format!("/v1/deliveries/{msg}"))
            .await,
        403,
    )
    .await;
    expect_problem(
        app.post_json(
            Some(&admin),
            "/v1/deliveries/msg_00000000000000000000000000000000/redeliver",
            &json!({}),
        )
        .await,
        404,
    )
    .await;

    let again = expect_json(app.post_json(Some(&admin), &path, &json!({})).await, 200).await;
    assert_eq!(again["state"], "pending", "{again}");
    assert_eq!(again["id"], msg.as_str(), "{again}");
    // The receiver takes 1.5 s to answer the new attempt: meanwhile it is pending.
    expect_problem(app.post_json(Some(&admin), &path, &json!({})).await, 409).await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    assert_eq!(
        reqs[1].header("webhook-id"),
        msg,
        "redelivered under the same id"
    );
    assert_eq!(reqs[1].body, first.body);
    assert_signed(&reqs[1], SECRET);
    let d = wait_delivery(&app, &msg, "delivered", WAIT).await;
    assert_eq!(d["attempts"], 1, "counted from the first again: {d}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        [
            "notification.failed",
            "notification.redelivered",
            "notification.sent"
        ],
        "{entries:#?}"
    );
    assert_eq!(entries[1]["data"]["delivery"], msg.as_str());
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_requests_waits_as_long_as_retry_after_says() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::RetryAfter(429, 2), Reply::Status(200)]);
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hook"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Slow down")).await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "the retry came {gap:?} after a 429 with Retry-After: 2 (schedule: 250ms)"
    );
    assert!(gap < Duration::from_secs(8), "the retry took {gap:?}");
    assert_eq!(reqs[0].header("webhook-id"), reqs[1].header("webhook-id"));
    let d = wait_delivery(&app, &reqs[0].header("webhook-id"), "delivered", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    assert_eq!(entries[0]["action"], "notification.failed");
    assert_eq!(entries[0]["data"]["error"], "HTTP 429");
    assert_eq!(entries[0]["data"]["final"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_never_answers_times_out_and_fails_while_the_server_keeps_serving() {
    let rx = Receiver::start().await;
    rx.script("/hook", &vec![Reply::Hold; 10]);
    let app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "1s", "--retry-schedule", "0s,250ms"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Anyone?")).await;

    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    // While the outbox waits on the silent receiver, the API answers.
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["status"], "pending");
    let other = app.submitted_id(&agent, &reply_packet("Meanwhile")).await;
    assert_ne!(other, id);

    let msg = first.header("webhook-id");
    let d = wait_delivery(&app, &msg, "failed", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timeout")),
        "{d}"
    );
    let reqs = rx.requests("/hook");
    let ours: Vec<&Recorded> = reqs
        .iter()
        .filter(|r| r.header("webhook-id") == msg)
        .collect();
    assert_eq!(ours.len(), 2, "two attempts, as scheduled");
    let gap = ours[1].at - ours[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "the second attempt came {gap:?} after the first: no 1 s timeout?"
    );
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    for e in &entries {
        assert_eq!(e["action"], "notification.failed", "{e}");
        assert!(
            e["data"]["error"]
                .as_str()
                .is_some_and(|m| m.contains("timeout")),
            "{e}"
        );
    }
    assert_eq!(entries[1]["data"]["final"], true);
    assert_audit_ok(&app).await;
}

// ---- Slack and e-mail ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn slack_gets_the_summary_escaped_and_a_link_to_the_decision_page() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[format!("slack:{}", rx.url("/services/T0/B0/XYZ"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let summary = "Pay <https://evil.example|click> <!channel> & more";
    let id = app.submitted_id(&agent, &reply_packet(summary)).await;

    let req = rx.wait_for("/services/T0/B0/XYZ", 1, WAIT).await[0].clone();
    assert!(req.header("content-type").starts_with("application/json"));
    let body = req.json();
    let text = body["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {body}"));
    assert!(
        text.contains("Pay &lt;https://evil.example|click&gt; &lt;!channel&gt; &amp; more"),
        "{text}"
    );
    assert!(!text.contains("<https://evil"), "a forged link: {text}");
    assert!(!text.contains("<!channel>"), "a forged mention: {text}");
    let link = format!("<{PUBLIC_URL}/handoffs/{id}|");
    assert!(text.contains(&link), "no {link}…> in {text}");
    assert!(text.contains("Level 2"), "{text}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    assert_eq!(entries[0]["data"]["channel"], "slack");
    let all = serde_json::to_string(&entries).expect("JSON");
    assert!(
        !all.contains("XYZ"),
        "the Slack URL's secret path leaked: {all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_through_smtp_with_text_and_escaped_html_parts() {
    let smtp = SmtpSink::start().await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = notifying_app(
        &["email:ops-team@example.com".to_owned()],
        &[
            "--smtp-url",
            &smtp_url,
            "--mail-from",
            "handoff <noreply@handoff.example>",
        ],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let summary = r#"Refund <b>Fish & "chips"</b> <script>alert(1)</script>"#;
    let id = app.submitted_id(&agent, &reply_packet(summary)).await;

    let mails = smtp.wait_for(1, WAIT).await;
    let mail = &mails[0];
    assert_eq!(mail.to, ["<ops-team@example.com>"], "{mail:?}");
    assert_eq!(mail.from, "<noreply@handoff.example>", "{mail:?}");
    let (headers, parts) = alternative_parts(&mail.text);
    assert!(
        headers
            .get("to")
            .is_some_and(|t| t.contains("ops-team@example.com")),
        "{headers:?}"
    );
    assert!(headers.contains_key("subject"), "{headers:?}");
    assert_eq!(parts.len(), 2, "{parts:#?}");
    let link = format!("{PUBLIC_URL}/handoffs/{id}");
    let text = parts
        .iter()
        .find(|(ct, _)| ct.starts_with("text/plain"))
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| panic!("no text/plain part: {parts:#?}"));
    let html = parts
        .iter()
        .find(|(ct, _)| ct.starts_with("text/html"))
        .map(|(_, b)| b.clone())
        .unwrap_or_else(|| panic!("no text/html part: {parts:#?}"));
    assert!(text.contains(&link), "{text}");
    assert!(text.contains(summary), "{text}");
    assert!(html.contains(&link), "{html}");
    assert!(
        html.contains("Refund &lt;b&gt;Fish &amp; &quot;chips&quot;&lt;/b&gt; &lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>Fish"), "{html}");

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let data = &entries[0]["data"];
    assert_eq!(data["channel"], "email", "{data}");
    assert_eq!(data["target"], "ops-team@example.com", "{data}");
    let msg = data["delivery"].as_str().expect("a delivery id");
    assert!(
        headers.get("message-id").is_some_and(|m| m.contains(msg)),
        "the Message-ID carries the delivery id {msg}: {headers:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails.lock().expect("lock").len(), 1, "one message");

    // A summary cannot add header lines (a Bcc) to the mail.
    let sneaky = "Hello\r\nBcc: evil@example.com\r\nX-Evil: 1";
    app.submitted_id(&agent, &reply_packet(sneaky)).await;
    let mails = smtp.wait_for(2, WAIT).await;
    let mail = &mails[1];
    assert_eq!(mail.to, ["<ops-team@example.com>"], "{mail:?}");
    let (headers, _) = alternative_parts(&mail.text);
    assert!(
        !headers.contains_key("bcc") && !headers.contains_key("x-evil"),
        "{headers:?}"
    );
    assert_audit_ok(&app).await;
}

// ---- the agent's callback -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn internal_callback_urls_are_refused_unless_allow_listed() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &[]).await;
    let agent = app.key("agent", "bot").await;
    for url in [
        rx.url("/cb"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://localhost/cb".to_owned(),
        "http://[::1]:9/cb".to_owned(),
        "http://10.1.2.3/cb".to_owned(),
        // Other spellings of internal addresses.
        "http://0177.0.0.1/cb".to_owned(),
        "http://127.1/cb".to_owned(),
        "http://2130706433/cb".to_owned(),
        "http://[::ffff:127.0.0.1]/cb".to_owned(),
        "http://[::ffff:a9fe:a9fe]/latest".to_owned(),
        "http://metadata.google.internal/x".to_owned(),
        "http://LOCALHOST./cb".to_owned(),
        // Not http(s), or with credentials.
        "file:///etc/passwd".to_owned(),
        "http://user:pw@example.com/cb".to_owned(),
    ] {
        let mut p = reply_packet("Call me");
        p["callback_url"] = json!(url);
        let problem = expect_problem(app.submit(&agent, &p).await, 422).await;
        assert!(
            error_fields(&problem).contains(&"callback_url".to_owned()),
            "{url}: {problem}"
        );
    }
    assert!(rx.requests("/cb").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_hears_the_decision_and_the_outcome_at_its_callback() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &["--callback-allow", "127.0.0.1"]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let mut p = reply_packet("Call me back");
    p["callback_url"] = json!(rx.url("/cb"));
    let id = app.submitted_id(&agent, &p).await;
    // Out-of-list internal addresses are still refused.
    let mut q = reply_packet("Call me back");
    q["callback_url"] = json!("http://127.0.0.2:9/cb");
    let problem = expect_problem(app.submit(&agent, &q).await, 422).await;
    assert!(error_fields(&problem).contains(&"callback_url".to_owned()));

    let approved = app.decided(&oz, &id, &json!({"action": "approve"})).await;
    assert_eq!(approved["status"], "approved");
    let req = rx.wait_for("/cb", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.decision", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["status"], "approved", "{body}");
    assert_eq!(
        body["data"]["url"],
        format!("{PUBLIC_URL}/handoffs/{id}"),
        "{body}"
    );
    assert!(
        body["data"]["receipt"].is_string(),
        "the approval's receipt: {body}"
    );
    assert_eq!(body["data"]["receipt"], approved["receipt"], "{body}");

    expect_json(
        app.outcome(&agent, &id, &json!({"result": "executed"}))
            .await,
        200,
    )
    .await;
    let reqs = rx.wait_for("/cb", 2, WAIT).await;
    let out = &reqs[1];
    assert_signed(out, SECRET);
    let body = out.json();
    assert_eq!(body["type"], "handoff.outcome", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["status"], "executed", "{body}");
    assert_ne!(
        out.header("webhook-id"),
        req.header("webhook-id"),
        "two events, two ids"
    );

    let entries = wait_notifications(&app, &id, WAIT, |e| {
        e["action"] == "notification.sent" && e["data"]["event"] == "handoff.outcome"
    })
    .await;
    assert!(
        entries
            .iter()
            .any(|e| e["data"]["event"] == "handoff.decision" && e["data"]["channel"] == "callback"),
        "{entries:#?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests("/cb").len(), 2, "one event per change");
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handoff_whose_expiry_passed_while_the_server_was_stopped_expires_at_start() {
    let rx = Receiver::start().await;
    let mut app = TestApp::spawn_with(
        Some(&policy(&[], "3s")),
        &[
            "--public-url",
            PUBLIC_URL,
            "--webhook-secret",
            SECRET,
            "--retry-schedule",
            "0s,250ms,250ms",
            "--callback-allow",
            "127.0.0.1",
        ],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let mut p = json!({"task": "quick", "summary": "Expire me", "confidence": 0.99});
    p["callback_url"] = json!(rx.url("/cb"));
    let submitted_at = Instant::now();
    let created = app.submitted(&agent, &p).await;
    let id = id_of(&created);
    assert_eq!(created["status"], "pending", "{created}");
    let status = app.sigterm().await;
    assert!(status.success(), "{status}");
    assert!(
        submitted_at.elapsed() < Duration::from_millis(2800),
        "the server took too long to stop; the handoff may have expired before"
    );

    tokio::time::sleep(Duration::from_secs(4).saturating_sub(submitted_at.elapsed())).await;
    assert!(rx.requests("/cb").is_empty(), "nothing while stopped");
    app.start().await;

    let deadline = Instant::now() + WAIT;
    let mut h = app.fetch(&agent, &id).await;
    while h["status"] == "pending" && Instant::now() < deadline {
        h = expect_json(app.get_waiting(&agent, &id, 2).await, 200).await;
    }
    assert_eq!(h["status"], "expired", "{h}");
    assert!(h.get("receipt").is_none_or(Value::is_null), "{h}");
    assert!(
        app.timeline_actions(&id)
            .await
            .contains(&"handoff.expired".to_owned())
    );

    let req = rx.wait_for("/cb", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.expired", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["status"], "expired", "{body}");
    wait_notifications(&app, &id, WAIT, |e| {
        e["action"] == "notification.sent" && e["data"]["event"] == "handoff.expired"
    })
    .await;
    assert_audit_ok(&app).await;
}

// ---- crashes --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_mid_send_resends_under_the_same_webhook_id_after_restart() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::Hold]);
    let mut app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "30s"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Crash")).await;

    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let msg = first.header("webhook-id");
    assert_eq!(first.json()["data"]["id"], id.as_str());
    // A send that hangs (for up to 30 s) holds up neither the API nor other handoffs.
    let t = Instant::now();
    assert_eq!(app.fetch(&agent, &id).await["status"], "pending");
    let other = app.submitted_id(&agent, &reply_packet("Meanwhile")).await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the API took {:?} while a delivery hung",
        t.elapsed()
    );
    rx.wait_about("/hook", &other, 1, WAIT).await;
    app.kill9();
    app.start().await;

    let ours = rx.wait_about("/hook", &id, 2, WAIT).await;
    let d = wait_delivery(&app, &msg, "delivered", WAIT).await;
    assert_eq!(d["attempts"], 1, "{d}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ours_now = rx.wait_about("/hook", &id, ours.len(), WAIT).await;
    let ids: std::collections::BTreeSet<String> =
        ours_now.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        std::slice::from_ref(&msg),
        "every request about {id} carries one webhook-id"
    );
    for r in &ours_now {
        assert_signed(r, SECRET);
        assert_eq!(r.body, first.body, "the same message");
    }
    // The other handoff's message went out too, under its own id.
    let others = rx.wait_about("/hook", &other, 1, WAIT).await;
    assert!(others.iter().all(|r| r.header("webhook-id") != msg));

    let entries = wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.sent").await;
    let sent = entries
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .count();
    assert_eq!(sent, 1, "{entries:#?}");
    assert!(delivery_ids(&app, "delivered").await.contains(&msg));
    assert!(!delivery_ids(&app, "pending").await.contains(&msg));
    assert_audit_ok(&app).await;
}

// ---- more routes to a team, and what is not sent ------------------------------------------

/// Two teams: `ops` (reviewer `oz`, SLA `sla`) escalates to `leads` (reviewer `lea`);
/// each notified at its own webhook; task `alarm` is level 4.
fn chain_policy(ops_hook: &str, leads_hook: &str, sla: &str) -> String {
    format!(
        r#"
[defaults]
level = 2
route = "ops"
sla = "{sla}"

[teams.ops]
members = ["oz"]
escalate_to = "leads"
notify = ["webhook:{ops_hook}"]

[teams.leads]
members = ["lea"]
notify = ["webhook:{leads_hook}"]

[tasks.reply]
level = 2
route = "ops"

[tasks.alarm]
level = 4
route = "ops"
"#
    )
}

fn chain_args() -> Vec<&'static str> {
    vec![
        "--public-url",
        PUBLIC_URL,
        "--webhook-secret",
        SECRET,
        "--retry-schedule",
        "0s,250ms,250ms",
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escalation_by_a_reviewer_routes_to_the_next_team_which_hears_of_it() {
    let rx = Receiver::start().await;
    let app = TestApp::spawn_with(
        Some(&chain_policy(&rx.url("/ops"), &rx.url("/leads"), "4h")),
        &chain_args(),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let id = app.submitted_id(&agent, &reply_packet("Up")).await;
    let routed = rx.wait_for("/ops", 1, WAIT).await[0].clone();
    assert_eq!(routed.json()["type"], "handoff.routed");

    let h = app
        .decided(
            &oz,
            &id,
            &json!({"action": "escalate", "rationale": "above my pay grade"}),
        )
        .await;
    assert_eq!(h["assigned_team"], "leads", "{h}");
    let req = rx.wait_for("/leads", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.routed", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
    assert_eq!(body["data"]["team"], "leads", "{body}");
    assert_ne!(req.header("webhook-id"), routed.header("webhook-id"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.requests("/ops").len(), 1, "ops heard once");
    assert_eq!(rx.requests("/leads").len(), 1, "leads heard once");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sla_reminds_the_team_then_escalates_up_the_chain() {
    let rx = Receiver::start().await;
    let app = TestApp::spawn_with(
        Some(&chain_policy(&rx.url("/ops"), &rx.url("/leads"), "2s")),
        &chain_args(),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Tick tock")).await;

    let ops = rx.wait_for("/ops", 2, WAIT).await;
    let types: Vec<Value> = ops.iter().map(|r| r.json()["type"].clone()).collect();
    assert_eq!(
        types[..2],
        [json!("handoff.routed"), json!("handoff.reminder")]
    );
    let gap = ops[1].at - ops[0].at;
    assert!(
        gap >= Duration::from_millis(700),
        "the reminder came {gap:?} after submission; half the SLA is 1 s"
    );
    let leads = rx.wait_for("/leads", 1, WAIT).await;
    let body = leads[0].json();
    assert_eq!(body["type"], "handoff.routed", "{body}");
    assert_eq!(body["data"]["team"], "leads", "{body}");
    assert!(
        leads[0].at - ops[0].at >= Duration::from_millis(1700),
        "escalated after {:?}; the SLA is 2 s",
        leads[0].at - ops[0].at
    );
    for r in ops.iter().chain(&leads) {
        assert_signed(r, SECRET);
        assert_eq!(r.json()["data"]["id"], id.as_str());
    }
    let actions = app.timeline_actions(&id).await;
    for a in ["handoff.reminded", "handoff.escalated", "notification.sent"] {
        assert!(actions.contains(&a.to_owned()), "no {a} in {actions:?}");
    }
    let ids: std::collections::BTreeSet<String> = ops
        .iter()
        .chain(&leads)
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(ids.len(), ops.len() + leads.len(), "one id per message");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_level_4_handoff_sends_an_alert() {
    let rx = Receiver::start().await;
    let app = TestApp::spawn_with(
        Some(&chain_policy(&rx.url("/ops"), &rx.url("/leads"), "4h")),
        &chain_args(),
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let created = app
        .submitted(
            &agent,
            &json!({"task": "alarm", "summary": "Possible fraud", "confidence": 0.9}),
        )
        .await;
    assert_eq!(created["status"], "alerted", "{created}");
    let req = rx.wait_for("/ops", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.alert", "{body}");
    assert_eq!(body["data"]["id"], created["id"], "{body}");
    assert_eq!(body["data"]["level"], 4, "{body}");
    assert_eq!(body["data"]["status"], "alerted", "{body}");
    assert_eq!(body["data"]["alert"], 1, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_submission_notifies_nobody_again() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[format!("webhook:{}", rx.url("/hook"))], &[]).await;
    let agent = app.key("agent", "bot").await;
    let p = reply_packet("Once");
    let a = expect_json(app.submit_idempotent(&agent, "k-1", &p).await, 201).await;
    let b = app.submit_idempotent(&agent, "k-1", &p).await;
    assert!(b.status().is_success(), "{}", b.status());
    let b: Value = b.json().await.expect("JSON");
    assert_eq!(a["id"], b["id"]);
    rx.wait_for("/hook", 1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.requests("/hook").len(), 1, "a replay notifies nobody");
    let ours: Vec<String> = delivery_ids(&app, "delivered").await;
    assert_eq!(ours.len(), 1, "{ours:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let rx = Receiver::start().await;
    let app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--retry-schedule", "0s,250ms"],
    )
    .await;
    // Every answer on /hook is a redirect to /elsewhere.
    rx.script("/hook", &vec![Reply::Redirect(307, "/elsewhere"); 10]);
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Moved")).await;
    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let d = wait_delivery(&app, &first.header("webhook-id"), "failed", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert!(
        d["last_error"].as_str().is_some_and(|e| e.contains("307")),
        "{d}"
    );
    assert_eq!(rx.requests("/hook").len(), 2);
    assert!(
        rx.requests("/elsewhere").is_empty(),
        "a redirect was followed"
    );
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deliveries_api_is_for_admins_and_checks_its_parameters() {
    let app = notifying_app(&[], &[]).await;
    let oz = app.key("reviewer", "oz").await;
    let agent = app.key("agent", "bot").await;
    let admin = app.admin_key();
    for key in [&oz, &agent] {
        expect_problem(app.get_path(Some(key), "/v1/deliveries").await, 403).await;
    }
    assert_eq!(
        app.get_path(None, "/v1/deliveries").await.status().as_u16(),
        401
    );
    expect_problem(
        app.get_path(Some(&admin), "/v1/deliveries?state=lost")
            .await,
        422,
    )
    .await;
    expect_problem(
        app.get_path(Some(&admin), "/v1/deliveries?limit=0").await,
        422,
    )
    .await;
    expect_problem(
        app.get_path(Some(&admin), "/v1/deliveries/msg_nope").await,
        404,
    )
    .await;
    let page = expect_json(app.get_path(Some(&admin), "/v1/deliveries").await, 200).await;
    assert_eq!(page["items"], json!([]), "{page}");
}

/// A name (from /etc/hosts) that resolves to a loopback address without being one of the
/// names refused at submission.
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter(|l| l.trim_start().starts_with("127."))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|n| {
            let n = n.to_ascii_lowercase();
            !(n == "localhost"
                || n.ends_with(".localhost")
                || n.ends_with(".local")
                || n.ends_with(".internal")
                || n.starts_with("metadata")
                || n == "instance-data")
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_name_that_resolves_to_loopback_is_refused_at_send_time() {
    let Some(alias) = loopback_alias() else {
        eprintln!("no loopback alias in /etc/hosts: skipped");
        return;
    };
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &[]).await;
    let agent = app.key("agent", "bot").await;
    let oz = app.key("reviewer", "oz").await;
    let port = rx.base.rsplit(':').next().expect("a port");
    let mut p = reply_packet("Sneaky");
    p["callback_url"] = json!(format!("http://{alias}:{port}/cb"));
    // A name passes at submission; what it resolves to is checked when sending.
    let id = app.submitted_id(&agent, &p).await;
    app.decided(&oz, &id, &json!({"action": "approve"})).await;
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 1, "refused for good at once: {entries:#?}");
    let data = &entries[0]["data"];
    assert_eq!(data["channel"], "callback", "{data}");
    assert!(
        data["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{data}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rx.requests("/cb").is_empty(),
        "the callback reached loopback"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_handoff_tells_the_agent_at_its_callback() {
    let rx = Receiver::start().await;
    let app = notifying_app(&[], &["--callback-allow", "127.0.0.1"]).await;
    let agent = app.key("agent", "bot").await;
    let mut p = reply_packet("Never mind");
    p["callback_url"] = json!(rx.url("/cb"));
    let id = app.submitted_id(&agent, &p).await;
    expect_json(app.cancel(&agent, &id).await, 200).await;
    let req = rx.wait_for("/cb", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    let body = req.json();
    assert_eq!(body["type"], "handoff.cancelled", "{body}");
    assert_eq!(body["data"]["status"], "cancelled", "{body}");
    assert_eq!(body["data"]["id"], id.as_str(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigterm_mid_send_exits_promptly_and_the_delivery_is_resent_after_restart() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::Hold]);
    let mut app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--delivery-timeout", "60s"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Stop")).await;
    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    let msg = first.header("webhook-id");

    let t = Instant::now();
    app.send_sigterm();
    let status = app
        .wait_for_exit(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no exit within 20 s of SIGTERM while a delivery hung"));
    assert!(status.success(), "{status}");
    println!("exited {:?} after SIGTERM", t.elapsed());
    app.start().await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    assert!(
        reqs.iter().all(|r| r.header("webhook-id") == msg),
        "{reqs:#?}"
    );
    wait_delivery(&app, &msg, "delivered", WAIT).await;
    let sent = timeline(&app, &id)
        .await
        .iter()
        .filter(|e| e["action"] == "notification.sent")
        .count();
    assert_eq!(sent, 1);
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_change_makes_one_message_per_target_and_the_list_pages_through_them() {
    let rx = Receiver::start().await;
    let app = notifying_app(
        &[
            format!("webhook:{}", rx.url("/a")),
            format!("webhook:{}", rx.url("/b")),
            format!("slack:{}", rx.url("/c")),
        ],
        &[],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Fan out")).await;
    let a = rx.wait_for("/a", 1, WAIT).await;
    let b = rx.wait_for("/b", 1, WAIT).await;
    rx.wait_for("/c", 1, WAIT).await;
    assert_ne!(a[0].header("webhook-id"), b[0].header("webhook-id"));
    assert_eq!(a[0].body, b[0].body, "one event, verbatim to each webhook");

    let admin = app.admin_key();
    let deadline = Instant::now() + WAIT;
    while delivery_ids(&app, "delivered").await.len() < 3 {
        assert!(Instant::now() < deadline, "not all delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = expect_json(
        app.get_path(Some(&admin), "/v1/deliveries?limit=2").await,
        200,
    )
    .await;
    let items = first["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next_cursor");
    let second = expect_json(
        app.get_path(
            Some(&admin),
            &format!("/v1/deliveries?limit=2&cursor={cursor}"),
        )
        .await,
        200,
    )
    .await;
    let rest = second["items"].as_array().expect("items");
    assert_eq!(rest.len(), 1, "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    let all: std::collections::BTreeSet<String> = items.iter().chain(rest).map(id_of).collect();
    assert_eq!(all.len(), 3);
    for d in items.iter().chain(rest) {
        assert_eq!(d["handoff_id"], id.as_str(), "{d}");
        assert_eq!(d["event"], "handoff.routed", "{d}");
    }
    let channels: std::collections::BTreeSet<String> = items
        .iter()
        .chain(rest)
        .map(|d| d["channel"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        channels.into_iter().collect::<Vec<_>>(),
        ["slack", "webhook"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_that_was_due_during_a_restart_is_still_made_under_the_same_id() {
    let rx = Receiver::start().await;
    rx.script("/hook", &[Reply::Status(503), Reply::Status(200)]);
    let mut app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--retry-schedule", "0s,2s,2s"],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Later")).await;
    let first = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    wait_notifications(&app, &id, WAIT, |e| e["action"] == "notification.failed").await;
    app.restart().await;

    let reqs = rx.wait_for("/hook", 2, WAIT).await;
    assert_eq!(reqs[1].header("webhook-id"), first.header("webhook-id"));
    assert_eq!(reqs[1].body, first.body);
    assert!(
        reqs[1].at - first.at >= Duration::from_millis(1700),
        "the retry came {:?} after the first attempt; the schedule says 2 s",
        reqs[1].at - first.at
    );
    let d = wait_delivery(&app, &first.header("webhook-id"), "delivered", WAIT).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_audit_ok(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_target_without_a_mail_server_fails_for_good_and_says_why() {
    let app = notifying_app(&["email:ops-team@example.com".to_owned()], &[]).await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("No SMTP")).await;
    let entries = wait_notifications(&app, &id, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let data = &entries[0]["data"];
    assert_eq!(data["channel"], "email", "{data}");
    assert!(
        data["error"]
            .as_str()
            .is_some_and(|e| e.contains("--smtp-url")),
        "{data}"
    );
    let msg = data["delivery"].as_str().expect("a delivery id");
    assert!(delivery_ids(&app, "failed").await.contains(&msg.to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_configured_secret_one_is_generated_once_and_kept_in_the_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let rx = Receiver::start().await;
    let mut app = TestApp::spawn_with(
        Some(&policy(&[format!("webhook:{}", rx.url("/hook"))], "72h")),
        &["--retry-schedule", "0s,250ms"],
    )
    .await;
    let file = app.data_dir().join("webhook.secret");
    let secret = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
        .trim()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let key = STANDARD
        .decode(&secret["whsec_".len()..])
        .expect("base64 after whsec_");
    assert!(key.len() >= 24, "{} bytes of key", key.len());
    let mode = std::fs::metadata(&file)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the secret file is readable by others: {mode:o}"
    );

    let agent = app.key("agent", "bot").await;
    app.submitted_id(&agent, &reply_packet("One")).await;
    let req = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    assert_signed(&req, &secret);

    app.restart().await;
    let again = std::fs::read_to_string(&file).expect("the secret file");
    assert_eq!(again.trim(), secret, "the secret is kept across restarts");
    app.submitted_id(&agent, &reply_packet("Two")).await;
    let req = rx.wait_for("/hook", 2, WAIT).await[1].clone();
    assert_signed(&req, &secret);
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_refusals_stop_and_smtp_deferrals_are_retried() {
    let smtp = SmtpSink::start().await;
    smtp.rcpt_replies
        .lock()
        .expect("lock")
        .extend(["550 5.1.1 no such mailbox", "451 4.3.0 try again later"]);
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = notifying_app(
        &["email:ops-team@example.com".to_owned()],
        &["--smtp-url", &smtp_url],
    )
    .await;
    let agent = app.key("agent", "bot").await;

    // 550: a permanent refusal, one attempt only.
    let refused = app.submitted_id(&agent, &reply_packet("Bounce")).await;
    let entries = wait_notifications(&app, &refused, WAIT, |e| e["data"]["final"] == true).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert!(
        entries[0]["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("550")),
        "{entries:#?}"
    );

    // 451: a deferral, tried again and then delivered.
    let deferred = app.submitted_id(&agent, &reply_packet("Later")).await;
    let entries = wait_notifications(&app, &deferred, WAIT, |e| {
        e["action"] == "notification.sent"
    })
    .await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        ["notification.failed", "notification.sent"],
        "{entries:#?}"
    );
    assert_eq!(entries[0]["data"]["final"], false);
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(*smtp.rcpts.lock().expect("lock"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_escalation_chain_climbs_each_sla_and_every_notice_has_its_own_id() {
    let rx = Receiver::start().await;
    // Three teams sharing one webhook, as teams sharing one chat channel do.
    let hook = rx.url("/shared");
    let policy = format!(
        r#"
[defaults]
level = 2
route = "ops"
sla = "2s"

[teams.ops]
members = ["oz"]
escalate_to = "leads"
notify = ["webhook:{hook}"]

[teams.leads]
members = ["lea"]
escalate_to = "top"
notify = ["webhook:{hook}"]

[teams.top]
members = ["tim"]
notify = ["webhook:{hook}"]

[tasks.reply]
level = 2
route = "ops"
"#
    );
    let app = TestApp::spawn_with(Some(&policy), &chain_args()).await;
    let agent = app.key("agent", "bot").await;
    let id = app
        .submitted_id(&agent, &reply_packet("Anyone up there?"))
        .await;

    let reqs = rx.wait_for("/shared", 7, Duration::from_secs(20)).await;
    let seen: Vec<(String, String)> = reqs
        .iter()
        .map(|r| {
            let b = r.json();
            assert_eq!(b["data"]["id"], id.as_str(), "{b}");
            (
                b["type"].as_str().unwrap_or_default().to_owned(),
                b["data"]["team"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("handoff.routed", "ops"),
        ("handoff.reminder", "ops"),
        ("handoff.routed", "leads"),
        ("handoff.reminder", "leads"),
        ("handoff.routed", "top"),
        ("handoff.reminder", "top"),
        ("handoff.reminder", "top"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(seen, want);
    let ids: std::collections::BTreeSet<String> =
        reqs.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 7, "one id per notice: {reqs:#?}");
    for r in &reqs {
        assert_signed(r, SECRET);
    }
    // Overdue at the top of the chain is the last notice.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.requests("/shared").len(), 7);
    let h = app.fetch(&agent, &id).await;
    assert_eq!(h["status"], "pending", "{h}");
    assert_eq!(h["assigned_team"], "top", "{h}");
    let escalated = app
        .timeline_actions(&id)
        .await
        .iter()
        .filter(|a| *a == "handoff.escalated")
        .count();
    assert_eq!(escalated, 2);
    assert_audit_ok(&app).await;
}
