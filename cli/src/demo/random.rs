//! Randomness for the demo's latencies and traffic mix: splitmix64 over a
//! shared counter (good enough for a demo, no dependency).

use std::sync::atomic::{AtomicU64, Ordering};

static STATE: AtomicU64 = AtomicU64::new(0x853C_49E6_748F_EA9B);

/// splitmix64 of `x`.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Uniform in `[0, 1)`.
pub(super) fn unit() -> f64 {
    let x = mix(STATE.fetch_add(1, Ordering::Relaxed));
    (x >> 11) as f64 / (1_u64 << 53) as f64
}

/// Log-normal around `median` with shape `sigma` (Box-Muller).
pub(super) fn lognormal(median: f64, sigma: f64) -> f64 {
    let u = unit().max(f64::MIN_POSITIVE);
    let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * unit()).cos();
    median * (sigma * normal).exp()
}
