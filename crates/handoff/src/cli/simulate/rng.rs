//! A small seeded generator, so that a run is the same on every machine and no dependency
//! is needed for it: xoshiro256** (Blackman and Vigna), its state filled by SplitMix64 as
//! its authors recommend. Each run's seed is itself a SplitMix64 output of the base seed,
//! the experiment and the run's index, so that neighbouring runs share no structure (plain
//! SplitMix64 streams from seeds that differ in a few bits were visibly correlated: the
//! false-alarm rate of 200 runs came out at 7–13% where the rule's own is 6.3%). Not for
//! anything secret.

#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

/// One SplitMix64 step.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut s = seed;
        Rng([
            splitmix(&mut s),
            splitmix(&mut s),
            splitmix(&mut s),
            splitmix(&mut s),
        ])
    }

    /// The generator of run `index` of experiment `stream`, derived from the base seed.
    pub fn for_run(seed: u64, stream: u64, index: u64) -> Rng {
        let mut s = seed;
        let mut t = splitmix(&mut s) ^ stream;
        let mut u = splitmix(&mut t) ^ index;
        Rng::new(splitmix(&mut u))
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [lo, hi).
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_and_units_stay_in_range() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut r = Rng::for_run(1, 2, 3);
        let mean = (0..10_000).map(|_| r.unit()).sum::<f64>() / 10_000.0;
        assert!((0.48..0.52).contains(&mean), "{mean}");
        assert_ne!(
            Rng::for_run(1, 2, 3).next_u64(),
            Rng::for_run(1, 2, 4).next_u64()
        );
    }
}
