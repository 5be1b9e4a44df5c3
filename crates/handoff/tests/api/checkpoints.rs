//! Signed checkpoints of the audit chain (SPEC §9): made on demand, every 1,000 entries and
//! at shutdown; listed; and what they catch that the chain alone cannot. Each tampering
//! is done to the server's database file behind its back, then judged by `GET
//! /v1/audit/verify?checkpoint=`, by `handoff audit verify --checkpoint` beside the server,
//! and offline against an export and the saved key set; each names the seq.

use super::audit_tamper::{Arg, SEQ, activity, exec, intrude};
use crate::common::*;
use handoff_client::receipt::{ReceiptError, verified_payload};
use serde_json::{Value, json};

/// `POST /v1/audit/checkpoints` as the admin: `201` with `{seq, hash, at, jws}`.
async fn checkpoint(app: &TestApp) -> Value {
    let resp = app
        .post_json(Some(&app.admin_key()), "/v1/audit/checkpoints", &json!({}))
        .await;
    expect_json(resp, 201).await
}

async fn checkpoints(app: &TestApp, query: &str) -> Value {
    let resp = app
        .get_path(
            Some(&app.admin_key()),
            &format!("/v1/audit/checkpoints{query}"),
        )
        .await;
    expect_json(resp, 200).await
}

fn jws(cp: &Value) -> &str {
    cp["jws"]
        .as_str()
        .unwrap_or_else(|| panic!("no jws in {cp}"))
}

fn seq_of(cp: &Value) -> i64 {
    cp["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("no seq in {cp}"))
}

async fn verify_against(app: &TestApp, jws: &str) -> reqwest::Response {
    app.get_path(
        Some(&app.admin_key()),
        &format!("/v1/audit/verify?checkpoint={jws}"),
    )
    .await
}

/// The whole log through the API, as entries.
async fn log(app: &TestApp) -> Vec<handoff_domain::AuditEntry> {
    let resp = app
        .get_path(Some(&app.admin_key()), "/v1/audit?limit=10000")
        .await;
    let text = resp.text().await.expect("the audit log");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("an audit entry"))
        .collect()
}

async fn jwks(app: &TestApp) -> Value {
    expect_json(app.get_path(None, "/v1/receipt-key").await, 200).await
}

fn text_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_on_demand_signs_the_head_with_the_receipt_key_and_is_never_a_receipt() {
    let app = TestApp::spawn().await;
    activity(&app).await;
    let last = log(&app).await.pop().expect("a log");
    let cp = checkpoint(&app).await;
    assert_eq!(cp["seq"], last.seq, "{cp}");
    assert_eq!(cp["hash"], last.hash.as_str(), "{cp}");
    let at = cp["at"].as_str().expect("at");
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok() && at.ends_with('Z'),
        "{at}"
    );

    // Any holder of the JWK Set checks it offline; the payload is exactly the answer.
    let keys = jwks(&app).await;
    let head = handoff_client::checkpoint::verify(jws(&cp), &keys).expect("a valid checkpoint");
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (last.seq, last.hash.as_str())
    );
    assert_eq!(
        head.at,
        chrono::DateTime::parse_from_rfc3339(at).expect("at")
    );
    let header: Value =
        serde_json::from_slice(&base64_url(jws(&cp).split('.').next().expect("a header")))
            .expect("a JSON header");
    assert_eq!(header["typ"], "handoff-checkpoint");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], keys["keys"][0]["kid"]);

    // Same key, but never an approval receipt.
    assert!(matches!(
        verified_payload(jws(&cp), &keys),
        Err(ReceiptError::WrongType { .. })
    ));

    let listed = checkpoints(&app, "").await;
    assert_eq!(listed["items"][0], cp, "{listed}");
    let v = expect_json(verify_against(&app, jws(&cp)).await, 200).await;
    assert_eq!(
        v,
        json!({"ok": true, "entries": last.seq, "checkpoint_seq": last.seq})
    );
}

fn base64_url(part: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_sign_and_list_checkpoints() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    for key in [&cast.agent, &cast.ana] {
        let resp = app
            .post_json(Some(key), "/v1/audit/checkpoints", &json!({}))
            .await;
        expect_problem(resp, 403).await;
        let resp = app.get_path(Some(key), "/v1/audit/checkpoints").await;
        expect_problem(resp, 403).await;
    }
    let resp = app
        .post_json(None, "/v1/audit/checkpoints", &json!({}))
        .await;
    expect_problem(resp, 401).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_are_listed_newest_first_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let mut made = Vec::new();
    for _ in 0..3 {
        app.submitted(&cast.agent, &routine_ticket()).await;
        made.push(checkpoint(&app).await);
    }
    let first = checkpoints(&app, "?limit=2").await;
    assert_eq!(first["items"], json!([made[2], made[1]]), "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = checkpoints(&app, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(second["items"], json!([made[0]]), "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    assert!(seq_of(&made[0]) < seq_of(&made[1]) && seq_of(&made[1]) < seq_of(&made[2]));

    for bad in [
        "?limit=0",
        "?limit=501",
        "?limit=1.5",
        "?cursor=abc",
        "?cursor=-1",
    ] {
        let resp = app
            .get_path(
                Some(&app.admin_key()),
                &format!("/v1/audit/checkpoints{bad}"),
            )
            .await;
        expect_problem(resp, 422).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_is_not_one_of_the_servers_checkpoints_is_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let approved = app.submitted(&cast.agent, &routine_ticket()).await;
    let receipt = approved["receipt"].as_str().expect("a level-1 receipt");
    let cp = checkpoint(&app).await;
    let (h, p, s) = {
        let mut parts = jws(&cp).split('.');
        (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        )
    };
    // Another payload under the server's signature.
    let forged_payload = {
        use base64::Engine;
        let mut head: Value = serde_json::from_slice(&base64_url(&p)).expect("payload");
        head["seq"] = json!(1);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(head.to_string())
    };
    let forged = format!("{h}.{forged_payload}.{s}");
    let two_parts = format!("{h}.{p}");
    for bad in ["", "garbage", receipt, forged.as_str(), two_parts.as_str()] {
        let problem = expect_problem(verify_against(&app, bad).await, 422).await;
        assert_eq!(error_fields(&problem), ["checkpoint"], "{bad}: {problem}");
    }
}

/// Judged by the API, by the CLI beside the server, and offline (export + key set): all
/// fail, naming `first_bad_seq` and the checkpoint's seq.
async fn assert_fails_against(app: &TestApp, cp: &Value, first_bad: i64) {
    let cp_seq = seq_of(cp);
    let v = expect_json(verify_against(app, jws(cp)).await, 200).await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_bad_seq"], first_bad, "{v}");
    assert_eq!(v["checkpoint_seq"], cp_seq, "{v}");

    let out = app
        .cli(&[
            "audit",
            "verify",
            "--data-dir",
            &app.data_dir_arg(),
            "--checkpoint",
            jws(cp),
        ])
        .await;
    let text = text_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        names_seq(&text, first_bad),
        "`seq {first_bad}` not named: {text}"
    );
    assert!(names_seq(&text, cp_seq), "`seq {cp_seq}` not named: {text}");

    // Offline: an export, the JWK Set and the checkpoint (the API's answer) in files.
    let dir = crate::common::app::scratch_dir();
    let export = app
        .cli(&["audit", "export", "--data-dir", &app.data_dir_arg()])
        .await;
    assert_eq!(export.status.code(), Some(0), "{}", text_of(&export));
    let export_file = dir.path().join("audit.jsonl");
    let jwks_file = dir.path().join("jwks.json");
    let cp_file = dir.path().join("checkpoint.json");
    std::fs::write(&export_file, &export.stdout).expect("write the export");
    std::fs::write(&jwks_file, jwks(app).await.to_string()).expect("write the key set");
    std::fs::write(&cp_file, cp.to_string()).expect("write the checkpoint");
    let out = handoff_cli(&[
        "audit",
        "verify",
        "--export",
        &export_file.display().to_string(),
        "--jwks",
        &jwks_file.display().to_string(),
        "--checkpoint",
        &cp_file.display().to_string(),
    ])
    .await;
    let text = text_of(&out);
    assert_eq!(out.status.code(), Some(1), "offline: {text}");
    assert!(
        names_seq(&text, first_bad),
        "offline: `seq {first_bad}` not named: {text}"
    );
}

/// A log with activity and a checkpoint of its head, taken before any tampering; it holds.
async fn checkpointed(app: &TestApp) -> Value {
    activity(app).await;
    let cp = checkpoint(app).await;
    assert!(seq_of(&cp) > SEQ + 2, "{cp}");
    let v = expect_json(verify_against(app, jws(&cp)).await, 200).await;
    assert_eq!(v["ok"], true, "{v}");
    cp
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_row_fails_the_checkpoint_at_its_seq() {
    let app = TestApp::spawn().await;
    let cp = checkpointed(&app).await;
    let mut conn = intrude(&app).await;
    exec(
        &mut conn,
        "UPDATE audit SET actor = 'mallory' WHERE seq = ?",
        &[SEQ],
    )
    .await;
    assert_fails_against(&app, &cp, SEQ).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_middle_row_fails_the_checkpoint_at_the_missing_seq() {
    let app = TestApp::spawn().await;
    let cp = checkpointed(&app).await;
    let mut conn = intrude(&app).await;
    exec(&mut conn, "DELETE FROM audit WHERE seq = ?", &[SEQ]).await;
    assert_fails_against(&app, &cp, SEQ).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_tail_passes_the_chain_but_fails_the_checkpoint_at_the_first_missing_seq() {
    let app = TestApp::spawn().await;
    let cp = checkpointed(&app).await;
    let mut conn = intrude(&app).await;
    exec(&mut conn, "DELETE FROM audit WHERE seq > ?", &[SEQ]).await;
    // The chain alone sees nothing: that is why checkpoints exist.
    assert_eq!(app.audit_verify().await["ok"], true);
    assert_fails_against(&app, &cp, SEQ + 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewritten_tail_with_a_recomputed_chain_fails_at_the_checkpoints_seq() {
    let app = TestApp::spawn().await;
    let cp = checkpointed(&app).await;
    // The forger knows SPEC §9: every entry from SEQ on is rewritten and rehashed, each
    // linked to the one before, so that the chain verifies from genesis.
    let mut entries = log(&app).await;
    let mut conn = intrude(&app).await;
    for i in usize::try_from(SEQ - 1).unwrap_or(0)..entries.len() {
        let prev = entries[i - 1].hash.clone();
        let e = &mut entries[i];
        e.actor = "mallory".to_owned();
        e.prev_hash = prev;
        e.hash = e.expected_hash();
        conn.run(
            "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            &[
                Arg::Text(&e.actor),
                Arg::Text(&e.prev_hash),
                Arg::Text(&e.hash),
                Arg::Int(e.seq),
            ],
        )
        .await;
    }
    assert_eq!(
        app.audit_verify().await["ok"],
        true,
        "the forged chain verifies"
    );
    assert_fails_against(&app, &cp, seq_of(&cp)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_broken_since_the_last_checkpoint_is_never_signed() {
    let app = TestApp::spawn().await;
    let first = checkpointed(&app).await;
    // New entries after the checkpoint, and one of them edited: the next checkpoint reads
    // what is new since the last one, finds the break and signs nothing.
    let agent = app.key("agent", "late-bot").await;
    app.submitted(&agent, &routine_ticket()).await;
    let edited = seq_of(&first) + 2;
    let mut conn = intrude(&app).await;
    exec(
        &mut conn,
        "UPDATE audit SET actor = 'mallory' WHERE seq = ?",
        &[edited],
    )
    .await;
    let resp = app
        .post_json(Some(&app.admin_key()), "/v1/audit/checkpoints", &json!({}))
        .await;
    let problem = expect_problem(resp, 409).await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(names_seq(detail, edited), "{problem}");
    assert_eq!(checkpoints(&app, "").await["items"], json!([first]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intact_log_passes_every_verifier_against_its_checkpoint() {
    let app = TestApp::spawn().await;
    let cp = checkpointed(&app).await;
    // Entries after the checkpoint are fine: the head is still in the log.
    let agent = app.key("agent", "late-bot").await;
    app.submitted(&agent, &routine_ticket()).await;
    let out = app
        .cli(&[
            "audit",
            "verify",
            "--data-dir",
            &app.data_dir_arg(),
            "--checkpoint",
            jws(&cp),
        ])
        .await;
    let text = text_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(names_seq(&text, seq_of(&cp)), "{text}");

    // A checkpoint from another server's key is refused, whatever the log.
    let other = TestApp::spawn().await;
    other.cast().await;
    let foreign = checkpoint(&other).await;
    let out = app
        .cli(&[
            "audit",
            "verify",
            "--data-dir",
            &app.data_dir_arg(),
            "--checkpoint",
            jws(&foreign),
        ])
        .await;
    assert_ne!(out.status.code(), Some(0), "{}", text_of(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_is_signed_once_the_log_grows_a_thousand_entries() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "bulk-bot").await;
    assert_eq!(checkpoints(&app, "").await["items"], json!([]));
    let mut tasks = tokio::task::JoinSet::new();
    let app = std::sync::Arc::new(app);
    for worker in 0..16 {
        let app = app.clone();
        let agent = agent.clone();
        tasks.spawn(async move {
            for _ in 0..63 {
                let resp = app.submit(&agent, &routine_ticket()).await;
                assert_eq!(resp.status().as_u16(), 201, "worker {worker}");
            }
        });
    }
    tasks.join_all().await;
    let head = log(&app).await.pop().expect("a log").seq;
    assert!(head >= 1000, "{head}");
    // The job signs after the commit that crossed the mark; give it a moment.
    let mut found = None;
    for _ in 0..200 {
        let items = checkpoints(&app, "").await["items"].clone();
        if let Some(cp) = items.as_array().and_then(|a| a.first()).cloned() {
            found = Some(cp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cp = found.expect("no checkpoint after a thousand entries");
    assert!(seq_of(&cp) >= 1000, "{cp}");
    let v = expect_json(verify_against(&app, jws(&cp)).await, 200).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        checkpoints(&app, "").await["items"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "one mark crossed, one checkpoint"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_signs_its_head_when_it_shuts_down() {
    let mut app = TestApp::spawn().await;
    activity(&app).await;
    let head = log(&app).await.pop().expect("a log");
    app.stop().await.expect("a clean stop");
    app.start().await;
    let items = checkpoints(&app, "").await["items"].clone();
    let cp = &items[0];
    assert_eq!(cp["seq"], head.seq, "{items}");
    assert_eq!(cp["hash"], head.hash.as_str(), "{items}");
    let v = expect_json(verify_against(&app, jws(cp)).await, 200).await;
    assert_eq!(v["ok"], true, "{v}");
}
