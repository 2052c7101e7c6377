//! Per-request cost of the HTTP middleware around a trivial axum handler:
//! bare router vs tailwatch vs axum-prometheus, one run.
//!
//! Run with: `cargo bench --bench http`
//!
//! Each iteration sends one request through `oneshot` (no socket) and
//! collects the response body. Report the added cost (layered − bare).
//!
//! Group `layer_per_call`: the outbound client layer and the gRPC server
//! layer around an inner service that answers at once, against that bare
//! service.
//!
//! Group `http_request_traced`: the same with a trace context, so that the
//! middleware keeps an exemplar: a sampled W3C `traceparent` header (no
//! subscriber), and an OpenTelemetry span per request (tracing-opentelemetry
//! over an SDK tracer with no exporter), each against the bare router in
//! the same conditions.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use tailwatch::{HttpMetricsLayer, Monitor};
use tower::ServiceExt;

/// A layer that does nothing: axum's own cost for any `Router::layer`.
#[derive(Clone)]
struct Identity;

impl<S> tower::Layer<S> for Identity {
    type Service = S;
    fn layer(&self, inner: S) -> S {
        inner
    }
}

fn routes() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

fn request() -> Request<Body> {
    Request::builder()
        .uri("/users/7")
        .body(Body::empty())
        .unwrap()
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("http_request");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    let monitor = Monitor::new();
    // axum-prometheus spawns an upkeep task when built: inside the runtime.
    let _entered = rt.enter();
    let (prometheus_layer, prometheus_handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let routers: [(&str, Router); 4] = [
        ("bare_router", routes()),
        ("identity_router_layer", routes().layer(Identity)),
        (
            "tailwatch_router_layer",
            routes().layer(HttpMetricsLayer::new(&monitor)),
        ),
        (
            "axum_prometheus_router_layer",
            routes().layer(prometheus_layer),
        ),
    ];
    for (name, router) in routers {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let took = rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let response = router.clone().oneshot(request()).await.unwrap();
                        response.into_body().collect().await.unwrap();
                    }
                    start.elapsed()
                });
                prometheus_handle.run_upkeep(); // drain its sample buffers, untimed
                took
            })
        });
    }
    // The layer around the router (no axum layering costs, no route template).
    let outside = tower::Layer::layer(&HttpMetricsLayer::new(&monitor), routes());
    group.bench_function("tailwatch_around_router", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let response = outside.clone().oneshot(request()).await.unwrap();
                    response.into_body().collect().await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// `GET /users/7` with a sampled `traceparent` header.
fn traced_request() -> Request<Body> {
    Request::builder()
        .uri("/users/7")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap()
}

fn http_traced(c: &mut Criterion) {
    use opentelemetry::trace::TracerProvider;
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("http_request_traced");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let monitor = Monitor::new();
    let routers: [(&str, Router); 2] = [
        ("bare_router", routes()),
        (
            "tailwatch_router_layer",
            routes().layer(HttpMetricsLayer::new(&monitor)),
        ),
    ];
    for (name, router) in &routers {
        group.bench_function(format!("{name}/traceparent"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let response = router.clone().oneshot(traced_request()).await.unwrap();
                        response.into_body().collect().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    let _default = tracing::subscriber::set_default(subscriber);
    for (name, router) in &routers {
        group.bench_function(format!("{name}/otel_span"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let span = tracing::info_span!("request");
                        let response = router
                            .clone()
                            .oneshot(request())
                            .instrument(span)
                            .await
                            .unwrap();
                        response.into_body().collect().await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// The outbound client layer and the gRPC server layer around an inner
/// service that answers at once, against the bare inner service: the
/// added cost per call.
fn client_and_grpc(c: &mut Criterion) {
    use tower::{Layer, Service};

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("layer_per_call");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let monitor = Monitor::new();

    let ok = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, std::io::Error>(http::Response::new(Body::empty()))
    });
    let outbound = || {
        Request::get("http://payments.internal/v1/charges")
            .body(Body::empty())
            .unwrap()
    };
    let mut bare = ok;
    group.bench_function("client/bare_service", |b| {
        b.iter(|| rt.block_on(bare.call(outbound())).unwrap())
    });
    let mut measured = tailwatch::HttpClientMetricsLayer::new(&monitor).layer(ok);
    group.bench_function("client/tailwatch_layer", |b| {
        b.iter(|| rt.block_on(measured.call(outbound())).unwrap())
    });

    // A unary gRPC answer: a body with one data frame, then the trailers.
    let unary = tower::service_fn(|_: Request<Body>| async {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames = [
            Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from_static(
                b"\0\0\0\0\0",
            ))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        let body = http_body_util::StreamBody::new(futures_util_iter(frames));
        Ok::<_, std::io::Error>(http::Response::new(body))
    });
    let rpc = || {
        Request::post("/shop.Inventory/Reserve")
            .body(Body::empty())
            .unwrap()
    };
    let mut bare = unary;
    group.bench_function("grpc/bare_service", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = bare.call(rpc()).await.unwrap();
                r.into_body().collect().await.unwrap()
            })
        })
    });
    let mut measured = tailwatch::GrpcMetricsLayer::new(&monitor).layer(unary);
    group.bench_function("grpc/tailwatch_layer", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = measured.call(rpc()).await.unwrap();
                r.into_body().collect().await.unwrap()
            })
        })
    });
    group.finish();
}

/// A stream over `items`, ready at once.
fn futures_util_iter<T>(items: [T; 2]) -> impl tokio_stream::Stream<Item = T> {
    tokio_stream::iter(items)
}

criterion_group!(benches, http, http_traced, client_and_grpc);
criterion_main!(benches);
