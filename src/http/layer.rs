//! [`HttpMetricsLayer`]: settings and the state its services share.

use crate::engine::lock::RwLock;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashbrown::Equivalent;

use super::classify::{Classify, DefaultClassifier, status_str};
use super::series_cache::TargetSeries;
use crate::engine::clock::Clock;
use crate::engine::exemplar::TraceContext;
use crate::engine::thread_cache::thread_cache;
use crate::measure::Monitor;
use crate::registry::{OVERFLOW_VALUE, Registry, same};

/// The request latency histogram.
pub const HTTP_DURATION: &str = "http_server_request_duration_seconds";
/// The in-flight requests gauge.
pub const HTTP_ACTIVE: &str = "http_server_active_requests";

/// The index of `HEAD` in [`METHODS`].
pub(crate) const HEAD: u8 = 1;

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
            .field("latency_to_headers", &self.shared.settings.to_headers)
            .field("max_routes", &self.shared.max_routes)
            .finish_non_exhaustive()
    }
}

/// What a request needs until it ends (held by its route entry).
#[derive(Clone)]
pub(crate) struct Settings {
    /// `None`: `std::time::Instant` read directly (the fast default).
    pub(crate) clock: Option<Arc<dyn Clock>>,
    registry: Registry,
    pub(crate) classifier: Arc<dyn Classify>,
    pub(crate) to_headers: bool,
    /// Answer with a `Server-Timing` header carrying the duration.
    pub(crate) server_timing: bool,
}

/// Settings, and the route entries of every service of one layer.
pub(crate) struct Shared {
    id: u64,
    settings: Arc<Settings>,
    route_fn: Option<RouteFn>,
    exclude: Vec<Box<str>>,
    max_routes: usize,
    entries: RwLock<hashbrown::HashMap<GKey, Arc<RouteEntry>>>,
}

impl Clone for Shared {
    /// Settings are copied; caches start empty (builders clone before use).
    fn clone(&self) -> Self {
        Self {
            id: crate::engine::thread_cache::next_owner(),
            settings: self.settings.clone(),
            route_fn: self.route_fn.clone(),
            exclude: self.exclude.clone(),
            max_routes: self.max_routes,
            entries: RwLock::default(),
        }
    }
}

impl HttpMetricsLayer {
    /// A layer recording into `monitor`'s registry.
    pub fn new(monitor: &Monitor) -> Self {
        Self::with_registry(monitor.registry().clone())
    }

    /// A layer recording into `registry`.
    pub(crate) fn with_registry(registry: Registry) -> Self {
        registry.describe(HTTP_DURATION, "Duration of HTTP server requests.");
        registry.describe(HTTP_ACTIVE, "HTTP server requests in flight.");
        Self {
            shared: Arc::new(Shared {
                id: crate::engine::thread_cache::next_owner(),
                settings: Arc::new(Settings {
                    clock: None,
                    registry,
                    classifier: Arc::new(DefaultClassifier),
                    to_headers: false,
                    server_timing: false,
                }),
                route_fn: None,
                exclude: Vec::new(),
                max_routes: 1000,
                entries: RwLock::default(),
            }),
        }
    }

    fn settings(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    fn request_settings(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings().settings)
    }

    /// Replaces the rule deciding which responses are errors.
    #[must_use]
    pub fn classifier(mut self, classifier: impl Classify) -> Self {
        self.request_settings().classifier = Arc::new(classifier);
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
        self.request_settings().to_headers = true;
        self
    }

    /// Adds a W3C `Server-Timing: app;dur=<ms>` header to every measured
    /// response: the time from the request reaching the layer to the
    /// response head, in milliseconds with microsecond digits. A load
    /// generator (`tailwatch load` reads it) can then tell the server's
    /// time from the network's and the accept queue's. Off by default: it
    /// tells every client how long the server worked.
    #[must_use]
    pub fn server_timing(mut self) -> Self {
        self.request_settings().server_timing = true;
        self
    }

    /// The clock latencies are measured with. By default the OS monotonic
    /// clock is read directly (`std::time::Instant`, as
    /// [`SystemClock`](crate::engine::SystemClock) does); tests can measure in
    /// paused or manual time.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.request_settings().clock = Some(clock);
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

impl Shared {
    /// The route of a request: axum's template, the route function's, or
    /// `unmatched`. Borrowed from the request: no clone.
    pub(crate) fn route_of<'r, B>(&self, request: &'r http::Request<B>) -> &'r str {
        if let Some(m) = request.extensions().get::<axum::extract::MatchedPath>() {
            return m.as_str();
        }
        self.route_fn
            .as_ref()
            .and_then(|f| f(request.method(), request.uri()))
            .unwrap_or("unmatched")
    }

    pub(crate) fn excluded<B>(&self, request: &http::Request<B>, route: &str) -> bool {
        !self.exclude.is_empty()
            && self
                .exclude
                .iter()
                .any(|p| **p == *route || **p == *request.uri().path())
    }

    /// The entry of (method, route): from this thread's cache, else the
    /// shared map, else created.
    pub(crate) fn entry(&self, method: u8, route: &str) -> Arc<RouteEntry> {
        let hash = ENTRY_HASH.hash_one((method, route));
        ENTRY_CACHE.get_or(
            self.id,
            hash,
            |e| (e.method == method && same(&e.route, route)).then(|| e.clone()),
            || {
                let entry = self.entry_slow(method, route);
                // Only exact routes are cached (an overflowed route keeps
                // taking the slow path, so the cap is applied on every request).
                let cached = same(&entry.route, route).then(|| entry.clone());
                (entry, cached)
            },
        )
    }

    #[cold]
    fn entry_slow(&self, method: u8, route: &str) -> Arc<RouteEntry> {
        let key = GLookup { method, route };
        if let Some(e) = self.entries.read().get(&key) {
            return e.clone();
        }
        let mut entries = self.entries.write();
        if let Some(e) = entries.get(&key) {
            return e.clone();
        }
        // Past the route cap, every new route shares its method's overflow
        // entry, and is not added to the map: memory stays bounded.
        let routes = entries.len()
            - entries
                .keys()
                .filter(|k| *k.route == *OVERFLOW_VALUE)
                .count();
        let recorded = if routes < self.max_routes {
            route
        } else {
            // Every call of a route past the cap is counted (the overflow
            // entry is never cached, so each one comes here).
            self.settings.registry.count_fold(HTTP_DURATION);
            OVERFLOW_VALUE
        };
        let key = GKey {
            method,
            route: recorded.into(),
        };
        entries
            .entry(key)
            .or_insert_with(|| {
                let labels = [
                    ("http_request_method", METHODS[usize::from(method)]),
                    ("http_route", recorded),
                ];
                let registry = &self.settings.registry;
                let gauge = registry.gauge(HTTP_ACTIVE, &labels).unwrap_or_default();
                Arc::new(RouteEntry {
                    settings: self.settings.clone(),
                    method,
                    route: recorded.into(),
                    target: TargetSeries::new(
                        registry,
                        HTTP_DURATION,
                        labels.map(|(k, v)| (k, v.into())).to_vec(),
                        "http_response_status_code",
                        gauge,
                    ),
                })
            })
            .clone()
    }
}

/// Hashes (method, route) for the cache slot (fixed seed: a collision only evicts).
static ENTRY_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x6874_7470);

thread_cache! {
    /// Entries by hash of (method, route), per layer.
    static ENTRY_CACHE: Arc<RouteEntry>;
}

/// Everything a request of one (method, route) records into. It holds the
/// request settings, not the layer state, so there is no reference cycle.
pub(crate) struct RouteEntry {
    pub(crate) settings: Arc<Settings>,
    pub(crate) method: u8,
    /// The route as recorded (the request's, or `__overflow__`).
    route: Box<str>,
    /// The route's gauge and histograms by (status, error type).
    pub(crate) target: TargetSeries,
}

impl RouteEntry {
    /// Records `nanos` for a response of `status` (and `error`), with the
    /// request's trace as its exemplar.
    pub(crate) fn record(
        &self,
        status: u16,
        error: Option<&str>,
        nanos: u64,
        trace: Option<TraceContext>,
    ) {
        self.target
            .record(Some(status_str(status)), error, nanos, trace);
    }
}

#[derive(PartialEq, Eq, Hash)]
struct GKey {
    method: u8,
    route: Box<str>,
}

struct GLookup<'a> {
    method: u8,
    route: &'a str,
}

impl Hash for GLookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As the derived `Hash` of `GKey`: the fields in order.
        self.method.hash(state);
        self.route.hash(state);
    }
}

impl Equivalent<GKey> for GLookup<'_> {
    fn equivalent(&self, key: &GKey) -> bool {
        key.method == self.method && same(&key.route, self.route)
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_layer_frees_its_state() {
        let layer = HttpMetricsLayer::with_registry(Registry::new());
        let entry = layer.shared.entry(0, "/users/{id}");
        entry.record(200, None, 1_000, None);
        // TargetSeries in this thread and held here, the entry must not keep the
        // layer's state (and its map of entries) alive.
        let weak = Arc::downgrade(&layer.shared);
        drop(layer);
        assert!(
            weak.upgrade().is_none(),
            "route entries keep the layer alive"
        );
        // A new layer, even at the same address, never sees the old entries.
        let layer = HttpMetricsLayer::with_registry(Registry::new());
        let fresh = layer.shared.entry(0, "/users/{id}");
        assert!(!Arc::ptr_eq(&entry, &fresh));
    }

    #[test]
    fn methods_map_to_labels() {
        assert_eq!(
            METHODS[usize::from(method_index(&http::Method::GET))],
            "GET"
        );
        assert_eq!(
            METHODS[usize::from(method_index(&http::Method::PATCH))],
            "PATCH"
        );
        let brew = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(METHODS[usize::from(method_index(&brew))], "_OTHER");
    }
}
