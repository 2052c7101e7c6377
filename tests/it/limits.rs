//! Bad input: unbounded label values and out-of-range values are bounded,
//! counted and never lost or panicking.

use std::time::Duration;

use tailwatch::{Histogram, Registry, engine::RecordError, registry::OVERFLOW_VALUE};

#[test]
fn a_million_distinct_label_values_stay_bounded() {
    let cap = 1_000;
    let registry = Registry::builder().series_cap(cap).build().unwrap();
    let mut value = String::new();
    for i in 0..1_000_000_u32 {
        value.clear();
        use std::fmt::Write;
        write!(value, "/users/{i}").unwrap();
        registry
            .record(
                "http_requests",
                &[("path", &value), ("method", "GET")],
                1_000,
            )
            .unwrap();
    }
    let series = registry.series();
    assert!(series.len() <= cap + 1, "{} series", series.len());
    let family = registry.family("http_requests").unwrap();
    assert_eq!(family.series, cap + 1);
    assert_eq!(family.overflow_total, 1_000_000 - cap as u64);
    // Nothing lost: every value is in some series.
    let total: u64 = series.iter().map(|(_, h)| h.stats().total_count).sum();
    assert_eq!(total, 1_000_000);
    let overflow = registry
        .histogram(
            "http_requests",
            &[("path", OVERFLOW_VALUE), ("method", OVERFLOW_VALUE)],
        )
        .unwrap();
    assert_eq!(overflow.stats().total_count, 1_000_000 - cap as u64);
}

#[test]
fn integers_out_of_range_are_clamped_and_counted() {
    let h = Histogram::builder().range(1, 1_000_000).build().unwrap();
    h.record(0);
    h.record(u64::MAX);
    h.record(1_000_001);
    h.record_duration(Duration::MAX);
    let stats = h.stats();
    assert_eq!(stats.total_count, 4);
    assert_eq!(stats.clamped, 3);
    // In base units: the histogram records nanoseconds.
    assert_eq!(stats.min, Some(0.0));
    assert_eq!(
        stats.max,
        Some(h.layout().highest_equivalent(1_000_000) as f64 / 1e9)
    );
}

#[test]
fn floats_nan_negative_infinite_are_rejected_or_clamped_with_a_clear_error() {
    let h = Histogram::new();
    assert_eq!(h.record_scaled(f64::NAN, 1e9), Err(RecordError::NotANumber));
    assert!(RecordError::NotANumber.to_string().contains("NaN"));
    let e = h.record_scaled(-0.5, 1e9).unwrap_err();
    assert_eq!(
        e,
        RecordError::Clamped {
            value: -0.5,
            recorded_as: 0
        }
    );
    assert!(e.to_string().contains("out of range"), "{e}");
    assert!(h.record_scaled(f64::NEG_INFINITY, 1e9).is_err());
    let highest = h.layout().highest_trackable();
    assert_eq!(
        h.record_scaled(f64::INFINITY, 1e9),
        Err(RecordError::Clamped {
            value: f64::INFINITY,
            recorded_as: highest
        })
    );
    assert_eq!(
        h.record_scaled(1e300, 1.0),
        Err(RecordError::Clamped {
            value: 1e300,
            recorded_as: highest
        })
    );
    assert_eq!(h.record_scaled(0.001, 1e9), Ok(()));
    assert_eq!(h.record_scaled(0.0, 1e9), Ok(()));
    let stats = h.stats();
    assert_eq!(stats.rejected, 1);
    assert_eq!(stats.clamped, 4);
    assert_eq!(stats.total_count, 6, "every value but NaN was recorded");
}
