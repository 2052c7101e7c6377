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

/// More labels than a series may have, or a label name longer than
/// allowed, is refused with an error naming the limit and its setter, for
/// every kind; at the limit it is accepted. Nothing of the refused series
/// is kept.
#[test]
fn too_many_labels_and_long_label_names_are_refused_clearly() {
    use tailwatch::registry::{DEFAULT_MAX_LABEL_NAME_BYTES, DEFAULT_MAX_LABELS, RegistryError};
    let registry = Registry::new();
    let names: Vec<String> = (0..=DEFAULT_MAX_LABELS).map(|i| format!("l{i}")).collect();
    let labels: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let at_limit = &labels[..DEFAULT_MAX_LABELS];
    assert!(registry.record("wide", at_limit, 1).is_ok());
    let too_many = registry.record("wider", &labels, 1).unwrap_err();
    assert!(
        matches!(too_many, RegistryError::TooManyLabels { count, max, .. }
            if count == DEFAULT_MAX_LABELS + 1 && max == DEFAULT_MAX_LABELS),
        "{too_many:?}"
    );
    assert!(too_many.to_string().contains("max_labels"), "{too_many}");
    assert!(matches!(
        registry.counter("wider_total", &labels),
        Err(RegistryError::TooManyLabels { .. })
    ));
    assert!(matches!(
        registry.gauge("wider_now", &labels),
        Err(RegistryError::TooManyLabels { .. })
    ));
    // A 100 KB label name.
    let long = "n".repeat(100_000);
    let e = registry.record("named", &[(&long, "v")], 1).unwrap_err();
    assert!(
        matches!(&e, RegistryError::LabelNameTooLong { bytes, max, .. }
            if *bytes == 100_000 && *max == DEFAULT_MAX_LABEL_NAME_BYTES),
        "{e:?}"
    );
    assert!(
        e.to_string().len() < 400,
        "the message quotes only the start: {e}"
    );
    let ok = "n".repeat(DEFAULT_MAX_LABEL_NAME_BYTES);
    assert!(registry.record("named", &[(&ok, "v")], 1).is_ok());
    assert!(
        registry
            .series()
            .iter()
            .all(|(id, _)| id.name() != "wider" && id.name() != "wider_total"),
    );
    // Settable.
    let narrow = Registry::builder().max_labels(2).build().unwrap();
    assert!(narrow.record("m", &labels[..2], 1).is_ok());
    assert!(narrow.record("m", &labels[..3], 1).is_err());
}
