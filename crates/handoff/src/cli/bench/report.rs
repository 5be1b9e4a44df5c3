//! Latency samples and how they are printed.

use std::time::Duration;

#[derive(Default)]
pub struct Samples(Vec<u32>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The q-quantile in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.0[i]) / 1000.0
    }

    /// One line: what, count, rate, p50, p99, max.
    pub fn line(&mut self, what: &str, elapsed: Duration) -> String {
        let n = self.len();
        let rate = n as f64 / elapsed.as_secs_f64();
        format!(
            "{what:<34} {n:>9} {rate:>10.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(1.0)
        )
    }
}
