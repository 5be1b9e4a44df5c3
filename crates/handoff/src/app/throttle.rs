//! Guessing keys, slowed down: failed authentications are counted per source (the client's
//! address; IPv6 by its /64, which one host usually owns whole), and a source that has
//! failed too often is refused (`AppError::Throttled`, HTTP 429 with `Retry-After`) before
//! its key is even looked at, until it has earned another try. Every front door that takes
//! a key (the API, the login form, MCP) goes through [`App::authenticate_from`].
//!
//! A token bucket of failures: `burst` failures at once, then one more every `every`. A
//! success costs nothing and forgives nothing. Time is the App's clock, so tests move it.
//! The table is bounded: past [`MAX_SOURCES`] sources, those that have earned all their
//! tries back are forgotten; if that frees nothing, the oldest half is dropped (an
//! attacker with that many addresses gains some tries back, the server's memory stays
//! bounded).

use super::{App, AppError, AppResult, Principal};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Sources remembered at most.
const MAX_SOURCES: usize = 100_000;

/// How many failed authentications a source may have, and how fast it earns them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub burst: u32,
    pub every: Duration,
}

impl Default for ThrottleRule {
    /// 10 failures at once, then one every 6 s (10 a minute).
    fn default() -> ThrottleRule {
        ThrottleRule {
            burst: 10,
            every: Duration::from_secs(6),
        }
    }
}

impl ThrottleRule {
    /// `N/minute`, `N/second` or `N/hour` (burst N, one back every period/N); `off` for no
    /// limit.
    pub fn parse(s: &str) -> Result<Option<ThrottleRule>, String> {
        let s = s.trim();
        if s == "off" {
            return Ok(None);
        }
        let (n, per) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not N/minute, N/second, N/hour or off"))?;
        let n: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{n}` is not a whole number above 0"))?;
        let period = match per.trim() {
            "second" | "s" => Duration::from_secs(1),
            "minute" | "min" | "m" => Duration::from_secs(60),
            "hour" | "h" => Duration::from_secs(3600),
            other => return Err(format!("`{other}` is not second, minute or hour")),
        };
        Ok(Some(ThrottleRule {
            burst: n,
            every: period / n,
        }))
    }
}

/// Who is knocking, as far as counting failures goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address, or an IPv6 /64 (the low 64 bits cleared).
    Ip(IpAddr),
    /// No address known (a front door without one): counted together.
    Unknown,
}

impl Source {
    pub fn of(ip: Option<IpAddr>) -> Source {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                Source::Ip(IpAddr::V6(bits.into()))
            }
            Some(v4) => Source::Ip(v4),
            None => Source::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// When the bucket is full again (Unix ms): each failure pushes it `every` later.
    full_at: i64,
}

#[derive(Debug)]
pub struct Throttle {
    rule: Option<ThrottleRule>,
    sources: Mutex<HashMap<Source, Bucket>>,
    /// How many sources the table holds: while none has failed lately, a check takes no
    /// lock (the common case, on every authenticated request).
    held: AtomicUsize,
}

impl Throttle {
    pub fn new(rule: Option<ThrottleRule>) -> Throttle {
        Throttle {
            rule,
            sources: Mutex::new(HashMap::new()),
            held: AtomicUsize::new(0),
        }
    }

    fn every_ms(rule: ThrottleRule) -> i64 {
        i64::try_from(rule.every.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// `Err(seconds to wait)` when `source` has no try left at `now_ms`.
    pub fn check(&self, source: Source, now_ms: i64) -> Result<(), u64> {
        let Some(rule) = self.rule else {
            return Ok(());
        };
        if self.held.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = sources.get(&source).copied() else {
            return Ok(());
        };
        if b.full_at <= now_ms {
            // Every try earned back: forgotten.
            sources.remove(&source);
            self.held.store(sources.len(), Ordering::Release);
            return Ok(());
        }
        let every = Throttle::every_ms(rule);
        // Tries used = how far `full_at` lies ahead, in periods (rounded up).
        let ahead = b.full_at.saturating_sub(now_ms);
        let burst = i64::from(rule.burst);
        if ahead <= every.saturating_mul(burst - 1) {
            return Ok(());
        }
        // The next try comes when `full_at` is within (burst - 1) periods again.
        let wait_ms = ahead - every.saturating_mul(burst - 1);
        Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1))
    }

    /// Counts one failed authentication of `source` at `now_ms`.
    pub fn failed(&self, source: Source, now_ms: i64) {
        let Some(rule) = self.rule else {
            return;
        };
        let every = Throttle::every_ms(rule);
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&source) {
            sources.retain(|_, b| b.full_at > now_ms);
            if sources.len() >= MAX_SOURCES {
                let mut ends: Vec<i64> = sources.values().map(|b| b.full_at).collect();
                let mid = ends.len() / 2;
                let (_, median, _) = ends.select_nth_unstable(mid);
                let median = *median;
                sources.retain(|_, b| b.full_at > median);
            }
        }
        let b = sources.entry(source).or_insert(Bucket { full_at: now_ms });
        b.full_at = b.full_at.max(now_ms).saturating_add(every);
        self.held.store(sources.len(), Ordering::Release);
    }
}

impl App {
    /// The principal a key names, for a caller at `from`: refused with
    /// [`AppError::Throttled`] while that source has failed too often, and a failure
    /// counted when the key is unknown or revoked.
    pub async fn authenticate_from(
        &self,
        key: &str,
        from: Option<IpAddr>,
    ) -> AppResult<Option<Principal>> {
        let source = Source::of(from);
        let now = self.now().timestamp_millis();
        if let Err(retry_after) = self.throttle.check(source, now) {
            return Err(AppError::Throttled { retry_after });
        }
        let who = self.authenticate(key).await?;
        if who.is_none() {
            self.throttle.failed(source, now);
            self.metrics.auth_failed();
        }
        Ok(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn ten_failures_then_one_every_six_seconds() {
        let t = Throttle::new(Some(ThrottleRule::default()));
        let a = Source::of(ip("203.0.113.9"));
        let t0 = 1_000_000;
        for i in 0..10 {
            assert_eq!(t.check(a, t0), Ok(()), "try {i}");
            t.failed(a, t0);
        }
        assert_eq!(t.check(a, t0), Err(6));
        assert_eq!(t.check(a, t0 + 5_001), Err(1));
        assert_eq!(t.check(a, t0 + 6_000), Ok(()));
        t.failed(a, t0 + 6_000);
        assert_eq!(t.check(a, t0 + 6_000), Err(6));
        // Another source is not affected.
        assert_eq!(t.check(Source::of(ip("203.0.113.10")), t0), Ok(()));
        // A minute later everything is forgiven, and the source forgotten.
        assert_eq!(t.check(a, t0 + 66_000), Ok(()));
        assert_eq!(t.held.load(Ordering::Acquire), 0);
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64_and_mapped_v4_as_v4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2:aaaa::1")),
            Source::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.1")),
            Source::of(ip("192.0.2.1"))
        );
    }

    #[test]
    fn rules_parse_and_off_means_none() {
        assert_eq!(ThrottleRule::parse("off"), Ok(None));
        assert_eq!(
            ThrottleRule::parse("10/minute"),
            Ok(Some(ThrottleRule::default()))
        );
        assert_eq!(
            ThrottleRule::parse("120/hour")
                .ok()
                .flatten()
                .map(|r| r.every),
            Some(Duration::from_secs(30))
        );
        for bad in ["", "10", "0/minute", "x/minute", "10/week", "-1/s"] {
            assert!(ThrottleRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::new(Some(ThrottleRule::default()));
        for i in 0..(MAX_SOURCES as u32 + 10) {
            t.failed(Source::of(Some(IpAddr::V4(i.into()))), 1_000 + i64::from(i));
        }
        let n = t.sources.lock().map(|s| s.len()).unwrap_or(usize::MAX);
        assert!(n <= MAX_SOURCES, "{n} sources kept");
    }

    proptest! {
        /// However failures and checks interleave, a source gets at most `burst` + W/`every`
        /// failures in any window W (a token bucket's bound), and a refusal always names a
        /// wait after which the next check passes.
        #[test]
        fn never_more_than_the_rule_allows(steps in prop::collection::vec((0i64..4_000, any::<bool>()), 1..200)) {
            let rule = ThrottleRule { burst: 5, every: Duration::from_secs(2) };
            let t = Throttle::new(Some(rule));
            let s = Source::Unknown;
            let mut now = 0i64;
            let mut allowed_failures: Vec<i64> = Vec::new();
            for (dt, fail) in steps {
                now += dt;
                match t.check(s, now) {
                    Ok(()) => {
                        if fail {
                            t.failed(s, now);
                            allowed_failures.push(now);
                        }
                    }
                    Err(wait) => {
                        prop_assert!(wait >= 1);
                        prop_assert_eq!(t.check(s, now + i64::try_from(wait).unwrap_or(0) * 1000), Ok(()));
                    }
                }
            }
            // Windows of 10 s: at most 5 + 10/2.
            for (i, start) in allowed_failures.iter().enumerate() {
                let in_window = allowed_failures[i..].iter().take_while(|t| **t < start + 10_000).count();
                prop_assert!(in_window <= 5 + 5, "{} failures in 10 s from {}", in_window, start);
            }
        }
    }
}
