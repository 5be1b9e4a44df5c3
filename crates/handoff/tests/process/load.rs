//! `handoff bench load` against a real `serve` process: both phases run, nothing fails, and
//! the report names the server's CPU and the load generator's own (on a machine whose
//! cores they share, both are part of what an operation costs; docs/PERFORMANCE.md).

use crate::common::process::bench_output;
use std::process::Command;

#[test]
fn bench_load_runs_both_phases_and_reports_the_cpu_of_server_and_load_generator() {
    let mut bench = Command::new(env!("CARGO_BIN_EXE_handoff"));
    bench.args([
        "bench",
        "load",
        "--agents",
        "4",
        "--reviewers",
        "2",
        "--seconds",
        "1",
    ]);
    let stdout = bench_output(bench);
    for line in [
        "server node 0: ",
        " s CPU in all, peak RSS ",
        "load generator (this process): ",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    let cpu: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("load generator (this process): "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1.0);
    assert!(
        cpu > 0.0,
        "the load generator's CPU is not a positive figure:\n{stdout}"
    );
}
