//! [`Spawned`]: the real `handoff serve` binary on port 0, for the tests about what only a
//! process has: SIGKILL, SIGTERM and the exit status, and what `serve` prints. It is a
//! [`TestApp`] (every endpoint helper works) with the process's controls added.

use super::app::{Mode, Server, TestApp};
use std::io::{BufRead, BufReader, Read};
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long the server may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// One running `handoff serve` process.
pub(crate) struct ProcessServer {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    /// Resolves when the process exits (sent by the thread that waits for it).
    exited: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl ProcessServer {
    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for ProcessServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `handoff serve` for `app` (its data dir, policy file and flags) and waits for
/// the listening line; the address and the process.
pub(crate) async fn start(app: &TestApp) -> (String, ProcessServer) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.arg("serve");
    // A port of its own when the test gives none (one given is kept across restarts).
    if !app.extra_args.iter().any(|a| a == "--addr") {
        cmd.args(["--addr", "127.0.0.1:0"]);
    }
    cmd.arg("--data-dir").arg(app.data_dir());
    if let Some(policy) = app.policy_file() {
        cmd.arg("--policy").arg(policy);
    }
    cmd.args(&app.extra_args);
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
    let (exited_tx, exited) = tokio::sync::oneshot::channel();
    let server = ProcessServer {
        child,
        stdout: Arc::default(),
        stderr: Arc::default(),
        exited: Some(exited),
    };

    // Both pipes are drained for the life of the process, so that a chatty server never
    // blocks on a full pipe. The end of stderr is the end of the process.
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
        let _ = exited_tx.send(());
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
    (address, server)
}

/// The `handoff serve` process under test, with every [`TestApp`] helper.
pub struct Spawned(TestApp);

impl Deref for Spawned {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut TestApp {
        &mut self.0
    }
}

impl Spawned {
    /// `handoff serve` with the built-in example policy and an empty data directory.
    pub async fn spawn() -> Spawned {
        Spawned::spawn_with(None, &[]).await
    }

    /// `handoff serve --policy FILE` (when `policy` is given) and `args` after the usual
    /// ones; restarts pass the same arguments.
    pub async fn spawn_with(policy: Option<&str>, args: &[&str]) -> Spawned {
        let mut app = TestApp::new(policy, args, Mode::Process);
        app.start().await;
        Spawned(app)
    }

    /// Like [`Spawned::spawn_with`], not started yet: the test prepares the data
    /// directory (e.g. mounts a file system there), then calls `start`.
    pub fn unstarted(policy: Option<&str>, args: &[&str]) -> Spawned {
        Spawned(TestApp::new(policy, args, Mode::Process))
    }

    /// Another node beside `first`, with the same `policy` and `args` (so the same
    /// `--database-url`): a data directory of its own holding `first`'s secrets, as
    /// docs/DEPLOY.md says to give every node (one admin key, one receipt key, one session
    /// key, one webhook secret).
    pub async fn spawn_beside(first: &TestApp, policy: Option<&str>, args: &[&str]) -> Spawned {
        let mut app = TestApp::new(policy, args, Mode::Process);
        std::fs::create_dir_all(app.data_dir()).expect("cannot create the data dir");
        for f in ["admin.key", "receipt.key", "web.key", "webhook.secret"] {
            let from = first.data_dir().join(f);
            if from.exists() {
                std::fs::copy(&from, app.data_dir().join(f)).expect("cannot copy a secret");
            }
        }
        app.start().await;
        Spawned(app)
    }

    fn process(&self) -> &ProcessServer {
        match &self.0.server {
            Some(Server::Process(p)) => p,
            _ => panic!("the server is not running"),
        }
    }

    fn take_process(&mut self) -> ProcessServer {
        match self.0.server.take() {
            Some(Server::Process(p)) => p,
            _ => panic!("the server is not running"),
        }
    }

    /// SIGTERM, wait for the exit (which must be clean), start again on the same data.
    pub async fn restart(&mut self) {
        let status = self.sigterm().await;
        assert!(
            status.success(),
            "the server exited with {status} on SIGTERM"
        );
        self.0.start().await;
    }

    /// SIGKILL: no chance to flush or drain anything.
    pub fn kill9(&mut self) {
        let mut server = self.take_process();
        server.child.kill().expect("cannot SIGKILL the server");
        let _ = server.child.wait();
    }

    /// Sends SIGTERM without waiting; see [`Spawned::wait_for_exit`].
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.process().child.id().to_string()])
            .status()
            .expect("cannot run `kill`");
        assert!(status.success(), "`kill -TERM` failed");
    }

    /// Waits up to `within` for the server to exit; `None` if it is still running. The
    /// exit is awaited (the end of its stderr), not polled.
    pub async fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        let Some(Server::Process(p)) = self.0.server.as_mut() else {
            panic!("the server is not running");
        };
        if let Some(exited) = p.exited.as_mut() {
            match tokio::time::timeout_at(deadline.into(), exited).await {
                Ok(_) => p.exited = None,
                Err(_) => return None,
            }
        }
        // Its stderr is closed: the process has exited or is about to.
        let child = &mut p.child;
        let status = tokio::task::block_in_place(|| child.wait()).expect("cannot wait");
        self.0.server = None;
        Some(status)
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
        match &self.0.server {
            Some(Server::Process(p)) => p.stdout.lock().map(|l| l.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    pub fn stderr_text(&self) -> String {
        match &self.0.server {
            Some(Server::Process(p)) => p.stderr(),
            _ => String::new(),
        }
    }
}

/// Runs `command` (a `handoff bench …`, or a shell that execs one) to its end with
/// `RUST_LOG=error`, prints what it printed, fails the test unless it exited 0, and returns
/// its standard output.
pub fn bench_output(mut command: Command) -> String {
    let out = command
        .env("RUST_LOG", "error")
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the bench failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}
