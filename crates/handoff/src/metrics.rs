//! Prometheus metrics, kept by hand: request counts and latency histograms labelled by
//! the matched route (never the raw path, whose ids would make a series per handoff),
//! handoffs submitted by level, and notification attempts by channel.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route, status) → series.
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
    submitted: [AtomicU64; 4],
    /// (channel, delivered) → attempts.
    deliveries: Mutex<BTreeMap<(String, bool), u64>>,
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let s = map
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn submitted(&self, level: u8) {
        if let Some(c) = self.submitted.get(usize::from(level.saturating_sub(1))) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn delivery(&self, channel: &str, delivered: bool) {
        *self
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((channel.to_owned(), delivered))
            .or_default() += 1;
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP handoff_delivery_attempts_total Notification attempts, by channel and result.\n");
        out.push_str("# TYPE handoff_delivery_attempts_total counter\n");
        for ((channel, ok), n) in self
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let result = if *ok { "delivered" } else { "failed" };
            let _ = writeln!(
                out,
                "handoff_delivery_attempts_total{{channel=\"{channel}\",result=\"{result}\"}} {n}"
            );
        }
        out.push_str("# HELP handoff_handoffs_submitted_total Handoffs stored, by level.\n");
        out.push_str("# TYPE handoff_handoffs_submitted_total counter\n");
        for (i, c) in self.submitted.iter().enumerate() {
            let _ = writeln!(
                out,
                "handoff_handoffs_submitted_total{{level=\"{}\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP handoff_http_requests_total HTTP requests, by matched route.\n");
        out.push_str("# TYPE handoff_http_requests_total counter\n");
        let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((method, route, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "handoff_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str(
            "# HELP handoff_http_request_duration_seconds Time to answer, by matched route.\n",
        );
        out.push_str("# TYPE handoff_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in map.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "handoff_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "handoff_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "handoff_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "handoff_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}
