//! The HTTP middleware through `tower::ServiceExt::oneshot`: label rules,
//! errors, panics, timeouts, streaming bodies, in-flight accounting.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use tailwatch::http::{HTTP_ACTIVE, HTTP_DURATION};
use tailwatch::{HttpMetricsLayer, Monitor, engine::Clock, http::ErrorType};
use tower::ServiceExt;

type Labels = BTreeMap<String, String>;

/// Every request-duration series: labels → total count.
fn series(m: &Monitor) -> Vec<(Labels, u64)> {
    let mut out: Vec<_> = m
        .registry()
        .series()
        .into_iter()
        .filter(|(id, _)| id.name() == HTTP_DURATION)
        .map(|(id, h)| {
            let labels = id
                .labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            (labels, h.stats().total_count)
        })
        .collect();
    out.sort();
    out
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn active(m: &Monitor, method: &str, route: &str) -> i64 {
    m.registry()
        .gauges()
        .into_iter()
        .find(|(id, _)| {
            id.name() == HTTP_ACTIVE
                && id.label("http_request_method") == Some(method)
                && id.label("http_route") == Some(route)
        })
        .map_or(0, |(_, g)| g.value())
}

fn req(method: Method, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap()
}

async fn send(app: &Router, method: Method, uri: &str) -> (StatusCode, bytes::Bytes) {
    let response = app.clone().oneshot(req(method, uri)).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn app(m: &Monitor) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { "user" }).post(|| async { StatusCode::CREATED }),
        )
        .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .route("/bad", get(|| async { StatusCode::BAD_REQUEST }))
        .route(
            "/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("handler exploded");
                }
                "unreachable"
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }))
        .layer(HttpMetricsLayer::new(m).exclude("/health"))
}

#[tokio::test]
async fn path_params_collapse_to_the_route_template() {
    let m = Monitor::new();
    let app = app(&m);
    for id in 0..50 {
        let (status, body) = send(&app, Method::GET, &format!("/users/{id}")).await;
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"user"[..]));
    }
    send(&app, Method::POST, "/users/7").await;
    assert_eq!(
        series(&m),
        vec![
            (
                labels(&[
                    ("http_request_method", "GET"),
                    ("http_response_status_code", "200"),
                    ("http_route", "/users/{id}")
                ]),
                50
            ),
            (
                labels(&[
                    ("http_request_method", "POST"),
                    ("http_response_status_code", "201"),
                    ("http_route", "/users/{id}")
                ]),
                1
            ),
        ]
    );
    assert_eq!(active(&m, "GET", "/users/{id}"), 0);
}

#[tokio::test]
async fn a_hundred_thousand_random_unmatched_paths_make_one_series() {
    let m = Monitor::new();
    let app = app(&m);
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (status, _) = send(&app, Method::GET, &format!("/no/such/{x:x}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        series(&m),
        vec![(
            labels(&[
                ("http_request_method", "GET"),
                ("http_response_status_code", "404"),
                ("http_route", "unmatched")
            ]),
            100_000
        )]
    );
}

#[tokio::test]
async fn unknown_methods_are_other() {
    let m = Monitor::new();
    let app = app(&m);
    let brew = Method::from_bytes(b"BREW").unwrap();
    let (status, _) = send(&app, brew, "/users/1").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let s = series(&m);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0["http_request_method"], "_OTHER");
    assert_eq!(s[0].0["http_route"], "/users/{id}");
}

#[tokio::test]
async fn five_hundreds_are_errors_four_hundreds_are_not() {
    let m = Monitor::new();
    let app = app(&m);
    send(&app, Method::GET, "/fail").await;
    send(&app, Method::GET, "/bad").await;
    let s: BTreeMap<String, Labels> = series(&m)
        .into_iter()
        .map(|(l, _)| (l["http_route"].clone(), l))
        .collect();
    assert_eq!(
        s["/fail"],
        labels(&[
            ("error_type", "503"),
            ("http_request_method", "GET"),
            ("http_response_status_code", "503"),
            ("http_route", "/fail")
        ])
    );
    assert_eq!(
        s["/bad"],
        labels(&[
            ("http_request_method", "GET"),
            ("http_response_status_code", "400"),
            ("http_route", "/bad")
        ])
    );
}

#[tokio::test]
async fn a_panicking_handler_is_answered_500_and_counted() {
    let m = Monitor::new();
    let app = app(&m);
    for _ in 0..3 {
        let (status, body) = send(&app, Method::GET, "/panic").await;
        assert_eq!((status, body.len()), (StatusCode::INTERNAL_SERVER_ERROR, 0));
    }
    // The service keeps serving.
    assert_eq!(send(&app, Method::GET, "/users/1").await.0, StatusCode::OK);
    let panics: Vec<_> = series(&m)
        .into_iter()
        .filter(|(l, _)| l.get("error_type").map(String::as_str) == Some("panic"))
        .collect();
    assert_eq!(panics.len(), 1);
    assert_eq!(panics[0].1, 3);
    assert_eq!(panics[0].0["http_response_status_code"], "500");
    assert_eq!(active(&m, "GET", "/panic"), 0);
}

#[tokio::test]
async fn an_inner_timeout_is_an_error() {
    // A plain tower stack: the timeout's `Elapsed` error goes through the
    // layer unchanged and is recorded as error_type="timeout".
    let m = Monitor::new();
    let slow = tower::service_fn(|_req: Request<Body>| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
    });
    let svc = tower::ServiceBuilder::new()
        .layer(HttpMetricsLayer::new(&m).route_fn(|_, _| Some("/slow")))
        .timeout(Duration::from_millis(10))
        .service(slow);
    let err = svc.oneshot(req(Method::GET, "/slow")).await.unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>());
    let s = series(&m);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0["error_type"], "timeout");
    assert_eq!(active(&m, "GET", "/slow"), 0);

    // In axum, a timeout layer answers 408, which the default rule also
    // counts as a timeout.
    let m = Monitor::new();
    let app = Router::new()
        .route("/t", get(|| async { StatusCode::REQUEST_TIMEOUT }))
        .layer(HttpMetricsLayer::new(&m));
    send(&app, Method::GET, "/t").await;
    assert_eq!(series(&m)[0].0["error_type"], "timeout");
}

/// The largest request latency recorded, in nanoseconds.
fn max_latency(m: &Monitor) -> u64 {
    let (_, h) = m
        .registry()
        .series()
        .into_iter()
        .find(|(id, _)| id.name() == HTTP_DURATION)
        .unwrap();
    (h.stats().max.unwrap() * 1e9).round() as u64
}

/// Tokio's clock, which a paused runtime moves without sleeping.
#[derive(Debug)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now_ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// A body that sends one chunk after 50 ms and another after 50 more.
struct SlowBody {
    sleep: Pin<Box<tokio::time::Sleep>>,
    left: u8,
}

impl http_body::Body for SlowBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(50);
        self.sleep.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"chunk")))))
    }
}

fn slow_body() -> Body {
    Body::new(SlowBody {
        sleep: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        left: 2,
    })
}

#[tokio::test(start_paused = true)]
async fn latency_includes_a_streaming_body() {
    let m = Monitor::new();
    let clock = Arc::new(TokioClock(tokio::time::Instant::now()));
    let to_end = Router::new()
        .route("/stream", get(|| async { slow_body() }))
        .layer(HttpMetricsLayer::new(&m).clock(clock.clone()));
    let (_, body) = send(&to_end, Method::GET, "/stream").await;
    assert_eq!(&body[..], b"chunkchunk");
    let max = max_latency(&m);
    // Exactly 100 ms of paused time (the two 50 ms chunks), to the bucket.
    assert!((100_000_000..=100_800_000).contains(&max), "{max} ns");

    let m = Monitor::new();
    let to_headers = Router::new()
        .route("/stream", get(|| async { slow_body() }))
        .layer(HttpMetricsLayer::new(&m).clock(clock).latency_to_headers());
    send(&to_headers, Method::GET, "/stream").await;
    let max = max_latency(&m);
    assert!(max < 1_000_000, "to headers only: {max} ns");
}

#[tokio::test(start_paused = true)]
async fn in_flight_at_each_step_of_the_lifecycle() {
    let m = Monitor::new();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
    let app = Router::new()
        .route(
            "/slow",
            get(move || {
                let rx = release_rx.clone();
                async move {
                    if let Some(rx) = rx.lock().await.take() {
                        let _ = rx.await;
                    }
                    slow_body()
                }
            }),
        )
        .layer(HttpMetricsLayer::new(&m));

    // Before the response: the handler is waiting.
    let pending = tokio::spawn(app.clone().oneshot(req(Method::GET, "/slow")));
    while active(&m, "GET", "/slow") == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(active(&m, "GET", "/slow"), 1);
    // After the headers: the body has not been read.
    release_tx.send(()).unwrap();
    let response = pending.await.unwrap().unwrap();
    assert_eq!(
        active(&m, "GET", "/slow"),
        1,
        "still in flight after the headers"
    );
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    assert_eq!(active(&m, "GET", "/slow"), 1, "still in flight mid-body");
    // After the body: done.
    body.frame().await.unwrap().unwrap();
    assert!(body.frame().await.is_none());
    assert_eq!(active(&m, "GET", "/slow"), 0);
    assert_eq!(series(&m)[0].1, 1);
    assert!(!series(&m)[0].0.contains_key("error_type"));

    // After a drop mid-body: down again, recorded as cancelled.
    let response = app
        .clone()
        .oneshot(req(Method::GET, "/slow"))
        .await
        .unwrap();
    assert_eq!(active(&m, "GET", "/slow"), 1);
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    assert_eq!(active(&m, "GET", "/slow"), 0);
    let cancelled: Vec<_> = series(&m)
        .into_iter()
        .filter(|(l, _)| l.get("error_type").is_some())
        .collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].0["error_type"], "cancelled");
    assert_eq!(cancelled[0].0["http_response_status_code"], "200");

    // A response future dropped before the head: cancelled with 499.
    let m2 = Monitor::new();
    let never = Router::new()
        .route("/never", get(std::future::pending::<&'static str>))
        .layer(HttpMetricsLayer::new(&m2));
    let r = tokio::time::timeout(
        Duration::from_millis(5),
        never.oneshot(req(Method::GET, "/never")),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(active(&m2, "GET", "/never"), 0);
    let s = series(&m2);
    assert_eq!(s[0].0["http_response_status_code"], "499");
    assert_eq!(s[0].0["error_type"], "cancelled");
}

#[tokio::test]
async fn excluded_paths_and_request_bodies() {
    let m = Monitor::new();
    let app = app(&m);
    assert_eq!(send(&app, Method::GET, "/health").await.0, StatusCode::OK);
    assert!(series(&m).is_empty(), "/health is excluded");
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(Method::POST)
                .uri("/echo")
                .body(Body::from("hello"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        &response.into_body().collect().await.unwrap().to_bytes()[..],
        b"hello"
    );
    assert_eq!(series(&m).len(), 1);
}

#[tokio::test]
async fn a_custom_classifier_and_route_cap() {
    struct Strict;
    impl tailwatch::http::Classify for Strict {
        fn status(&self, status: StatusCode) -> Option<ErrorType> {
            status.is_client_error().then_some("client".into())
        }
    }
    let m = Monitor::new();
    let app = Router::new()
        .route("/bad", get(|| async { StatusCode::BAD_REQUEST }))
        .layer(HttpMetricsLayer::new(&m).classifier(Strict));
    send(&app, Method::GET, "/bad").await;
    assert_eq!(series(&m)[0].0["error_type"], "client");

    // A route function with unbounded output is capped.
    let m = Monitor::new();
    let leaked: &'static [String] = Box::leak(
        (0..20)
            .map(|i| format!("/r{i}"))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let svc = HttpMetricsLayer::new(&m)
        .max_routes(5)
        .route_fn(move |_, uri| {
            leaked
                .iter()
                .find(|r| r.as_str() == uri.path())
                .map(String::as_str)
        });
    let svc = tower::Layer::layer(
        &svc,
        tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        }),
    );
    for i in 0..20 {
        svc.clone()
            .oneshot(req(Method::GET, &format!("/r{i}")))
            .await
            .unwrap();
    }
    let s = series(&m);
    assert_eq!(s.len(), 6, "5 routes + __overflow__");
    let overflow = s
        .iter()
        .find(|(l, _)| l["http_route"] == tailwatch::registry::OVERFLOW_VALUE)
        .unwrap();
    assert_eq!(overflow.1, 15, "nothing lost");
}

#[tokio::test]
async fn stats_merge_a_route_over_status_codes_with_its_error_ratio() {
    let m = Monitor::new();
    let app = Router::new()
        .route(
            "/flaky/{n}",
            get(
                |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                    if n % 4 == 0 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .route("/users/{id}", get(|| async { "user" }))
        .layer(HttpMetricsLayer::new(&m));
    for n in 0..40 {
        send(&app, Method::GET, &format!("/flaky/{n}")).await;
    }
    send(&app, Method::GET, "/users/1").await;
    // A client that goes away before the body: cancelled, not an error.
    let response = app.clone().oneshot(req(Method::GET, "/users/2")).await;
    drop(response);
    let stats = m.all_stats();
    let route = |r: &str| {
        stats
            .iter()
            .find(|s| s.name == HTTP_DURATION && s.labels["http_route"] == r)
            .unwrap_or_else(|| panic!("{r} not in {stats:?}"))
    };
    assert_eq!(
        stats.iter().filter(|s| s.name == HTTP_DURATION).count(),
        2,
        "one entry per (method, route): {stats:?}"
    );
    let flaky = route("/flaky/{n}");
    assert_eq!(
        flaky.labels,
        labels(&[("http_request_method", "GET"), ("http_route", "/flaky/{n}")])
    );
    assert_eq!((flaky.count, flaky.errors, flaky.cancelled), (40, 10, 0));
    assert_eq!(flaky.error_ratio, Some(0.25));
    assert_eq!(flaky.total_count, 40);
    let users = route("/users/{id}");
    assert_eq!((users.count, users.errors, users.cancelled), (2, 0, 1));
    assert_eq!(users.total_count, 2);
    assert!(users.p99().is_some());
}

/// `server_timing()` answers with `Server-Timing: app;dur=<ms>`, the time
/// to the response head (a 20 ms handler: at least 20 ms); without it, no
/// header.
#[tokio::test]
async fn server_timing_carries_the_duration_when_asked() {
    let m = Monitor::new();
    let handler = || async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        "ok"
    };
    let timed = Router::new()
        .route("/slow", get(handler))
        .layer(HttpMetricsLayer::new(&m).server_timing());
    let response = timed.oneshot(req(Method::GET, "/slow")).await.unwrap();
    let header = response
        .headers()
        .get("server-timing")
        .expect("a Server-Timing header")
        .to_str()
        .unwrap()
        .to_owned();
    let ms: f64 = header
        .strip_prefix("app;dur=")
        .unwrap_or_else(|| panic!("{header}"))
        .parse()
        .unwrap();
    assert!((20.0..2_000.0).contains(&ms), "{header}");
    let plain = Router::new()
        .route("/slow", get(handler))
        .layer(HttpMetricsLayer::new(&m));
    let response = plain.oneshot(req(Method::GET, "/slow")).await.unwrap();
    assert!(response.headers().get("server-timing").is_none());
}
