//! Oracle test: quantiles from both views against the exact nearest-rank
//! quantiles of 1,000,000 sorted values, for three latency shapes.

use std::sync::Arc;
use std::time::Duration;

use rand::{SeedableRng, rngs::StdRng};
use tailwatch::{Histogram, engine::ManualClock, engine::Snapshot};

use crate::shapes;
use shapes::{MS, bimodal, lognormal, pareto};

const N: usize = 1_000_000;
const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 0.999];

/// Exact nearest-rank quantile: the ⌈q·n⌉-th smallest value.
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

fn check(name: &str, values: Vec<u64>) {
    let clock = ManualClock::new();
    let h = Histogram::builder()
        .clock(Arc::new(clock.clone()))
        .quantiles(QUANTILES.to_vec())
        .build()
        .unwrap();
    // Spread the values over the first half of the window.
    for chunk in values.chunks(N / 10) {
        for &v in chunk {
            h.record(v);
        }
        clock.advance(Duration::from_secs(3));
    }
    let mut sorted = values;
    sorted.sort_unstable();

    let mut cumulative = Snapshot::default();
    h.cumulative(&mut cumulative);
    let mut window = Snapshot::default();
    h.window(&mut window);
    let stats = h.stats();
    assert_eq!(cumulative.count(), N as u64);
    assert_eq!(
        window.count(),
        N as u64,
        "{name}: the window holds all values"
    );
    assert_eq!(
        cumulative.sum(),
        sorted.iter().map(|&v| u128::from(v)).sum::<u128>()
    );

    let bound = h.layout().relative_error();
    assert!(bound <= 0.01);
    for q in QUANTILES {
        let truth = exact(&sorted, q) as f64;
        for (view, got) in [
            ("cumulative", cumulative.value_at_quantile(q)),
            ("window", window.value_at_quantile(q)),
            ("stats", stats.quantile(q).map(|s| (s * 1e9).round() as u64)),
        ] {
            let got = got.unwrap() as f64;
            let err = (got - truth) / truth;
            println!(
                "{name:9} p{:<5} {view:10} exact {truth:>12.0} ns  got {got:>12.0} ns  error {:+.4} %",
                q * 100.0,
                err * 100.0
            );
            assert!(
                (0.0..bound).contains(&err),
                "{name} {view} q={q}: {got} vs exact {truth} ({:.4} %, bound {:.4} %)",
                err * 100.0,
                bound * 100.0
            );
        }
    }
}

#[test]
fn lognormal_quantiles_within_bound() {
    check(
        "lognormal",
        lognormal(&mut StdRng::seed_from_u64(11), MS, 0.5, N),
    );
}

#[test]
fn bimodal_quantiles_within_bound() {
    check("bimodal", bimodal(&mut StdRng::seed_from_u64(12), N));
}

#[test]
fn pareto_quantiles_within_bound() {
    check("pareto", pareto(&mut StdRng::seed_from_u64(13), N));
}
