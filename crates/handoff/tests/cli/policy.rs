//! The `handoff policy` commands, run as a user runs them: the real binary, real files,
//! exit codes, stdout and stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn handoff(args: &[&str]) -> Output {
    run(args, None)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run handoff: {e}"));
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("handoff-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
        Dir(p)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn example(dir: &Dir) -> String {
    let out = handoff(&["policy", "example"]);
    assert!(out.status.success());
    dir.file("policy.toml", &stdout(&out))
}

/// The packet printed in the seed article, verbatim.
const SEED_PACKET: &str = include_str!("../../../handoff-domain/fixtures/seed_packet.json");

#[test]
fn check_accepts_the_example_policy() {
    let dir = Dir::new("check-ok");
    let file = example(&dir);
    let out = handoff(&["policy", "check", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(": ok ("));
}

#[test]
fn check_prints_file_line_column_for_each_error_and_exits_1() {
    let dir = Dir::new("check-bad");
    let file = dir.file(
        "bad.toml",
        "[teams.ops]\nmembers = [\"oz\"]\n[tasks.x]\nlevel = 5\nsla = \"soon\"\n[[rules]]\nname = \"r\"\nwhen = \"handoff.flags ==\"\n",
    );
    let out = handoff(&["policy", "check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!("{file}:4:9: level must be")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{file}:5:7: `soon` is not a duration")),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{file}:8:")) && lines[2].contains("bad CEL"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn check_accepts_people_with_slack_ids_who_are_in_a_team() {
    let dir = Dir::new("people-ok");
    let file = dir.file(
        "people.toml",
        "[teams.ops]\nmembers = [\"oz\", \"ana\"]\n[people.ana]\nslack = \"U024BE7LH\"\n[people.oz]\nslack = \"W0123ABCD\"\n",
    );
    let out = handoff(&["policy", "check", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn check_refuses_a_slack_id_used_twice_a_person_in_no_team_and_a_bad_id() {
    let dir = Dir::new("people-bad");
    let file = dir.file(
        "people.toml",
        concat!(
            "[teams.ops]\n",
            "members = [\"oz\", \"ana\"]\n",
            "[people.ana]\n",
            "slack = \"U024BE7LH\"\n",
            "[people.oz]\n",
            "slack = \"U024BE7LH\"\n",
            "[people.zed]\n",
            "slack = \"not-an-id\"\n",
        ),
    );
    let out = handoff(&["policy", "check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "{file}:6:9: Slack user `U024BE7LH` is already [people.ana]'s"
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{file}:7:9: person `zed` is a member of no team")),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{file}:8:9: `not-an-id` is not a Slack user id")),
        "{err}"
    );
}

#[test]
fn check_of_a_missing_file_says_so() {
    let out = handoff(&["policy", "check", "/nonexistent/policy.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read policy file /nonexistent/policy.toml"));
}

#[test]
fn explain_prints_the_evaluation_of_the_seed_packet_as_json() {
    let dir = Dir::new("explain");
    let policy = example(&dir);
    let packet = dir.file("packet.json", SEED_PACKET);
    let out = handoff(&[
        "policy",
        "explain",
        "--policy",
        &policy,
        &packet,
        "--now",
        "2026-11-21T10:00:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
    assert_eq!(v["level"], 2);
    assert_eq!(v["risk"], "medium");
    assert_eq!(v["route"], "sales-leads");
    assert_eq!(v["approvals_required"], 2);
    assert_eq!(v["flags"], serde_json::json!(["four-eyes"]));
    assert_eq!(v["sla_due_at"], "2026-11-21T12:00:00Z");
    assert!(
        v["policy_version"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:"))
    );
    let reasons = v["reasons"].as_array().cloned().unwrap_or_default();
    assert!(reasons.contains(
        &serde_json::json!({"rule": "confidence below threshold", "effect": "level >= 2"})
    ));
}

#[test]
fn explain_reads_the_packet_from_stdin() {
    let out = run(&["policy", "explain", "-"], Some(SEED_PACKET));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"route\": \"sales-leads\""));
}

#[test]
fn explain_names_every_bad_field_of_a_bad_packet() {
    let out = run(
        &["policy", "explain", "-"],
        Some(r#"{"task": "X", "confidence": 7}"#),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for f in ["task:", "summary:", "confidence:"] {
        assert!(err.contains(f), "{f} missing in {err}");
    }
}

#[test]
fn explain_refuses_what_is_not_json() {
    let out = run(&["policy", "explain", "-"], Some("{nope"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not JSON"));
}

#[test]
fn test_runs_the_policy_tests_and_counts_them() {
    let dir = Dir::new("test-ok");
    let file = example(&dir);
    let out = handoff(&["policy", "test", &file]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok   big accounts need two approvers"))
    );
    assert!(text.trim_end().ends_with("13 passed, 0 failed"), "{text}");
}

#[test]
fn test_reports_failures_and_exits_1() {
    let dir = Dir::new("test-bad");
    let file = dir.file(
        "p.toml",
        "[teams.ops]\nmembers = [\"oz\"]\n[tasks.t]\nlevel = 1\n\
         [[tests]]\nname = \"passes\"\npacket = { task = \"t\", summary = \"s\", confidence = 0.9 }\nexpect = { level = 1 }\n\
         [[tests]]\nname = \"fails\"\npacket = { task = \"t\", summary = \"s\", confidence = 0.9 }\nexpect = { level = 3 }\n",
    );
    let out = handoff(&["policy", "test", &file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains(&format!("FAIL fails ({file}:9)")), "{text}");
    assert!(text.contains("level: expected 3, got 1"));
    assert!(text.trim_end().ends_with("1 passed, 1 failed"));
}
