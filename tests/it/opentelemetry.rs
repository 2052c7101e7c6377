//! Pins the OpenTelemetry integration (feature `opentelemetry`): trace ids
//! made by a real OpenTelemetry SDK tracer, through tracing-opentelemetry,
//! show up as exemplars in the exposition of the tracing layer's spans,
//! `measure`, timers and the HTTP middleware. A dependency upgrade that
//! breaks how the current span's context is found fails here.

use crate::common;

use axum::{Router, body::Body, routing::get};
use common::exemplars_on;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tailwatch::export::{Buckets, Format, render};
use tailwatch::{Monitor, MonitorLayer};
use tower::ServiceExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// An SDK tracer provider with no exporter: spans get real ids and are
/// dropped when they end.
fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder().with_sampler(sampler).build()
}

/// Runs the same work inside one OpenTelemetry-backed tracing span and
/// returns that span's (trace id, span id) as hex, or None if it has none.
fn work(monitor: &Monitor, rt: &tokio::runtime::Runtime, app: &Router) -> (String, String) {
    let request = tracing::info_span!("request", operation = "handle");
    let sc = request.context().span().span_context().clone();
    assert!(sc.is_valid(), "the SDK gave the span no ids");
    {
        let _in = request.enter();
        drop(tracing::info_span!("query", operation = "db.query").entered());
        monitor.operation("cache.get").run(|| ());
    }
    rt.block_on(
        async {
            monitor
                .measure("db.load", async { Ok::<_, std::io::Error>(1) })
                .await
        }
        .instrument(request.clone()),
    )
    .unwrap();
    let req = http::Request::get("/users/7").body(Body::empty()).unwrap();
    let res = rt.block_on(app.clone().oneshot(req).instrument(request.clone()));
    assert_eq!(res.unwrap().status(), 200);
    drop(request);
    (format!("{}", sc.trace_id()), format!("{}", sc.span_id()))
}

fn setup() -> (Monitor, tokio::runtime::Runtime, Router) {
    let monitor = Monitor::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ok" }))
        .layer(tailwatch::HttpMetricsLayer::new(&monitor));
    (monitor, rt, app)
}

/// Every measured thing above has one exemplar with `trace` as its trace id.
fn assert_traced(monitor: &Monitor, trace: &str) {
    let want = format!("{{trace_id=\"{trace}\",span_id=\"");
    for op in ["handle", "db.query", "cache.get", "db.load"] {
        let ex = exemplars_on(monitor, "operation_duration_seconds", &format!("\"{op}\""));
        assert!(ex.len() == 1 && ex[0].starts_with(&want), "{op}: {ex:#?}");
    }
    let ex = exemplars_on(
        monitor,
        "http_server_request_duration_seconds",
        "/users/{id}",
    );
    assert!(ex.len() == 1 && ex[0].starts_with(&want), "http: {ex:#?}");
}

#[test]
fn trace_ids_of_a_real_sdk_tracer_show_up_as_exemplars() {
    let provider = provider(Sampler::AlwaysOn);
    let (monitor, rt, app) = setup();
    // tailwatch's layer outside tracing-opentelemetry's…
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(MonitorLayer::new(&monitor).with_field("operation"));
    let (trace, span) = tracing::subscriber::with_default(subscriber, || work(&monitor, &rt, &app));
    assert_traced(&monitor, &trace);
    // The measured span's exemplar is its own span.
    let ex = exemplars_on(&monitor, "operation_duration_seconds", "\"handle\"");
    assert!(ex[0].contains(&format!("span_id=\"{span}\"")), "{ex:#?}");

    // …and inside it.
    let (monitor, rt, app) = setup();
    let subscriber = tracing_subscriber::registry()
        .with(MonitorLayer::new(&monitor).with_field("operation"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let (trace, span) = tracing::subscriber::with_default(subscriber, || work(&monitor, &rt, &app));
    assert_traced(&monitor, &trace);
    let ex = exemplars_on(&monitor, "operation_duration_seconds", "\"handle\"");
    assert!(ex[0].contains(&format!("span_id=\"{span}\"")), "{ex:#?}");
}

#[test]
fn an_opentelemetry_context_without_tracing_is_found_too() {
    let provider = provider(Sampler::AlwaysOn);
    let tracer = provider.tracer("test");
    let monitor = Monitor::new();
    let trace = tracer.in_span("checkout", |cx| {
        monitor.operation("charge").run(|| ());
        format!("{}", cx.span().span_context().trace_id())
    });
    let ex = exemplars_on(&monitor, "operation_duration_seconds", "\"charge\"");
    assert!(
        ex.len() == 1 && ex[0].starts_with(&format!("{{trace_id=\"{trace}\"")),
        "{ex:#?}"
    );
}

#[test]
fn a_trace_that_is_not_sampled_leaves_no_exemplar() {
    let provider = provider(Sampler::AlwaysOff);
    let (monitor, rt, app) = setup();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(MonitorLayer::new(&monitor).with_field("operation"));
    tracing::subscriber::with_default(subscriber, || work(&monitor, &rt, &app));
    let om = render(&monitor, &Buckets::otel(), Format::OpenMetrics);
    assert!(om.contains("operation=\"db.load\""), "nothing measured");
    assert!(
        !om.contains("trace_id="),
        "an unsampled trace was kept:\n{om}"
    );
}
