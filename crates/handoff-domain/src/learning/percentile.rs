//! Percentiles of time to decision (SPEC §7's p50 and p90), by the nearest-rank method.
//!
//! The `p`-th percentile of `n` sorted values is the value of rank `⌈p/100 · n⌉` (1-based,
//! at least 1): always one of the observed values, never an interpolation between two.
//! So the p50 of `[1, 2, 3, 4]` is 2 and its p90 is 4.

use serde::Serialize;

/// The nearest-rank `p`-th percentile (`p` in [0, 100]; 0 gives the minimum) of `values`;
/// `None` when there are none (NaN values are left out) or `p` is outside [0, 100].
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    nearest_rank(&sorted(values), p)
}

/// Time to decision, in seconds, as `GET /v1/stats` shows it; `None` without decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeToDecision {
    pub time_to_decision_p50_s: Option<f64>,
    pub time_to_decision_p90_s: Option<f64>,
}

impl TimeToDecision {
    /// The p50 and p90 of durations in seconds (sorted once).
    pub fn of(seconds: &[f64]) -> TimeToDecision {
        let sorted = sorted(seconds);
        TimeToDecision {
            time_to_decision_p50_s: nearest_rank(&sorted, 50.0),
            time_to_decision_p90_s: nearest_rank(&sorted, 90.0),
        }
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let n = sorted.len();
    // p·n first: exact for whole percentiles, so p90 of 10 values is rank 9, not 10.
    let rank = (p * n as f64 / 100.0).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_an_observed_value() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 90.0), Some(4.0));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&ten, 90.0), Some(9.0));
        assert_eq!(percentile(&ten, 91.0), Some(10.0));
        assert_eq!(percentile(&ten, 50.0), Some(5.0));
        assert_eq!(percentile(&ten, 0.0), Some(1.0));
        assert_eq!(percentile(&ten, 100.0), Some(10.0));
        assert_eq!(percentile(&ten, 101.0), None);
        assert_eq!(percentile(&[7.5], 90.0), Some(7.5));
        // The Wikipedia example: 15, 20, 35, 40, 50 has p30 = 20, p40 = 20, p50 = 35.
        let w = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&w, 30.0), Some(20.0));
        assert_eq!(percentile(&w, 40.0), Some(20.0));
        assert_eq!(percentile(&w, 50.0), Some(35.0));
        assert_eq!(percentile(&w, 100.0), Some(50.0));
        assert_eq!(percentile(&[f64::NAN, 3.0], 50.0), Some(3.0));
    }

    #[test]
    fn time_to_decision_serializes_as_the_stats_fields() {
        let t = TimeToDecision::of(&[60.0, 120.0, 3600.0]);
        assert_eq!(
            serde_json::to_value(t).expect("serializes"),
            serde_json::json!({"time_to_decision_p50_s": 120.0, "time_to_decision_p90_s": 3600.0})
        );
        let none = TimeToDecision::of(&[]);
        assert_eq!(none.time_to_decision_p50_s, None);
    }
}
