//! The `metrics` facade against names that would break a scrape or grow
//! without bound: collisions after sanitizing, one `# TYPE` per family
//! whatever kinds it is sent, names that clash with derived names, and
//! thousands of names, every fold counted (a million, with memory
//! measured, in `facade_memory.rs`).

use tailwatch::export::{Format, render};
use tailwatch::{Monitor, registry::DEFAULT_MAX_METRICS};

use crate::common;

fn promtool_clean(text: &str) {
    if let Some(report) = common::promtool_check(text) {
        assert!(report.is_empty(), "promtool: {report}\n{text}");
    }
}

/// Each of the five cases Prometheus (or promtool) used to reject: label
/// names equal after sanitizing, metric names equal after sanitizing, a
/// counter and a gauge with one name, a name equal to a histogram's
/// derived `_count`, a gauge named `_total`. Each is renamed visibly (or
/// is one metric) and the scrape is clean.
#[test]
fn colliding_names_are_renamed_visibly_and_the_scrape_stays_clean() {
    let m = Monitor::new();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        metrics::counter!("dots", "a.b" => "1", "a-b" => "2").increment(3);
        metrics::counter!("req.count").increment(1);
        metrics::counter!("req_count").increment(2);
        metrics::counter!("jobs").increment(4);
        metrics::gauge!("jobs").set(7.0);
        metrics::histogram!("lat_seconds").record(0.002);
        metrics::counter!("lat_seconds_count").increment(5);
        metrics::gauge!("open_total").set(2.0);
    });
    let text = render(&m, &Default::default(), Format::Prometheus);
    let value = |series| common::sample_value(&text, series);
    // Label names equal after sanitizing: the second gets `_2`; a counter
    // gets `_total`.
    assert_eq!(
        value("dots_total{a_b=\"1\",a_b_2=\"2\"}"),
        Some(3.0),
        "{text}"
    );
    // Metric names equal after sanitizing: one metric.
    assert_eq!(value("req_count_total"), Some(3.0));
    // A counter and a gauge named alike (`jobs_total` writes the
    // OpenMetrics family `jobs`): the gauge is renamed.
    assert_eq!(value("jobs_total"), Some(4.0));
    assert_eq!(value("exported_jobs"), Some(7.0));
    // A counter named like a histogram's `_count`: renamed.
    assert_eq!(value("lat_seconds_count"), Some(1.0));
    assert_eq!(value("exported_lat_seconds_count_total"), Some(5.0));
    // A gauge named `_total` would read as a counter: `_total` dropped.
    assert_eq!(value("open"), Some(2.0));
    // All but the histogram were renamed: dots, req.count, req_count,
    // jobs (counter, `_total`), jobs (gauge), lat_seconds_count, open_total.
    assert_eq!(tailwatch::MetricsRecorder::new(&m).renamed(), 7);
    assert_eq!(value("tailwatch_facade_renamed_total"), Some(7.0));
    let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all, "a name typed twice: {types:?}");
    promtool_clean(&text);
    // OpenMetrics too: a counter's family is written without `_total`.
    let om = render(&m, &Default::default(), Format::OpenMetrics);
    assert!(om.contains("# TYPE jobs counter\n"), "{om}");
    assert!(om.contains("# TYPE exported_jobs gauge\n"), "{om}");
}

/// 20,000 histogram names: the first 10,000 (the registry's cap on
/// histogram names) get theirs, the rest fold into one histogram, each
/// fold counted and no value lost.
#[test]
fn twenty_thousand_histogram_names_are_bounded_and_every_fold_counted() {
    let m = Monitor::new();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        for i in 0..20_000 {
            metrics::histogram!(format!("h{i}_seconds")).record(0.001);
        }
    });
    let stats = m.all_stats();
    let total: u64 = stats.iter().map(|s| s.count).sum();
    assert_eq!(total, 20_000, "nothing lost");
    // The monitor's `operation_duration_seconds` holds one histogram name:
    // 9,999 names of the 20,000 get theirs, and the overflow histogram.
    let named = DEFAULT_MAX_METRICS - 1;
    assert_eq!(stats.len(), named + 1);
    let folded = (20_000 - named) as u64;
    assert_eq!(
        tailwatch::MetricsRecorder::new(&m).folded(),
        vec![("tailwatch_facade_overflow_histogram".to_owned(), folded)]
    );
    let text = render(&m, &Default::default(), Format::Prometheus);
    assert_eq!(
        common::sample_value(
            &text,
            "tailwatch_series_overflow_total{metric=\"tailwatch_facade_overflow_histogram\"}"
        ),
        Some(folded as f64)
    );
    assert_eq!(
        common::sample_value(&text, "tailwatch_facade_overflow_histogram_count"),
        Some(folded as f64)
    );
}

/// A 1 MiB label value: cut to the registry's limit, counted, and the
/// scrape stays small.
#[test]
fn a_one_mebibyte_label_value_is_cut_and_counted() {
    let m = Monitor::new();
    let huge = "x".repeat(1 << 20);
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        for _ in 0..3 {
            metrics::counter!("big_total", "v" => huge.clone()).increment(1);
        }
    });
    let text = render(&m, &Default::default(), Format::Prometheus);
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    let line = text.lines().find(|l| l.starts_with("big_total{")).unwrap();
    assert!(line.contains("…\"} 3"), "{}", &line[line.len() - 20..]);
    assert_eq!(
        common::sample_value(
            &text,
            "tailwatch_label_values_truncated_total{metric=\"big_total\"}"
        ),
        Some(1.0),
        "one resolution (the facade caches the handle)"
    );
    promtool_clean(&text);
}

/// 200 series of 200 labels each, and label names of 100 KB, through the
/// facade (which cannot return an error): folded into the overflow
/// metric, counted, and the scrape stays small.
#[test]
fn series_with_too_many_labels_or_huge_label_names_are_folded_and_counted() {
    let m = Monitor::new();
    let names: Vec<String> = (0..200).map(|i| format!("label_{i}")).collect();
    metrics::with_local_recorder(&tailwatch::MetricsRecorder::new(&m), || {
        for s in 0..200 {
            let labels: Vec<metrics::Label> = names
                .iter()
                .map(|n| metrics::Label::new(n.clone(), format!("{s}-{}", "v".repeat(100))))
                .collect();
            metrics::counter!("wide_requests", labels).increment(1);
        }
        let long = "n".repeat(100_000);
        metrics::counter!("long_named", long.clone() => "v").increment(1);
    });
    let text = render(&m, &Default::default(), Format::Prometheus);
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    assert!(!text.contains("label_199"));
    assert!(!text.contains("nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"));
    assert_eq!(
        common::sample_value(&text, "tailwatch_facade_overflow_total"),
        Some(201.0),
        "every increment kept, in the overflow metric"
    );
    let folded = tailwatch::MetricsRecorder::new(&m).folded();
    assert_eq!(
        folded,
        vec![("tailwatch_facade_overflow_total".to_owned(), 201)],
        "every fold counted"
    );
    promtool_clean(&text);
}

/// The families a fully wired monitor writes: HTTP server and client, gRPC,
/// operations, resources, queues, caches, process and tokio samplers, and
/// the agent's self-metrics.
async fn fully_wired() -> Monitor {
    use std::time::Duration;
    use tower::ServiceExt;
    let m = Monitor::new();
    let ok = || async {
        Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
    };
    let app = axum::Router::new()
        .route("/a", axum::routing::get(|| async { "x" }))
        .layer(tailwatch::HttpMetricsLayer::new(&m));
    let get = || {
        http::Request::get("http://example.com/a")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    app.oneshot(get()).await.unwrap();
    let client = tower::ServiceBuilder::new()
        .layer(tailwatch::HttpClientMetricsLayer::new(&m))
        .service_fn(move |_: http::Request<axum::body::Body>| ok());
    client.oneshot(get()).await.unwrap();
    let grpc = tower::ServiceBuilder::new()
        .layer(tailwatch::GrpcMetricsLayer::new(&m))
        .service_fn(move |_: http::Request<axum::body::Body>| ok());
    let call = http::Request::post("/pkg.S/M")
        .header("content-type", "application/grpc")
        .body(axum::body::Body::empty())
        .unwrap();
    let _ = grpc.oneshot(call).await.unwrap();
    m.operation("op")
        .record(Duration::from_millis(1), tailwatch::measure::Ended::Ok);
    let pool = m.resource("db");
    pool.set_capacity(2);
    pool.record_wait(Duration::from_millis(1));
    let q = m.queue("jobs");
    q.push();
    m.cache("users").hit();
    let _ = m.sample_process();
    m.sample_tokio("main", &tokio::runtime::Handle::current());
    let a = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    common::get_ok(a.local_addr(), "/metrics").await;
    a.stop().await;
    m
}

/// A facade metric named like a family tailwatch writes itself (a layer's
/// gauge, a process or self-metric) is renamed `exported_…`, counted, and
/// every family is written once: promtool finds nothing. Every family a
/// fully wired monitor writes is reserved so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facade_metrics_named_like_built_in_families_are_renamed() {
    let m = fully_wired().await;
    let before = render(&m, &Default::default(), Format::Prometheus);
    let families: Vec<String> = before
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    for family in [
        "http_server_active_requests",
        "http_client_request_duration_seconds",
        "rpc_server_active_requests",
        "process_resident_memory_bytes",
        "tokio_workers",
        "tailwatch_series",
        "tailwatch_agent_connections",
    ] {
        assert!(families.iter().any(|f| f == family), "{family} not written");
    }
    let recorder = tailwatch::MetricsRecorder::new(&m);
    metrics::with_local_recorder(&recorder, || {
        for family in &families {
            metrics::gauge!(family.clone(), "from" => "facade").set(5.0);
        }
    });
    let text = render(&m, &Default::default(), Format::Prometheus);
    let mut types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
    let n = types.len();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), n, "a family written twice");
    // Every facade series is under an `exported_` name (a gauge named
    // `x_total` loses its `_total`, as any facade gauge does).
    let facade: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("{from=\"facade\"}"))
        .collect();
    assert_eq!(facade.len(), families.len(), "{facade:#?}");
    for line in &facade {
        assert!(line.starts_with("exported_"), "{line}: not renamed");
    }
    assert_eq!(recorder.renamed(), families.len() as u64);
    promtool_clean(&text);
}
