//! Slack's request signature check (`app/slack/signature.rs`, under `App::verify_slack`)
//! on any secret, timestamp header, signature header and body. The input is
//! `secret\ntimestamp\nsignature\nbody`. Asserts that a request is only ever taken with the
//! HMAC-SHA256 of `v0:{timestamp}:{body}` under the secret and a timestamp within five
//! minutes; that the signature Slack would compute is taken, and refused for a changed
//! body, a changed timestamp, another secret, or five minutes and one second later.
#![no_main]

use handoff_fuzz::slack_signature::{SLACK_WINDOW_SECS, SlackRefusal, check};
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

fuzz_target!(|data: &[u8]| {
    let f = handoff_fuzz::fields(data, 4);
    let secret = String::from_utf8_lossy(f[0]);
    let ts_header = String::from_utf8_lossy(f[1]);
    let sig_header = String::from_utf8_lossy(f[2]);
    let body = f[3];
    let ts = ts_header.trim().parse::<i64>().ok();
    // The server's clock: the request's own time when it has one, so that a signature
    // check is reached; shifted by a byte of the input to reach the window's edges.
    let skew = i64::from(f[3].first().copied().unwrap_or(0)) * 3 - 384;
    let now = ts.map_or(1_795_000_000, |t| t.saturating_add(skew));

    // What the input claims.
    match check(&secret, Some(&ts_header), Some(&sig_header), body, now) {
        Ok(signed) => {
            let Some(ts) = ts else {
                panic!("taken without a timestamp")
            };
            assert_eq!(signed.timestamp, ts);
            assert!(now.abs_diff(ts) <= SLACK_WINDOW_SECS.unsigned_abs());
            assert_eq!(
                signed.signature,
                mac(&secret, ts_header.trim(), body),
                "a signature not computed with the secret was taken"
            );
        }
        Err(r) => assert!(matches!(
            r,
            SlackRefusal::NoTimestamp | SlackRefusal::Stale | SlackRefusal::BadSignature
        )),
    }

    // What Slack would send.
    let Some(ts) = ts else { return };
    let ts_text = ts_header.trim();
    let good = format!("v0={}", hex(&mac(&secret, ts_text, body)));
    let at = |now: i64, body: &[u8], sig: &str| check(&secret, Some(ts_text), Some(sig), body, now);
    assert!(at(ts, body, &good).is_ok(), "Slack's own signature refused");
    if let Some(edge) = ts.checked_add(SLACK_WINDOW_SECS) {
        assert!(
            at(edge, body, &good).is_ok(),
            "refused at the window's edge"
        );
    }
    if let Some(late) = ts.checked_add(SLACK_WINDOW_SECS + 1) {
        assert_eq!(at(late, body, &good), Err(SlackRefusal::Stale));
    }
    let mut changed = body.to_vec();
    changed.push(b' ');
    assert_eq!(at(ts, &changed, &good), Err(SlackRefusal::BadSignature));
    let other = format!("v0={}", hex(&mac(&format!("{secret}x"), ts_text, body)));
    assert_eq!(at(ts, body, &other), Err(SlackRefusal::BadSignature));
    if let Some(next) = ts.checked_add(1) {
        let moved = next.to_string();
        let r = check(&secret, Some(&moved), Some(&good), body, next);
        assert_eq!(
            r,
            Err(SlackRefusal::BadSignature),
            "a signature moved in time"
        );
    }
});

fn mac(secret: &str, ts: &str, body: &[u8]) -> Vec<u8> {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes any key")
    };
    m.update(format!("v0:{ts}:").as_bytes());
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
