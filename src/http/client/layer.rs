//! [`HttpClientMetricsLayer`], its service and response future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::http::classify::status_str;
use crate::http::layer::{METHODS, method_index};
use crate::http::series_cache::{Admitted, TargetSeries, Targets, Timing};
use crate::measure::Monitor;
use crate::measure::context::current_trace;
use crate::registry::{OVERFLOW_VALUE, Registry};

/// The outbound request latency histogram.
pub const HTTP_CLIENT_DURATION: &str = "http_client_request_duration_seconds";
/// The outbound requests in flight gauge.
pub const HTTP_CLIENT_ACTIVE: &str = "http_client_active_requests";

type TemplateFn = Arc<dyn Fn(&http::Method, &http::Uri) -> Option<&'static str> + Send + Sync>;

/// A tower layer recording RED metrics of outbound HTTP calls per server;
/// see the [module docs](crate::http::client). Cheap to clone.
#[derive(Clone)]
pub struct HttpClientMetricsLayer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpClientMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientMetricsLayer")
            .field("max_hosts", &self.shared.hosts.max())
            .field("url_template", &self.shared.template.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) registry: Registry,
    pub(crate) template: Option<TemplateFn>,
    /// The host:port pairs recorded under their own name.
    hosts: Admitted<(Box<str>, u16)>,
    /// The series of each (method, host, port, template) seen.
    entries: Targets<EntryKey>,
}

/// (method index, recorded host, port, template).
type EntryKey = (u8, Box<str>, u16, Option<&'static str>);

impl Clone for Shared {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            template: self.template.clone(),
            hosts: Admitted::new(self.hosts.max()),
            entries: Targets::default(),
        }
    }
}

impl HttpClientMetricsLayer {
    /// A layer recording into `monitor`'s registry.
    pub fn new(monitor: &Monitor) -> Self {
        let registry = monitor.registry();
        registry.describe(
            HTTP_CLIENT_DURATION,
            "Duration of outbound HTTP calls, to the response head.",
        );
        registry.describe(HTTP_CLIENT_ACTIVE, "Outbound HTTP calls in flight.");
        Self {
            shared: Arc::new(Shared {
                registry: monitor.registry().clone(),
                template: None,
                hosts: Admitted::new(100),
                entries: Targets::default(),
            }),
        }
    }

    /// The most distinct host:port pairs recorded (default 100); more
    /// become `__overflow__`.
    #[must_use]
    pub fn max_hosts(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.shared).hosts = Admitted::new(max.max(1));
        self
    }

    /// A template of the request's path for the `url_template` label (e.g.
    /// `/users/{id}`); `None` leaves the label out for that request. Never
    /// return the raw path: its values are unbounded.
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::new();
    /// let layer = tailwatch::HttpClientMetricsLayer::new(&monitor).url_template(|_, uri| {
    ///     uri.path().starts_with("/v1/charges/").then_some("/v1/charges/{id}")
    /// });
    /// ```
    #[must_use]
    pub fn url_template(
        mut self,
        template: impl Fn(&http::Method, &http::Uri) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.shared).template = Some(Arc::new(template));
        self
    }
}

impl<S> tower::Layer<S> for HttpClientMetricsLayer {
    type Service = HttpClientMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClientMetrics {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`HttpClientMetricsLayer`] makes.
#[derive(Clone)]
pub struct HttpClientMetrics<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for HttpClientMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientMetrics").finish_non_exhaustive()
    }
}

/// The scheme's default port.
fn default_port(uri: &http::Uri) -> u16 {
    match uri.scheme_str() {
        Some("https" | "wss") => 443,
        _ => 80,
    }
}

impl Shared {
    /// The server of a request: its URI's host and port, else its `Host`
    /// header's; capped.
    fn server<B>(&self, request: &http::Request<B>) -> (String, u16) {
        let uri = request.uri();
        let (host, port) = match uri.host() {
            Some(h) => (
                h.to_owned(),
                uri.port_u16().unwrap_or_else(|| default_port(uri)),
            ),
            None => {
                let header = request
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| h.parse::<http::uri::Authority>().ok());
                match header {
                    Some(a) => (a.host().to_owned(), a.port_u16().unwrap_or(80)),
                    None => (String::from("_OTHER"), 0),
                }
            }
        };
        self.capped(&host, port)
    }

    /// The series of calls with `method` (index) to `host:port` (as
    /// recorded) with `template`: from the layer's map, made once.
    pub(crate) fn entry(
        &self,
        method: u8,
        host: String,
        port: u16,
        template: Option<&'static str>,
    ) -> Arc<TargetSeries> {
        let key: EntryKey = (method, host.into_boxed_str(), port, template);
        self.entries.get_or_make(key, |(_, host, _, _)| {
            let method_label = METHODS[usize::from(method)];
            let port_text: Box<str> = port.to_string().into();
            let gauge = self
                .registry
                .gauge(
                    HTTP_CLIENT_ACTIVE,
                    &[
                        ("http_request_method", method_label),
                        ("server_address", host),
                        ("server_port", &port_text),
                    ],
                )
                .unwrap_or_default();
            let mut labels: Vec<(&'static str, Box<str>)> = vec![
                ("http_request_method", method_label.into()),
                ("server_address", host.clone()),
                ("server_port", port_text),
            ];
            if let Some(t) = template {
                labels.push(("url_template", t.into()));
            }
            TargetSeries::new(
                &self.registry,
                HTTP_CLIENT_DURATION,
                labels,
                "http_response_status_code",
                gauge,
            )
        })
    }

    /// `host:port` as recorded: lowercased, or `__overflow__` past the cap.
    pub(crate) fn capped(&self, host: &str, port: u16) -> (String, u16) {
        let host = host.to_ascii_lowercase();
        let key: (Box<str>, u16) = (host.as_str().into(), port);
        if self.hosts.admit(&key, || key.clone()) {
            (host, port)
        } else {
            self.registry.count_fold(HTTP_CLIENT_DURATION);
            (OVERFLOW_VALUE.to_owned(), 0)
        }
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for HttpClientMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: Into<tower::BoxError>,
{
    type Response = http::Response<RB>;
    type Error = tower::BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (address, port) = self.shared.server(&request);
        let template = self
            .shared
            .template
            .as_ref()
            .and_then(|t| t(request.method(), request.uri()));
        let entry = self
            .shared
            .entry(method_index(request.method()), address, port, template);
        let call = Call::start(entry);
        ResponseFuture {
            inner: self.inner.call(request),
            call: Some(call),
        }
    }
}

/// One outbound call being measured: recorded once, at its response, its
/// error, or its drop (cancelled).
pub(crate) struct Call {
    timing: Option<Timing>,
}

impl Call {
    /// Starts measuring a call to `entry`'s target (in flight from now).
    pub(crate) fn start(entry: Arc<TargetSeries>) -> Self {
        Self {
            timing: Some(Timing::begin(entry, current_trace())),
        }
    }

    /// Records the call: the response's status (if one came) and the
    /// error type (if it failed).
    pub(crate) fn record(mut self, status: Option<u16>, error: Option<&'static str>) {
        self.finish(status, error);
    }

    /// The answer's status and error type for a response of `status`.
    pub(crate) fn record_status(self, status: u16) {
        let error = (status >= 400).then(|| status_str(status));
        self.record(Some(status), error);
    }

    fn finish(&mut self, status: Option<u16>, error: Option<&'static str>) {
        if let Some(timing) = self.timing.take() {
            timing.end(status.map(status_str), error);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped before the response: the caller gave up.
        self.finish(None, Some("cancelled"));
    }
}

/// What went wrong with a call that got no response, from the error and
/// its sources.
pub(crate) fn error_type(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<tower::timeout::error::Elapsed>() {
            return "timeout";
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::TimedOut => return "timeout",
                K::ConnectionRefused => return "connection_refused",
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return "connection_reset";
                }
                _ => {}
            }
        }
        next = e.source();
    }
    "_OTHER"
}

pin_project! {
    /// The response future of [`HttpClientMetrics`] (its call records
    /// itself as cancelled if dropped first).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: Into<tower::BoxError>,
{
    type Output = Result<http::Response<RB>, tower::BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let call = this.call.take();
        match result {
            Ok(response) => {
                if let Some(call) = call {
                    call.record_status(response.status().as_u16());
                }
                Poll::Ready(Ok(response))
            }
            Err(e) => {
                let e: tower::BoxError = e.into();
                if let Some(call) = call {
                    call.record(None, Some(error_type(&*e)));
                }
                Poll::Ready(Err(e))
            }
        }
    }
}
