//! [`TestApp`]: the service under test, built in-process by
//! `handoff::server::Application` on a free loopback port, with its own data directory,
//! served on the test's runtime. A manual clock ([`TestApp::spawn_manual`]) makes SLA
//! timers, expiry and delivery retries move only when the test says so
//! ([`TestApp::advance`]).
//!
//! Each test owns its tempdir and its server: dropping the `TestApp` resolves the
//! server's shutdown future, and the server drains on the test's runtime.

use super::process::ProcessServer;
use chrono::Utc;
use handoff::app::{Clock, ManualClock};
use handoff::notify::{AllowList, RetrySchedule};
use handoff::server::{Application, Config};
use reqwest::Client;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server built in-process and served by a task of the test's runtime.
pub(crate) struct InProcess {
    /// Dropping (or sending on) it resolves the server's shutdown future.
    stop: Option<oneshot::Sender<()>>,
    served: JoinHandle<anyhow::Result<()>>,
    pub(crate) app: Arc<handoff::app::App>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        // The shutdown future resolves; the server drains on the runtime by itself.
        drop(self.stop.take());
    }
}

pub(crate) enum Server {
    InProcess(InProcess),
    Process(ProcessServer),
}

/// How the server under test runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    InProcess,
    Process,
}

/// A fresh directory for one test's data: in `$HANDOFF_TEST_TMPDIR` when set, else on
/// `/dev/shm` where there is one (SQLite's fsyncs cost nothing in memory, and most of a
/// test's time on a disk is spent in them), else in the system's temporary directory.
/// Nothing the tests assert depends on the data reaching a disk: a SIGKILLed process
/// leaves its writes in the page cache.
pub fn scratch_dir() -> tempfile::TempDir {
    let base = std::env::var_os("HANDOFF_TEST_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()));
    base.and_then(|dir| tempfile::tempdir_in(dir).ok())
        .unwrap_or_else(|| tempfile::tempdir().expect("cannot create a temporary directory"))
}

/// Whether the servers under test run on PostgreSQL (`HANDOFF_TEST_BACKEND=postgres`: a
/// fresh database per `TestApp`, from `handoff_testpg`) rather than on SQLite in their
/// data directory. The test command runs the API tests both ways.
pub fn on_postgres() -> bool {
    std::env::var("HANDOFF_TEST_BACKEND").is_ok_and(|v| v == "postgres")
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the running server; it changes on every (re)start.
    pub address: String,
    pub client: Client,
    /// Holds `data/` (the server's `--data-dir`) and `policy.toml` when one was given.
    root: tempfile::TempDir,
    policy_file: Option<PathBuf>,
    /// Extra `serve` arguments, given again on every (re)start (in-process: translated to
    /// the `Config` fields they set).
    pub(crate) extra_args: Vec<String>,
    /// The clock of an in-process server, kept across restarts.
    clock: Clock,
    pub(crate) mode: Mode,
    pub(crate) server: Option<Server>,
}

impl TestApp {
    /// A server with the built-in example policy and an empty data directory.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(None, &[]).await
    }

    /// A server started with `--policy FILE`, FILE holding `policy`.
    pub async fn spawn_with_policy(policy: &str) -> TestApp {
        TestApp::spawn_with(Some(policy), &[]).await
    }

    /// A server started with `--policy FILE` (when `policy` is given) and the `serve`
    /// flags `args` (e.g. `--webhook-secret`, translated to `Config` fields); restarts
    /// pass the same flags.
    pub async fn spawn_with(policy: Option<&str>, args: &[&str]) -> TestApp {
        TestApp::spawn_on(policy, args, Clock::System).await
    }

    /// Like [`TestApp::spawn_with`], on a manual clock that starts now and moves only on
    /// [`TestApp::advance`].
    pub async fn spawn_manual(policy: Option<&str>, args: &[&str]) -> TestApp {
        TestApp::spawn_on(policy, args, Clock::Manual(ManualClock::new(Utc::now()))).await
    }

    /// Like [`TestApp::spawn_with`], on `clock` (e.g. a manual clock a receiver also reads).
    pub async fn spawn_on(policy: Option<&str>, args: &[&str], clock: Clock) -> TestApp {
        let mut app = TestApp::new(policy, args, Mode::InProcess);
        app.clock = clock;
        app.start().await;
        app
    }

    pub(crate) fn new(policy: Option<&str>, args: &[&str], mode: Mode) -> TestApp {
        let root = scratch_dir();
        let policy_file = policy.map(|text| {
            let file = root.path().join("policy.toml");
            std::fs::write(&file, text).expect("cannot write the policy file");
            file
        });
        // The workspace builds reqwest with rustls and no default crypto provider.
        handoff::notify::install_tls();
        let client = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            .build()
            .expect("cannot build the HTTP client");
        TestApp {
            address: String::new(),
            client,
            root,
            policy_file,
            extra_args: args.iter().map(|a| (*a).to_owned()).collect(),
            clock: Clock::System,
            mode,
            server: None,
        }
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

    /// The manual clock of a server made by [`TestApp::spawn_manual`].
    pub fn manual_clock(&self) -> &Arc<ManualClock> {
        match &self.clock {
            Clock::Manual(m) => m,
            _ => panic!("this server runs on the system clock; use TestApp::spawn_manual"),
        }
    }

    /// Moves the manual clock forward by `by`; the scheduler and the outbox wake.
    pub fn advance(&self, by: Duration) {
        self.manual_clock().advance(by);
    }

    /// The in-process service's operations (to look beside the API).
    pub fn app(&self) -> &Arc<handoff::app::App> {
        match &self.server {
            Some(Server::InProcess(s)) => &s.app,
            _ => panic!("no in-process server is running"),
        }
    }

    /// The `Config` that `handoff serve` makes of the data dir, the policy file and the
    /// extra flags.
    pub fn config(&self) -> Config {
        let mut cfg = Config::new(self.data_dir());
        cfg.policy_file = self.policy_file.clone();
        let mut secrets: Vec<String> = Vec::new();
        let mut allow: Vec<String> = Vec::new();
        let mut args = self.extra_args.iter();
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .unwrap_or_else(|| panic!("`{flag}` takes a value"))
                .clone();
            match flag.as_str() {
                "--addr" => cfg.addr = value,
                "--public-url" => cfg.public_url = Some(value),
                "--database-url" => cfg.database_url = Some(value),
                "--webhook-secret" => secrets.extend(value.split(',').map(str::to_owned)),
                "--smtp-url" => cfg.smtp_url = Some(value),
                "--mail-from" => cfg.mail_from = value,
                "--callback-allow" => allow.extend(value.split(',').map(str::to_owned)),
                "--slack-signing-secret" => cfg.slack_signing_secret = Some(value),
                "--auth-failures" => {
                    cfg.auth_failures = handoff::app::ThrottleRule::parse(&value)
                        .unwrap_or_else(|e| panic!("--auth-failures {value}: {e}"));
                }
                "--retry-schedule" => {
                    cfg.schedule = RetrySchedule::parse(&value)
                        .unwrap_or_else(|e| panic!("--retry-schedule {value}: {e}"));
                }
                "--delivery-timeout" => {
                    cfg.delivery_timeout = RetrySchedule::parse(&value)
                        .ok()
                        .and_then(|s| s.0.first().copied())
                        .unwrap_or_else(|| panic!("--delivery-timeout {value}"));
                }
                other => panic!("no Config field for the serve flag `{other}`"),
            }
        }
        cfg.webhook_secrets = secrets;
        cfg.callback_allow =
            AllowList::parse(&allow).unwrap_or_else(|e| panic!("--callback-allow: {e}"));
        cfg
    }

    /// The `--database-url` the server runs on, when not SQLite in its data directory.
    pub fn database_url(&self) -> Option<&str> {
        let at = self.extra_args.iter().position(|a| a == "--database-url")?;
        self.extra_args.get(at + 1).map(String::as_str)
    }

    /// Starts the server on the same data directory (and policy file) as before.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        if on_postgres() && self.database_url().is_none() {
            let url = handoff_testpg::fresh_database().await;
            self.extra_args.extend(["--database-url".to_owned(), url]);
        }
        let (address, server) = match self.mode {
            Mode::InProcess => {
                let (stop, stopped) = oneshot::channel::<()>();
                let application =
                    Application::build(self.config(), self.clock.clone(), async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap_or_else(|e| panic!("the server does not start: {e:#}"));
                let addr = application.addr().expect("the listening address");
                let app = application.app().clone();
                let served = tokio::spawn(application.run_until_stopped());
                let server = InProcess {
                    stop: Some(stop),
                    served,
                    app,
                };
                (format!("http://{addr}"), Server::InProcess(server))
            }
            Mode::Process => {
                let (address, server) = super::process::start(self).await;
                (address, Server::Process(server))
            }
        };
        assert!(
            address.starts_with("http://127.0.0.1:"),
            "unexpected listening address {address}"
        );
        self.address = address;
        self.server = Some(server);
    }

    /// Stops an in-process server as SIGTERM stops `serve`: resolves its shutdown future
    /// and waits for the drain (the jobs stop, the store closes); what it returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match self.server.take() {
            Some(Server::InProcess(mut s)) => {
                drop(s.stop.take());
                (&mut s.served).await.expect("the server task panicked")
            }
            Some(Server::Process(_)) => panic!("a spawned server stops by a signal"),
            None => panic!("the server is not running"),
        }
    }

    /// Stops (which must succeed) and starts again on the same data and clock.
    pub async fn restart(&mut self) {
        if let Err(e) = self.stop().await {
            panic!("the server failed while stopping: {e:#}");
        }
        self.start().await;
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
}
