//! The black-box harness for the API tests: the real `handoff serve` binary on port 0 with
//! a fresh data directory, and a typed helper per endpoint, in the manner of
//! zero-to-production's `tests/api/helpers.rs`.
//!
//! Every test file includes this module and uses a different part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use reqwest::{Client, Response};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long the server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The packet printed in the seed article, verbatim.
pub const SEED_PACKET: &str = include_str!("../../../handoff-domain/fixtures/seed_packet.json");
/// The built-in example policy, the server's default.
pub const EXAMPLE_POLICY: &str = include_str!("../../../handoff-domain/policies/example.toml");

/// One running `handoff serve` process.
struct Server {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the running server; it changes on every (re)start.
    pub address: String,
    pub client: Client,
    /// Holds `data/` (the server's `--data-dir`) and `policy.toml` when one was given.
    root: tempfile::TempDir,
    policy_file: Option<PathBuf>,
    /// Extra `serve` arguments, given again on every (re)start.
    extra_args: Vec<String>,
    server: Option<Server>,
}

impl TestApp {
    /// A server with the built-in example policy and an empty data directory.
    pub async fn spawn() -> TestApp {
        TestApp::build(None).await
    }

    /// A server started with `--policy FILE`, FILE holding `policy`.
    pub async fn spawn_with_policy(policy: &str) -> TestApp {
        TestApp::build(Some(policy)).await
    }

    /// A server started with `--policy FILE` (when `policy` is given) and `args` after the
    /// usual ones (e.g. `--webhook-secret`); restarts pass the same arguments.
    pub async fn spawn_with(policy: Option<&str>, args: &[&str]) -> TestApp {
        TestApp::build_with(policy, args.iter().map(|a| (*a).to_owned()).collect()).await
    }

    async fn build(policy: Option<&str>) -> TestApp {
        TestApp::build_with(policy, Vec::new()).await
    }

    async fn build_with(policy: Option<&str>, extra_args: Vec<String>) -> TestApp {
        let root = tempfile::tempdir().expect("cannot create a temporary directory");
        let policy_file = policy.map(|text| {
            let file = root.path().join("policy.toml");
            std::fs::write(&file, text).expect("cannot write the policy file");
            file
        });
        // The workspace builds reqwest with rustls and no default crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            .build()
            .expect("cannot build the HTTP client");
        let mut app = TestApp {
            address: String::new(),
            client,
            root,
            policy_file,
            extra_args,
            server: None,
        };
        app.start().await;
        app
    }

    /// The server's `--data-dir` (created by the server itself on first start).
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn data_dir_arg(&self) -> String {
        self.data_dir().display().to_string()
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("handoff.db")
    }

    /// The `--policy` file, when the app was spawned with one: rewrite it, then restart.
    pub fn policy_file(&self) -> Option<&Path> {
        self.policy_file.as_deref()
    }

    /// Starts the server on the same data directory (and policy file) as before.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir());
        if let Some(policy) = &self.policy_file {
            cmd.arg("--policy").arg(policy);
        }
        cmd.args(&self.extra_args);
        // Only the arguments above configure the server under test.
        for var in [
            "HANDOFF_ADDR",
            "HANDOFF_DATA_DIR",
            "HANDOFF_POLICY",
            "HANDOFF_DATABASE_URL",
            "HANDOFF_URL",
            "HANDOFF_KEY",
            "HANDOFF_PUBLIC_URL",
            "HANDOFF_WEBHOOK_SECRET",
            "HANDOFF_SMTP_URL",
            "HANDOFF_MAIL_FROM",
            "HANDOFF_CALLBACK_ALLOW",
            "HANDOFF_RETRY_SCHEDULE",
            "HANDOFF_DELIVERY_TIMEOUT",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run the handoff binary");
        let stdout_pipe = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let server = Server {
            child,
            stdout: Arc::default(),
            stderr: Arc::default(),
        };

        // Both pipes are drained for the life of the process, so that a chatty server
        // never blocks on a full pipe.
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let lines = Arc::clone(&server.stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout_pipe).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut all) = lines.lock() {
                    all.push(line.clone());
                }
                let _ = tx.send(line);
            }
        });
        let errors = Arc::clone(&server.stderr);
        std::thread::spawn(move || {
            let mut pipe = stderr_pipe;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut all) = errors.lock() {
                    all.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });

        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let address = loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => {
                    if let Some(url) = line.trim().strip_prefix("handoff listening on ") {
                        break url.trim().trim_end_matches('/').to_owned();
                    }
                }
                Ok(None) => panic!(
                    "the server exited before listening; stderr:\n{}",
                    server.stderr()
                ),
                Err(_) => panic!(
                    "no `handoff listening on` line within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                    server.stderr()
                ),
            }
        };
        assert!(
            address.starts_with("http://127.0.0.1:"),
            "unexpected listening address {address}"
        );
        self.address = address;
        self.server = Some(server);
    }

    /// SIGTERM, wait for the exit (which must be clean), start again on the same data.
    pub async fn restart(&mut self) {
        let status = self.sigterm().await;
        assert!(
            status.success(),
            "the server exited with {status} on SIGTERM"
        );
        self.start().await;
    }

    /// SIGKILL: no chance to flush or drain anything.
    pub fn kill9(&mut self) {
        let mut server = self.server.take().expect("the server is not running");
        server.child.kill().expect("cannot SIGKILL the server");
        let _ = server.child.wait();
    }

    /// Sends SIGTERM without waiting; see [`TestApp::wait_for_exit`].
    pub fn send_sigterm(&self) {
        let server = self.server.as_ref().expect("the server is not running");
        let status = Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status()
            .expect("cannot run `kill`");
        assert!(status.success(), "`kill -TERM` failed");
    }

    /// Waits up to `within` for the server to exit; `None` if it is still running.
    pub async fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let server = self.server.as_mut().expect("the server is not running");
            if let Some(status) = server.child.try_wait().expect("cannot wait for the server") {
                self.server = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM and wait (30 s at most) for the exit status.
    pub async fn sigterm(&mut self) -> ExitStatus {
        self.send_sigterm();
        match self.wait_for_exit(Duration::from_secs(30)).await {
            Some(status) => status,
            None => panic!("the server did not exit within 30 s of SIGTERM"),
        }
    }

    /// Everything the current server process printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.server
            .as_ref()
            .and_then(|s| s.stdout.lock().ok().map(|l| l.clone()))
            .unwrap_or_default()
    }

    pub fn stderr_text(&self) -> String {
        self.server.as_ref().map(Server::stderr).unwrap_or_default()
    }

    /// The admin key the server wrote to `DIR/admin.key`.
    pub fn admin_key(&self) -> String {
        let file = self.data_dir().join("admin.key");
        std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
            .trim()
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    // ---- raw requests ---------------------------------------------------------------

    pub async fn get_path(&self, key: Option<&str>, path: &str) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("GET failed")
    }

    pub async fn post_json(&self, key: Option<&str>, path: &str, body: &Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.expect("POST failed")
    }

    // ---- keys -----------------------------------------------------------------------

    pub async fn create_key(&self, by: &str, body: &Value) -> Response {
        self.post_json(Some(by), "/v1/keys", body).await
    }

    /// A new key for `name` with `role`, created by the admin through the API.
    pub async fn key(&self, role: &str, name: &str) -> String {
        let resp = self
            .create_key(&self.admin_key(), &json!({"role": role, "name": name}))
            .await;
        let body = expect_json(resp, 201).await;
        body["key"]
            .as_str()
            .expect("the created key is in `key`")
            .to_owned()
    }

    pub async fn revoke_key(&self, by: &str, name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/v1/keys/{name}")))
            .bearer_auth(by)
            .send()
            .await
            .expect("DELETE /v1/keys failed")
    }

    /// The agents and reviewers of the example policy, one key each.
    pub async fn cast(&self) -> Cast {
        Cast {
            agent: self.key("agent", "sales-bot").await,
            other_agent: self.key("agent", "ops-bot").await,
            ana: self.key("reviewer", "ana").await,
            ben: self.key("reviewer", "ben").await,
            lea: self.key("reviewer", "lea").await,
            oz: self.key("reviewer", "oz").await,
            dan: self.key("reviewer", "dan").await,
            sam: self.key("reviewer", "sam").await,
            fay: self.key("reviewer", "fay").await,
            finn: self.key("reviewer", "finn").await,
        }
    }

    // ---- handoffs ---------------------------------------------------------------------

    pub async fn submit(&self, key: &str, packet: &Value) -> Response {
        self.post_json(Some(key), "/v1/handoffs", packet).await
    }

    pub async fn submit_idempotent(
        &self,
        key: &str,
        idempotency_key: &str,
        packet: &Value,
    ) -> Response {
        self.client
            .post(self.url("/v1/handoffs"))
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .json(packet)
            .send()
            .await
            .expect("POST /v1/handoffs failed")
    }

    /// A raw body, e.g. malformed or oversized JSON.
    pub async fn submit_raw(&self, key: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url("/v1/handoffs"))
            .bearer_auth(key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /v1/handoffs failed")
    }

    /// Submits and insists on `201`; the created resource.
    pub async fn submitted(&self, key: &str, packet: &Value) -> Value {
        expect_json(self.submit(key, packet).await, 201).await
    }

    /// Submits and returns the new handoff's id.
    pub async fn submitted_id(&self, key: &str, packet: &Value) -> String {
        id_of(&self.submitted(key, packet).await)
    }

    pub async fn get(&self, key: &str, id: &str) -> Response {
        self.get_path(Some(key), &format!("/v1/handoffs/{id}"))
            .await
    }

    pub async fn get_waiting(&self, key: &str, id: &str, wait_secs: u64) -> Response {
        self.get_path(Some(key), &format!("/v1/handoffs/{id}?wait={wait_secs}"))
            .await
    }

    /// Reads a handoff and insists on `200`.
    pub async fn fetch(&self, key: &str, id: &str) -> Value {
        expect_json(self.get(key, id).await, 200).await
    }

    pub async fn decide(&self, key: &str, id: &str, body: &Value) -> Response {
        self.post_json(Some(key), &format!("/v1/handoffs/{id}/decisions"), body)
            .await
    }

    pub async fn decide_if_match(
        &self,
        key: &str,
        id: &str,
        body: &Value,
        if_match: &str,
    ) -> Response {
        self.client
            .post(self.url(&format!("/v1/handoffs/{id}/decisions")))
            .bearer_auth(key)
            .header("If-Match", if_match)
            .json(body)
            .send()
            .await
            .expect("POST decisions failed")
    }

    /// Decides and insists on `200`; the updated resource.
    pub async fn decided(&self, key: &str, id: &str, body: &Value) -> Value {
        expect_json(self.decide(key, id, body).await, 200).await
    }

    pub async fn cancel(&self, key: &str, id: &str) -> Response {
        self.post_json(Some(key), &format!("/v1/handoffs/{id}/cancel"), &json!({}))
            .await
    }

    pub async fn outcome(&self, key: &str, id: &str, body: &Value) -> Response {
        self.post_json(Some(key), &format!("/v1/handoffs/{id}/outcome"), body)
            .await
    }

    pub async fn list(&self, key: &str, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url("/v1/handoffs"))
            .bearer_auth(key)
            .query(query)
            .send()
            .await
            .expect("GET /v1/handoffs failed")
    }

    /// Lists and insists on `200`; the ids of `items`, in order, and `next_cursor`.
    pub async fn list_ids(
        &self,
        key: &str,
        query: &[(&str, &str)],
    ) -> (Vec<String>, Option<String>) {
        let page = expect_json(self.list(key, query).await, 200).await;
        let ids = page["items"]
            .as_array()
            .expect("`items` is an array")
            .iter()
            .map(id_of)
            .collect();
        (ids, page["next_cursor"].as_str().map(str::to_owned))
    }

    pub async fn timeline(&self, key: &str, id: &str) -> Response {
        self.get_path(Some(key), &format!("/v1/handoffs/{id}/timeline"))
            .await
    }

    /// The `action`s of a handoff's timeline, oldest first, read by the admin.
    pub async fn timeline_actions(&self, id: &str) -> Vec<String> {
        let body = expect_json(self.timeline(&self.admin_key(), id).await, 200).await;
        body["items"]
            .as_array()
            .expect("`items` is an array")
            .iter()
            .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A handoff of the example policy brought to `status`, with a key of a reviewer of
    /// its team. `expired` needs a policy with a short `expire_after`, so it is not here.
    pub async fn handoff_in(&self, cast: &Cast, status: &str) -> (String, String) {
        let agent = cast.agent.as_str();
        let approve = json!({"action": "approve"});
        match status {
            "pending" => (
                self.submitted_id(agent, &client_reply()).await,
                cast.ana.clone(),
            ),
            "approved" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                self.decided(&cast.ana, &id, &approve).await;
                (id, cast.ana.clone())
            }
            "rejected" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                self.decided(
                    &cast.ana,
                    &id,
                    &json!({"action": "reject", "rationale": "off-tone"}),
                )
                .await;
                (id, cast.ana.clone())
            }
            "cancelled" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                expect_json(self.cancel(agent, &id).await, 200).await;
                (id, cast.ana.clone())
            }
            "handed_over" => (
                self.submitted_id(agent, &data_deletion()).await,
                cast.dan.clone(),
            ),
            "resolved" => {
                let id = self.submitted_id(agent, &data_deletion()).await;
                self.decided(&cast.dan, &id, &json!({"action": "resolve"}))
                    .await;
                (id, cast.dan.clone())
            }
            "alerted" => (
                self.submitted_id(agent, &fraud_report()).await,
                cast.sam.clone(),
            ),
            "acknowledged" => {
                let id = self.submitted_id(agent, &fraud_report()).await;
                self.decided(&cast.sam, &id, &json!({"action": "acknowledge"}))
                    .await;
                (id, cast.sam.clone())
            }
            "executed" | "failed" | "rolled_back" => {
                let id = self.submitted_id(agent, &client_reply()).await;
                self.decided(&cast.ana, &id, &approve).await;
                let first = if status == "failed" {
                    "failed"
                } else {
                    "executed"
                };
                expect_json(
                    self.outcome(agent, &id, &json!({"result": first})).await,
                    200,
                )
                .await;
                if status == "rolled_back" {
                    expect_json(
                        self.outcome(agent, &id, &json!({"result": "rolled_back"}))
                            .await,
                        200,
                    )
                    .await;
                }
                (id, cast.ana.clone())
            }
            other => panic!("handoff_in cannot make a `{other}` handoff"),
        }
    }

    // ---- events -----------------------------------------------------------------------

    pub async fn events(&self, key: &str, last_event_id: Option<&str>) -> EventStream {
        let mut req = self
            .client
            .get(self.url("/v1/events"))
            .bearer_auth(key)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("GET /v1/events failed");
        assert_eq!(resp.status().as_u16(), 200, "GET /v1/events");
        let content_type = header(&resp, "content-type");
        assert!(
            content_type.starts_with("text/event-stream"),
            "content-type {content_type}"
        );
        EventStream {
            resp,
            buf: String::new(),
        }
    }

    // ---- audit and CLI ----------------------------------------------------------------

    pub async fn audit_verify(&self) -> Value {
        expect_json(
            self.get_path(Some(&self.admin_key()), "/v1/audit/verify")
                .await,
            200,
        )
        .await
    }

    /// Runs `handoff ARGS…` (blocking, off the async workers).
    pub async fn cli(&self, args: &[&str]) -> Output {
        handoff_cli(args).await
    }
}

/// Runs the `handoff` binary with `args` and waits for it.
pub async fn handoff_cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(&args)
            .env_remove("HANDOFF_DATA_DIR")
            .env_remove("HANDOFF_DATABASE_URL")
            .env_remove("HANDOFF_URL")
            .env_remove("HANDOFF_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run the handoff binary")
    })
    .await
    .expect("the CLI task panicked")
}

/// One key per principal the example policy knows: two agents and a reviewer or two of
/// each team (`ana`, `ben`: sales; `lea`: sales-leads; `oz`: ops; `dan`: data; `sam`:
/// security; `fay`, `finn`: finance).
#[derive(Clone)]
pub struct Cast {
    /// Named `sales-bot`.
    pub agent: String,
    /// Named `ops-bot`.
    pub other_agent: String,
    pub ana: String,
    pub ben: String,
    pub lea: String,
    pub oz: String,
    pub dan: String,
    pub sam: String,
    pub fay: String,
    pub finn: String,
}

// ---- packets ------------------------------------------------------------------------

/// A minimal valid packet.
pub fn packet(task: &str, confidence: f64) -> Value {
    json!({
        "task": task,
        "summary": format!("A {task} handoff written by the tests"),
        "confidence": confidence,
    })
}

pub fn seed_packet() -> Value {
    serde_json::from_str(SEED_PACKET).expect("the seed packet is JSON")
}

/// Level 1 in the example policy: approved by policy, routed to `ops`.
pub fn routine_ticket() -> Value {
    packet("categorize_support_ticket", 0.97)
}

/// The draft text of [`client_reply`].
pub const CLIENT_REPLY_DRAFT: &str = "Dear client, please find the invoice copy attached.";

/// Level 2 in the example policy: pending, routed to `sales` (ana, ben), one approval.
pub fn client_reply() -> Value {
    let mut p = packet("respond_to_client_inquiry", 0.95);
    p["draft"] = json!(CLIENT_REPLY_DRAFT);
    p
}

/// The draft text of [`big_purchase`].
pub const PURCHASE_DRAFT: &str = "Order 40 laptops from the usual supplier for 48000 EUR.";

/// Level 2 in the example policy with four eyes: routed to `finance` (fay, finn), two
/// approvals.
pub fn big_purchase() -> Value {
    let mut p = packet("make_purchase", 0.95);
    p["context"] = json!({"amount": 48000, "currency": "EUR"});
    p["draft"] = json!(PURCHASE_DRAFT);
    p
}

/// Level 3 in the example policy: handed over to `data` (dan).
pub fn data_deletion() -> Value {
    packet("delete_data", 0.99)
}

/// Level 4 in the example policy: an alert to `security` (sam), which has no `escalate_to`.
pub fn fraud_report() -> Value {
    let mut p = packet("report_data_anomaly", 0.9);
    p["flags"] = json!(["possible fraud"]);
    p
}

// ---- responses ----------------------------------------------------------------------

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

// ---- server-sent events -------------------------------------------------------------

/// One event of `GET /v1/events`.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {}", self.data))
    }

    /// The `id:` as the audit seq it is.
    pub fn seq(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("event without a numeric id: {self:?}"))
    }
}

/// An open event stream, read chunk by chunk (reqwest's `stream` feature is off).
pub struct EventStream {
    resp: Response,
    buf: String,
}

impl EventStream {
    /// The next event carrying data, or `None` if none came `within` (or the stream ended).
    pub async fn next(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                if let Some(event) = parse_event(&block) {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => {
                    self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    // Normalise line ends: SSE allows CRLF and CR as well.
                    if self.buf.contains('\r') {
                        self.buf = self.buf.replace("\r\n", "\n").replace('\r', "\n");
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Every event up to and including the first for which `last` holds; panics if that
    /// one does not come within `within`.
    pub async fn until(&mut self, within: Duration, last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(event) => {
                    let done = last(&event);
                    seen.push(event);
                    if done {
                        return seen;
                    }
                }
                None => panic!("the awaited event did not come within {within:?}; saw {seen:?}"),
            }
        }
    }
}

fn parse_event(block: &str) -> Option<Event> {
    let mut event = Event {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut has_data = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "id" => event.id = Some(value.to_owned()),
            "event" => event.event = Some(value.to_owned()),
            "data" => {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(event)
}
