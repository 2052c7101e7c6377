//! Code that uses the `metrics` facade gets tailwatch's HDR quantiles.

use metrics::Unit;

use crate::common;
use tailwatch::{Monitor, integrations::facade::MetricValue};

/// Stands for a dependency that only knows the `metrics` facade.
mod dependency {
    pub(crate) fn query(seconds: f64) {
        metrics::histogram!("db_query_seconds", "table" => "users").record(seconds);
    }

    pub(crate) fn serve() {
        metrics::counter!("requests_total", "route" => "/users").increment(1);
        metrics::gauge!("jobs_waiting").set(7.0);
        metrics::gauge!("jobs_waiting").increment(2.0);
    }
}

#[test]
fn histogram_macro_values_get_exact_quantiles_in_all_stats() {
    let m = Monitor::new();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        for ms in 1..=1000 {
            dependency::query(f64::from(ms) / 1000.0);
        }
        for _ in 0..10 {
            dependency::serve();
        }
    });
    let all = m.all_stats();
    let s = all
        .iter()
        .find(|s| s.name == "db_query_seconds")
        .unwrap_or_else(|| panic!("not in all_stats: {all:?}"));
    assert_eq!(s.labels["table"], "users");
    assert_eq!(s.count, 1000);
    let within = |got: Option<f64>, exact: f64| {
        let got = got.unwrap();
        assert!(
            got >= exact * (1.0 - 1e-9) && got <= exact * (1.0 + s.relative_error),
            "{got} vs {exact}"
        );
    };
    within(s.p50(), 0.500);
    within(s.p95(), 0.950);
    within(s.p99(), 0.990);
    within(s.max, 1.0);
    assert!((s.mean.unwrap() - 0.5005).abs() < 1e-6);

    assert_eq!(
        tailwatch::MetricsRecorder::new(&m).counters(),
        vec![MetricValue {
            name: "requests_total".to_owned(),
            labels: vec![("route".to_owned(), "/users".to_owned())],
            value: 10
        }]
    );
    assert_eq!(
        tailwatch::MetricsRecorder::new(&m).gauges(),
        vec![MetricValue {
            name: "jobs_waiting".to_owned(),
            labels: vec![],
            value: 9.0
        }]
    );
}

#[test]
fn described_units_and_odd_names() {
    let m = Monitor::new();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        metrics::describe_histogram!("payload", Unit::Bytes, "request body size");
        for b in [100.0, 1500.0, 1500.0, 64_000.0] {
            metrics::histogram!("payload").record(b);
        }
        metrics::histogram!("db.query time", "ünï" => "välue \"q\"").record(0.25);
        metrics::histogram!("ratio").record(f64::NAN); // refused, counted
    });
    let all = m.all_stats();
    let payload = all.iter().find(|s| s.name == "payload").unwrap();
    let top = tailwatch::engine::Layout::default().highest_equivalent(1500) as f64;
    assert_eq!(
        payload.p50(),
        Some(top),
        "bytes are recorded as integers, scale 1"
    );
    let odd = all.iter().find(|s| s.name == "db_query_time").unwrap();
    assert_eq!(
        odd.labels.get("_n_"), // names sanitized per character, values kept
        Some(&"välue \"q\"".to_owned()),
        "{:?}",
        odd.labels
    );
    let family = m.registry().family("ratio").unwrap();
    assert_eq!(family.rejected, 1);
}

#[test]
fn counters_are_capped_per_name() {
    let m = Monitor::new();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        for i in 0..(tailwatch::registry::DEFAULT_SERIES_CAP + 500) {
            metrics::counter!("hits", "user" => i.to_string()).increment(1);
        }
    });
    let counters = tailwatch::MetricsRecorder::new(&m).counters();
    assert_eq!(counters.len(), tailwatch::registry::DEFAULT_SERIES_CAP + 1);
    let overflow = counters
        .iter()
        .find(|c| c.labels[0].1 == tailwatch::registry::OVERFLOW_VALUE)
        .unwrap();
    assert_eq!(overflow.value, 500, "nothing lost");
}

#[test]
fn composes_with_another_recorder_through_a_fanout() {
    let m = Monitor::new();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = prometheus.handle();
    let both = metrics_util::layers::FanoutBuilder::default()
        .add_recorder(tailwatch::MetricsRecorder::new(&m))
        .add_recorder(prometheus)
        .build();
    metrics::with_local_recorder(&both, || {
        for _ in 0..5 {
            dependency::query(0.010);
        }
    });
    let ours = m
        .all_stats()
        .into_iter()
        .find(|s| s.name == "db_query_seconds")
        .unwrap();
    assert_eq!(ours.count, 5);
    let theirs = handle.render();
    assert!(
        theirs.contains("db_query_seconds_count{table=\"users\"} 5"),
        "{theirs}"
    );
}

/// The facade cannot return an error: reserved and invalid names are
/// renamed visibly (counted once per series) and nothing is lost; the
/// exposition stays valid for Prometheus.
#[test]
fn reserved_and_invalid_names_are_renamed_and_counted() {
    let m = Monitor::new();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        for _ in 0..5 {
            metrics::histogram!("job.duration_seconds", "le" => "x").record(0.25);
            metrics::counter!("retries_total", "quantile" => "p99").increment(1);
            metrics::counter!("fine_total", "kind" => "a").increment(1);
        }
    });
    assert_eq!(
        tailwatch::MetricsRecorder::new(&m).renamed(),
        2,
        "two series renamed, each counted once"
    );
    let h = m
        .all_stats()
        .into_iter()
        .find(|s| s.name == "job_duration_seconds")
        .expect("the histogram, under its valid name");
    assert_eq!(h.labels.get("exported_le").map(String::as_str), Some("x"));
    assert_eq!(h.count, 5, "nothing lost");
    let counters = tailwatch::MetricsRecorder::new(&m).counters();
    let retries = counters.iter().find(|c| c.name == "retries_total").unwrap();
    assert_eq!(
        retries.labels,
        vec![("exported_quantile".to_owned(), "p99".to_owned())]
    );
    assert_eq!(retries.value, 5);
    let text = tailwatch::export::render(
        &m,
        &Default::default(),
        tailwatch::export::Format::Prometheus,
    );
    assert!(
        text.contains("tailwatch_facade_renamed_total 2\n"),
        "{text}"
    );
    if let Some(report) = common::promtool_check(&text) {
        assert!(report.is_empty(), "promtool: {report}");
    }
}

/// Handles are cached per thread: two monitors used on one thread with the
/// same key each get their own series, and keys that differ only in a
/// label value are told apart.
#[test]
fn per_thread_caches_keep_monitors_and_keys_apart() {
    let (a, b) = (Monitor::new(), Monitor::new());
    for _ in 0..3 {
        metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&a), || {
            metrics::counter!("hits_total", "k" => "x").increment(1);
        });
        metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&b), || {
            metrics::counter!("hits_total", "k" => "x").increment(10);
            metrics::counter!("hits_total", "k" => String::from("y")).increment(100);
        });
    }
    let values = |m: &Monitor| -> Vec<(String, u64)> {
        tailwatch::MetricsRecorder::new(m)
            .counters()
            .into_iter()
            .map(|c| (c.labels[0].1.clone(), c.value))
            .collect()
    };
    assert_eq!(values(&a), vec![("x".to_owned(), 3)]);
    assert_eq!(
        values(&b),
        vec![("x".to_owned(), 30), ("y".to_owned(), 300)]
    );
}
