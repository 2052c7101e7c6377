//! tailwatch's HDR layout is the hdrhistogram crate's: the same value lands
//! at the same index, and every quantile, min and max agree exactly.

use rand::{RngExt, SeedableRng, rngs::StdRng};
use tailwatch::{Histogram, engine::ManualClock, engine::Snapshot};

fn check(low: u64, high: u64, digits: u8, seed: u64) {
    let h = Histogram::builder()
        .range(low, high)
        .significant_digits(digits)
        .clock(std::sync::Arc::new(ManualClock::new()))
        .build()
        .unwrap();
    let mut reference = hdrhistogram::Histogram::<u64>::new_with_bounds(low, high, digits).unwrap();
    assert_eq!(h.layout().counts_len(), reference.distinct_values());
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..50_000 {
        // Log-uniform over the whole range, plus exact edges.
        let exp = rng.random_range(0.0..(high as f64).log2());
        let v = (2_f64.powf(exp) as u64).clamp(0, high);
        h.record(v);
        reference.record(v).unwrap();
    }
    for v in [0, 1, low, high] {
        h.record(v);
        reference.record(v).unwrap();
    }
    let mut snap = Snapshot::default();
    h.cumulative(&mut snap);
    let ours = snap.to_hdrhistogram();
    assert_eq!(ours.len(), reference.len());
    for (a, b) in ours.iter_recorded().zip(reference.iter_recorded()) {
        assert_eq!(a.value_iterated_to(), b.value_iterated_to());
        assert_eq!(a.count_at_value(), b.count_at_value());
    }
    for i in 0..=1000 {
        let q = f64::from(i) / 1000.0;
        assert_eq!(
            snap.value_at_quantile(q),
            Some(reference.value_at_quantile(q)),
            "quantile {q} for [{low}, {high}] at {digits} digits"
        );
    }
    // Cumulative `le` buckets: everything in the buckets up to the bound's.
    let mut bounds: Vec<u64> = (0..64)
        .map(|_| {
            let exp = rng.random_range(0.0..(high as f64).log2());
            2_f64.powf(exp) as u64
        })
        .chain([0, low, high, high.saturating_add(1), u64::MAX])
        .collect();
    bounds.sort_unstable();
    let mut cumulative = Vec::new();
    snap.cumulative_buckets(&bounds, &mut cumulative);
    for (&bound, &count) in bounds.iter().zip(&cumulative) {
        let expected = reference.count_between(0, bound.min(high));
        assert_eq!(count, expected, "le {bound} for [{low}, {high}]");
        assert_eq!(snap.count_at_or_below(bound), expected, "le {bound}");
    }
    // hdrhistogram tracks the exact max; ours is the top of its bucket.
    let max = snap.max().unwrap();
    assert_eq!(max, reference.value_at_quantile(1.0));
    assert!(reference.equivalent(max, reference.max()));
    assert_eq!(snap.min(), Some(reference.min()));
    assert_eq!(snap.count(), reference.len());
}

#[test]
fn same_indexes_and_quantiles_as_hdrhistogram() {
    check(1, 3_600_000_000_000, 2, 1);
    check(1, 3_600_000_000_000, 3, 2);
    check(1_000, 60_000_000_000, 2, 3);
    check(1, u64::MAX, 2, 4);
    check(7, 1 << 40, 1, 5);
    check(1, 1_000_000, 4, 6);
}
