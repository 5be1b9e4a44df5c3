//! The Wilson score interval (SPEC §7): 95%, z = 1.96, no continuity correction.
//!
//! For `s` successes in `n` trials, with `p̂ = s / n`:
//!
//! ```text
//! (s + z²/2 ± z·√(s·(n − s)/n + z²/4)) / (n + z²)
//! ```
//!
//! which is the textbook `(p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)` multiplied
//! through by `n`. Unlike the normal approximation it stays inside [0, 1] and is useful at
//! small `n` and at rates near 0 or 1, which is where promotion (near 1) and monitoring
//! (near 0) live. With `s = n` the lower bound is exactly `n / (n + z²)`: 30 of 30 gives
//! 0.886, 35 of 35 gives 0.901.

/// The normal quantile for a two-sided 95% interval.
pub const Z_95: f64 = 1.96;

/// The Wilson 95% score interval `(low, high)` of `successes` in `n`, both in [0, 1] and
/// with `low ≤ successes / n ≤ high`; `None` when `n` is 0 or `successes > n` (nothing,
/// or nothing sensible, was measured).
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (s, nf) = (successes as f64, n as f64);
    let z2 = Z_95 * Z_95;
    let center = s + z2 / 2.0;
    let spread = Z_95 * (s * (nf - s) / nf + z2 / 4.0).sqrt();
    let denominator = nf + z2;
    // At the edges the bounds are exactly 0 and 1; rounding would leave them an ulp off.
    let low = if successes == 0 {
        0.0
    } else {
        ((center - spread) / denominator).clamp(0.0, 1.0)
    };
    let high = if successes == n {
        1.0
    } else {
        ((center + spread) / denominator).clamp(0.0, 1.0)
    };
    Some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_interval(successes: u64, n: u64, low: f64, high: f64, tolerance: f64) {
        let (l, h) = wilson(successes, n).expect("n > 0");
        assert!(
            (l - low).abs() <= tolerance && (h - high).abs() <= tolerance,
            "{successes} of {n}: ({l}, {h}), expected ({low}, {high}) ± {tolerance}"
        );
    }

    #[test]
    fn nothing_measured_has_no_interval() {
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(3, 2), None);
    }

    #[test]
    fn the_spec_s_promotion_examples() {
        // SPEC §7: 30 of 30 has a lower bound of 0.886; 35 of 35 is the first ≥ 0.90.
        let (low, high) = wilson(30, 30).expect("n > 0");
        assert_eq!(format!("{low:.3}"), "0.886");
        assert_eq!(high, 1.0);
        assert!(wilson(34, 34).expect("n > 0").0 < 0.90);
        assert!(wilson(35, 35).expect("n > 0").0 >= 0.90);
        // All successes: the lower bound is n / (n + z²).
        for n in [1, 30, 35, 1000] {
            let low = wilson(n, n).expect("n > 0").0;
            let exact = n as f64 / (n as f64 + Z_95 * Z_95);
            assert!((low - exact).abs() < 1e-12, "{n}: {low} vs {exact}");
        }
    }

    #[test]
    fn newcombe_1998_published_values() {
        // Newcombe, "Two-sided confidence intervals for the single proportion" (Statistics
        // in Medicine, 1998), method 3 (score, no continuity correction), to 4 decimals.
        assert_interval(81, 263, 0.2553, 0.3662, 5e-5);
        assert_interval(15, 148, 0.0624, 0.1605, 5e-5);
        assert_interval(0, 20, 0.0, 0.1611, 5e-5);
        assert_interval(1, 29, 0.0061, 0.1718, 5e-5);
    }

    #[test]
    fn values_computed_independently() {
        // Computed with python3 from the textbook form, to 6 decimals.
        let cases = [
            (30, 30, 0.886483, 1.0),
            (35, 35, 0.901096, 1.0),
            (34, 34, 0.898482, 1.0),
            (1, 1, 0.206543, 1.0),
            (0, 1, 0.0, 0.793457),
            (0, 10, 0.0, 0.277540),
            (1, 10, 0.017876, 0.404156),
            (2, 10, 0.056681, 0.509843),
            (5, 10, 0.236590, 0.763410),
            (9, 10, 0.595844, 0.982124),
            (10, 10, 0.722460, 1.0),
            (28, 30, 0.786762, 0.981523),
            (29, 30, 0.833292, 0.994092),
            (57, 60, 0.862993, 0.982851),
            (95, 100, 0.888248, 0.978457),
            (1, 100, 0.001767, 0.054488),
            (5, 100, 0.021543, 0.111752),
            (950, 1000, 0.934686, 0.961870),
            (1000, 1000, 0.996173, 1.0),
        ];
        for (s, n, low, high) in cases {
            assert_interval(s, n, low, high, 5e-7);
        }
    }

    #[test]
    fn the_edges_are_exact() {
        assert_eq!(wilson(0, 7).expect("n > 0").0, 0.0);
        assert_eq!(wilson(7, 7).expect("n > 0").1, 1.0);
        let (low, high) = wilson(5, 10).expect("n > 0");
        assert!((low + high - 1.0).abs() < 1e-12, "symmetric around 1/2");
    }
}
