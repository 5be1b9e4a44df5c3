//! 10,000 long-polls at once (the attack list, docs/SECURITY.md): `handoff bench longpoll`
//! holds them on their own connections against a real `serve` process, waits until the
//! server counts all of them waiting, then approves the handoffs; it fails unless every
//! long-poll answers `approved`, over HTTP/1.1 and again over HTTP/2. 100 handoffs carry
//! 100 waiters each, so the test spends its time on the connections, not on 10,000
//! decisions. The shell raises the open-files limit for both processes (a connection is a
//! descriptor on each side).

use crate::common::process::bench_output;
use std::process::Command;

#[test]
fn ten_thousand_long_polls_wait_at_once_and_all_see_the_decision() {
    ten_thousand_long_polls("", "10000 HTTP/1.1 connections");
}

/// The same over HTTP/2 (h2c): 1,000 long-polls to a connection.
#[test]
fn ten_thousand_long_polls_over_http2_wait_at_once_and_all_see_the_decision() {
    ten_thousand_long_polls("--http2", "10 HTTP/2 connections");
}

fn ten_thousand_long_polls(flag: &str, connections: &str) {
    let script = format!(
        "ulimit -n 30000 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; \
         echo \"open files: $(ulimit -n)\"; \
         exec '{}' bench longpoll --polls 10000 --handoffs 100 {flag}",
        env!("CARGO_BIN_EXE_handoff")
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]);
    let stdout = bench_output(sh);
    assert!(
        stdout.contains(&format!(
            "10000 long-polls over {connections} waiting after"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("10000 of 10000 long-polls answered `approved`"),
        "{stdout}"
    );
}
