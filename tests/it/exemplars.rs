//! Exemplars in the OpenMetrics text and protobuf: a value recorded with a trace shows
//! on the bucket its value falls in, with its trace and span ids and a
//! recent timestamp; the 0.0.4 text has none; the result parses.

use crate::common;
use common::exemplars_on;
use openmetrics_parser::openmetrics::parse_openmetrics;
use tailwatch::export::{Buckets, Format, render};
use tailwatch::{Monitor, engine::TraceContext};

const TRACE: TraceContext = TraceContext {
    trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
    span_id: 0x00f0_67aa_0ba9_02b7,
};

/// `req_seconds{route="/users/{id}"}` with 20 ms untraced, 7 ms traced
/// with [`TRACE`] (the (0.005, 0.01] bucket) and 3 s with trace 1, span 2
/// ((2.5, 5]).
fn traced() -> Monitor {
    let monitor = Monitor::new();
    let h = monitor
        .registry()
        .histogram("req_seconds", &[("route", "/users/{id}")])
        .unwrap();
    h.record(20_000_000);
    h.record_with_trace(7_000_000, TRACE);
    let other = TraceContext {
        trace_id: 1,
        span_id: 2,
    };
    h.record_with_trace(3_000_000_000, other);
    monitor
}

#[test]
fn the_bucket_of_a_traced_value_carries_its_exemplar_in_openmetrics_only() {
    let monitor = traced();

    let buckets = Buckets::otel();
    let om = render(&monitor, &buckets, Format::OpenMetrics);
    let lines: Vec<&str> = om
        .lines()
        .filter(|l| l.starts_with("req_seconds_bucket{"))
        .collect();
    let with: Vec<&&str> = lines.iter().filter(|l| l.contains(" # {")).collect();
    assert_eq!(with.len(), 2, "{lines:#?}");
    let first = with[0];
    assert!(first.contains("le=\"0.01\""), "{first}");
    assert!(
        first.contains(
            "} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.007 "
        ),
        "{first}"
    );
    let ts: f64 = first.rsplit(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - ts).abs() < 5.0, "timestamp {ts} vs now {now}");
    assert!(
        with[1].contains("le=\"5.0\"")
            && with[1].contains("trace_id=\"00000000000000000000000000000001\""),
        "{}",
        with[1]
    );

    // An independent parser reads it.
    parse_openmetrics(&om).expect("OpenMetrics with exemplars parses");

    // The 0.0.4 text has no exemplar syntax.
    let text = render(&monitor, &buckets, Format::Prometheus);
    assert!(!text.contains(" # {"), "exemplar in the 0.0.4 text");
}

#[test]
fn protobuf_carries_exemplars_on_classic_buckets_and_the_native_histogram() {
    use prost::Message;
    use tailwatch::export::encode;
    use tailwatch::export::proto::MetricFamily;

    let monitor = traced();
    let bytes = encode(&monitor, &Buckets::otel(), Format::Protobuf);
    let mut rest = &bytes[..];
    let mut families = Vec::new();
    while !rest.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut rest).unwrap());
    }
    let family = families
        .iter()
        .find(|f| f.name() == "req_seconds")
        .expect("the family");
    let hist = family.metric[0].histogram.as_ref().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let label = |e: &tailwatch::export::proto::Exemplar, name: &str| {
        e.label
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.value().to_owned())
    };
    let with: Vec<_> = hist
        .bucket
        .iter()
        .filter_map(|b| b.exemplar.as_ref().map(|e| (b.upper_bound(), e)))
        .collect();
    // The classic buckets carry the newest exemplar only (the 3 s one,
    // recorded last), in its bucket: what Prometheus 2.42 reads for a
    // native histogram, one per scrape.
    assert_eq!(with.len(), 1, "{with:?}");
    let (upper, e) = with[0];
    assert_eq!((upper, e.value()), (5.0, 3.0));
    assert_eq!(
        label(e, "trace_id").as_deref(),
        Some("00000000000000000000000000000001")
    );
    let ts = e.timestamp.as_ref().unwrap();
    assert!((now - ts.seconds as f64).abs() < 5.0, "{ts:?}");
    // The native histogram's own list: both, timestamped.
    assert_eq!(hist.exemplars.len(), 2);
    assert!(hist.exemplars.iter().all(|e| e.timestamp.is_some()));
    let e = &hist.exemplars[0];
    assert_eq!(e.value(), 0.007);
    assert_eq!(
        label(e, "trace_id").as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(label(e, "span_id").as_deref(), Some("00f067aa0ba902b7"));
}

#[test]
fn a_span_with_trace_id_and_span_id_fields_leaves_its_exemplar() {
    use tracing_subscriber::layer::SubscriberExt;

    let monitor = Monitor::new();
    let subscriber = tracing_subscriber::registry().with(tailwatch::MonitorLayer::new(&monitor));
    tracing::subscriber::with_default(subscriber, || {
        // Ids given at creation, as %Display text.
        let span = tracing::info_span!(
            "db.get_user",
            trace_id = %"4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = %"00f067aa0ba902b7"
        );
        drop(span);
        // Ids recorded later, as &str.
        let span = tracing::info_span!(
            "db.put_user",
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        );
        span.record("trace_id", "00000000000000000000000000000abc");
        span.record("span_id", "0000000000000def");
        drop(span);
        // No trace: no exemplar.
        drop(tracing::info_span!("db.list_users"));
    });
    let om = render(&monitor, &Buckets::otel(), Format::OpenMetrics);
    let exemplar_lines: Vec<&str> = om
        .lines()
        .filter(|l| l.starts_with("operation_duration_seconds_bucket{") && l.contains(" # {"))
        .collect();
    assert_eq!(exemplar_lines.len(), 2, "{exemplar_lines:#?}");
    let of = |op: &str| {
        exemplar_lines
            .iter()
            .find(|l| l.contains(&format!("operation=\"{op}\"")))
            .unwrap_or_else(|| panic!("no exemplar for {op}: {exemplar_lines:#?}"))
            .to_string()
    };
    assert!(
        of("db.get_user").contains(
            "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"}"
        )
    );
    assert!(
        of("db.put_user").contains(
            "{trace_id=\"00000000000000000000000000000abc\",span_id=\"0000000000000def\"}"
        )
    );
}

#[test]
fn work_inside_a_span_with_a_trace_id_field_carries_that_trace() {
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    let monitor = Monitor::new();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ok" }))
        .layer(tailwatch::HttpMetricsLayer::new(&monitor));
    let subscriber = tracing_subscriber::registry()
        .with(tailwatch::MonitorLayer::new(&monitor).with_field("operation"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let want = "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"}";
    tracing::subscriber::with_default(subscriber, || {
        // The request span carries the ids, as a service without
        // OpenTelemetry would set them from its own trace header.
        let request = tracing::info_span!(
            "request",
            trace_id = %"4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = %"00f067aa0ba902b7"
        );
        {
            let _in = request.enter();
            assert_eq!(tailwatch::measure::current_trace(), Some(TRACE));
            // A measured span inside it (no ids of its own).
            drop(tracing::info_span!("query", operation = "db.query"));
            // `run` and a timer.
            monitor.operation("cache.get").run(|| ());
            let t = monitor.start("cache.put");
            t.ok();
        }
        // `measure` on a future created inside it.
        rt.block_on(
            async {
                let fut = monitor.measure("db.load", async { Ok::<_, std::io::Error>(1) });
                fut.await.unwrap();
            }
            .instrument(request.clone()),
        );
        // The HTTP middleware, called inside it.
        let req = http::Request::get("/users/7").body(Body::empty()).unwrap();
        let res = rt.block_on(app.clone().oneshot(req).instrument(request));
        assert_eq!(res.unwrap().status(), 200);
        // Outside any span: nothing.
        assert_eq!(tailwatch::measure::current_trace(), None);
        monitor.operation("cache.drop").run(|| ());
    });
    for op in ["db.query", "cache.get", "cache.put", "db.load"] {
        let ex = exemplars_on(&monitor, "operation_duration_seconds", &format!("\"{op}\""));
        assert!(ex.len() == 1 && ex[0].starts_with(want), "{op}: {ex:#?}");
    }
    let ex = exemplars_on(
        &monitor,
        "http_server_request_duration_seconds",
        "/users/{id}",
    );
    assert!(ex.len() == 1 && ex[0].starts_with(want), "{ex:#?}");
    assert!(exemplars_on(&monitor, "operation_duration_seconds", "cache.drop").is_empty());
}

#[test]
fn a_request_with_a_sampled_traceparent_header_carries_its_trace() {
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    let monitor = Monitor::new();
    let app = Router::new()
        .route("/a", get(|| async { "ok" }))
        .route("/b", get(|| async { "ok" }))
        .layer(tailwatch::HttpMetricsLayer::new(&monitor));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = |path: &str, traceparent: &str| {
        let req = http::Request::get(path)
            .header("traceparent", traceparent)
            .body(Body::empty())
            .unwrap();
        assert_eq!(rt.block_on(app.clone().oneshot(req)).unwrap().status(), 200);
    };
    call(
        "/a",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    // Not sampled, and malformed: no exemplar.
    call(
        "/b",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    );
    call(
        "/b",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",
    );
    let ex = exemplars_on(&monitor, "http_server_request_duration_seconds", "\"/a\"");
    assert!(
        ex.len() == 1
            && ex[0].starts_with(
                "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"}"
            ),
        "{ex:#?}"
    );
    assert!(exemplars_on(&monitor, "http_server_request_duration_seconds", "\"/b\"").is_empty());
}

#[test]
fn traceparent_headers_are_read_as_the_w3c_spec_says() {
    use tailwatch::measure::parse_traceparent;
    let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_eq!(parse_traceparent(ok), Some(TRACE));
    // A later version may append fields after a dash.
    assert_eq!(
        parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-else"),
        Some(TRACE)
    );
    for bad in [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", // not sampled
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // 00 has no more
        "00-4bf92f3577b34da6a3ce929d0e0e473é-00f067aa0ba902b7-01", // not ASCII
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    ] {
        assert_eq!(parse_traceparent(bad), None, "{bad}");
    }
}

#[test]
fn stats_list_the_slowest_traced_calls_of_the_window() {
    use std::time::Duration;
    use tailwatch::measure::Ended;

    let monitor = Monitor::new();
    let op = monitor.operation("db.get_user");
    let t = |id: u128| TraceContext {
        trace_id: id,
        span_id: id as u64,
    };
    // Twenty calls, 1..=20 ms, trace id = ms; the 17 ms one failed; one
    // slower call without a trace (not listed: nothing to click).
    for ms in 1..=20_u64 {
        let ended = if ms == 17 { Ended::Error } else { Ended::Ok };
        op.record_with_trace(Duration::from_millis(ms), ended, t(u128::from(ms)));
    }
    op.record(Duration::from_millis(500), Ended::Ok);
    // An HTTP-like family: a 503 with error_type is one of its slowest.
    let h = |status: &str| {
        let mut labels = vec![
            ("http_request_method", "GET"),
            ("http_route", "/a"),
            ("http_response_status_code", status),
        ];
        if status == "503" {
            labels.push(("error_type", "503"));
        }
        monitor
            .registry()
            .histogram("http_server_request_duration_seconds", &labels)
            .unwrap()
    };
    h("200").record_with_trace(2_000_000, t(0x200));
    h("503").record_with_trace(9_000_000, t(0x503));

    let all = monitor.all_stats();
    let s = all
        .iter()
        .find(|s| s.labels.get("operation").map(String::as_str) == Some("db.get_user"))
        .unwrap();
    let slow: Vec<(f64, &str, &str)> = s
        .slowest
        .iter()
        .map(|c| (c.value, c.trace_id.as_str(), c.outcome["outcome"].as_str()))
        .collect();
    assert_eq!(
        slow,
        [
            (0.020, "00000000000000000000000000000014", "ok"),
            (0.019, "00000000000000000000000000000013", "ok"),
            (0.018, "00000000000000000000000000000012", "ok"),
            (0.017, "00000000000000000000000000000011", "error"),
            (0.016, "00000000000000000000000000000010", "ok"),
        ]
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(s.slowest.iter().all(|c| (now - c.unix_seconds).abs() < 5.0));
    assert_eq!(s.slowest[0].span_id, "0000000000000014");

    let route = all
        .iter()
        .find(|s| s.name == "http_server_request_duration_seconds")
        .unwrap();
    assert_eq!(route.slowest.len(), 2);
    assert_eq!(route.slowest[0].value, 0.009);
    assert_eq!(
        route.slowest[0].outcome,
        [
            ("error_type".to_owned(), "503".to_owned()),
            ("http_response_status_code".to_owned(), "503".to_owned())
        ]
        .into()
    );
    assert_eq!(route.slowest[1].outcome["http_response_status_code"], "200");

    // The same in `/stats` JSON.
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(
        json["slowest"][0]["trace_id"],
        "00000000000000000000000000000014"
    );
}

mod property {
    //! Every exemplar shown lies in its bucket and was recorded within the
    //! window, whatever the values and the times between them.

    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use proptest::prelude::*;
    use tailwatch::export::{Buckets, Format, render};
    use tailwatch::{
        Monitor, Registry, engine::HistogramBuilder, engine::ManualClock, engine::TraceContext,
    };

    /// Values spread over the whole default range, log-uniform.
    fn value() -> impl Strategy<Value = u64> {
        (0.0_f64..12.5).prop_map(|e| 10_f64.powf(e) as u64)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn every_exemplar_lies_in_its_bucket_and_in_the_window(
            ops in prop::collection::vec((value(), 0_u64..30_000, any::<bool>()), 1..120),
            fine in any::<bool>(),
        ) {
            let clock = ManualClock::new();
            let monitor = Monitor::builder()
                .registry(Registry::builder().defaults(
                    HistogramBuilder::new()
                        .clock(Arc::new(clock.clone()))
                        .window(Duration::from_secs(60), 6),
                ))
                .build()
                .unwrap();
            let h = monitor.registry().histogram("lat_seconds", &[]).unwrap();
            // trace id → (value, clock time it was recorded at).
            let mut recorded = HashMap::new();
            for (i, &(v, advance_ms, traced)) in ops.iter().enumerate() {
                clock.advance(Duration::from_millis(advance_ms));
                if traced {
                    let id = i as u128 + 1;
                    h.record_with_trace(v, TraceContext { trace_id: id, span_id: 7 });
                    recorded.insert(format!("{id:032x}"), v);
                } else {
                    h.record(v);
                }
            }
            let buckets = if fine { Buckets::otel() } else { Buckets::default() };
            let om = render(&monitor, &buckets, Format::OpenMetrics);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let mut lower = f64::NEG_INFINITY;
            for line in om.lines().filter(|l| l.starts_with("lat_seconds_bucket{")) {
                let le = line.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
                let upper: f64 = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
                if let Some((_, ex)) = line.split_once(" # ") {
                    let id = ex.split("trace_id=\"").nth(1).unwrap().split('"').next().unwrap();
                    let mut rest = ex.rsplit(' ');
                    let ts: f64 = rest.next().unwrap().parse().unwrap();
                    let shown: f64 = rest.next().unwrap().parse().unwrap();
                    let v = *recorded.get(id).unwrap_or_else(|| panic!("unknown trace {id}"));
                    prop_assert_eq!(shown, v as f64 / 1e9, "{}", line);
                    prop_assert!(shown > lower && shown <= upper, "{} not in ({}, {}]", shown, lower, upper);
                    // The window is 60 s plus the current slice (10 s).
                    prop_assert!(ts <= now + 1.0 && ts >= now - 70.0 - 1.0, "{} vs now {}", ts, now);
                }
                lower = upper;
            }
            // The exemplars the API gives are within the window too.
            let now_ns = clock_now(&clock);
            for e in h.exemplars() {
                prop_assert!(e.at_ns + 70_000_000_000 >= now_ns);
            }
        }
    }

    fn clock_now(clock: &ManualClock) -> u64 {
        use tailwatch::engine::Clock;
        clock.now_ns()
    }
}

/// Compares `actual` with `tests/golden/<name>`; with `TAILWATCH_BLESS=1`
/// writes it there instead.
fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("TAILWATCH_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != actual {
        let out = format!("{}/target/{name}.actual", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(&out, actual).unwrap();
        panic!(
            "{name} differs from tests/golden/{name}; actual written to {out} (TAILWATCH_BLESS=1 to accept)"
        );
    }
}

#[test]
fn golden_exemplars_in_openmetrics_and_protobuf() {
    use prost::Message;
    use tailwatch::export::encode;
    use tailwatch::export::proto::MetricFamily;

    let monitor = traced();
    // OpenMetrics: the family's lines, exemplar timestamps (wall clock)
    // and the created time masked.
    let om = render(&monitor, &Buckets::default(), Format::OpenMetrics);
    let text: String = om
        .lines()
        .filter(|l| l.contains("req_seconds") && !l.starts_with("req_seconds_created"))
        .map(|l| match l.split_once(" # {") {
            Some((sample, ex)) => {
                let (ex, _ts) = ex.rsplit_once(' ').unwrap();
                format!("{sample} # {{{ex} <ts>\n")
            }
            None => format!("{l}\n"),
        })
        .collect();
    golden("exemplars.om.txt", &text);

    // Protobuf: the family decoded, timestamps masked, as prost prints it.
    let bytes = encode(&monitor, &Buckets::default(), Format::Protobuf);
    let mut rest = &bytes[..];
    let mut family = None;
    while !rest.is_empty() {
        let f = MetricFamily::decode_length_delimited(&mut rest).unwrap();
        if f.name() == "req_seconds" {
            family = Some(f);
        }
    }
    let mut family = family.expect("the family");
    for m in &mut family.metric {
        m.timestamp_ms = None;
        let h = m.histogram.as_mut().unwrap();
        h.created_timestamp = None;
        for e in h
            .exemplars
            .iter_mut()
            .chain(h.bucket.iter_mut().filter_map(|b| b.exemplar.as_mut()))
        {
            assert!(
                e.timestamp.take().is_some(),
                "an exemplar without timestamp"
            );
        }
    }
    golden("exemplars.pb.txt", &format!("{family:#?}\n"));
}
