//! The exposition text: a golden file for a fixed set of series, and
//! OpenMetrics details.

use std::time::Duration;

use crate::common;
use tailwatch::export::{self, Buckets, Format};
use tailwatch::{Monitor, measure::Ended};

/// A monitor with one of everything, recorded deterministically.
fn fixture() -> Monitor {
    let m = Monitor::new();
    let op = m.operation("db.get_user");
    for _ in 0..3 {
        op.record(Duration::from_millis(1), Ended::Ok);
    }
    op.record(Duration::from_millis(20), Ended::Error);
    let r = m.registry();
    let labels = |status| {
        [
            ("http_request_method", "GET"),
            ("http_route", "/users/{id}"),
            ("http_response_status_code", status),
        ]
    };
    let ok = r
        .histogram("http_server_request_duration_seconds", &labels("200"))
        .unwrap();
    for ms in [2, 4, 6, 300] {
        ok.record_duration(Duration::from_millis(ms));
    }
    let mut failed = labels("503").to_vec();
    failed.push(("error_type", "503"));
    r.histogram("http_server_request_duration_seconds", &failed)
        .unwrap()
        .record_duration(Duration::from_millis(8));
    r.gauge(
        "http_server_active_requests",
        &[
            ("http_request_method", "GET"),
            ("http_route", "/users/{id}"),
        ],
    )
    .unwrap()
    .increment();
    let odd = r
        .histogram("odd_values_seconds", &[("path", "a\\b \"q\"\nnew ünï")])
        .unwrap();
    odd.record_duration(Duration::from_micros(1500));
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        metrics::counter!("jobs_total", "queue" => "mail").increment(5);
        metrics::gauge!("jobs_waiting").set(3.0);
    });
    m
}

/// The text without the line that depends on timing.
fn stable(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("tailwatch_scrape_duration_seconds "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn golden_prometheus_text() {
    let text = export::render(&fixture(), &Buckets::default(), Format::Prometheus);
    let golden = include_str!("../golden/exposition.prom");
    if stable(&text) != golden {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/exposition.actual.prom");
        std::fs::write(path, stable(&text)).unwrap();
        panic!("exposition differs from tests/golden/exposition.prom; actual written to {path}");
    }
}

#[test]
fn openmetrics_has_eof_and_total_suffixes() {
    let text = export::render(&fixture(), &Buckets::default(), Format::OpenMetrics);
    assert!(
        text.ends_with("# EOF\n"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    assert_eq!(text.matches("# EOF").count(), 1);
    // Counter families are named without `_total`; their samples carry it.
    assert!(
        text.contains("# TYPE jobs counter\n"),
        "facade counter family"
    );
    assert!(text.contains("jobs_total{queue=\"mail\"} 5\n"));
    // The data-quality counters are written only where they are not zero.
    assert!(text.contains("# TYPE tailwatch_facade_renamed counter\n"));
    assert!(text.contains("tailwatch_facade_renamed_total 0\n"));
    assert!(!text.contains("tailwatch_series_overflow"));
    assert_eq!(
        Format::from_accept(Some("application/openmetrics-text; version=1.0.0")),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_accept(Some("text/plain")), Format::Prometheus);
    assert_eq!(Format::from_accept(None), Format::Prometheus);
}

#[test]
fn every_family_has_one_help_and_one_type() {
    let text = export::render(&fixture(), &Buckets::default(), Format::Prometheus);
    let mut seen = std::collections::HashSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(seen.insert(name.to_owned()), "family {name} declared twice");
    }
    assert_eq!(text.matches("# HELP ").count(), seen.len());
}

#[test]
fn custom_buckets_and_log_linear_preset() {
    let m = fixture();
    let buckets = Buckets::default().metric("operation_duration_seconds", vec![0.001, 0.002, 0.1]);
    let text = export::render(&m, &buckets, Format::Prometheus);
    assert!(text.contains("operation_duration_seconds_bucket{operation=\"db.get_user\",outcome=\"ok\",le=\"0.001\"} 3\n"), "1 ms values count as le=0.001 (same HDR bucket)");
    assert!(text.contains("operation_duration_seconds_bucket{operation=\"db.get_user\",outcome=\"error\",le=\"0.002\"} 0\n"));
    let preset = Buckets::log_linear(0.001, 10.0, 4);
    assert_eq!(preset.first(), Some(&0.001));
    assert!(preset.windows(2).all(|w| w[0] < w[1]));
    assert!(*preset.last().unwrap() <= 10.0);
}

/// `promtool check metrics` must find nothing. Runs when Prometheus's
/// promtool is installed; required when TAILWATCH_REQUIRE_SERVERS=1 (CI).
#[test]
fn promtool_finds_nothing() {
    let text = export::render(&fixture(), &Buckets::default(), Format::Prometheus);
    if let Some(report) = common::promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}");
    }
}

/// The `# HELP` line of family `name`.
fn help_line<'a>(text: &'a str, name: &str) -> &'a str {
    let prefix = format!("# HELP {name} ");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no help for {name} in\n{text}"))
}

#[test]
fn help_is_given_where_a_metric_is_defined_and_escaped() {
    let m = Monitor::new();
    let r = m.registry();
    // A user's own metric describes itself, any text.
    r.describe(
        "payload_size_bytes",
        "Sizes of \"accepted\" payloads,\nin bytes (\\ included).",
    );
    r.histogram("payload_size_bytes", &[]).unwrap().record(512);
    // Built-in metrics carry the help of the code that defines them.
    m.run("job", || ());
    let _layer = tailwatch::HttpMetricsLayer::new(&m);
    r.histogram(
        "http_server_request_duration_seconds",
        &[("http_route", "/")],
    )
    .unwrap()
    .record(1);
    // An undescribed metric gets the generic text.
    r.counter("jobs_total", &[]).unwrap().add(1);

    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    assert_eq!(
        help_line(&text, "payload_size_bytes"),
        "# HELP payload_size_bytes Sizes of \"accepted\" payloads,\\nin bytes (\\\\ included)."
    );
    let om = export::render(&m, &Buckets::default(), Format::OpenMetrics);
    assert_eq!(
        help_line(&om, "payload_size_bytes"),
        "# HELP payload_size_bytes Sizes of \\\"accepted\\\" payloads,\\nin bytes (\\\\ included)."
    );
    assert!(
        help_line(&text, "operation_duration_seconds")
            .ends_with("Duration of measured operations.")
    );
    assert!(
        help_line(&text, "http_server_request_duration_seconds")
            .ends_with("Duration of HTTP server requests.")
    );
    assert!(help_line(&text, "jobs_total").ends_with("No description given."));
    // Both formats parse, and promtool agrees.
    openmetrics_parser::openmetrics::parse_openmetrics(&om).expect("OpenMetrics parses");
    if let Some(report) = common::promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}");
    }
}

#[test]
fn metrics_facade_descriptions_become_help_before_or_after_registration() {
    let m = Monitor::new();
    let recorder = tailwatch::MetricsRecorder::new(&m);
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!(
            "render_seconds",
            metrics::Unit::Seconds,
            "Time to render a page."
        );
        metrics::histogram!("render_seconds").record(0.002);
        metrics::counter!("pages").increment(1);
        metrics::describe_counter!("pages", "Pages served.");
    });
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    assert!(
        help_line(&text, "render_seconds").ends_with("Time to render a page."),
        "{text}"
    );
    // Written as `pages_total`, described as the facade names it.
    assert!(
        help_line(&text, "pages_total").ends_with("Pages served."),
        "{text}"
    );
}

#[test]
fn the_scrape_duration_is_each_monitors_own() {
    let (a, b) = (Monitor::new(), Monitor::new());
    for i in 0..2_000 {
        a.run(&format!("op{i}"), || ());
    }
    let value = |text: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix("tailwatch_scrape_duration_seconds "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let _ = export::render(&a, &Buckets::default(), Format::Prometheus);
    // b was never scraped: a's scrape is not its previous one.
    assert_eq!(
        value(&export::render(&b, &Buckets::default(), Format::Prometheus)),
        0.0
    );
    assert!(value(&export::render(&a, &Buckets::default(), Format::Prometheus)) > 0.0);
}

/// Self-metrics cost one line per metric name (`tailwatch_series`), not
/// one per data-quality counter: at 1,000 names, about 1,000 lines; a
/// counter appears for a metric only once it is not zero.
#[test]
fn self_metrics_are_one_line_per_metric_name_until_something_is_folded() {
    let m = Monitor::new();
    for i in 0..1_000 {
        m.registry()
            .record(&format!("m{i}_seconds"), &[], 1_000)
            .unwrap();
    }
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    let own = text.lines().filter(|l| l.starts_with("tailwatch_")).count();
    assert!(own <= 1_000 + 10, "{own} self-metric lines for 1,000 names");
    // A value clamped for one metric: that metric's counter appears.
    let _ = m.registry().record("m7_seconds", &[], u64::MAX);
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    assert!(text.contains("tailwatch_values_clamped_total{metric=\"m7_seconds\"} 1\n"));
    assert!(!text.contains("tailwatch_values_clamped_total{metric=\"m8_seconds\"}"));
}
