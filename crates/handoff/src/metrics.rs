//! Prometheus metrics, kept by hand: request counts and latency histograms labelled by
//! the matched route (never the raw path, whose ids would make a series per handoff),
//! handoffs submitted by level, notification attempts by channel, SLA breaches by team,
//! long-polls waiting and event streams open, the writer's counters, the build; what the store counts at each scrape
//! (open handoffs, the outbox's backlog: [`render_store`]); and the process (`process`).
//! Names and units follow Prometheus' conventions: `_total` counters, `_seconds`,
//! `_bytes`.

use chrono::{DateTime, Utc};
use handoff_store::StoreGauges;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

mod process;

/// Time-to-decision bucket bounds, in seconds: a minute to a day.
const DECISION_BUCKETS: [f64; 8] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 14_400.0, 28_800.0, 86_400.0,
];

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
struct DecisionSeries {
    count: u64,
    sum: f64,
    buckets: [u64; DECISION_BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    /// (task, team) → time to decision; (task, team, kind) → decisions.
    decision_times: Mutex<BTreeMap<(String, String), DecisionSeries>>,
    decisions: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// (method, route, status) → series.
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
    submitted: [AtomicU64; 4],
    /// (channel, delivered) → attempts.
    deliveries: Mutex<BTreeMap<(String, bool), u64>>,
    /// Long-polls waiting now.
    long_polls: AtomicU64,
    /// team → handoffs whose SLA passed while they waited for that team.
    sla_breaches: Mutex<BTreeMap<String, u64>>,
    /// Event streams open now.
    streams: AtomicI64,
    /// Keys refused as unknown or revoked, and requests refused for too many of those.
    auth_failed: AtomicU64,
    auth_throttled: AtomicU64,
}

/// Counts one waiting long-poll while it lives.
pub struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A long-poll starts waiting; it stops when the guard drops.
    pub fn long_poll(&self) -> Waiting<'_> {
        self.long_polls.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.long_polls)
    }

    /// The store writer's counters and the long-polls waiting, as Prometheus text.
    pub fn render_writer(&self, out: &mut String, w: Option<&handoff_store::WriterStats>) {
        let _ = writeln!(
            out,
            "# HELP handoff_long_polls_waiting Long-polls (GET ?wait=) waiting for a change.\n\
             # TYPE handoff_long_polls_waiting gauge\n\
             handoff_long_polls_waiting {}",
            self.long_polls.load(Ordering::Relaxed)
        );
        let Some(w) = w else { return };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let families = [
            (
                "handoff_writer_batches_total",
                "counter",
                "Transactions the store's writer committed.",
                get(&w.batches) as f64,
            ),
            (
                "handoff_writer_operations_total",
                "counter",
                "Operations (submissions, changes, attempts, keys, policy) in committed batches.",
                get(&w.ops) as f64,
            ),
            (
                "handoff_writer_failed_batches_total",
                "counter",
                "Write batches rolled back.",
                get(&w.failed) as f64,
            ),
            (
                "handoff_writer_commit_seconds_total",
                "counter",
                "Time from BEGIN to the end of COMMIT (fsync included), summed over batches.",
                get(&w.commit_micros) as f64 / 1e6,
            ),
            (
                "handoff_writer_batch_max_operations",
                "gauge",
                "The largest batch committed since the start.",
                get(&w.max_batch) as f64,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }

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

    /// A person ended a handoff of `task` routed to `team` after `seconds`: `kind` is
    /// unchanged, edited, rejected or taken_over.
    pub fn decided(&self, task: &str, team: &str, kind: &'static str, seconds: f64) {
        let key = (task.to_owned(), team.to_owned());
        {
            let mut map = self
                .decision_times
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let s = map.entry(key.clone()).or_default();
            s.count += 1;
            s.sum += seconds;
            for (i, bound) in DECISION_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    s.buckets[i] += 1;
                }
            }
        }
        *self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((key.0, key.1, kind))
            .or_default() += 1;
    }

    pub fn submitted(&self, level: u8) {
        if let Some(c) = self.submitted.get(usize::from(level.saturating_sub(1))) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An event stream opened; [`Metrics::stream_closed`] when it ends (the stream owns no
    /// borrow of the metrics, so it counts by hand).
    pub fn stream_opened(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
    }

    /// A key refused as unknown or revoked.
    pub fn auth_failed(&self) {
        self.auth_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// A request refused (429) because its source failed too often.
    pub fn auth_throttled(&self) {
        self.auth_throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_closed(&self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }

    /// A handoff's SLA passed while it waited for `team` (the clock's escalation step).
    pub fn sla_breached(&self, team: &str) {
        *self
            .sla_breaches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(team.to_owned())
            .or_default() += 1;
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
        out.push_str("# HELP handoff_build_info The running build: 1, labelled by version.\n");
        out.push_str("# TYPE handoff_build_info gauge\n");
        let _ = writeln!(
            out,
            "handoff_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str(
            "# HELP handoff_sla_breaches_total Handoffs whose SLA passed while they waited, by the team they waited for.\n",
        );
        out.push_str("# TYPE handoff_sla_breaches_total counter\n");
        for (team, n) in self
            .sla_breaches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "handoff_sla_breaches_total{{team=\"{}\"}} {n}",
                escape(team)
            );
        }
        out.push_str("# HELP handoff_event_streams_open Event streams (SSE) open now.\n");
        out.push_str("# TYPE handoff_event_streams_open gauge\n");
        let _ = writeln!(
            out,
            "handoff_event_streams_open {}",
            self.streams.load(Ordering::Relaxed).max(0)
        );
        out.push_str(
            "# HELP handoff_auth_failures_total Keys refused as unknown or revoked.\n\
             # TYPE handoff_auth_failures_total counter\n",
        );
        let _ = writeln!(
            out,
            "handoff_auth_failures_total {}",
            self.auth_failed.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP handoff_auth_throttled_total Requests refused (429) because their source \
             failed to authenticate too often.\n\
             # TYPE handoff_auth_throttled_total counter\n",
        );
        let _ = writeln!(
            out,
            "handoff_auth_throttled_total {}",
            self.auth_throttled.load(Ordering::Relaxed)
        );
        process::render(&mut out);
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
        out.push_str(
            "# HELP handoff_decisions_total Handoffs a person ended since the start, by task, team and kind.\n",
        );
        out.push_str("# TYPE handoff_decisions_total counter\n");
        for ((task, team, kind), n) in self
            .decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "handoff_decisions_total{{task=\"{}\",team=\"{}\",kind=\"{kind}\"}} {n}",
                escape(task),
                escape(team)
            );
        }
        out.push_str("# HELP handoff_time_to_decision_seconds From submission to the decision that ended it, by task and team.\n");
        out.push_str("# TYPE handoff_time_to_decision_seconds histogram\n");
        for ((task, team), s) in self
            .decision_times
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let labels = format!("task=\"{}\",team=\"{}\"", escape(task), escape(team));
            for (i, bound) in DECISION_BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "handoff_time_to_decision_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "handoff_time_to_decision_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "handoff_time_to_decision_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "handoff_time_to_decision_seconds_count{{{labels}}} {}",
                s.count
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

/// What the store counts at a scrape, at `now`: open handoffs by team, level and status;
/// the outbox's pending deliveries and how long the oldest due one has waited.
pub fn render_store(g: &StoreGauges, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP handoff_open_handoffs Handoffs waiting for a person, by assigned team, level and status.\n",
    );
    out.push_str("# TYPE handoff_open_handoffs gauge\n");
    for o in &g.open {
        let _ = writeln!(
            out,
            "handoff_open_handoffs{{team=\"{}\",level=\"{}\",status=\"{}\"}} {}",
            escape(&o.team),
            o.level,
            o.status.as_str(),
            o.count
        );
    }
    out.push_str(
        "# HELP handoff_outbox_pending_deliveries Notifications not yet delivered nor given up.\n",
    );
    out.push_str("# TYPE handoff_outbox_pending_deliveries gauge\n");
    let _ = writeln!(
        out,
        "handoff_outbox_pending_deliveries {}",
        g.outbox_pending
    );
    out.push_str("# HELP handoff_outbox_oldest_due_age_seconds How long the oldest pending delivery has been due (0 when none is due).\n");
    out.push_str("# TYPE handoff_outbox_oldest_due_age_seconds gauge\n");
    let age = g.outbox_oldest_due.map_or(0.0, |due| {
        ((now - due).num_milliseconds().max(0) as f64) / 1000.0
    });
    let _ = writeln!(out, "handoff_outbox_oldest_due_age_seconds {age}");
    out
}

/// A label value with backslashes, quotes and newlines escaped (Prometheus text format).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
