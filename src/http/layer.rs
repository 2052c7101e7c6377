//! [`HttpMetricsLayer`]: settings and the state its services share.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use hashbrown::Equivalent;

use super::classify::{Classify, DefaultClassifier, ErrorType, status_str};
use crate::clock::{Clock, SystemClock};
use crate::counter::Gauge;
use crate::histogram::Histogram;
use crate::monitor::Monitor;
use crate::registry::{OVERFLOW_VALUE, Registry, same};

/// The request latency histogram.
pub const HTTP_DURATION: &str = "http_server_request_duration_seconds";
/// The in-flight requests gauge.
pub const HTTP_ACTIVE: &str = "http_server_active_requests";

/// Label values of the methods, by [`method_index`].
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

pub(crate) fn method_index(method: &http::Method) -> u8 {
    use http::Method as M;
    match *method {
        M::GET => 0,
        M::HEAD => 1,
        M::POST => 2,
        M::PUT => 3,
        M::DELETE => 4,
        M::CONNECT => 5,
        M::OPTIONS => 6,
        M::TRACE => 7,
        M::PATCH => 8,
        _ => 9,
    }
}

type RouteFn = Arc<dyn Fn(&http::Method, &http::Uri) -> Option<&'static str> + Send + Sync>;

/// A tower layer recording RED metrics per route; see the
/// [module docs](crate::http). Cheap to clone; every service it makes
/// shares its series.
#[derive(Clone)]
pub struct HttpMetricsLayer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsLayer")
            .field("exclude", &self.shared.exclude)
            .field("latency_to_headers", &self.shared.to_headers)
            .field("max_routes", &self.shared.max_routes)
            .finish_non_exhaustive()
    }
}

/// Settings, and the series caches of every service of one layer.
pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    registry: Registry,
    pub(crate) classifier: Arc<dyn Classify>,
    route_fn: Option<RouteFn>,
    exclude: Vec<Box<str>>,
    pub(crate) to_headers: bool,
    max_routes: usize,
    histograms: RwLock<hashbrown::HashMap<HKey, Histogram>>,
    gauges: RwLock<hashbrown::HashMap<GKey, Gauge>>,
    routes: RwLock<hashbrown::HashSet<Box<str>>>,
}

impl Clone for Shared {
    /// Settings are copied; caches start empty (builders clone before use).
    fn clone(&self) -> Self {
        Self {
            clock: self.clock.clone(),
            registry: self.registry.clone(),
            classifier: self.classifier.clone(),
            route_fn: self.route_fn.clone(),
            exclude: self.exclude.clone(),
            to_headers: self.to_headers,
            max_routes: self.max_routes,
            histograms: RwLock::default(),
            gauges: RwLock::default(),
            routes: RwLock::default(),
        }
    }
}

impl HttpMetricsLayer {
    /// A layer recording into `monitor`'s registry.
    pub fn new(monitor: &Monitor) -> Self {
        Self::with_registry(monitor.registry().clone())
    }

    /// A layer recording into `registry`.
    pub fn with_registry(registry: Registry) -> Self {
        Self {
            shared: Arc::new(Shared {
                clock: Arc::new(SystemClock),
                registry,
                classifier: Arc::new(DefaultClassifier),
                route_fn: None,
                exclude: Vec::new(),
                to_headers: false,
                max_routes: 1000,
                histograms: RwLock::default(),
                gauges: RwLock::default(),
                routes: RwLock::default(),
            }),
        }
    }

    fn settings(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Replaces the rule deciding which responses are errors.
    #[must_use]
    pub fn classifier(mut self, classifier: impl Classify) -> Self {
        self.settings().classifier = Arc::new(classifier);
        self
    }

    /// The route of a request when axum's `MatchedPath` is not there (other
    /// routers): return the route template, `None` for `unmatched`.
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::new();
    /// let layer = tailwatch::HttpMetricsLayer::new(&monitor).route_fn(|_, uri| {
    ///     uri.path().starts_with("/users/").then_some("/users/{id}")
    /// });
    /// ```
    #[must_use]
    pub fn route_fn(
        mut self,
        route: impl Fn(&http::Method, &http::Uri) -> Option<&'static str> + Send + Sync + 'static,
    ) -> Self {
        self.settings().route_fn = Some(Arc::new(route));
        self
    }

    /// Leaves requests unmeasured whose route template or path is `path`
    /// (e.g. `/health`).
    #[must_use]
    pub fn exclude(mut self, path: &str) -> Self {
        self.settings().exclude.push(path.into());
        self
    }

    /// Ends latency when the response head is ready instead of at the end
    /// of the body.
    #[must_use]
    pub fn latency_to_headers(mut self) -> Self {
        self.settings().to_headers = true;
        self
    }

    /// The clock latencies are measured with (default: [`SystemClock`],
    /// the OS monotonic clock). Tests can measure in paused or manual time.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings().clock = clock;
        self
    }

    /// The most distinct routes recorded (default 1000); more become
    /// `__overflow__`.
    #[must_use]
    pub fn max_routes(mut self, max: usize) -> Self {
        self.settings().max_routes = max.max(1);
        self
    }
}

/// The route label of a request: borrowed from axum or static.
#[derive(Clone, Debug)]
pub(crate) enum Route {
    Matched(axum::extract::MatchedPath),
    Static(&'static str),
}

impl Route {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Route::Matched(m) => m.as_str(),
            Route::Static(s) => s,
        }
    }
}

impl Shared {
    pub(crate) fn route_of<B>(&self, request: &http::Request<B>) -> Route {
        if let Some(m) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Route::Matched(m.clone());
        }
        self.route_fn
            .as_ref()
            .and_then(|f| f(request.method(), request.uri()))
            .map_or(Route::Static("unmatched"), Route::Static)
    }

    pub(crate) fn excluded<B>(&self, request: &http::Request<B>, route: &Route) -> bool {
        !self.exclude.is_empty()
            && self
                .exclude
                .iter()
                .any(|p| **p == *route.as_str() || **p == *request.uri().path())
    }

    /// The route as recorded: itself, or `__overflow__` past the cap.
    fn capped<'a>(&self, route: &'a str) -> &'a str {
        if self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(route)
        {
            return route;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if routes.len() < self.max_routes {
            routes.insert(route.into());
            route
        } else if routes.contains(route) {
            route
        } else {
            OVERFLOW_VALUE
        }
    }

    /// The in-flight gauge of (method, route).
    pub(crate) fn gauge(&self, method: u8, route: &str) -> Gauge {
        let key = GLookup { method, route };
        if let Some(g) = self
            .gauges
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return g.clone();
        }
        let recorded = self.capped(route);
        let labels = [
            ("http_request_method", METHODS[usize::from(method)]),
            ("http_route", recorded),
        ];
        let gauge = self
            .registry
            .gauge(HTTP_ACTIVE, &labels)
            .unwrap_or_default();
        let mut gauges = self.gauges.write().unwrap_or_else(|e| e.into_inner());
        gauges
            .entry(GKey {
                method,
                route: route.into(),
            })
            .or_insert(gauge)
            .clone()
    }

    /// Records `nanos` into the series of (method, route, status, error).
    pub(crate) fn record(
        &self,
        method: u8,
        route: &str,
        status: u16,
        error: Option<&str>,
        nanos: u64,
    ) {
        let key = HLookup {
            method,
            route,
            status,
            error,
        };
        if let Some(h) = self
            .histograms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            h.record(nanos);
            return;
        }
        let h = self.histogram_slow(method, route, status, error);
        h.record(nanos);
    }

    #[cold]
    fn histogram_slow(
        &self,
        method: u8,
        route: &str,
        status: u16,
        error: Option<&str>,
    ) -> Histogram {
        let recorded = self.capped(route);
        let mut labels = vec![
            ("http_request_method", METHODS[usize::from(method)]),
            ("http_route", recorded),
            ("http_response_status_code", status_str(status)),
        ];
        if let Some(e) = error {
            labels.push(("error_type", e));
        }
        let h = self
            .registry
            .histogram(HTTP_DURATION, &labels)
            .unwrap_or_default();
        let mut map = self.histograms.write().unwrap_or_else(|e| e.into_inner());
        map.entry(HKey {
            method,
            route: route.into(),
            status,
            error: error.map(Into::into),
        })
        .or_insert(h)
        .clone()
    }
}

/// The classification of a finished response.
pub(crate) fn classify(shared: &Shared, status: http::StatusCode) -> Option<ErrorType> {
    shared.classifier.status(status)
}

/// Keys hash their content the same way whether owned or borrowed.
fn hash_key(state: &mut impl Hasher, method: u8, route: &str, status: u16, error: Option<&str>) {
    method.hash(state);
    route.hash(state);
    status.hash(state);
    error.hash(state);
}

#[derive(PartialEq, Eq)]
struct HKey {
    method: u8,
    route: Box<str>,
    status: u16,
    error: Option<Box<str>>,
}

impl Hash for HKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(
            state,
            self.method,
            &self.route,
            self.status,
            self.error.as_deref(),
        );
    }
}

struct HLookup<'a> {
    method: u8,
    route: &'a str,
    status: u16,
    error: Option<&'a str>,
}

impl Hash for HLookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(state, self.method, self.route, self.status, self.error);
    }
}

impl Equivalent<HKey> for HLookup<'_> {
    fn equivalent(&self, key: &HKey) -> bool {
        key.method == self.method
            && key.status == self.status
            && same(&key.route, self.route)
            && match (&key.error, self.error) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a, b),
                _ => false,
            }
    }
}

#[derive(PartialEq, Eq)]
struct GKey {
    method: u8,
    route: Box<str>,
}

impl Hash for GKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(state, self.method, &self.route, 0, None);
    }
}

struct GLookup<'a> {
    method: u8,
    route: &'a str,
}

impl Hash for GLookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_key(state, self.method, self.route, 0, None);
    }
}

impl Equivalent<GKey> for GLookup<'_> {
    fn equivalent(&self, key: &GKey) -> bool {
        key.method == self.method && same(&key.route, self.route)
    }
}
