//! [`HttpMetrics`]: the service the layer wraps around yours.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::body::ResponseBody;
use super::finish::Finish;
use super::future::ResponseFuture;
use super::layer::{HttpMetricsLayer, Shared, method_index};
use crate::engine::exemplar::TraceContext;
use crate::measure::context::{current_trace, parse_traceparent};

/// Middleware recording RED metrics around `S`; see the
/// [module docs](crate::http).
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for HttpMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> tower::Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> HttpMetrics<S> {
        HttpMetrics {
            inner,
            shared: self.shared.clone(),
        }
    }
}

impl<S> HttpMetrics<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for HttpMetrics<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: 'static,
    ResBody: http_body::Body,
{
    type Response = http::Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let route = self.shared.route_of(&request);
        if self.shared.excluded(&request, route) {
            return ResponseFuture::unmeasured(self.inner.call(request));
        }
        let entry = self.shared.entry(method_index(request.method()), route);
        let trace = request_trace(&request);
        let finish = Finish::new(entry, trace);
        // A handler that panics while building its future is answered like
        // one that panics while running.
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => ResponseFuture::measured(future, finish),
            Err(_) => ResponseFuture::panicked(finish),
        }
    }
}

/// The trace a server request belongs to: the code's trace context (a
/// tracing span around the service), else the caller's, from a sampled
/// W3C `traceparent` header.
pub(crate) fn request_trace<B>(request: &http::Request<B>) -> Option<TraceContext> {
    current_trace().or_else(|| {
        let header = request.headers().get("traceparent")?;
        parse_traceparent(header.to_str().ok()?)
    })
}
