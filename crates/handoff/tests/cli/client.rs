//! The API client commands (SPEC §6) run as a user runs them, against a real server:
//! `submit`, `list`, `show`, `wait`, `decide`, `outcome`, `cancel`, in text and `--json`;
//! the server and key from flags or from `HANDOFF_URL` / `HANDOFF_KEY`; refusals and a
//! missing key; `keys create` beside the running server; and `receipt verify` on a receipt
//! the server really issued.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `handoff ARGS…` with no HANDOFF_* variable but those in `env`.
pub(crate) async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.args(&args);
        // A developer's exported server or key must not change what these tests exercise.
        for var in [
            "HANDOFF_URL",
            "HANDOFF_KEY",
            "HANDOFF_DATA_DIR",
            "HANDOFF_DATABASE_URL",
        ] {
            cmd.env_remove(var);
        }
        cmd.envs(env)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run the handoff binary")
    })
    .await
    .expect("the CLI task panicked")
}

/// Runs a client command as the holder of `key`, naming the server with `--server`.
pub(crate) async fn client(app: &TestApp, key: &str, args: &[&str]) -> Output {
    let mut all = args.to_vec();
    all.extend(["--server", &app.address, "--key", key]);
    run(&all, &[]).await
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Insists on exit 0; what was printed.
pub(crate) fn succeeded(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Insists on exit 0 and JSON on standard output.
pub(crate) fn printed_json(o: &Output) -> Value {
    let text = succeeded(o);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Insists on exit 1 with nothing on standard output; what was printed on standard error.
pub(crate) fn failed(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
    stderr(o)
}

/// A directory for packet and draft files.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().expect("cannot create a temporary directory"))
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path: PathBuf = self.0.path().join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {name}: {e}"));
        path.display().to_string()
    }

    fn json(&self, name: &str, value: &Value) -> String {
        self.write(name, &value.to_string())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Submits `packet` through the CLI as `key`; the resource it printed.
async fn submitted(app: &TestApp, key: &str, files: &Files, packet: &Value) -> Value {
    let file = files.json("packet.json", packet);
    printed_json(&client(app, key, &["submit", &file, "--json"]).await)
}

// ---- submit, list, show ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn submit_prints_the_new_handoff_as_text_or_as_json() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let files = Files::new();
    let file = files.json("reply.json", &client_reply());

    let text = succeeded(&client(&app, &agent, &["submit", &file]).await);
    let first = text.lines().next().unwrap_or_default();
    let id = first
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("hnd_"), "{text}");
    assert!(first.contains("pending"), "{text}");
    assert!(text.contains("respond_to_client_inquiry"), "{text}");
    assert!(
        text.contains(CLIENT_REPLY_DRAFT),
        "the draft is shown: {text}"
    );
    assert_eq!(app.fetch(&agent, &id).await["status"], "pending");

    let h = printed_json(&client(&app, &agent, &["submit", &file, "--json"]).await);
    assert_ne!(
        h["id"],
        json!(id),
        "a second submission is a second handoff"
    );
    assert_eq!(h["status"], "pending");
    assert_eq!(h["agent"], "sales-bot");
    assert_eq!(h["evaluation"]["level"], 2);
    assert_eq!(h["assigned_team"], "sales");
    assert_eq!(
        h,
        app.fetch(&agent, &id_of(&h)).await,
        "the stored resource"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_with_an_idempotency_key_twice_returns_the_same_handoff() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let files = Files::new();
    let file = files.json("reply.json", &client_reply());
    let args = ["submit", &file, "--idempotency-key", "reply-1", "--json"];

    let first = printed_json(&client(&app, &agent, &args).await);
    let again = printed_json(&client(&app, &agent, &args).await);
    assert_eq!(again["id"], first["id"]);
    let (ids, _) = app.list_ids(&agent, &[]).await;
    assert_eq!(ids, vec![id_of(&first)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_a_reviewer_the_handoffs_of_their_teams() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let first = app.submitted_id(&cast.agent, &client_reply()).await;
    let second = app.submitted_id(&cast.agent, &client_reply()).await;
    let elsewhere = app.submitted_id(&cast.agent, &data_deletion()).await;

    let table = succeeded(&client(&app, &cast.ana, &["list"]).await);
    let header = table.lines().next().unwrap_or_default();
    for column in ["ID", "STATUS", "TASK", "TEAM", "SLA DUE"] {
        assert!(header.contains(column), "{table}");
    }
    assert!(table.contains(&first) && table.contains(&second), "{table}");
    assert!(!table.contains(&elsewhere), "not routed to sales: {table}");

    let page = printed_json(&client(&app, &cast.ana, &["list", "--json"]).await);
    let ids: Vec<String> = page["items"]
        .as_array()
        .expect("`items` is an array")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids.len(), 2, "{page}");
    assert!(ids.contains(&first) && ids.contains(&second), "{page}");
    assert_eq!(page["next_cursor"], Value::Null);

    let filtered = client(
        &app,
        &cast.dan,
        &["list", "--status", "handed_over", "--json"],
    )
    .await;
    let items = printed_json(&filtered)["items"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(items[0]["id"], json!(elsewhere));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_pages_with_a_limit_and_all_follows_the_cursors() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let mut submitted = Vec::new();
    for _ in 0..5 {
        submitted.push(app.submitted_id(&agent, &client_reply()).await);
    }

    let page = printed_json(&client(&app, &agent, &["list", "--limit", "2", "--json"]).await);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    assert!(page["next_cursor"].is_string(), "{page}");
    let text = succeeded(&client(&app, &agent, &["list", "--limit", "2"]).await);
    assert!(
        text.lines()
            .any(|l| l.starts_with("next: handoff list --cursor ")),
        "a hint for the next page: {text}"
    );

    let all = client(&app, &agent, &["list", "--limit", "2", "--all", "--json"]).await;
    let all = printed_json(&all);
    let ids: Vec<String> = all["items"]
        .as_array()
        .expect("`items` is an array")
        .iter()
        .map(id_of)
        .collect();
    // Ids sort by their millisecond only: two submitted within one may list either way.
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    sorted.dedup();
    submitted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sorted, submitted, "every handoff once");
}

#[tokio::test(flavor = "multi_thread")]
async fn show_prints_one_handoff_and_its_json_is_the_api_resource() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let text = succeeded(&client(&app, &cast.ana, &["show", &id]).await);
    assert!(
        text.starts_with(&format!("{id}  pending  version 1")),
        "{text}"
    );
    assert!(text.contains("sales-bot"), "{text}");
    assert!(text.contains(CLIENT_REPLY_DRAFT), "{text}");

    let h = printed_json(&client(&app, &cast.ana, &["show", &id, "--json"]).await);
    assert_eq!(h, app.fetch(&cast.ana, &id).await);
}

// ---- wait --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn wait_returns_the_handoff_once_a_reviewer_decides() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    // Whether the decision lands before or during the long poll, `wait` ends with it.
    let wait = ["wait", &id, "--timeout", "5", "--json"];
    let approve = json!({"action": "approve"});
    let (waited, _) = tokio::join!(
        client(&app, &cast.agent, &wait),
        app.decided(&cast.ana, &id, &approve)
    );
    let h = printed_json(&waited);
    assert_eq!(h["id"], json!(id));
    assert_eq!(h["status"], "approved");
    assert!(h["receipt"].is_string(), "{h}");

    let text = succeeded(&client(&app, &cast.agent, &["wait", &id, "--timeout", "5"]).await);
    assert!(text.starts_with(&format!("{id}  approved")), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_gives_up_with_exit_2_when_its_timeout_runs_out() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let started = Instant::now();
    let out = client(&app, &cast.agent, &["wait", &id, "--timeout", "1"]).await;
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(&out));
    assert!(stderr(&out).contains("still pending"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "waited {took:?}"
    );
}

// ---- decide, outcome, cancel ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn decide_approve_approves_and_prints_the_receipt() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let text = succeeded(&client(&app, &cast.ana, &["decide", &id, "approve"]).await);
    assert!(
        text.starts_with(&format!("{id}  approved  version 2")),
        "{text}"
    );
    let h = app.fetch(&cast.ana, &id).await;
    let receipt = h["receipt"].as_str().expect("a receipt");
    assert!(text.contains(receipt), "{text}");
    assert_eq!(h["decision"]["by"], "ana");
}

#[tokio::test(flavor = "multi_thread")]
async fn decide_edit_with_a_draft_file_approves_the_edited_draft() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let files = Files::new();
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let edited = "Dear client, the invoice copy is attached.";
    let draft = files.json("edited.json", &json!(edited));

    let args = [
        "decide",
        &id,
        "edit",
        "--draft",
        &draft,
        "--rationale",
        "shorter",
        "--json",
    ];
    let h = printed_json(&client(&app, &cast.ana, &args).await);
    assert_eq!(h["status"], "approved");
    assert_eq!(h["approved_draft"], json!(edited));
    assert_eq!(h["decision"]["action"], "edit");
    assert_eq!(h["decision"]["rationale"], "shorter");
    let versions = h["draft_versions"].as_array().expect("draft_versions");
    assert_eq!(versions.len(), 2, "{h}");
    assert_eq!(versions[1]["sha256"], json!(text_draft_sha256(edited)));
}

#[tokio::test(flavor = "multi_thread")]
async fn decide_reject_with_a_rationale_rejects_and_without_one_is_refused() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let problem = failed(&client(&app, &cast.ana, &["decide", &id, "reject"]).await);
    assert!(problem.starts_with("error: 422"), "{problem}");
    assert!(problem.contains("rationale"), "{problem}");
    assert_eq!(app.fetch(&cast.ana, &id).await["status"], "pending");

    let args = ["decide", &id, "reject", "--rationale", "off-tone", "--json"];
    let h = printed_json(&client(&app, &cast.ana, &args).await);
    assert_eq!(h["status"], "rejected");
    assert_eq!(h["decision"]["rationale"], "off-tone");
    assert!(h["receipt"].is_null(), "{h}");
}

#[tokio::test(flavor = "multi_thread")]
async fn decide_with_a_stale_if_match_is_refused_with_412() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;

    let args = ["decide", &id, "approve", "--if-match", "7"];
    let problem = failed(&client(&app, &cast.ana, &args).await);
    assert!(problem.starts_with("error: 412"), "{problem}");
    let args = ["decide", &id, "approve", "--if-match", "1", "--json"];
    assert_eq!(
        printed_json(&client(&app, &cast.ana, &args).await)["status"],
        "approved"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outcome_executed_reports_on_an_approved_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let (id, _) = app.handoff_in(&cast, "approved").await;
    let sha = text_draft_sha256(CLIENT_REPLY_DRAFT);

    let args = [
        "outcome",
        &id,
        "executed",
        "--detail",
        "sent by mail",
        "--draft-sha256",
        &sha,
        "--json",
    ];
    let h = printed_json(&client(&app, &cast.agent, &args).await);
    assert_eq!(h["status"], "executed");
    assert_eq!(h["outcome"]["result"], "executed");
    assert_eq!(h["outcome"]["detail"], "sent by mail");

    let text = succeeded(&client(&app, &cast.agent, &["outcome", &id, "rolled-back"]).await);
    assert!(text.starts_with(&format!("{id}  rolled_back")), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn outcome_quoting_another_draft_is_refused_with_409() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let (id, _) = app.handoff_in(&cast, "approved").await;
    let other = text_draft_sha256("Something else entirely.");

    let args = ["outcome", &id, "executed", "--draft-sha256", &other];
    let problem = failed(&client(&app, &cast.agent, &args).await);
    assert!(problem.starts_with("error: 409"), "{problem}");
    assert_eq!(app.fetch(&cast.agent, &id).await["status"], "approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_withdraws_a_pending_handoff() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let first = app.submitted_id(&cast.agent, &client_reply()).await;
    let second = app.submitted_id(&cast.agent, &client_reply()).await;

    let text = succeeded(&client(&app, &cast.agent, &["cancel", &first]).await);
    assert!(text.starts_with(&format!("{first}  cancelled")), "{text}");
    let h = printed_json(&client(&app, &cast.agent, &["cancel", &second, "--json"]).await);
    assert_eq!(h["status"], "cancelled");
    assert_eq!(h["version"], 2);
}

// ---- connection, errors, keys ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_server_and_key_can_come_from_the_environment() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let files = Files::new();
    let file = files.json("reply.json", &client_reply());
    let as_agent = [
        ("HANDOFF_URL", app.address.as_str()),
        ("HANDOFF_KEY", cast.agent.as_str()),
    ];
    let as_ana = [
        ("HANDOFF_URL", app.address.as_str()),
        ("HANDOFF_KEY", cast.ana.as_str()),
    ];

    let h = printed_json(&run(&["submit", &file, "--json"], &as_agent).await);
    let id = id_of(&h);
    assert_eq!(h["agent"], "sales-bot");
    let listed = printed_json(&run(&["list", "--json"], &as_ana).await);
    assert_eq!(listed["items"][0]["id"], json!(id));
    let h = printed_json(&run(&["decide", &id, "approve", "--json"], &as_ana).await);
    assert_eq!(h["decision"]["by"], "ana");
    let shown = succeeded(&run(&["show", &id], &as_agent).await);
    assert!(shown.starts_with(&format!("{id}  approved")), "{shown}");

    // A flag wins over the environment.
    let args = ["show", &id, "--json", "--key", &cast.ana];
    let h = printed_json(
        &run(
            &args,
            &[("HANDOFF_URL", &app.address), ("HANDOFF_KEY", "hk_wrong")],
        )
        .await,
    );
    assert_eq!(h["id"], json!(id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_request_exits_1_with_the_servers_problem_on_stderr() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let (id, _) = app.handoff_in(&cast, "approved").await;

    for json_flag in [None, Some("--json")] {
        let mut args = vec!["cancel", id.as_str()];
        args.extend(json_flag);
        let problem = failed(&client(&app, &cast.agent, &args).await);
        assert!(problem.starts_with("error: 409 "), "{problem}");
        assert!(problem.contains("approved"), "names the status: {problem}");
    }
    assert_eq!(app.fetch(&cast.agent, &id).await["status"], "approved");

    let problem = failed(&client(&app, "hk_not_a_key", &["show", &id]).await);
    assert!(problem.starts_with("error: 401 "), "{problem}");
    let problem = failed(
        &client(
            &app,
            &cast.agent,
            &["show", "hnd_00000000000000000000000000"],
        )
        .await,
    );
    assert!(problem.starts_with("error: 404 "), "{problem}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_key_exits_1_saying_how_to_give_one() {
    let app = TestApp::spawn().await;
    let files = Files::new();
    let file = files.json("reply.json", &client_reply());

    for args in [
        vec!["submit", file.as_str(), "--server", &app.address],
        vec!["list", "--server", &app.address, "--json"],
    ] {
        let message = failed(&run(&args, &[]).await);
        assert!(
            message.contains("--key") && message.contains("HANDOFF_KEY"),
            "{message}"
        );
    }
    // An empty HANDOFF_KEY is no key either.
    let message = failed(&run(&["list", "--server", &app.address], &[("HANDOFF_KEY", "")]).await);
    assert!(message.contains("HANDOFF_KEY"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_server_exits_1_naming_it() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let out = run(&["list", "--server", &server, "--key", "hk_x"], &[]).await;
    let message = failed(&out);
    assert!(message.contains(&server), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_created_beside_the_running_server_works_with_the_client_at_once() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "sales-bot").await;
    let id = app.submitted_id(&agent, &client_reply()).await;

    let args = [
        "keys",
        "create",
        "--role",
        "reviewer",
        "--name",
        "ana",
        "--data-dir",
        &app.data_dir_arg(),
    ];
    let printed = succeeded(&run(&args, &[]).await);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on one line: {printed:?}");
    let ana = lines[0].trim();
    assert!(ana.starts_with("hk_"), "{ana}");

    let h = printed_json(&client(&app, ana, &["decide", &id, "approve", "--json"]).await);
    assert_eq!(h["status"], "approved");
    assert_eq!(h["decision"]["by"], "ana");

    // The same name again is refused, and the first key keeps working.
    let again = run(&args, &[]).await;
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(again.stdout.is_empty(), "no second key is printed");
    let listed = printed_json(&client(&app, ana, &["list", "--json"]).await);
    assert_eq!(listed["items"][0]["id"], json!(id));
    assert_eq!(app.audit_verify().await["ok"], true);
}

// ---- receipt verify --------------------------------------------------------------------------

/// The draft of [`ticket`]: JSON with keys, so that key order matters to nothing.
fn ticket_draft() -> Value {
    json!({"ticket": 4411, "tags": ["billing", "refund"], "note": "Customer asks for a refund."})
}

/// Level 1 in the example policy: approved by policy at submission, with a receipt.
fn ticket() -> Value {
    let mut p = routine_ticket();
    p["draft"] = ticket_draft();
    p
}

/// A handoff approved by policy through the CLI; its id and receipt. `files` gets
/// `ticket.json`, the packet.
async fn policy_approved(app: &TestApp, files: &Files) -> (String, String) {
    let agent = app.key("agent", "ops-bot").await;
    let packet = files.json("ticket.json", &ticket());
    let explained = printed_json(&run(&["policy", "explain", &packet], &[]).await);
    assert_eq!(
        explained["level"], 1,
        "the packet must be autonomous: {explained}"
    );

    let h = submitted(app, &agent, files, &ticket()).await;
    assert_eq!(h["status"], "approved");
    assert_eq!(h["decision"]["by"], "policy");
    let receipt = h["receipt"]
        .as_str()
        .expect("a level-1 handoff has a receipt");
    (id_of(&h), receipt.to_owned())
}

/// The SHA-256 of [`ticket_draft`]'s RFC 8785 form, written out by hand: sorted keys, no
/// whitespace.
fn ticket_draft_sha256() -> String {
    sha256_hex(
        br#"{"note":"Customer asks for a refund.","tags":["billing","refund"],"ticket":4411}"#,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_approval_receipt_verifies_against_the_servers_key() {
    let app = TestApp::spawn().await;
    let files = Files::new();
    let (id, receipt) = policy_approved(&app, &files).await;

    let args = ["receipt", "verify", &receipt, "--server", &app.address];
    let payload = printed_json(&run(&args, &[]).await);
    assert_eq!(payload["handoff"], json!(id));
    assert_eq!(payload["task"], "categorize_support_ticket");
    assert_eq!(payload["approvers"], json!(["policy"]));
    assert_eq!(payload["draft_sha256"], json!(ticket_draft_sha256()));
    let (iat, exp) = (payload["iat"].as_i64(), payload["exp"].as_i64());
    assert!(
        matches!((iat, exp), (Some(i), Some(e)) if i < e),
        "{payload}"
    );

    // The same, with the receipt from a file and the server from HANDOFF_URL.
    let file = files.write("receipt.jws", &format!("{receipt}\n"));
    let from_file = format!("@{file}");
    let out = run(
        &["receipt", "verify", &from_file],
        &[("HANDOFF_URL", &app.address)],
    )
    .await;
    assert_eq!(printed_json(&out), payload);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_verifies_with_the_approved_draft_and_not_with_another() {
    let app = TestApp::spawn().await;
    let files = Files::new();
    let (_, receipt) = policy_approved(&app, &files).await;
    let verify = |draft: String| {
        let receipt = receipt.clone();
        let server = app.address.clone();
        async move {
            let args = [
                "receipt", "verify", &receipt, "--server", &server, "--draft", &draft,
            ];
            run(&args, &[]).await
        }
    };

    // The approved draft, written with its keys in another order and other spacing.
    let same = files.write(
        "same.json",
        r#"{ "note": "Customer asks for a refund.", "tags": ["billing", "refund"], "ticket": 4411 }"#,
    );
    let payload = printed_json(&verify(same).await);
    assert_eq!(payload["approvers"], json!(["policy"]));

    let mut changed = ticket_draft();
    changed["tags"] = json!(["billing", "refund", "vip"]);
    let other = files.json("other.json", &changed);
    let message = failed(&verify(other).await);
    assert!(message.starts_with("receipt verify: "), "{message}");
    assert!(message.contains("differs from the approved"), "{message}");

    let missing = files
        .path()
        .join("no-such-draft.json")
        .display()
        .to_string();
    let message = failed(&verify(missing.clone()).await);
    assert!(message.contains(&missing), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_receipt_fails_verification() {
    let app = TestApp::spawn().await;
    let files = Files::new();
    let (_, receipt) = policy_approved(&app, &files).await;
    let parts: Vec<&str> = receipt.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS: {receipt}");

    // Claim another approver, keep the signature.
    let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url payload");
    let mut payload: Value = serde_json::from_slice(&payload).expect("payload JSON");
    payload["approvers"] = json!(["mallory"]);
    let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);

    // And a receipt whose signature lost its last character.
    let truncated = &receipt[..receipt.len() - 1];

    for bad in [tampered.as_str(), truncated] {
        let args = ["receipt", "verify", bad, "--server", &app.address];
        let message = failed(&run(&args, &[]).await);
        assert!(message.starts_with("receipt verify: "), "{message}");
    }
    let args = ["receipt", "verify", &tampered, "--server", &app.address];
    let message = failed(&run(&args, &[]).await);
    assert!(message.contains("signature"), "{message}");
}
