//! [`GrpcMetricsLayer`], its service and response future, and one call's
//! pending record.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::body::GrpcResponseBody;
use super::codes::{
    CANCELLED, UNKNOWN, code_of_http, default_server_error, parse_code, parse_timeout,
};
use super::rpc::{Admit, GRPC_ACTIVE, GRPC_DURATION, Rpc, ServerErrors};
use crate::http::series_cache::{Admitted, TargetSeries, Targets};
use crate::http::service::request_trace;
use crate::measure::Monitor;
use crate::registry::{OVERFLOW_VALUE, Registry};

/// A tower layer recording RED metrics per gRPC method; see the
/// [module docs](crate::http::grpc). Cheap to clone.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GrpcMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetricsLayer")
            .field("max_methods", &self.shared.methods.max())
            .finish_non_exhaustive()
    }
}

struct Shared {
    registry: Registry,
    server_errors: ServerErrors,
    /// The methods (`service/method`) recorded under their own name.
    methods: Admitted<Box<str>>,
    /// The series of each method seen (`service/method` as recorded).
    entries: Targets<Box<str>>,
}

impl Clone for Shared {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            server_errors: self.server_errors.clone(),
            methods: Admitted::new(self.methods.max()),
            entries: Targets::default(),
        }
    }
}

impl GrpcMetricsLayer {
    /// A layer recording into `monitor`'s registry.
    pub fn new(monitor: &Monitor) -> Self {
        let registry = monitor.registry();
        registry.describe(
            super::rpc::GRPC_DURATION,
            "Duration of gRPC server calls, to the end of the response stream.",
        );
        registry.describe(super::rpc::GRPC_ACTIVE, "gRPC server calls in flight.");
        Self {
            shared: Arc::new(Shared {
                registry: monitor.registry().clone(),
                server_errors: Arc::new(default_server_error),
                methods: Admitted::new(1000),
                entries: Targets::default(),
            }),
        }
    }

    /// The most distinct methods recorded (default 1000); more become
    /// `__overflow__`.
    #[must_use]
    pub fn max_methods(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.shared).methods = Admitted::new(max.max(1));
        self
    }

    /// Replaces the rule deciding which status codes are server errors
    /// (default [`default_server_error`]). CANCELLED is always recorded
    /// as `error_type="cancelled"`.
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::new();
    /// // RESOURCE_EXHAUSTED (8) is ours too.
    /// let layer = tailwatch::GrpcMetricsLayer::new(&monitor)
    ///     .server_errors(|code| code == 8 || tailwatch::http::grpc::default_server_error(code));
    /// ```
    #[must_use]
    pub fn server_errors(mut self, rule: impl Fn(u8) -> bool + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.shared).server_errors = Arc::new(rule);
        self
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`GrpcMetricsLayer`] makes.
#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for GrpcMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetrics").finish_non_exhaustive()
    }
}

impl Shared {
    /// The series a call of request path `path` starts in: its method's
    /// if the method was admitted, else `_OTHER`'s, with how to pick its
    /// series once the service has answered. A method is admitted (counted
    /// against the cap, under its own name) only once the service answered
    /// a call of it with a code other than UNIMPLEMENTED, so paths a client
    /// makes up cannot use up the cap (OpenTelemetry's rule).
    fn start(self: &Arc<Self>, path: &str) -> (Arc<TargetSeries>, Option<Admit>) {
        if let Some(e) = path.strip_prefix('/').and_then(|key| self.entries.get(key)) {
            return (e, None);
        }
        let other = self.series(OTHER, OTHER);
        if split_method(path).is_none() {
            return (other, None);
        }
        let shared = self.clone();
        let path: Box<str> = path.into();
        let admit: Admit = Box::new(move |exists| {
            if exists {
                shared.entry(&path)
            } else {
                shared.series(OTHER, OTHER)
            }
        });
        (other, Some(admit))
    }

    /// The series of the method of request path `path` (admitted now if
    /// there is room under the cap): from the layer's map, made once (a
    /// capped-away method always takes the slow path to the overflow
    /// entry, counted per call, so memory stays bounded).
    fn entry(&self, path: &str) -> Arc<TargetSeries> {
        if let Some(e) = path.strip_prefix('/').and_then(|key| self.entries.get(key)) {
            return e;
        }
        let (service, method) = self.method(path);
        self.series(&service, &method)
    }

    /// The series of (`service`, `method`), made once.
    fn series(&self, service: &str, method: &str) -> Arc<TargetSeries> {
        let key: Box<str> = format!("{service}/{method}").into();
        if let Some(e) = self.entries.get(&*key) {
            return e;
        }
        self.entries.get_or_make(key, |_| {
            let gauge = self
                .registry
                .gauge(
                    GRPC_ACTIVE,
                    &[
                        ("rpc_system", "grpc"),
                        ("rpc_service", service),
                        ("rpc_method", method),
                    ],
                )
                .unwrap_or_default();
            let labels: Vec<(&'static str, Box<str>)> = vec![
                ("rpc_system", "grpc".into()),
                ("rpc_service", service.into()),
                ("rpc_method", method.into()),
            ];
            TargetSeries::new(
                &self.registry,
                GRPC_DURATION,
                labels,
                "rpc_grpc_status_code",
                gauge,
            )
        })
    }

    /// (service, method) of a request path `/package.Service/Method`,
    /// capped; `_OTHER` for a path that is not a gRPC method.
    fn method(&self, path: &str) -> (String, String) {
        let Some((service, method)) = split_method(path) else {
            return (OTHER.into(), OTHER.into());
        };
        let key = &path[1..];
        if !self.methods.admit(key, || key.into()) {
            self.registry.count_fold(GRPC_DURATION);
            return (OVERFLOW_VALUE.into(), OVERFLOW_VALUE.into());
        }
        (service.into(), method.into())
    }
}

/// The label value of calls that are not of a known method.
const OTHER: &str = "_OTHER";

/// (service, method) of a request path `/package.Service/Method`, if it is
/// one.
fn split_method(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'))
}

impl<S, B, RB> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<GrpcResponseBody<RB>>;
    type Error = S::Error;
    type Future = GrpcResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (entry, admit) = self.shared.start(request.uri().path());
        let trace = request_trace(&request);
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| parse_timeout(v.to_str().ok()?));
        let shared = &self.shared;
        let rpc = Rpc::start(entry, &shared.server_errors, trace, deadline, admit);
        GrpcResponseFuture {
            inner: self.inner.call(request),
            rpc: Some(rpc),
        }
    }
}

pin_project! {
    /// The response future of [`GrpcMetrics`].
    pub struct GrpcResponseFuture<F> {
        #[pin]
        inner: F,
        rpc: Option<Rpc>,
    }

    impl<F> PinnedDrop for GrpcResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response head: the client went away.
            if let Some(rpc) = this.project().rpc.take() {
                rpc.finish(CANCELLED, true);
            }
        }
    }
}

impl<F> std::fmt::Debug for GrpcResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcResponseFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for GrpcResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<GrpcResponseBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let Some(mut rpc) = this.rpc.take() else {
            return Poll::Ready(result.map(|r| r.map(GrpcResponseBody::unmeasured)));
        };
        match result {
            Ok(response) => {
                let head = if response.status() != http::StatusCode::OK {
                    Some(code_of_http(response.status()))
                } else {
                    response.headers().get("grpc-status").map(parse_code)
                };
                rpc.answered(head);
                match head {
                    // A trailers-only answer (or not gRPC at all): done.
                    Some(code) => {
                        rpc.finish(code, false);
                        Poll::Ready(Ok(response.map(GrpcResponseBody::unmeasured)))
                    }
                    None => Poll::Ready(Ok(response.map(|b| GrpcResponseBody::measured(b, rpc)))),
                }
            }
            Err(e) => {
                rpc.finish(UNKNOWN, false);
                Poll::Ready(Err(e))
            }
        }
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn methods_come_from_the_path_and_are_capped() {
        let m = Monitor::new();
        let layer = GrpcMetricsLayer::new(&m).max_methods(2);
        let s = &layer.shared;
        let pair = |p: &str| s.method(p);
        assert_eq!(pair("/pkg.Svc/Get"), ("pkg.Svc".into(), "Get".into()));
        for bad in ["/", "/pkg.Svc", "/pkg.Svc/", "//Get", "/a/b/c", "health"] {
            assert_eq!(pair(bad), ("_OTHER".into(), "_OTHER".into()), "{bad}");
        }
        assert_eq!(pair("/pkg.Svc/Put"), ("pkg.Svc".into(), "Put".into()));
        // Past 2 methods: overflow; the known ones keep their names.
        assert_eq!(
            pair("/pkg.Svc/Del"),
            ("__overflow__".into(), "__overflow__".into())
        );
        assert_eq!(pair("/pkg.Svc/Get"), ("pkg.Svc".into(), "Get".into()));
    }

    #[test]
    fn timeouts_and_http_statuses_read_as_the_grpc_spec_says() {
        use std::time::Duration;
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("5n"), Some(Duration::from_nanos(5)));
        for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S"] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
        let code = |s: u16| code_of_http(http::StatusCode::from_u16(s).unwrap());
        assert_eq!(
            [
                code(400),
                code(401),
                code(403),
                code(404),
                code(429),
                code(503),
                code(500)
            ],
            [13, 16, 7, 12, 14, 14, 2]
        );
        assert!(
            (0..=16)
                .filter(|&c| default_server_error(c))
                .eq([2, 4, 12, 13, 14, 15])
        );
    }
}
