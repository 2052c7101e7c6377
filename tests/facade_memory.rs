//! One million `metrics` facade counter names and 40,000 histogram names,
//! memory measured by a counting allocator (one test in this binary, so
//! nothing else allocates meanwhile).

use tailwatch::export::{Format, render};
use tailwatch::{Monitor, registry::DEFAULT_MAX_METRICS};

mod common;

#[global_allocator]
static GLOBAL: common::counting::Counting = common::counting::Counting;

/// One million counter names: memory stops growing at the cap on names
/// (measured by the counting allocator between 20,000 names and
/// 1,000,000), and every fold past it is counted.
#[test]
fn past_the_caps_more_names_hold_no_more_memory_and_every_fold_is_counted() {
    let m = Monitor::new();
    let recorder = tailwatch::MetricsRecorder::new(&m);
    let register = |from: usize, to: usize| {
        metrics::with_local_recorder(&recorder, || {
            for i in from..to {
                metrics::counter!(format!("c{i}_total")).increment(1);
            }
        });
    };
    register(0, 20_000);
    let at_20k = common::counting::live();
    register(20_000, 1_000_000);
    let grown = common::counting::live() - at_20k;
    println!("live bytes at 20,000 names: {at_20k}; grown by {grown} over the next 980,000");
    assert!(
        grown < 64 * 1024,
        "memory grew by {grown} bytes past the cap"
    );
    let folded = 1_000_000 - DEFAULT_MAX_METRICS as u64;
    assert_eq!(
        tailwatch::MetricsRecorder::new(&m).folded(),
        vec![("tailwatch_facade_overflow_total".to_owned(), folded)]
    );
    let counters = tailwatch::MetricsRecorder::new(&m).counters();
    assert_eq!(counters.len(), DEFAULT_MAX_METRICS + 1);
    let sum: u64 = counters.iter().map(|c| c.value).sum();
    assert_eq!(sum, 1_000_000, "nothing lost");
    let text = render(&m, &Default::default(), Format::Prometheus);
    assert_eq!(
        common::sample_value(
            &text,
            "tailwatch_series_overflow_total{metric=\"tailwatch_facade_overflow_total\"}"
        ),
        Some(folded as f64)
    );

    // Histograms: past the cap on names, 20,000 more names hold no more
    // memory either, and every fold is counted.
    let histograms = |from: usize, to: usize| {
        metrics::with_local_recorder(&recorder, || {
            for i in from..to {
                metrics::histogram!(format!("h{i}_seconds")).record(0.001);
            }
        });
    };
    histograms(0, 20_000);
    let at_20k = common::counting::live();
    histograms(20_000, 40_000);
    let grown = common::counting::live() - at_20k;
    println!(
        "histograms: live bytes at 20,000 names: {at_20k}; grown by {grown} over the next 20,000"
    );
    assert!(
        grown < 64 * 1024,
        "memory grew by {grown} bytes past the cap"
    );
    let named = DEFAULT_MAX_METRICS - 1; // the monitor's operation histogram holds one name
    let folded = tailwatch::MetricsRecorder::new(&m)
        .folded()
        .into_iter()
        .find(|(n, _)| n == "tailwatch_facade_overflow_histogram")
        .map(|(_, n)| n);
    assert_eq!(folded, Some((40_000 - named) as u64));
    let total: u64 = m.all_stats().iter().map(|s| s.count).sum();
    assert_eq!(total, 40_000, "nothing lost");
}
