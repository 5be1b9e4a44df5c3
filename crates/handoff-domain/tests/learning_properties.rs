//! Invariants of the learning statistics (SPEC §7) for any counts and any `[learning]`
//! settings: the Wilson interval is a sensible interval; promotion never recommends on
//! too little evidence; the monitor never demotes a task that never erred and always
//! demotes on a burst; buckets tile [0, 1]; the suggested threshold meets its own rule;
//! percentiles are observed values, ordered by `p`.

use handoff_domain::Policy;
use handoff_domain::learning::{
    BUCKETS, ConfidenceBucket, ConfidenceBuckets, DemotionRule, MIN_MONITORED_ITEMS, Stream,
    StreamKind, boundary, bucket_index, first_possible_candidate, percentile, recommend,
    suggested_threshold, wilson,
};
use handoff_domain::policy::Learning;
use proptest::prelude::*;

/// Counts `(successes, n)` with `successes ≤ n`, `n ≥ 1`.
fn counts(max: u64) -> impl Strategy<Value = (u64, u64)> {
    (1..=max).prop_flat_map(|n| (0..=n, Just(n)))
}

fn learning() -> impl Strategy<Value = Learning> {
    (
        1u32..100,
        0.0..=1.0f64,
        0.0..0.999f64,
        0.0..0.5f64,
        (1u32..20).prop_flat_map(|w| (1..=w, Just(w))),
    )
        .prop_map(
            |(min_decisions, rate, bound, max_error, (trip_errors, trip_window))| {
                let mut l = Policy::example().learning;
                l.min_decisions = min_decisions;
                l.min_unchanged_rate = rate;
                l.min_lower_bound = bound;
                l.max_error_rate = max_error;
                l.trip_errors = trip_errors;
                l.trip_window = trip_window;
                l
            },
        )
}

fn width(s: u64, n: u64) -> f64 {
    let (low, high) = wilson(s, n).expect("n ≥ 1");
    high - low
}

proptest! {
    #[test]
    fn wilson_is_an_interval_around_the_rate_inside_0_1((s, n) in counts(100_000)) {
        let (low, high) = wilson(s, n).expect("n ≥ 1");
        let rate = s as f64 / n as f64;
        prop_assert!(0.0 <= low && low <= rate && rate <= high && high <= 1.0,
            "{s} of {n}: ({low}, {high}) around {rate}");
    }

    #[test]
    fn wilson_grows_with_successes((s, n) in counts(10_000)) {
        prop_assume!(s < n);
        let (low, high) = wilson(s, n).expect("n ≥ 1");
        let (low1, high1) = wilson(s + 1, n).expect("n ≥ 1");
        prop_assert!(low < low1 && high < high1, "{s}/{n}: ({low}, {high}) then ({low1}, {high1})");
    }

    #[test]
    fn wilson_narrows_with_more_evidence_at_the_same_rate(
        (s, n) in counts(1_000),
        k in 2u64..50,
    ) {
        prop_assert!(width(k * s, k * n) < width(s, n));
    }

    #[test]
    fn promotion_holds_exactly_when_the_three_conditions_do(
        (unchanged, decisions) in counts(2_000),
        l in learning(),
    ) {
        let r = recommend(decisions, unchanged, &l);
        let low = r.evidence.wilson_low.expect("decisions ≥ 1");
        let rate = r.evidence.unchanged_rate.expect("decisions ≥ 1");
        let holds = decisions >= u64::from(l.min_decisions)
            && rate >= l.min_unchanged_rate
            && low >= l.min_lower_bound;
        prop_assert_eq!(r.candidate, holds, "{:?}", r);
        if r.candidate {
            prop_assert!(decisions >= u64::from(l.min_decisions));
            prop_assert!(low >= l.min_lower_bound);
        } else {
            prop_assert!(!r.reason.is_empty());
        }
    }

    #[test]
    fn nothing_below_the_first_possible_candidate_is_one(
        l in learning(),
        fraction in 0.0..1.0f64,
        share in 0.0..=1.0f64,
    ) {
        let first = first_possible_candidate(&l).expect("min_lower_bound < 1");
        prop_assert!(recommend(first, first, &l).candidate);
        prop_assert!(first >= u64::from(l.min_decisions));
        if first > 1 {
            prop_assert!(!recommend(first - 1, first - 1, &l).candidate);
            let decisions = ((first - 1) as f64 * fraction) as u64;
            let unchanged = (decisions as f64 * share) as u64;
            prop_assert!(!recommend(decisions, unchanged, &l).candidate);
        }
    }

    #[test]
    fn a_stream_without_errors_never_demotes(l in learning(), n in 0usize..300) {
        let mut s = Stream::new(StreamKind::Outcomes, &l);
        for _ in 0..n {
            prop_assert!(s.push(false).is_none());
        }
    }

    #[test]
    fn trip_errors_in_a_row_always_demote(
        l in learning(),
        before in prop::collection::vec(any::<bool>(), 0..100),
    ) {
        let mut s = Stream::new(StreamKind::SpotChecks, &l);
        for e in before {
            s.push(e);
        }
        let mut last = None;
        for _ in 0..l.trip_errors {
            last = s.push(true);
        }
        prop_assert!(last.is_some(), "{} errors in a row of {}", l.trip_errors, l.trip_window);
    }

    #[test]
    fn every_demotion_names_a_rule_that_holds(
        l in learning(),
        items in prop::collection::vec(prop::bool::weighted(0.1), 1..300),
    ) {
        let mut s = Stream::new(StreamKind::Outcomes, &l);
        for e in items {
            if let Some(d) = s.push(e) {
                prop_assert!(d.errors >= 1 && d.errors <= d.items);
                prop_assert!(d.recent_items <= u64::from(l.trip_window));
                match d.rule {
                    DemotionRule::ErrorRate => prop_assert!(
                        d.items >= MIN_MONITORED_ITEMS && d.wilson_low > l.max_error_rate
                    ),
                    DemotionRule::FastTrip => {
                        prop_assert!(d.recent_errors >= u64::from(l.trip_errors));
                    }
                }
            }
        }
    }

    #[test]
    fn every_confidence_has_its_bucket(c in 0.0..=1.0f64) {
        let i = bucket_index(c).expect("in [0, 1]");
        prop_assert!(i < BUCKETS);
        prop_assert!(boundary(i) <= c);
        prop_assert!(c < boundary(i + 1) || (i == BUCKETS - 1 && c <= 1.0));
    }

    #[test]
    fn the_suggested_threshold_meets_the_rule_and_is_the_lowest(
        l in learning(),
        counts in prop::collection::vec(counts(40), BUCKETS),
        empty in prop::collection::vec(prop::bool::weighted(0.3), BUCKETS),
    ) {
        let buckets: Vec<ConfidenceBucket> = counts
            .iter()
            .zip(&empty)
            .enumerate()
            .map(|(i, (&(unchanged, decisions), &empty))| ConfidenceBucket {
                from: boundary(i),
                to: boundary(i + 1),
                decisions: if empty { 0 } else { decisions },
                unchanged: if empty { 0 } else { unchanged },
            })
            .collect();
        let tail = |from: f64| {
            buckets.iter().filter(|b| b.from >= from).fold((0u64, 0u64), |(d, u), b| {
                (d + b.decisions, u + b.unchanged)
            })
        };
        let meets = |(d, u): (u64, u64)| {
            d > 0 && d >= u64::from(l.min_decisions) && u as f64 / d as f64 >= l.min_unchanged_rate
        };
        match suggested_threshold(&buckets, &l) {
            Some(t) => {
                prop_assert!(meets(tail(t)), "{t}: {:?}", tail(t));
                prop_assert!(buckets.iter().any(|b| b.from == t && b.decisions > 0));
                for b in buckets.iter().filter(|b| b.from < t && b.decisions > 0) {
                    prop_assert!(!meets(tail(b.from)), "{} also qualifies", b.from);
                }
            }
            None => {
                for b in buckets.iter().filter(|b| b.decisions > 0) {
                    prop_assert!(!meets(tail(b.from)), "{} qualifies", b.from);
                }
            }
        }
    }

    #[test]
    fn recorded_confidences_land_where_bucket_index_says(
        confidences in prop::collection::vec((0.0..=1.0f64, any::<bool>()), 0..100),
    ) {
        let mut b = ConfidenceBuckets::new();
        for &(c, unchanged) in &confidences {
            prop_assert!(b.record(c, unchanged));
        }
        let total: u64 = b.buckets().iter().map(|x| x.decisions).sum();
        prop_assert_eq!(total, confidences.len() as u64);
        for (i, bucket) in b.buckets().iter().enumerate() {
            let here = confidences.iter().filter(|(c, _)| bucket_index(*c) == Some(i));
            prop_assert_eq!(bucket.decisions, here.clone().count() as u64);
            prop_assert_eq!(bucket.unchanged, here.filter(|(_, u)| *u).count() as u64);
        }
    }

    #[test]
    fn percentiles_are_observed_values_ordered_by_p(
        values in prop::collection::vec(0.0..1e6f64, 1..200),
        p in 0.0..=100.0f64,
        q in 0.0..=100.0f64,
    ) {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let at_p = percentile(&values, p).expect("values and p in range");
        let at_q = percentile(&values, q).expect("values and p in range");
        prop_assert!(min <= at_p && at_p <= max);
        prop_assert!(values.contains(&at_p));
        if p <= q {
            prop_assert!(at_p <= at_q);
        }
        prop_assert_eq!(percentile(&values, 0.0), Some(min));
        prop_assert_eq!(percentile(&values, 100.0), Some(max));
    }
}

#[test]
fn bucket_boundaries_are_exactly_the_decimals() {
    for i in 0..=BUCKETS {
        let decimal: f64 = format!("{}.{:02}", i / 20, (i % 20) * 5)
            .parse()
            .expect("a decimal");
        assert_eq!(boundary(i), decimal, "boundary {i}");
        if i < BUCKETS {
            assert_eq!(bucket_index(decimal), Some(i), "{decimal} opens bucket {i}");
        }
    }
    assert_eq!(bucket_index(1.0), Some(BUCKETS - 1));
}

proptest! {
    /// A stream rebuilt from the store's counts and its last items (what the server does
    /// after every item) judges exactly as the stream fed item by item.
    #[test]
    fn a_stream_rebuilt_from_counts_judges_as_one_fed_item_by_item(
        l in learning(),
        items in proptest::collection::vec(proptest::bool::weighted(0.2), 1..60),
    ) {
        let mut fed = Stream::new(StreamKind::SpotChecks, &l);
        for e in &items {
            fed.push(*e);
        }
        let errors = items.iter().filter(|e| **e).count() as u64;
        let keep = (l.trip_window as usize).min(items.len());
        let rebuilt = Stream::from_counts(
            StreamKind::SpotChecks,
            &l,
            items.len() as u64,
            errors,
            items[items.len() - keep..].iter().copied(),
        );
        prop_assert_eq!(fed.judge(), rebuilt.judge());
    }

    /// Percentiles read from the time-to-decision histogram grow with `p`.
    #[test]
    fn ttd_percentiles_are_monotone_in_p(
        buckets in proptest::collection::vec((0i64..800, 1u64..50), 1..40),
        p in 0.0..=100.0f64,
        q in 0.0..=100.0f64,
    ) {
        use handoff_domain::learning::tally::ttd_percentile;
        let (lo, hi) = if p <= q { (p, q) } else { (q, p) };
        let a = ttd_percentile(&buckets, lo);
        let b = ttd_percentile(&buckets, hi);
        prop_assert!(a.is_some() && b.is_some());
        prop_assert!(a <= b);
    }
}
