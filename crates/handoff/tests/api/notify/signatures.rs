//! Standard Webhooks signatures: the tests' verifier against the known-answer vector, a
//! secret rotation (every secret signs), and the secret generated once when none is given.

use super::support::*;
use crate::common::receiver::Receiver;
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[test]
fn the_test_verifier_passes_the_standard_webhooks_known_answer_vector() {
    let (id, ts, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
    );
    let want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(sign(SECRET, id, ts, body), want);
    assert!(verify(SECRET, id, ts, body, want));
    assert!(verify(SECRET, id, ts, body, &format!("v1,bm90IGl0 {want}")));
    assert!(!verify(SECRET, id, ts, br#"{"test": 2432232315}"#, want));
    assert!(!verify(SECRET_2, id, ts, body, want));
}

#[tokio::test(flavor = "multi_thread")]
async fn during_a_secret_rotation_every_secret_signs() {
    let rx = Receiver::start().await;
    let secrets = format!("{SECRET},{SECRET_2}");
    let app = notifying_app(
        &[format!("webhook:{}", rx.url("/hook"))],
        &["--webhook-secret", &secrets],
    )
    .await;
    let agent = app.key("agent", "bot").await;
    let id = app.submitted_id(&agent, &reply_packet("Rotate")).await;

    let req = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    assert_signed(&req, SECRET);
    assert_signed(&req, SECRET_2);
    let sig = req.header("webhook-signature");
    let parts: Vec<&str> = sig.split(' ').collect();
    assert_eq!(parts.len(), 2, "{sig}");
    let (msg, ts) = (req.header("webhook-id"), req.header("webhook-timestamp"));
    assert_eq!(parts[0], sign(SECRET, &msg, &ts, req.body.as_bytes()));
    assert_eq!(parts[1], sign(SECRET_2, &msg, &ts, req.body.as_bytes()));
    assert_eq!(req.json()["data"]["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_configured_secret_one_is_generated_once_and_kept_in_the_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let rx = Receiver::start().await;
    let mut app = TestApp::spawn_with(
        Some(&policy(&[format!("webhook:{}", rx.url("/hook"))], "72h")),
        &["--retry-schedule", "0s,250ms"],
    )
    .await;
    let file = app.data_dir().join("webhook.secret");
    let secret = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
        .trim()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let key = STANDARD
        .decode(&secret["whsec_".len()..])
        .expect("base64 after whsec_");
    assert!(key.len() >= 24, "{} bytes of key", key.len());
    let mode = std::fs::metadata(&file)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the secret file is readable by others: {mode:o}"
    );

    let agent = app.key("agent", "bot").await;
    app.submitted_id(&agent, &reply_packet("One")).await;
    let req = rx.wait_for("/hook", 1, WAIT).await[0].clone();
    assert_signed(&req, &secret);

    app.restart().await;
    let again = std::fs::read_to_string(&file).expect("the secret file");
    assert_eq!(again.trim(), secret, "the secret is kept across restarts");
    app.submitted_id(&agent, &reply_packet("Two")).await;
    let req = rx.wait_for("/hook", 2, WAIT).await[1].clone();
    assert_signed(&req, &secret);
}
