//! A server started for a benchmark: this same binary, `serve` on a free port, in its own
//! process (so its CPU time and peak RSS are its own), stopped with SIGTERM at the end.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct BenchServer {
    child: Child,
    pub url: String,
    pub admin_key: String,
}

impl BenchServer {
    /// Starts `serve` on `data_dir`, with `extra` arguments.
    pub fn start(data_dir: &Path, extra: &[String]) -> anyhow::Result<BenchServer> {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let mut child = Command::new(exe)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut url = None;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(u) = line.strip_prefix("handoff listening on ") {
                url = Some(u.trim().to_owned());
                break;
            }
        }
        let Some(url) = url else {
            let _ = child.kill();
            bail!("the server did not start");
        };
        let admin_key = std::fs::read_to_string(data_dir.join("admin.key"))?
            .trim()
            .to_owned();
        Ok(BenchServer {
            child,
            url,
            admin_key,
        })
    }

    /// (user + system CPU seconds, peak RSS in MiB) of the server process so far.
    pub fn usage(&self) -> (f64, f64) {
        let pid = self.child.id();
        let cpu = cpu_seconds(&pid.to_string());
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
                let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb / 1024.0)
            })
            .unwrap_or(0.0);
        (cpu, rss)
    }

    /// The server process's resident memory now, in KiB.
    pub fn rss_now_kib(&self) -> f64 {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or(0.0)
    }

    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// CPU seconds (user + system) used so far by process `pid` (`self`: this one); 0 when
/// it cannot be read.
pub fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| stat_cpu(&s).map(|(_, ticks)| ticks / 100.0))
        .unwrap_or(0.0)
}

/// A `/proc/PID/stat` line's command name and user + system CPU in clock ticks.
fn stat_cpu(stat: &str) -> Option<(&str, f64)> {
    // The command name is in parentheses and may hold spaces: the fields follow its last `)`.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        name,
        f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?,
    ))
}

/// CPU seconds (user + system) used so far by the `postgres` processes of this machine
/// (0 when there are none, or when the database runs elsewhere).
pub fn postgres_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| match stat_cpu(&s)? {
            ("postgres", ticks) => Some(ticks),
            _ => None,
        })
        .sum::<f64>()
        / 100.0
}

/// A fresh temp dir for one run.
pub fn temp_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("handoff-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::stat_cpu;

    #[test]
    fn a_stat_line_gives_its_command_name_and_user_plus_system_ticks() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...: a command name with spaces and parentheses of its own.
        let line = "42 (tokio (rt) w) S 1 42 42 0 -1 4194560 10 0 0 0 250 75 0 0 20 0";
        assert_eq!(stat_cpu(line), Some(("tokio (rt) w", 325.0)));
        assert_eq!(
            stat_cpu("7 (postgres) S 1 7 7 0 -1 0 0 0 0 0 3 4"),
            Some(("postgres", 7.0))
        );
        assert_eq!(stat_cpu("garbage"), None);
        assert_eq!(stat_cpu("1 (short) S 1 2"), None);
    }
}
