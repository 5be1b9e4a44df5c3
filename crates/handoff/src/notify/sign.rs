//! Standard Webhooks signing: `webhook-signature: v1,<base64 of HMAC-SHA256 over
//! "id.timestamp.body">`, with secrets written `whsec_<base64 of the key bytes>`. During a
//! rotation several secrets sign, and the header carries every signature, space-separated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
/// Bytes of key in a generated secret.
const GENERATED_BYTES: usize = 32;

/// One signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// `whsec_` + base64; the prefix may be left off, as Standard Webhooks libraries allow.
    pub fn parse(text: &str) -> Result<Secret, String> {
        let b64 = text.trim();
        let b64 = b64.strip_prefix(PREFIX).unwrap_or(b64);
        let key = STANDARD
            .decode(b64)
            .map_err(|e| format!("a webhook secret is whsec_ followed by base64: {e}"))?;
        if key.len() < 24 {
            return Err("a webhook secret needs at least 24 bytes of key".to_owned());
        }
        Ok(Secret(key))
    }

    pub fn generate() -> Result<Secret, getrandom::Error> {
        let mut key = vec![0u8; GENERATED_BYTES];
        getrandom::fill(&mut key)?;
        Ok(Secret(key))
    }

    /// The `whsec_…` form, for the data dir and for receivers.
    pub fn encode(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC accepts every key length")
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's known-answer vector.
    #[test]
    fn signs_the_standard_webhooks_known_answer() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_else(|e| panic!("{e}"));
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_signs_with_every_secret() {
        let a = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_else(|e| panic!("{e}"));
        let b = Secret::generate().unwrap_or_else(|e| panic!("{e}"));
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [a.sign("msg_1", 1, b"{}"), b.sign("msg_1", 1, b"{}")]
        );
        assert_eq!(Secret::parse(&b.encode()), Ok(b));
    }

    #[test]
    fn refuses_short_or_malformed_secrets() {
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err());
        assert!(Secret::parse("whsec_not base64!").is_err());
    }
}
