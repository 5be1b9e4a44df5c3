//! The `process_*` metrics every Prometheus client library exports, read from `/proc` on
//! Linux (left out elsewhere): CPU seconds, resident and virtual memory, open and maximum
//! file descriptors, the start time.

use std::fmt::Write;

/// Clock ticks per second of `/proc/self/stat`'s times: `sysconf(_SC_CLK_TCK)`, which is
/// 100 on every Linux architecture Rust targets (and no `libc` call is needed to know it).
const TICKS_PER_SEC: f64 = 100.0;

/// Appends the process metrics that could be read.
pub fn render(out: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // `rest` starts at field 3 (state): field N is `fields[N - 3]`.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        metric(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (utime + stime) / TICKS_PER_SEC,
        );
    }
    if let Some(vsize) = field(23) {
        metric(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            vsize,
        );
    }
    if let Some(rss_kb) = status_kb("VmRSS:") {
        metric(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss_kb * 1024.0,
        );
    }
    if let (Some(start_ticks), Some(boot)) = (field(22), boot_time()) {
        metric(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot + start_ticks / TICKS_PER_SEC,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metric(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        metric(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max,
        );
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// A `kB` line of `/proc/self/status`.
fn status_kb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The boot time (Unix seconds), `btime` of `/proc/stat`.
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line["btime ".len()..].trim().parse().ok()
}

/// The soft limit of open files, from `/proc/self/limits`.
fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
