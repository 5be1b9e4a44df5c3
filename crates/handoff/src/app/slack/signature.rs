//! Slack's request signature (its "signing secret" scheme), as a pure function of the
//! secret, the two headers, the body and the server's clock: `App::verify_slack` adds the
//! replay memory. Kept free of the rest of the crate (hmac, sha2, thiserror only) so that
//! the fuzz targets (`fuzz/`) compile this very file without building the service.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from the server's clock (Slack's five minutes).
pub const SLACK_WINDOW_SECS: i64 = 5 * 60;

/// Why a request was not taken as Slack's: every one is a 401, and nothing happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlackRefusal {
    #[error("Slack interactivity is off: start the server with --slack-signing-secret")]
    Off,
    #[error("X-Slack-Request-Timestamp is missing or not a number")]
    NoTimestamp,
    #[error("the request's timestamp is more than five minutes from the server's clock")]
    Stale,
    #[error("X-Slack-Signature is missing or does not match the body")]
    BadSignature,
    #[error("this request was received already (a replay)")]
    Replayed,
    #[error("too many Slack requests in five minutes; try again shortly")]
    Busy,
}

/// A request whose signature holds: its timestamp, and the signature's bytes (what the
/// replay memory remembers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub timestamp: i64,
    pub signature: Vec<u8>,
}

/// Whether a request is signed with `secret`, as Slack specifies: `X-Slack-Signature` is
/// `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` (compared in constant time),
/// and the timestamp is within five minutes of `now` (Unix seconds).
pub fn check(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Signed, SlackRefusal> {
    let ts_text = timestamp.map(str::trim).unwrap_or_default();
    let ts: i64 = ts_text.parse().map_err(|_| SlackRefusal::NoTimestamp)?;
    // `abs_diff`: a timestamp near i64's ends must not overflow.
    if now.abs_diff(ts) > SLACK_WINDOW_SECS.unsigned_abs() {
        return Err(SlackRefusal::Stale);
    }
    let given = signature
        .and_then(|s| s.trim().strip_prefix("v0="))
        .and_then(unhex)
        .ok_or(SlackRefusal::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| SlackRefusal::BadSignature)?;
    mac.update(b"v0:");
    mac.update(ts_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SlackRefusal::BadSignature)?;
    Ok(Signed {
        timestamp: ts,
        signature: given,
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    // Lowercase hex digits only, as Slack writes them (`from_str_radix` alone would take
    // `+f` for `0f`: another spelling of the same bytes).
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_read_in_pairs() {
        assert_eq!(unhex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        // One spelling only: Slack's lowercase digits (its SDK compares the text).
        assert_eq!(unhex("+f"), None);
        assert_eq!(unhex("0F"), None);
        assert_eq!(unhex("-1"), None);
    }
}
