//! Confidence buckets (SPEC §7): how often reviewers approve unchanged at each confidence
//! the agent claimed, and the threshold that suggests.
//!
//! Twenty buckets 0.05 wide cover [0, 1]: bucket `i` holds confidences in
//! `[i/20, (i+1)/20)`, and the last one also holds 1.0. The boundaries are `i / 20.0`, the
//! `f64` nearest to 0.05·i (so bucket 3 starts at exactly `0.15`, where `0.05 * 3.0` would
//! be an ulp above it).

use serde::Serialize;

use crate::policy::Learning;

/// How many buckets; each is `1 / BUCKETS` = 0.05 wide.
pub const BUCKETS: usize = 20;

/// The lower boundary of bucket `i` (`i / 20`); `boundary(20)` is 1.0.
pub fn boundary(i: usize) -> f64 {
    i as f64 / BUCKETS as f64
}

/// The bucket of a confidence in [0, 1]; `None` outside it (and for NaN).
pub fn bucket_index(confidence: f64) -> Option<usize> {
    if !(0.0..=1.0).contains(&confidence) {
        return None;
    }
    // A first guess, then settled against the boundaries themselves so that a confidence
    // equal to a boundary always lands in the bucket that boundary opens.
    let mut i = ((confidence * BUCKETS as f64) as usize).min(BUCKETS - 1);
    while i > 0 && confidence < boundary(i) {
        i -= 1;
    }
    while i + 1 < BUCKETS && confidence >= boundary(i + 1) {
        i += 1;
    }
    Some(i)
}

/// One bucket as `GET /v1/stats` shows it: `[from, to)` (the last also holds `to` = 1.0),
/// with its decisions and how many were approved unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfidenceBucket {
    pub from: f64,
    pub to: f64,
    pub decisions: u64,
    pub unchanged: u64,
}

/// The twenty buckets of a task, filled one decision at a time. Serializes as the array.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ConfidenceBuckets([ConfidenceBucket; BUCKETS]);

impl Default for ConfidenceBuckets {
    fn default() -> Self {
        ConfidenceBuckets(std::array::from_fn(|i| ConfidenceBucket {
            from: boundary(i),
            to: boundary(i + 1),
            decisions: 0,
            unchanged: 0,
        }))
    }
}

impl ConfidenceBuckets {
    pub fn new() -> ConfidenceBuckets {
        ConfidenceBuckets::default()
    }

    /// Counts a decision on a handoff the agent sent with `confidence`. A confidence
    /// outside [0, 1] is not counted (`false`); the packet's parser never lets one in.
    pub fn record(&mut self, confidence: f64, unchanged: bool) -> bool {
        let Some(i) = bucket_index(confidence) else {
            return false;
        };
        self.0[i].decisions += 1;
        self.0[i].unchanged += u64::from(unchanged);
        true
    }

    pub fn buckets(&self) -> &[ConfidenceBucket] {
        &self.0
    }

    /// [`suggested_threshold`] of these buckets.
    pub fn suggested_threshold(&self, learning: &Learning) -> Option<f64> {
        suggested_threshold(&self.0, learning)
    }
}

/// The lowest bucket boundary above which the unchanged-approval rate meets
/// `min_unchanged_rate` with at least `min_decisions` decisions, else `None` (SPEC §7).
///
/// For each bucket's `from`, the decisions and unchanged approvals of that bucket and every
/// bucket above it are summed (up to 1.0); the lowest `from` whose sums qualify is the
/// suggestion. Only the boundaries of buckets with decisions are candidates: below the
/// lowest confidence ever decided nothing is known, and an empty bucket's boundary would
/// only repeat the sums of the one above it (without this, an agent that always claims 0.9
/// would be told 0.0). Buckets may come in any order. An agent that sends a confidence at
/// or above the suggestion has, so far, been approved unchanged often enough.
pub fn suggested_threshold(buckets: &[ConfidenceBucket], learning: &Learning) -> Option<f64> {
    let mut sorted: Vec<&ConfidenceBucket> = buckets.iter().collect();
    sorted.sort_by(|a, b| b.from.total_cmp(&a.from));
    let (mut decisions, mut unchanged) = (0u64, 0u64);
    let mut suggestion = None;
    for b in sorted {
        decisions += b.decisions;
        unchanged += b.unchanged.min(b.decisions);
        if b.decisions > 0 && meets(decisions, unchanged, learning) {
            suggestion = Some(b.from);
        }
    }
    suggestion
}

/// Whether `unchanged` of `decisions` is enough for a suggestion.
pub(super) fn meets(decisions: u64, unchanged: u64, learning: &Learning) -> bool {
    decisions > 0
        && decisions >= u64::from(learning.min_decisions)
        && unchanged as f64 / decisions as f64 >= learning.min_unchanged_rate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn defaults() -> Learning {
        Policy::example().learning
    }

    #[test]
    fn boundaries_land_in_the_bucket_they_open() {
        assert_eq!(bucket_index(0.0), Some(0));
        assert_eq!(bucket_index(0.0499), Some(0));
        assert_eq!(bucket_index(0.05), Some(1));
        assert_eq!(bucket_index(0.15), Some(3));
        assert_eq!(bucket_index(0.3), Some(6));
        assert_eq!(bucket_index(0.35), Some(7));
        assert_eq!(bucket_index(0.85), Some(17));
        assert_eq!(bucket_index(0.9499999), Some(18));
        assert_eq!(bucket_index(0.95), Some(19));
        assert_eq!(bucket_index(1.0), Some(19));
        assert_eq!(bucket_index(-0.01), None);
        assert_eq!(bucket_index(1.01), None);
        assert_eq!(bucket_index(f64::NAN), None);
        assert_eq!(boundary(3), 0.15);
        assert_eq!(boundary(17), 0.85);
        assert_eq!(boundary(20), 1.0);
    }

    #[test]
    fn the_threshold_is_the_lowest_boundary_whose_tail_qualifies() {
        let l = defaults();
        let mut b = ConfidenceBuckets::new();
        assert_eq!(b.suggested_threshold(&l), None);
        // 0.9–1.0: 40 decisions, all unchanged; 0.8–0.85: 10 decisions, 5 unchanged.
        for i in 0..40 {
            assert!(b.record(if i % 2 == 0 { 0.9 } else { 1.0 }, true));
        }
        // Nothing below 0.9 was decided: the suggestion is 0.9, not 0.0.
        assert_eq!(b.suggested_threshold(&l), Some(0.9));
        for i in 0..10 {
            b.record(0.8, i < 5);
        }
        // From 0.9: 40 of 40 (from 0.95 only 20). From 0.8: 45 of 50 = 90% < 95%; the
        // empty 0.85 bucket is no boundary of its own.
        assert_eq!(b.suggested_threshold(&l), Some(0.9));
        // A low-confidence bucket that brings the tail back above 95% moves it down.
        for _ in 0..60 {
            b.record(0.5, true);
        }
        // From 0.5: 105 of 110 = 95.45%.
        assert_eq!(b.suggested_threshold(&l), Some(0.5));
        assert!(!b.record(1.5, true));
    }

    #[test]
    fn too_few_decisions_suggest_nothing() {
        let l = defaults();
        let mut b = ConfidenceBuckets::new();
        for _ in 0..29 {
            b.record(0.99, true);
        }
        assert_eq!(b.suggested_threshold(&l), None);
        b.record(0.97, true);
        assert_eq!(b.suggested_threshold(&l), Some(0.95));
    }

    #[test]
    fn buckets_serialize_as_the_stats_array() {
        let mut b = ConfidenceBuckets::new();
        b.record(1.0, true);
        let json = serde_json::to_value(&b).expect("serializes");
        let array = json.as_array().expect("an array");
        assert_eq!(array.len(), 20);
        assert_eq!(
            array[19],
            serde_json::json!({"from": 0.95, "to": 1.0, "decisions": 1, "unchanged": 1})
        );
        assert_eq!(array[3]["from"], 0.15);
        assert_eq!(array[0]["from"], 0.0);
    }
}
