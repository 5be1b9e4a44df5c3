//! `handoff receipt verify` run as a user runs it, on its offline failure paths. Signing
//! is covered by the unit tests; a real approval's receipt is checked with the server.

use std::process::{Command, Output};

fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        // A developer's exported server must not change what these tests exercise.
        .env_remove("HANDOFF_URL")
        .output()
        .unwrap_or_else(|e| panic!("cannot run handoff: {e}"))
}

fn assert_refused(out: &Output, reason: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert!(stderr.starts_with("receipt verify: "), "stderr: {stderr}");
    assert!(stderr.contains(reason), "stderr: {stderr}");
}

#[test]
fn a_malformed_receipt_exits_1_saying_so() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let jwks = dir.path().join("jwks.json");
    let key = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    std::fs::write(&jwks, key).unwrap_or_else(|e| panic!("{e}"));
    let jwks = jwks.display().to_string();
    let out = handoff(&["receipt", "verify", "not-a-receipt", "--jwks", &jwks]);
    assert_refused(&out, "malformed receipt");
}

#[test]
fn a_missing_jwks_file_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("no-such-jwks.json").display().to_string();
    let out = handoff(&["receipt", "verify", "a.b.c", "--jwks", &missing]);
    assert_refused(&out, &missing);
}
