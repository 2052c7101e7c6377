//! The latency shapes the accuracy tests draw from (values in nanoseconds),
//! included with `#[path]` by the tests that need them (rand is not a
//! dependency of every test crate that includes `common`):
//! the same generators for the per-instance oracle (`tests/it/accuracy.rs`)
//! and the fleet-wide one through Prometheus (`tests/it/native_histograms.rs`).

use rand::{RngExt, rngs::StdRng};
use rand_distr::{Distribution, LogNormal, Pareto};

/// One millisecond, in nanoseconds.
pub(crate) const MS: f64 = 1e6;

/// `n` lognormal values around `median_ns`.
pub(crate) fn lognormal(rng: &mut StdRng, median_ns: f64, sigma: f64, n: usize) -> Vec<u64> {
    let d = LogNormal::new(median_ns.ln(), sigma).unwrap();
    (0..n).map(|_| d.sample(rng) as u64).collect()
}

/// `n` values: 99 % around 2 ms, 1 % around 200 ms (each lognormal, sigma 0.1).
pub(crate) fn bimodal(rng: &mut StdRng, n: usize) -> Vec<u64> {
    let fast = LogNormal::new((2.0 * MS).ln(), 0.1).unwrap();
    let slow = LogNormal::new((200.0 * MS).ln(), 0.1).unwrap();
    (0..n)
        .map(|_| {
            if rng.random_bool(0.01) {
                slow.sample(rng) as u64
            } else {
                fast.sample(rng) as u64
            }
        })
        .collect()
}

/// `n` Pareto values, scale 1 ms, shape 1.5 (a heavy tail).
pub(crate) fn pareto(rng: &mut StdRng, n: usize) -> Vec<u64> {
    let d = Pareto::new(MS, 1.5).unwrap();
    (0..n).map(|_| d.sample(rng) as u64).collect()
}
