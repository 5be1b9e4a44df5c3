//! A throwaway PostgreSQL cluster for one test process: found binaries, `initdb` in a
//! temporary directory, a server on a free loopback port with durability off, and a
//! detached sidecar that stops it and removes the directory when the process is gone.
//! `scripts/postgres` does the same from the shell.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whom the cluster runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

/// How long the server gets to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts the cluster; answers its URL (the `postgres` database, user `postgres`).
pub(crate) fn start() -> Result<String, String> {
    let bin = bin_dir().ok_or_else(|| {
        "no PostgreSQL binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin; \
         install them: apt-get install -y postgresql"
            .to_owned()
    })?;
    let dir = std::env::temp_dir().join(format!(
        "handoff-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let root = std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0)
        || output("id", &["-u"]).is_some_and(|s| s.trim() == "0");
    if root {
        let status = Command::new("chown")
            .args(["-R", UNPRIVILEGED])
            .arg(&dir)
            .status()
            .map_err(|e| format!("cannot run chown: {e}"))?;
        if !status.success() {
            return Err(format!("chown {UNPRIVILEGED} {} failed", dir.display()));
        }
    }
    let data = dir.join("data");
    let log = dir.join("log");
    let initdb = as_owner(root, &bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    let port = free_port()?;
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| format!("cannot open the log: {e}"))?;
    let mut server = as_owner(root, &bin.join("postgres"));
    server
        .arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(&dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ])
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        // Its own process group: a Ctrl-C at the terminal reaches the tests, and the
        // sidecar stops the server after them.
        .process_group(0);
    let mut child = server
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    sidecar(&dir)?;
    let started = Instant::now();
    let isready = bin.join("pg_isready");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("postgres exited ({status}): {text}"));
        }
        if ready(&isready, port) {
            break;
        }
        if started.elapsed() > START_TIMEOUT {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "postgres did not accept connections in time: {text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// `program`, run as [`UNPRIVILEGED`] when we are root.
fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", UNPRIVILEGED, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Whether the server takes connections: `pg_isready` when it is there, else a TCP connect.
fn ready(isready: &Path, port: u16) -> bool {
    if isready.exists() {
        Command::new(isready)
            .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    } else {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }
}

/// A detached shell that waits for this process to end, then stops the server (its pid
/// from `postmaster.pid`, whoever runs it) and removes the directory.
fn sidecar(dir: &Path) -> Result<(), String> {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         p=$(head -1 '{dir}/data/postmaster.pid' 2>/dev/null); \
         if [ -n \"$p\" ]; then kill -QUIT \"$p\" 2>/dev/null; \
           for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 \"$p\" 2>/dev/null || break; sleep 0.5; done; fi; \
         rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the clean-up sidecar: {e}"))
}

/// A port nobody listens on now.
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The directory holding `initdb` and `postgres`: on PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                // A symlink on PATH (Debian's `/usr/local/bin/initdb`) is followed to the
                // real directory, where pg_isready lives too.
                let real = std::fs::canonicalize(d.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|p| has_both(p));
                return Some(real.unwrap_or(d));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
