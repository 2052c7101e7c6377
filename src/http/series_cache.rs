//! [`TargetSeries`]: the series of one target of a layer (an HTTP route, a
//! client host, a gRPC method), kept by the layer so that a call finds its
//! gauge and histogram without a registry lookup by labels (the registry
//! is asked once per new combination of outcome labels); [`Targets`] holds
//! them for the client and gRPC layers, [`Admitted`] caps the targets,
//! [`Timing`] is one call to one.

use std::sync::Arc;

use once_cell::race::OnceBox;

use crate::engine::counter::Gauge;
use crate::engine::exemplar::TraceContext;
use crate::engine::histogram::Histogram;
use crate::engine::lock::RwLock;
use crate::registry::{Registry, same};

/// Outcome series kept inline per target before falling back to the
/// registry.
const OUTCOME_SLOTS: usize = 8;

/// One outcome's series: (the status label's value, `error_type`).
struct OutcomeSeries {
    status: Option<&'static str>,
    error: Option<Box<str>>,
    histogram: Histogram,
}

impl OutcomeSeries {
    fn is(&self, status: Option<&str>, error: Option<&str>) -> bool {
        self.status == status
            && match (&self.error, error) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a, b),
                _ => false,
            }
    }
}

/// One target's series (an HTTP route, a client host, a gRPC method): its
/// in-flight gauge and its histograms by outcome, the first
/// [`OUTCOME_SLOTS`] claimed lock-free on first use and found by a scan of
/// those slots; more outcomes go through the registry each time.
pub(crate) struct TargetSeries {
    pub(crate) gauge: Gauge,
    registry: Registry,
    name: &'static str,
    /// The histogram's labels besides the outcome ones.
    labels: Vec<(&'static str, Box<str>)>,
    /// The name of the status label (`http_response_status_code`, …).
    status_label: &'static str,
    outcomes: [OnceBox<OutcomeSeries>; OUTCOME_SLOTS],
}

impl TargetSeries {
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
            outcomes: std::array::from_fn(|_| OnceBox::new()),
        }
    }

    /// Records `nanos` with outcome (`status`, `error`), `trace` as its
    /// exemplar: through the outcome's slot (a borrowed handle: nothing
    /// cloned, no shared reference count touched per call), the registry
    /// the first time and past the slots.
    pub(crate) fn record(
        &self,
        status: Option<&'static str>,
        error: Option<&str>,
        nanos: u64,
        trace: Option<TraceContext>,
    ) {
        match self.slot(status, error) {
            Some(s) => s.histogram.record_traced(nanos, trace),
            None => {
                if let Some(h) = self.registered(status, error) {
                    h.record_traced(nanos, trace);
                }
            }
        }
        // The slow-call log (off by default: one load); a call the client
        // gave up on is not a slow call.
        if self.registry.slow_watch().may_be_slow(nanos) && error != Some("cancelled") {
            let labels: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, &**v)).collect();
            self.registry.check_slow(self.name, &labels, nanos, trace);
        }
    }

    /// The slot of outcome (`status`, `error`), claimed with the registry's
    /// series the first time; `None` past the slots (or if the registry
    /// refused the series).
    fn slot(&self, status: Option<&'static str>, error: Option<&str>) -> Option<&OutcomeSeries> {
        for slot in &self.outcomes {
            if let Some(s) = slot.get() {
                if s.is(status, error) {
                    return Some(s);
                }
                continue;
            }
            let series = Box::new(OutcomeSeries {
                status,
                error: error.map(Into::into),
                histogram: self.registered(status, error)?,
            });
            // Another thread may claim this slot first: then check its series.
            match slot.set(series) {
                Err(_) if slot.get().is_some_and(|s| !s.is(status, error)) => continue,
                _ => return slot.get(),
            }
        }
        None
    }

    #[cold]
    fn registered(&self, status: Option<&str>, error: Option<&str>) -> Option<Histogram> {
        let mut labels: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, &**v)).collect();
        if let Some(s) = status {
            labels.push((self.status_label, s));
        }
        if let Some(e) = error {
            labels.push(("error_type", e));
        }
        self.registry.histogram(self.name, &labels).ok()
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
pub(crate) struct Targets<K>(RwLock<hashbrown::HashMap<K, Arc<TargetSeries>>>);

impl<K> Default for Targets<K> {
    fn default() -> Self {
        Self(RwLock::default())
    }
}

impl<K: std::hash::Hash + Eq> Targets<K> {
    /// The series of `key`, if made.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<Arc<TargetSeries>>
    where
        Q: std::hash::Hash + hashbrown::Equivalent<K> + ?Sized,
    {
        self.0.read().get(key).cloned()
    }

    /// The series of `key`, made by `make` if no other thread made them.
    pub(crate) fn get_or_make(
        &self,
        key: K,
        make: impl FnOnce(&K) -> TargetSeries,
    ) -> Arc<TargetSeries> {
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
    entry: Arc<TargetSeries>,
    start: quanta::Instant,
    trace: Option<TraceContext>,
}

impl Timing {
    /// Counts the call in flight from now; `trace` becomes its exemplar.
    pub(crate) fn begin(entry: Arc<TargetSeries>, trace: Option<TraceContext>) -> Self {
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
        self.entry.record(status, error, nanos, self.trace);
        self.entry.gauge.decrement();
    }

    /// As [`end`](Self::end), recorded into `target` instead (the call was
    /// in flight under its `entry` until its target was known).
    pub(crate) fn end_as(
        self,
        target: &TargetSeries,
        status: Option<&'static str>,
        error: Option<&'static str>,
    ) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        target.record(status, error, nanos, self.trace);
        self.entry.gauge.decrement();
    }
}
