//! Property: any UTF-8 label value survives the exposition: rendered by
//! tailwatch (Prometheus text 0.0.4 and OpenMetrics 1.0) and read back by
//! an independent parser (the `openmetrics-parser` crate), it is the same
//! string, in every family that carries it.
//!
//! One exception, the parser's: a raw carriage return. Both formats allow
//! it in a label value (only `\\`, `"` and newline are escaped; the
//! OpenMetrics ABNF lists `%x0D` as a normal character, and Prometheus's
//! own lexer takes it), but this parser's grammar ends a line there. The
//! end-to-end test (`tests/it/prometheus.rs`) checks that a real Prometheus
//! stores such a value unchanged. An empty value is written as no label,
//! which is what it means to Prometheus.

use openmetrics_parser::{openmetrics::parse_openmetrics, prometheus::parse_prometheus};
use proptest::prelude::*;
use tailwatch::Monitor;
use tailwatch::export::{self, Buckets, Format};

/// A monitor with a histogram (and so its quantile and max gauges) and a
/// gauge labelled `value`.
fn monitor_with(value: &str) -> Monitor {
    let m = Monitor::new();
    let r = m.registry();
    r.record(
        "odd_seconds",
        &[("route", "/x"), ("value", value)],
        1_500_000,
    )
    .unwrap();
    r.gauge("odd_items", &[("value", value)]).unwrap().add(3);
    m
}

/// The `value` label of every sample of each family in `families`, as parsed.
fn parsed_values<T: Clone, V: Clone + openmetrics_parser::RenderableMetricValue>(
    exposition: &openmetrics_parser::MetricsExposition<T, V>,
    families: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for name in families {
        let family = exposition
            .families
            .get(*name)
            .unwrap_or_else(|| panic!("family {name} missing"));
        for sample in family.iter_samples() {
            let labels = sample.get_labelset().unwrap();
            out.push(labels.get_label_value("value").unwrap_or("").to_owned());
        }
    }
    out
}

const FAMILIES: [&str; 4] = [
    "odd_seconds",
    "odd_quantile_seconds",
    "odd_max_seconds",
    "odd_items",
];

fn check(value: &str) -> Result<(), TestCaseError> {
    let m = monitor_with(value);
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    let parsed = parse_prometheus(&text)
        .map_err(|e| TestCaseError::fail(format!("0.0.4 does not parse: {e:?}\n{text}")))?;
    let values = parsed_values(&parsed, &FAMILIES);
    prop_assert!(!values.is_empty());
    for v in &values {
        prop_assert_eq!(v, value);
    }

    let text = export::render(&m, &Buckets::default(), Format::OpenMetrics);
    let parsed = parse_openmetrics(&text)
        .map_err(|e| TestCaseError::fail(format!("OpenMetrics does not parse: {e:?}\n{text}")))?;
    let values = parsed_values(&parsed, &FAMILIES);
    prop_assert!(!values.is_empty());
    for v in &values {
        prop_assert_eq!(v, value);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any Unicode scalar values, control characters included.
    #[test]
    fn any_utf8_label_value_round_trips(
        chars in proptest::collection::vec(any::<char>().prop_filter("parser: CR ends a line", |c| *c != '\r'), 0..24)
    ) {
        check(&chars.into_iter().collect::<String>())?;
    }

    /// Strings dense in what the format escapes.
    #[test]
    fn escape_heavy_values_round_trip(value in "[\\\\\"\n{}=, a#é😀\t]{0,16}") {
        check(&value)?;
    }
}

#[test]
fn known_hard_values_round_trip() {
    for v in [
        "",
        "\\",
        "\"",
        "\n",
        "\\n",
        "\\\"",
        "a\"}b{c=\"d",
        "# EOF",
        "\u{0}",
        "😀 ünïcödé",
        "trailing\\",
    ] {
        check(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
    }
}
