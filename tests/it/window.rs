//! The sliding window, driven by a manual clock: values stay for the
//! window, leave within one more slice, and an idle window has no quantile.

use std::sync::Arc;
use std::time::Duration;

use tailwatch::{Histogram, Registry, engine::ManualClock, engine::Snapshot};

fn setup() -> (ManualClock, Histogram) {
    let clock = ManualClock::new();
    let h = Histogram::builder()
        .window(Duration::from_secs(60), 6)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    (clock, h)
}

const S: Duration = Duration::from_secs(1);

#[test]
fn idle_series_reports_no_quantile() {
    let (clock, h) = setup();
    clock.advance(5 * S);
    let stats = h.stats();
    assert_eq!(stats.count, 0);
    assert!(stats.quantiles.iter().all(|q| q.value.is_none()));
    assert_eq!((stats.min, stats.max, stats.mean), (None, None, None));
    assert_eq!(stats.rate_per_second, 0.0);
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["quantiles"][0]["value"].is_null(), "{json}");
}

#[test]
fn values_stay_for_the_window_and_leave_within_one_more_slice() {
    // Rotated every second from creation (what the upkeep thread does):
    // a value stays more than 60 s and leaves by 70 s, whatever its offset
    // within a slice.
    for offset in [0, 1, 5, 9] {
        let (clock, h) = setup();
        for _ in 0..100 + offset {
            clock.advance(S);
            h.rotate();
        }
        let recorded_at = 100 + offset;
        h.record(42_000);
        let mut left_at = None;
        for t in recorded_at + 1..=recorded_at + 80 {
            clock.advance(S);
            let stats = h.stats();
            if stats.count == 0 {
                left_at.get_or_insert(t);
                assert!(stats.quantile(0.99).is_none());
            } else {
                assert!(left_at.is_none(), "value came back at {t}");
                assert_eq!(
                    stats.quantile(0.5),
                    Some(h.layout().highest_equivalent(42_000) as f64 / 1e9),
                    "t={t}"
                );
                assert!(
                    (60.0..=70.0).contains(&stats.window_seconds),
                    "{}",
                    stats.window_seconds
                );
            }
        }
        let stayed = left_at.expect("the value never left the window") - recorded_at;
        assert!(
            (61..=70).contains(&stayed),
            "stayed {stayed} s (offset {offset})"
        );
    }
}

#[test]
fn without_rotations_values_are_never_kept_too_long() {
    // Nobody rotates or reads until well after the value was recorded: the
    // window errs on the side of forgetting, never of keeping old values.
    for offset in [0, 1, 5, 9] {
        let (clock, h) = setup();
        clock.advance(Duration::from_secs(100 + offset));
        h.record(42_000);
        clock.advance(Duration::from_secs(70));
        assert_eq!(h.stats().count, 0, "offset {offset}");
        assert_eq!(h.stats().total_count, 1);
    }
}

#[test]
fn rate_and_window_are_exact_over_a_steady_load() {
    let (clock, h) = setup();
    // 100 values per second for 5 minutes, reading every 10 s.
    for second in 0..300 {
        for i in 0..100 {
            h.record(1_000_000 + i);
        }
        clock.advance(S);
        if second % 10 == 9 {
            let stats = h.stats();
            if second >= 70 {
                // The window covers 60 s (exactly, at a slice boundary).
                assert_eq!(stats.window_seconds, 60.0);
                assert_eq!(stats.count, 6_000);
                assert!((stats.rate_per_second - 100.0).abs() < 1e-9);
                let mut window = Snapshot::default();
                h.window(&mut window);
                assert_eq!(
                    window.sum(),
                    60 * (100 * 1_000_000 + (0..100).sum::<u128>())
                );
            }
        }
    }
    assert_eq!(h.stats().total_count, 30_000);
}

#[test]
fn a_change_in_latency_shows_in_the_window_not_in_cumulative_quantiles() {
    let (clock, h) = setup();
    for _ in 0..120 {
        for _ in 0..10 {
            h.record(1_000_000); // 1 ms
        }
        clock.advance(S);
        h.rotate(); // as the registry's upkeep does
    }
    for _ in 0..70 {
        for _ in 0..10 {
            h.record(50_000_000); // 50 ms
        }
        clock.advance(S);
        h.rotate();
    }
    let p50 = (h.stats().quantile(0.5).unwrap() * 1e9).round() as u64;
    assert!((50_000_000..50_400_000).contains(&p50), "window p50 {p50}");
    let mut snap = Snapshot::default();
    h.cumulative(&mut snap);
    let cumulative_p50 = snap.value_at_quantile(0.5).unwrap();
    assert!(
        cumulative_p50 < 1_010_000,
        "cumulative p50 {cumulative_p50}"
    );
}

#[test]
fn a_long_silence_without_reads_never_keeps_old_values() {
    let (clock, h) = setup();
    h.record(7);
    clock.advance(Duration::from_secs(3600));
    let stats = h.stats();
    assert_eq!(stats.count, 0);
    assert_eq!(stats.total_count, 1);
    h.record(9);
    assert_eq!(h.stats().count, 1);
    assert_eq!(h.stats().max, Some(9.0 / 1e9));
}

#[test]
fn registry_upkeep_rotates_windows_nobody_reads() {
    let clock = ManualClock::new();
    let registry = Registry::builder()
        .defaults(
            Histogram::builder()
                .window(Duration::from_secs(60), 6)
                .clock(Arc::new(clock.clone())),
        )
        .build()
        .unwrap();
    let h = registry.histogram("m", &[]).unwrap();
    for _ in 0..80 {
        h.record(1);
        clock.advance(S);
        registry.rotate_all();
    }
    // Rotated every second: the window is 60 to 70 s of 1 value per second.
    let stats = h.stats();
    assert!((60..=70).contains(&stats.count), "{}", stats.count);
    assert_eq!(stats.count as f64, stats.window_seconds);
}

#[test]
fn invalid_windows_and_quantiles_are_refused_clearly() {
    let e = Histogram::builder()
        .window(Duration::from_secs(60), 7)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("slice"), "{e}");
    let e = Histogram::builder()
        .window(Duration::ZERO, 1)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("invalid window"), "{e}");
    let e = Histogram::builder()
        .quantiles(vec![0.5, 99.0])
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("0.99"), "{e}");
    assert!(
        Histogram::builder()
            .quantiles(vec![f64::NAN])
            .build()
            .is_err()
    );
}

#[test]
fn one_read_gives_both_views_as_separate_reads_do() {
    let (clock, h) = setup();
    for v in 1..=1000 {
        h.record(v * 1_000);
    }
    clock.advance(Duration::from_secs(75)); // those leave the window
    h.rotate(); // as the upkeep thread would, before the new values
    for v in 1..=10 {
        h.record(v * 7_000);
    }
    let (mut cumulative, mut window) = (Snapshot::default(), Snapshot::default());
    h.read_views(&mut cumulative, &mut window);
    let (mut c2, mut w2) = (Snapshot::default(), Snapshot::default());
    h.cumulative(&mut c2);
    h.window(&mut w2);
    assert_eq!(
        (cumulative.count(), cumulative.sum()),
        (c2.count(), c2.sum())
    );
    assert_eq!((window.count(), window.sum()), (w2.count(), w2.sum()));
    assert_eq!((cumulative.count(), window.count()), (1010, 10));
    for q in [0.0, 0.5, 0.99, 1.0] {
        assert_eq!(cumulative.value_at_quantile(q), c2.value_at_quantile(q));
        assert_eq!(window.value_at_quantile(q), w2.value_at_quantile(q));
    }
    assert_eq!(window.span_ns(), w2.span_ns());
}
