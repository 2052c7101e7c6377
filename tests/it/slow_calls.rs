//! The slow-call log: off by default; on, one WARN event per call over its
//! objective's (or operation's) threshold, with the series, the duration,
//! the threshold and the trace id; past the limit per series, counted and
//! reported on the next event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tailwatch::Monitor;
use tailwatch::engine::TraceContext;
use tailwatch::measure::Ended;
use tailwatch::objectives::{Objective, Objectives, SlowCallLog};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// One event: its target, level and fields, as text.
type Event = (String, tracing::Level, Vec<(String, String)>);

/// Every event.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Event>>>);

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push((
            event.metadata().target().to_owned(),
            *event.metadata().level(),
            fields.0,
        ));
    }
}

impl Captured {
    fn slow_calls(&self) -> Vec<Vec<(String, String)>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(target, level, _)| {
                target == "tailwatch::slow_call" && *level == tracing::Level::WARN
            })
            .map(|(_, _, f)| f.clone())
            .collect()
    }
}

fn field<'a>(event: &'a [(String, String)], name: &str) -> &'a str {
    event
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {event:?}"))
}

fn capturing<T>(f: impl FnOnce() -> T) -> (T, Captured) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let out = tracing::subscriber::with_default(subscriber, f);
    (out, captured)
}

#[test]
fn slow_calls_over_an_objectives_threshold_are_logged_up_to_the_limit() {
    let monitor = Monitor::new();
    Objectives::new(&monitor)
        .add(Objective::latency("db-fast", Duration::from_millis(10), 0.99).operation("db.query"))
        .unwrap();
    let op = monitor.operation("db.query");
    let trace = TraceContext {
        trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        span_id: 0x00f0_67aa_0ba9_02b7,
    };
    // Off by default: nothing is logged.
    let ((), quiet) =
        capturing(|| op.record_with_trace(Duration::from_millis(50), Ended::Ok, trace));
    assert!(quiet.slow_calls().is_empty());

    let log = SlowCallLog::new(&monitor);
    log.limit(3, Duration::from_millis(300));
    let ((), captured) = capturing(|| {
        op.record(Duration::from_millis(5), Ended::Ok); // fast
        op.record(Duration::from_millis(40), Ended::Cancelled); // truncated
        for _ in 0..5 {
            op.record_with_trace(Duration::from_millis(25), Ended::Ok, trace);
        }
    });
    let events = captured.slow_calls();
    assert_eq!(events.len(), 3, "{events:?}");
    let e = &events[0];
    assert_eq!(field(e, "series"), "operation=db.query");
    assert_eq!(field(e, "metric"), "operation_duration_seconds");
    assert_eq!(field(e, "duration_ms"), "25.0");
    assert_eq!(field(e, "threshold_ms"), "10.0");
    assert_eq!(field(e, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(field(e, "source"), "objective \"db-fast\"");
    assert_eq!(field(e, "suppressed"), "0");
    assert_eq!(
        common::counter_with(
            &monitor,
            "tailwatch_slow_calls_suppressed_total",
            &[("metric", "operation_duration_seconds")]
        ),
        2
    );
    // The next window's first event says how many were not logged.
    std::thread::sleep(Duration::from_millis(350));
    let ((), next) = capturing(|| op.record(Duration::from_millis(30), Ended::Error));
    let events = next.slow_calls();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(field(&events[0], "suppressed"), "2");
    assert_eq!(field(&events[0], "trace_id"), "");
    // Off again.
    log.off();
    let ((), off) = capturing(|| op.record(Duration::from_millis(30), Ended::Ok));
    assert!(off.slow_calls().is_empty());
}

#[test]
fn thresholds_set_on_an_operation_and_bad_ones_refused() {
    let monitor = Monitor::new();
    let log = SlowCallLog::new(&monitor);
    log.operation("cache.get", Duration::from_millis(1))
        .unwrap();
    assert!(log.operation("x", Duration::ZERO).is_err());
    assert!(log.operation("", Duration::from_millis(1)).is_err());
    assert!(
        log.http_route("GET", "users", Duration::from_millis(1))
            .is_err()
    );
    let ((), captured) = capturing(|| {
        monitor
            .operation("cache.get")
            .record(Duration::from_millis(2), Ended::Ok);
        // Another operation: no threshold.
        monitor
            .operation("cache.put")
            .record(Duration::from_secs(1), Ended::Ok);
    });
    let events = captured.slow_calls();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(field(&events[0], "series"), "operation=cache.get");
    assert_eq!(field(&events[0], "source"), "threshold");
}

#[cfg(feature = "http")]
#[test]
fn a_slow_http_route_is_logged_with_its_route() {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    let monitor = Monitor::new();
    Objectives::new(&monitor)
        .add(
            Objective::latency("slow-fast", Duration::from_millis(10), 0.99)
                .http_route("GET", "/slow/{id}"),
        )
        .unwrap();
    SlowCallLog::new(&monitor);
    let app = Router::new()
        .route(
            "/slow/{id}",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                "late"
            }),
        )
        .route("/fast", get(|| async { "now" }))
        .layer(tailwatch::HttpMetricsLayer::new(&monitor));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ((), captured) = capturing(|| {
        rt.block_on(async {
            for uri in ["/slow/7", "/fast"] {
                let response = app
                    .clone()
                    .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let _ = axum::body::to_bytes(response.into_body(), 1024).await;
            }
        })
    });
    let events = captured.slow_calls();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        field(&events[0], "series"),
        "http_request_method=GET http_route=/slow/{id}"
    );
    assert_eq!(
        field(&events[0], "metric"),
        "http_server_request_duration_seconds"
    );
    let ms: f64 = field(&events[0], "duration_ms").parse().unwrap();
    assert!(ms >= 30.0, "{ms}");
}

use crate::common;
