//! Identifiers and secrets made from the operating system's randomness: handoff ids
//! (`hnd_` + a ULID, so that ids sort by creation time) and API keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Crockford's base32, the ULID alphabet.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The prefix that makes a handoff API key recognisable (to people and secret scanners).
pub const KEY_PREFIX: &str = "hk_";

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS's randomness failing is not something to serve through.
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("the operating system gave no randomness: {e}");
    }
    b
}

/// The last id's (milliseconds, random part): ids made in the same millisecond count up
/// from it, so that ids from one process sort in the order they were made.
static LAST: std::sync::Mutex<(u64, u128)> = std::sync::Mutex::new((0, 0));

/// A request's id: this process's random prefix and a counter (no system call per
/// request), unique across restarts and nodes.
pub fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let b = random::<6>();
        b.iter().map(|x| format!("{x:02x}")).collect()
    });
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("req_{prefix}{n:x}")
}

/// `hnd_` + 26 characters: 48 bits of milliseconds, then 80 random bits (monotonic
/// within a millisecond).
pub fn handoff_id(now: DateTime<Utc>) -> String {
    let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0) & ((1 << 48) - 1);
    let rand = {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let next = if last.0 >= ms {
            // Same (or an earlier, after a clock step) millisecond: count up from the last.
            (last.0, (last.1 + 1) & ((1 << 80) - 1))
        } else {
            let bytes = random::<10>();
            let r = bytes
                .iter()
                .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
            (ms, r)
        };
        *last = next;
        next
    };
    let n: u128 = (u128::from(rand.0) << 80) | rand.1;
    let mut out = String::with_capacity(30);
    out.push_str("hnd_");
    for i in (0..26).rev() {
        let digit = ((n >> (5 * i)) & 31) as usize;
        out.push(char::from(CROCKFORD[digit]));
    }
    out
}

/// A new API key: the prefix and 256 random bits, base64url.
pub fn api_key() -> String {
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random::<32>()))
}

/// What the store keeps of a key: the lowercase hex SHA-256 of the whole key.
pub fn key_sha256(key: &str) -> String {
    handoff_domain::canonical::hex(&Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn handoff_ids_are_ulids_that_sort_by_time() {
        let t1 = Utc.timestamp_millis_opt(1_700_000_000_000).single();
        let t2 = Utc.timestamp_millis_opt(1_700_000_000_001).single();
        let (Some(t1), Some(t2)) = (t1, t2) else {
            panic!("bad test time")
        };
        let (a, b) = (handoff_id(t1), handoff_id(t2));
        assert_eq!(a.len(), 30);
        assert!(a.starts_with("hnd_"));
        assert!(a < b, "{a} should sort before {b}");
        assert!(a[4..].bytes().all(|c| CROCKFORD.contains(&c)));
        let (c, d) = (handoff_id(t2), handoff_id(t2));
        assert!(
            b < c && c < d,
            "ids of one millisecond count up: {b} {c} {d}"
        );
    }

    #[test]
    fn keys_carry_256_random_bits_and_are_stored_as_their_digest() {
        let k = api_key();
        assert!(k.starts_with(KEY_PREFIX));
        assert_eq!(k.len(), KEY_PREFIX.len() + 43);
        assert_ne!(k, api_key());
        let h = key_sha256(&k);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&k[3..]));
    }
}
