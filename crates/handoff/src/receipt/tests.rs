//! Receipts: sign and verify round trips, tampering, expiry, draft binding, the key file,
//! and known answers computed outside this crate so that we interoperate with JOSE.

use super::*;
use std::os::unix::fs::PermissionsExt;

const NOW: i64 = 1_700_000_000;

/// The secret key of RFC 8032 §7.1 test 1, also used by RFC 8037's examples.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn rfc8032_key() -> ReceiptKey {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&RFC8032_SEED[2 * i..2 * i + 2], 16)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    ReceiptKey::from_seed(&seed)
}

fn payload() -> ReceiptPayload {
    ReceiptPayload {
        handoff: "h_01".to_owned(),
        task: "email.send".to_owned(),
        draft_sha256: None,
        approvers: vec!["alice".to_owned()],
        iat: NOW,
        exp: NOW + 86_400,
    }
}

fn decode(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("{part}: {e}"))
}

/// The receipt with one bit flipped in the decoded bytes of part `index`.
fn flip(receipt: &str, index: usize) -> String {
    let mut parts: Vec<String> = receipt.split('.').map(str::to_owned).collect();
    let mut bytes = decode(&parts[index]);
    bytes[3] ^= 0x01;
    parts[index] = URL_SAFE_NO_PAD.encode(bytes);
    parts.join(".")
}

#[test]
fn a_signed_receipt_verifies_and_returns_its_payload() {
    let key = ReceiptKey::generate();
    let receipt = key.sign(&payload());
    assert_eq!(verify(&receipt, &key.jwks(), NOW), Ok(payload()));
}

#[test]
fn a_flipped_byte_in_the_payload_or_the_signature_is_a_bad_signature() {
    let key = ReceiptKey::generate();
    let receipt = key.sign(&payload());
    assert_eq!(
        verify(&flip(&receipt, 1), &key.jwks(), NOW),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        verify(&flip(&receipt, 2), &key.jwks(), NOW),
        Err(ReceiptError::BadSignature)
    );
}

#[test]
fn another_keys_jwks_does_not_verify() {
    let receipt = ReceiptKey::generate().sign(&payload());
    let other = ReceiptKey::generate();
    // Same kid, other key: the signature check is what refuses it.
    let mut jwks = other.jwks();
    let kid = receipt_kid(&receipt);
    jwks["keys"][0]["kid"] = Value::String(kid.clone());
    assert_eq!(
        verify(&receipt, &jwks, NOW),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        verify(&receipt, &other.jwks(), NOW),
        Err(ReceiptError::UnknownKid(kid))
    );
}

fn receipt_kid(receipt: &str) -> String {
    let header: Value = serde_json::from_slice(&decode(receipt.split('.').next().unwrap_or("")))
        .unwrap_or_else(|e| panic!("{e}"));
    header["kid"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_expired_receipt_is_refused_and_exp_itself_is_already_too_late() {
    let key = ReceiptKey::generate();
    let p = payload();
    let receipt = key.sign(&p);
    assert!(verify(&receipt, &key.jwks(), p.exp - 1).is_ok());
    assert_eq!(
        verify(&receipt, &key.jwks(), p.exp),
        Err(ReceiptError::Expired {
            exp: p.exp,
            now: p.exp
        })
    );
}

#[test]
fn a_receipt_from_the_future_is_refused_beyond_five_minutes_of_skew() {
    let key = ReceiptKey::generate();
    let receipt = key.sign(&payload());
    assert!(verify(&receipt, &key.jwks(), NOW - 300).is_ok());
    assert_eq!(
        verify(&receipt, &key.jwks(), NOW - 301),
        Err(ReceiptError::NotYetValid {
            iat: NOW,
            now: NOW - 301
        })
    );
}

#[test]
fn garbage_and_other_algorithms_are_refused() {
    let key = ReceiptKey::generate();
    let jwks = key.jwks();
    for bad in ["", "a.b", "a.b.c.d", "!!.e30.AA"] {
        assert!(
            matches!(verify(bad, &jwks, NOW), Err(ReceiptError::Malformed(_))),
            "{bad:?}"
        );
    }
    let receipt = key.sign(&payload());
    let rest = receipt.split_once('.').map_or("", |(_, rest)| rest);
    let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
    assert_eq!(
        verify(&none, &jwks, NOW),
        Err(ReceiptError::UnsupportedAlg("none".to_owned()))
    );
}

#[test]
fn the_draft_must_hash_to_the_approved_digest() {
    let draft = json!({"to": "bob@example.com", "body": "hello"});
    let mut p = payload();
    assert_eq!(check_draft(&p, &draft), Err(ReceiptError::NoDraftDigest));
    p.draft_sha256 = Some(handoff_domain::canonical::sha256_hex(&draft));
    assert_eq!(check_draft(&p, &draft), Ok(()));
    // Key order does not matter (RFC 8785), content does.
    let reordered: Value = serde_json::from_str(r#"{"body":"hello","to":"bob@example.com"}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check_draft(&p, &reordered), Ok(()));
    let changed = json!({"to": "eve@example.com", "body": "hello"});
    assert!(matches!(
        check_draft(&p, &changed),
        Err(ReceiptError::DraftMismatch { .. })
    ));
}

#[test]
fn the_jwks_is_an_rfc8037_okp_key_set() {
    let key = rfc8032_key();
    assert_eq!(
        key.jwks(),
        json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            // RFC 8037 appendix A.2, the public key of the same seed.
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "kid": "hr_21fe31dfa154a261",
            // No `alg`: one key verifies both names of the algorithm (RFC 9864).
            "use": "sig",
        }]})
    );
}

#[test]
fn load_or_create_keeps_one_key_in_a_private_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = ReceiptKey::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
    let second = ReceiptKey::load_or_create(dir.path()).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(first.kid(), second.kid());
    let path = dir.path().join("receipt.key");
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!dir.path().join("receipt.key.tmp").exists());
}

#[test]
fn a_bad_key_file_is_an_error_naming_it_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("receipt.key");
    std::fs::write(&path, "too-short\n").unwrap_or_else(|e| panic!("{e}"));
    let err = ReceiptKey::load_or_create(dir.path()).expect_err("a bad key file must fail");
    assert!(
        format!("{err:#}").contains(&path.display().to_string()),
        "{err:#}"
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text, "too-short\n");
}

/// Computed with Python's `cryptography` package (OpenSSL), not with this code.
const KNOWN_RECEIPT: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImhyXzIxZmUzMWRmYTE1NGEyNjEiLCJ0eXAiOiJKV1QifQ.eyJoYW5kb2ZmIjoiaF8wMSIsInRhc2siOiJlbWFpbC5zZW5kIiwiZHJhZnRfc2hhMjU2IjpudWxsLCJhcHByb3ZlcnMiOlsiYWxpY2UiXSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwODY0MDB9.mPSmEVYzkXYlHR_QlfwmXbQwgvtMBGwTDyuDH0PzWBQgk80fyQc6JtsobMWMn2uzGpTVu9PgoxHnq7laqs5qBA";

#[test]
fn signing_gives_exactly_the_specified_header_payload_and_signature_bytes() {
    let receipt = rfc8032_key().sign(&payload());
    let parts: Vec<&str> = receipt.split('.').collect();
    assert_eq!(
        String::from_utf8(decode(parts[0])).unwrap_or_default(),
        r#"{"alg":"EdDSA","kid":"hr_21fe31dfa154a261","typ":"JWT"}"#
    );
    assert_eq!(
        String::from_utf8(decode(parts[1])).unwrap_or_default(),
        r#"{"handoff":"h_01","task":"email.send","draft_sha256":null,"approvers":["alice"],"iat":1700000000,"exp":1700086400}"#
    );
    // Ed25519 is deterministic, so the whole token is a known answer.
    assert_eq!(receipt, KNOWN_RECEIPT);
}

#[test]
fn a_receipt_from_another_jose_implementation_verifies() {
    // RFC 8037 appendix A.4: no kid, so the key set's only key is used.
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
    assert_eq!(
        verified_payload(jws, &jwks),
        Ok(b"Example of Ed25519 signing".to_vec())
    );
}

#[test]
fn a_receipt_under_rfc_9864s_ed25519_name_verifies_with_the_same_key_and_payload() {
    let key = rfc8032_key();
    let old = key.sign(&payload());
    let new = key.sign_as(&payload(), Alg::Ed25519);
    let header = |r: &str| {
        String::from_utf8(decode(r.split('.').next().unwrap_or_default())).unwrap_or_default()
    };
    assert_eq!(
        header(&new),
        r#"{"alg":"Ed25519","kid":"hr_21fe31dfa154a261","typ":"JWT"}"#
    );
    assert_eq!(new.split('.').nth(1), old.split('.').nth(1), "one payload");
    assert_eq!(verify(&new, &key.jwks(), NOW), Ok(payload()));
    assert_eq!(verify(&old, &key.jwks(), NOW), Ok(payload()));
    // A key set saved before, naming `alg: EdDSA`, or naming `Ed25519`: the curve decides.
    for alg in ["EdDSA", "Ed25519"] {
        let mut jwks = key.jwks();
        jwks["keys"][0]["alg"] = json!(alg);
        assert_eq!(verify(&new, &jwks, NOW), Ok(payload()), "key alg {alg}");
        assert_eq!(verify(&old, &jwks, NOW), Ok(payload()), "key alg {alg}");
    }
    let mut jwks = key.jwks();
    jwks["keys"][0]["alg"] = json!("ES256");
    assert!(matches!(
        verify(&new, &jwks, NOW),
        Err(ReceiptError::BadKey(_))
    ));
}

#[test]
fn the_ed25519_name_changes_nothing_but_the_header_and_tampering_still_fails() {
    let key = ReceiptKey::generate();
    let new = key.sign_as(&payload(), Alg::Ed25519);
    assert_eq!(
        verify(&flip(&new, 1), &key.jwks(), NOW),
        Err(ReceiptError::BadSignature)
    );
    // Renaming the algorithm of a signed receipt changes the signing input: refused.
    let old = key.sign(&payload());
    let renamed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"Ed25519","kid":"{}","typ":"JWT"}}"#,
            key.kid()
        )),
        old.split_once('.')
            .map(|(_, rest)| rest)
            .unwrap_or_default()
    );
    assert_eq!(
        verify(&renamed, &key.jwks(), NOW),
        Err(ReceiptError::BadSignature)
    );
    for alg in ["ed25519", "EDDSA", "Ed448", "ES256"] {
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#)),
            old.split_once('.')
                .map(|(_, rest)| rest)
                .unwrap_or_default()
        );
        assert_eq!(
            verify(&forged, &key.jwks(), NOW),
            Err(ReceiptError::UnsupportedAlg(alg.to_owned()))
        );
    }
}

fn head() -> handoff_domain::checkpoint::Head {
    handoff_domain::checkpoint::Head {
        seq: 1000,
        hash: "ab".repeat(32),
        at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default(),
    }
}

#[test]
fn a_checkpoint_is_never_a_receipt_and_a_receipt_never_a_checkpoint() {
    let key = rfc8032_key();
    let cp = key.sign_checkpoint(&head());
    let parts: Vec<&str> = cp.split('.').collect();
    assert_eq!(
        String::from_utf8(decode(parts[0])).unwrap_or_default(),
        r#"{"alg":"EdDSA","kid":"hr_21fe31dfa154a261","typ":"handoff-checkpoint"}"#
    );
    assert_eq!(
        String::from_utf8(decode(parts[1])).unwrap_or_default(),
        format!(
            r#"{{"seq":1000,"hash":"{}","at":"2023-11-14T22:13:20.123Z"}}"#,
            "ab".repeat(32)
        )
    );
    assert_eq!(
        handoff_client::checkpoint::verify(&cp, &key.jwks()),
        Ok(head())
    );
    assert_eq!(
        verified_payload(&cp, &key.jwks()),
        Err(ReceiptError::WrongType {
            expected: "receipt",
            found: "handoff-checkpoint".to_owned()
        })
    );
    for receipt in [key.sign(&payload()), key.sign_as(&payload(), Alg::Ed25519)] {
        assert_eq!(
            handoff_client::checkpoint::verify(&receipt, &key.jwks()),
            Err(handoff_client::checkpoint::CheckpointError::Jws(
                ReceiptError::WrongType {
                    expected: "checkpoint",
                    found: "JWT".to_owned()
                }
            ))
        );
    }
}

#[test]
fn a_checkpoint_from_another_key_or_with_another_payload_is_refused() {
    let key = ReceiptKey::generate();
    let cp = key.sign_checkpoint(&head());
    let other = ReceiptKey::generate();
    let mut jwks = other.jwks();
    jwks["keys"][0]["kid"] = json!(key.kid());
    assert_eq!(
        handoff_client::checkpoint::verify(&cp, &jwks),
        Err(handoff_client::checkpoint::CheckpointError::Jws(
            ReceiptError::BadSignature
        ))
    );
    assert!(handoff_client::checkpoint::verify(&flip(&cp, 1), &key.jwks()).is_err());
    let bad = handoff_domain::checkpoint::Head {
        hash: "AB".repeat(32),
        ..head()
    };
    assert_eq!(
        handoff_client::checkpoint::verify(&key.sign_checkpoint(&bad), &key.jwks()),
        Err(handoff_client::checkpoint::CheckpointError::NotAHead)
    );
}

#[test]
fn only_an_authentic_receipt_of_this_key_is_re_signed_under_ed25519() {
    let key = rfc8032_key();
    let old = key.sign(&payload());
    assert_eq!(
        key.ed25519_form(&old),
        Some(key.sign_as(&payload(), Alg::Ed25519))
    );
    // A receipt edited in the database, another key's, or already Ed25519: no signature.
    assert_eq!(key.ed25519_form(&flip(&old, 1)), None);
    assert_eq!(
        key.ed25519_form(&ReceiptKey::generate().sign(&payload())),
        None
    );
    assert_eq!(
        key.ed25519_form(&key.sign_as(&payload(), Alg::Ed25519)),
        None
    );
    assert_eq!(key.ed25519_form(&key.sign_checkpoint(&head())), None);
    assert_eq!(key.ed25519_form("garbage"), None);
}
