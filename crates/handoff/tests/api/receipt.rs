//! Receipts (SPEC §3): a compact EdDSA JWS that the acting tool checks offline with the
//! key from `GET /v1/receipt-key`.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

/// Checks `receipt` against the server's JWK Set; the header and payload.
async fn verify(app: &TestApp, receipt: &str) -> (Value, Value) {
    let parts: Vec<&str> = receipt.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS: {receipt}");
    let decode = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url without padding")
    };
    let header: Value = serde_json::from_slice(&decode(parts[0])).expect("header JSON");
    let payload: Value = serde_json::from_slice(&decode(parts[1])).expect("payload JSON");
    assert_eq!(header["alg"], "EdDSA");

    let jwks = expect_json(app.get_path(None, "/v1/receipt-key").await, 200).await;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .unwrap_or_else(|| panic!("no key {} in {jwks}", header["kid"]));
    let x: [u8; 32] = decode(jwk["x"].as_str().expect("x"))
        .try_into()
        .expect("a 32-byte key");
    let key = VerifyingKey::from_bytes(&x).expect("an Ed25519 key");
    let sig: [u8; 64] = decode(parts[2]).try_into().expect("a 64-byte signature");
    let signed = format!("{}.{}", parts[0], parts[1]);
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&sig))
        .expect("the receipt's signature verifies");
    (header, payload)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_human_approval_carries_a_receipt_for_exactly_the_approved_draft() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &big_purchase()).await;
    app.decided(&cast.fay, &id, &json!({"action": "approve"}))
        .await;
    let h = app
        .decided(&cast.finn, &id, &json!({"action": "approve"}))
        .await;

    let (_, payload) = verify(&app, h["receipt"].as_str().expect("receipt")).await;
    assert_eq!(payload["handoff"], id);
    assert_eq!(payload["task"], "make_purchase");
    assert_eq!(payload["draft_sha256"], text_draft_sha256(PURCHASE_DRAFT));
    assert_eq!(payload["approvers"], json!(["fay", "finn"]));
    let (iat, exp) = (payload["iat"].as_i64(), payload["exp"].as_i64());
    assert!(
        matches!((iat, exp), (Some(i), Some(e)) if i < e),
        "{payload}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_after_an_edit_names_the_edited_draft() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let edited = "Dear client, the copy is attached.";
    let h = app
        .decided(&cast.ana, &id, &json!({"action": "edit", "draft": edited}))
        .await;
    let (_, payload) = verify(&app, h["receipt"].as_str().expect("receipt")).await;
    assert_eq!(payload["draft_sha256"], text_draft_sha256(edited));
    assert_eq!(payload["approvers"], json!(["ana"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_approval_carries_a_verifiable_receipt() {
    let app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let h = app.submitted(&agent, &routine_ticket()).await;
    let (_, payload) = verify(&app, h["receipt"].as_str().expect("receipt")).await;
    assert_eq!(payload["handoff"], h["id"]);
    assert_eq!(payload["task"], "categorize_support_ticket");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_receipt_key_survives_a_restart() {
    let mut app = TestApp::spawn().await;
    let agent = app.key("agent", "ops-bot").await;
    let h = app.submitted(&agent, &routine_ticket()).await;
    app.restart().await;
    // A receipt issued before the restart still verifies with the key served after it.
    verify(&app, h["receipt"].as_str().expect("receipt")).await;
}

/// RFC 9864: every receipt is also offered under the fully specified name `Ed25519`, the
/// same payload signed by the same key, beside the `EdDSA` one that stays the default.
#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_is_also_offered_under_rfc_9864s_ed25519_name() {
    let app = TestApp::spawn().await;
    let cast = app.cast().await;
    let h = app.submitted(&cast.agent, &routine_ticket()).await;
    let old = h["receipt"].as_str().expect("receipt");
    let new = h["receipt_ed25519"].as_str().expect("receipt_ed25519");
    let (header, _) = verify(&app, old).await;
    assert_eq!(header["typ"], "JWT");
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).expect("base64url");
    let new_header: Value =
        serde_json::from_slice(&decode(new.split('.').next().unwrap_or_default()))
            .expect("header JSON");
    assert_eq!(
        new_header,
        json!({"alg": "Ed25519", "kid": header["kid"], "typ": "JWT"})
    );
    assert_eq!(new.split('.').nth(1), old.split('.').nth(1), "one payload");

    // The key set names no algorithm, so JOSE libraries take it for either name, and the
    // client's verifier (the CLI's, the server's) accepts both.
    let jwks = expect_json(app.get_path(None, "/v1/receipt-key").await, 200).await;
    assert!(jwks["keys"][0].get("alg").is_none(), "{jwks}");
    let now = chrono::Utc::now().timestamp();
    let a = handoff_client::receipt::verify(old, &jwks, now).expect("the EdDSA receipt");
    let b = handoff_client::receipt::verify(new, &jwks, now).expect("the Ed25519 receipt");
    assert_eq!(a, b);
    let out = handoff_cli(&["receipt", "verify", new, "--server", &app.url("")]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Read back, decided by people, the same.
    let fetched = app.fetch(&cast.agent, &id_of(&h)).await;
    assert_eq!(fetched["receipt_ed25519"], new);
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let pending = app.fetch(&cast.agent, &id).await;
    assert!(pending["receipt_ed25519"].is_null(), "{pending}");
    let approved = app
        .decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let new = approved["receipt_ed25519"]
        .as_str()
        .expect("after approval");
    handoff_client::receipt::verify(new, &jwks, now).expect("the people's Ed25519 receipt");
}

/// The `Ed25519` form is derived from the stored `EdDSA` receipt, deterministically: read
/// back after a restart (from the database, not a cache) it is the very same string.
#[tokio::test(flavor = "multi_thread")]
async fn the_ed25519_receipt_of_a_human_approval_is_the_same_after_a_restart() {
    let mut app = TestApp::spawn().await;
    let cast = app.cast().await;
    let id = app.submitted_id(&cast.agent, &client_reply()).await;
    let approved = app
        .decided(&cast.ana, &id, &json!({"action": "approve"}))
        .await;
    let before = approved["receipt_ed25519"]
        .as_str()
        .expect("ed25519")
        .to_owned();
    app.restart().await;
    let after = app.fetch(&cast.agent, &id).await;
    assert_eq!(after["receipt_ed25519"], before.as_str(), "{after}");
    assert_eq!(after["receipt"], approved["receipt"]);
}
