//! [`Cached`]: the series of one client host or one gRPC method, kept by
//! their layer so that a call finds its gauge and histogram without a
//! registry lookup by labels (the registry is asked once per new
//! combination of outcome labels); [`Targets`] holds them, [`Admitted`]
//! caps the targets, [`Timing`] is one call to one.

use crate::engine::lock::RwLock;
use std::sync::Arc;

use crate::engine::counter::Gauge;
use crate::engine::exemplar::TraceContext;
use crate::engine::histogram::Histogram;
use crate::registry::Registry;

/// Outcome label values: (the status label's value, `error_type`).
type Outcome = (Option<&'static str>, Option<&'static str>);

/// One target's in-flight gauge and its histograms by outcome.
pub(crate) struct Cached {
    pub(crate) gauge: Gauge,
    registry: Registry,
    name: &'static str,
    /// The histogram's labels besides the outcome ones.
    labels: Vec<(&'static str, Box<str>)>,
    /// The name of the status label (`http_response_status_code`, …).
    status_label: &'static str,
    series: RwLock<Vec<(Outcome, Histogram)>>,
}

impl Cached {
    /// For histogram `name` with `labels`, its outcomes labelled
    /// `status_label` and `error_type`, and `gauge`.
    pub(crate) fn new(
        registry: &Registry,
        name: &'static str,
        labels: Vec<(&'static str, Box<str>)>,
        status_label: &'static str,
        gauge: Gauge,
    ) -> Self {
        Self {
            gauge,
            registry: registry.clone(),
            name,
            labels,
            status_label,
            series: RwLock::default(),
        }
    }

    /// The histogram of outcome (`status`, `error`), from the registry the
    /// first time.
    pub(crate) fn histogram(
        &self,
        status: Option<&'static str>,
        error: Option<&'static str>,
    ) -> Option<Histogram> {
        let key = (status, error);
        let found = self
            .series
            .read()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, h)| h.clone());
        if found.is_some() {
            return found;
        }
        let mut labels: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, &**v)).collect();
        if let Some(s) = status {
            labels.push((self.status_label, s));
        }
        if let Some(e) = error {
            labels.push(("error_type", e));
        }
        let h = self.registry.histogram(self.name, &labels).ok()?;
        let mut series = self.series.write();
        if !series.iter().any(|(k, _)| *k == key) {
            series.push((key, h.clone()));
        }
        Some(h)
    }
}

/// The first `max` distinct keys a layer meets (hosts, methods); later
/// ones are not admitted (recorded as `__overflow__` by the caller).
pub(crate) struct Admitted<K> {
    max: usize,
    keys: RwLock<hashbrown::HashSet<K>>,
}

impl<K: std::hash::Hash + Eq> Admitted<K> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            keys: RwLock::default(),
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Whether `key` is admitted (seen before, or room left: then kept).
    pub(crate) fn admit<Q>(&self, key: &Q, owned: impl FnOnce() -> K) -> bool
    where
        Q: std::hash::Hash + hashbrown::Equivalent<K> + ?Sized,
    {
        if self.keys.read().contains(key) {
            return true;
        }
        let mut keys = self.keys.write();
        if keys.contains(key) {
            return true;
        }
        if keys.len() >= self.max {
            return false;
        }
        keys.insert(owned());
        true
    }
}

/// A layer's targets and their series, each made once.
pub(crate) struct Targets<K>(RwLock<hashbrown::HashMap<K, Arc<Cached>>>);

impl<K> Default for Targets<K> {
    fn default() -> Self {
        Self(RwLock::default())
    }
}

impl<K: std::hash::Hash + Eq> Targets<K> {
    /// The series of `key`, if made.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<Arc<Cached>>
    where
        Q: std::hash::Hash + hashbrown::Equivalent<K> + ?Sized,
    {
        self.0.read().get(key).cloned()
    }

    /// The series of `key`, made by `make` if no other thread made them.
    pub(crate) fn get_or_make(&self, key: K, make: impl FnOnce(&K) -> Cached) -> Arc<Cached> {
        if let Some(e) = self.get(&key) {
            return e;
        }
        let made = Arc::new(make(&key));
        self.0.write().entry(key).or_insert(made).clone()
    }
}

/// One call to a target being timed: in flight from [`begin`](Self::begin)
/// to [`end`](Self::end).
pub(crate) struct Timing {
    entry: Arc<Cached>,
    start: quanta::Instant,
    trace: Option<TraceContext>,
}

impl Timing {
    /// Counts the call in flight from now; `trace` becomes its exemplar.
    pub(crate) fn begin(entry: Arc<Cached>, trace: Option<TraceContext>) -> Self {
        entry.gauge.increment();
        Self {
            entry,
            start: quanta::Instant::now(),
            trace,
        }
    }

    /// The time since it began.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Records the call with outcome (`status`, `error`); no longer in flight.
    pub(crate) fn end(self, status: Option<&'static str>, error: Option<&'static str>) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let Some(h) = self.entry.histogram(status, error) {
            h.record_traced(nanos, self.trace);
        }
        self.entry.gauge.decrement();
    }
}
