//! Monitoring and demotion (SPEC §7): when an autonomous task must go back to review.
//!
//! A task whose level in force is 1 is watched in two streams, separately: **spot checks**
//! and **outcomes**. Each item of a stream is an error or not. A stream demotes the task
//! when, after any item,
//!
//! - it holds at least [`MIN_MONITORED_ITEMS`] items and the Wilson 95% lower bound of its
//!   error rate exceeds `max_error_rate` (errs more often than allowed, with confidence);
//! - or `trip_errors` of its last `trip_window` items are errors (the fast trip, for a
//!   sudden jump; with fewer items than `trip_window`, among all of them).
//!
//! What is in a stream is the caller's: the items of the monitor window, oldest first,
//! that happened under the task's current level (evidence restarts at every level change).
//! There is no clock here; a caller that keeps a stream across time rebuilds it from the
//! window. After a demotion the task's level changes, so its streams start afresh.

use std::collections::VecDeque;

use serde::Serialize;

use super::wilson::wilson;
use crate::policy::Learning;

/// The Wilson rule needs at least this many items in the window.
pub const MIN_MONITORED_ITEMS: u64 = 10;

/// The two streams of a monitored task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// Reviewers' verdicts on sampled handoffs (an error: `would_change`, `would_reject`,
    /// or a `failed`/`rolled_back` outcome of a checked handoff; one item per handoff).
    SpotChecks,
    /// Outcomes of all autonomous handoffs (an error: `failed` or `rolled_back`).
    Outcomes,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::SpotChecks => "spot_checks",
            StreamKind::Outcomes => "outcomes",
        }
    }
}

/// Which rule demoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DemotionRule {
    /// The Wilson lower bound of the error rate exceeded `max_error_rate`.
    ErrorRate,
    /// `trip_errors` of the last `trip_window` items were errors.
    FastTrip,
}

/// Why a stream demotes its task: the rule, the counts it saw, and the same in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Demotion {
    pub stream: StreamKind,
    pub rule: DemotionRule,
    /// Items and errors of the stream in the window.
    pub items: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub wilson_low: f64,
    pub wilson_high: f64,
    /// Items and errors among the last `trip_window`.
    pub recent_items: u64,
    pub recent_errors: u64,
    pub reason: String,
}

/// One stream of checked items, fed in order, judged after every item.
#[derive(Debug, Clone)]
pub struct Stream {
    kind: StreamKind,
    max_error_rate: f64,
    trip_errors: u64,
    trip_window: usize,
    items: u64,
    errors: u64,
    /// The last `trip_window` items, oldest first.
    recent: VecDeque<bool>,
}

impl Stream {
    /// An empty stream judged by `learning` (a `trip_errors` of 0 is taken as 1, so that
    /// a stream without errors never trips).
    pub fn new(kind: StreamKind, learning: &Learning) -> Stream {
        let trip_window = usize::try_from(learning.trip_window).unwrap_or(usize::MAX);
        Stream {
            kind,
            max_error_rate: learning.max_error_rate,
            trip_errors: u64::from(learning.trip_errors.max(1)),
            trip_window,
            items: 0,
            errors: 0,
            recent: VecDeque::with_capacity(trip_window.min(1024)),
        }
    }

    /// A stream rebuilt from stored counts: `items` and `errors` in the window, and the
    /// last items (oldest first; only the last `trip_window` are kept).
    pub fn from_counts(
        kind: StreamKind,
        learning: &Learning,
        items: u64,
        errors: u64,
        recent: impl IntoIterator<Item = bool>,
    ) -> Stream {
        let mut s = Stream::new(kind, learning);
        s.items = items;
        s.errors = errors.min(items);
        for e in recent {
            if s.trip_window > 0 {
                if s.recent.len() == s.trip_window {
                    s.recent.pop_front();
                }
                s.recent.push_back(e);
            }
        }
        s
    }

    /// Adds the next item and judges the stream: `Some` when the task must be demoted.
    pub fn push(&mut self, error: bool) -> Option<Demotion> {
        self.items += 1;
        self.errors += u64::from(error);
        if self.trip_window > 0 {
            if self.recent.len() == self.trip_window {
                self.recent.pop_front();
            }
            self.recent.push_back(error);
        }
        self.judge()
    }

    /// The verdict on the items so far (what [`push`](Self::push) returned last).
    pub fn judge(&self) -> Option<Demotion> {
        let (low, high) = wilson(self.errors, self.items)?;
        let recent_errors = self.recent_errors();
        let rule = if self.items >= MIN_MONITORED_ITEMS && low > self.max_error_rate {
            DemotionRule::ErrorRate
        } else if recent_errors >= self.trip_errors {
            DemotionRule::FastTrip
        } else {
            return None;
        };
        let stream = match self.kind {
            StreamKind::SpotChecks => "spot checks",
            StreamKind::Outcomes => "outcomes",
        };
        let recent_items = self.recent.len() as u64;
        let reason = match rule {
            DemotionRule::ErrorRate => format!(
                "{stream}: {} errors in {} items, Wilson 95% lower bound of the error rate \
                 {low:.3} above {:.3}",
                self.errors, self.items, self.max_error_rate
            ),
            DemotionRule::FastTrip => format!(
                "{stream}: {recent_errors} errors in the last {recent_items} items \
                 (trips at {})",
                self.trip_errors
            ),
        };
        Some(Demotion {
            stream: self.kind,
            rule,
            items: self.items,
            errors: self.errors,
            error_rate: self.errors as f64 / self.items as f64,
            wilson_low: low,
            wilson_high: high,
            recent_items,
            recent_errors,
            reason,
        })
    }

    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// Items so far.
    pub fn items(&self) -> u64 {
        self.items
    }

    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// `errors / items`, `None` before the first item.
    pub fn error_rate(&self) -> Option<f64> {
        (self.items > 0).then(|| self.errors as f64 / self.items as f64)
    }

    fn recent_errors(&self) -> u64 {
        self.recent.iter().filter(|&&e| e).count() as u64
    }
}

/// A monitored task's two streams.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub spot_checks: Stream,
    pub outcomes: Stream,
}

impl Monitor {
    pub fn new(learning: &Learning) -> Monitor {
        Monitor {
            spot_checks: Stream::new(StreamKind::SpotChecks, learning),
            outcomes: Stream::new(StreamKind::Outcomes, learning),
        }
    }

    /// Adds an item to one stream and judges that stream.
    pub fn push(&mut self, kind: StreamKind, error: bool) -> Option<Demotion> {
        match kind {
            StreamKind::SpotChecks => self.spot_checks.push(error),
            StreamKind::Outcomes => self.outcomes.push(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn defaults() -> Learning {
        Policy::example().learning
    }

    fn feed(stream: &mut Stream, items: &[bool]) -> Vec<Option<DemotionRule>> {
        items
            .iter()
            .map(|&e| stream.push(e).map(|d| d.rule))
            .collect()
    }

    #[test]
    fn two_errors_in_the_first_ten_do_not_trip_and_three_do() {
        let mut s = Stream::new(StreamKind::Outcomes, &defaults());
        let mut items = vec![false; 8];
        items.extend([true, true]);
        // 2 of 10: the lower bound is 0.0567 > 0.05, so the error-rate rule fires at the
        // tenth item, and not before (fewer than 10 items).
        let verdicts = feed(&mut s, &items);
        assert!(verdicts[..9].iter().all(Option::is_none), "{verdicts:?}");
        assert_eq!(verdicts[9], Some(DemotionRule::ErrorRate));
        let d = s.judge().expect("demoted");
        assert_eq!(
            (d.items, d.errors, d.recent_items, d.recent_errors),
            (10, 2, 10, 2)
        );
        assert_eq!(d.stream, StreamKind::Outcomes);
        assert_eq!(
            d.reason,
            "outcomes: 2 errors in 10 items, Wilson 95% lower bound of the error rate 0.057 above 0.050"
        );
    }

    #[test]
    fn the_error_rate_rule_waits_for_ten_items() {
        let mut s = Stream::new(StreamKind::SpotChecks, &defaults());
        // One error first: 1 of 1 to 1 of 3 have lower bounds above 0.05, but the rule
        // waits for 10 items, and 1 of 10 has 0.018.
        let verdicts = feed(
            &mut s,
            &[
                true, false, false, false, false, false, false, false, false, false,
            ],
        );
        assert!(verdicts.iter().all(Option::is_none), "{verdicts:?}");
        assert_eq!(s.error_rate(), Some(0.1));
    }

    #[test]
    fn the_fast_trip_fires_on_three_of_the_last_ten() {
        let mut s = Stream::new(StreamKind::SpotChecks, &defaults());
        let verdicts = feed(&mut s, &[true, true, true]);
        assert_eq!(verdicts, [None, None, Some(DemotionRule::FastTrip)]);
        let d = s.judge().expect("demoted");
        assert_eq!(
            d.reason,
            "spot checks: 3 errors in the last 3 items (trips at 3)"
        );

        // Far apart the same three errors do not trip; within ten items they do, even when
        // the long-run rate is low enough for the Wilson rule.
        let mut s = Stream::new(StreamKind::SpotChecks, &defaults());
        let mut quiet = vec![false; 200];
        for i in [10, 30, 50, 70] {
            quiet[i] = true;
        }
        assert!(feed(&mut s, &quiet).iter().all(Option::is_none));
        // Errors 1st, 9th and 10th of the last ten: the third trips.
        let mut burst = vec![true];
        burst.extend([false; 7]);
        burst.push(true);
        assert!(feed(&mut s, &burst).iter().all(Option::is_none));
        let d = s.push(true).expect("three of the last ten");
        assert_eq!(
            (d.rule, d.recent_items, d.recent_errors),
            (DemotionRule::FastTrip, 10, 3)
        );
        assert_eq!((d.items, d.errors), (210, 7));
    }

    #[test]
    fn errors_that_leave_the_last_ten_no_longer_count_for_the_trip() {
        let mut s = Stream::new(StreamKind::Outcomes, &defaults());
        // A long clean run first, so that the error-rate rule stays quiet.
        let mut items = vec![false; 100];
        items.extend([true, true]);
        items.extend([false; 9]);
        items.push(true);
        let verdicts = feed(&mut s, &items);
        assert!(verdicts.iter().all(Option::is_none), "{verdicts:?}");
        assert_eq!(s.errors(), 3);
    }

    #[test]
    fn the_monitor_keeps_its_streams_apart() {
        let mut m = Monitor::new(&defaults());
        assert_eq!(m.push(StreamKind::SpotChecks, true), None);
        assert_eq!(m.push(StreamKind::Outcomes, true), None);
        assert_eq!(m.push(StreamKind::SpotChecks, true), None);
        assert_eq!(m.push(StreamKind::Outcomes, true), None);
        let d = m
            .push(StreamKind::Outcomes, true)
            .expect("three outcome errors");
        assert_eq!(
            (d.stream, d.rule),
            (StreamKind::Outcomes, DemotionRule::FastTrip)
        );
        assert_eq!(m.spot_checks.items(), 2);
        let json = serde_json::to_value(&d).expect("serializes");
        assert_eq!(json["stream"], "outcomes");
        assert_eq!(json["rule"], "fast_trip");
        assert_eq!(json["errors"], 3);
    }
}
