//! A [`metrics::Recorder`]: code using the `metrics` facade
//! (`histogram!`, `counter!`, `gauge!`) records into tailwatch.
//!
//! * `histogram!` values go into the monitor's registry as HDR series: they
//!   get window quantiles in [`Monitor::all_stats`] and cumulative buckets
//!   like any other series. Values are `f64` in the metric's unit and are
//!   stored as integers: × 1e9 for seconds (nanosecond resolution), × 1e6
//!   for milliseconds, × 1e3 for microseconds, × 1 for nanoseconds, bytes
//!   and counts, and × 1e3 (three decimals) for anything else. The unit is
//!   the one given to `describe_histogram!`, else guessed from a
//!   `_seconds`/`_milliseconds`/`_bytes` name suffix.
//! * Counters and gauges go into the monitor's registry too (listed by
//!   [`MetricsRecorder::counters`], [`MetricsRecorder::gauges`]).
//! * The facade cannot return an error, so it renames visibly what would
//!   break a scrape, counting each renamed series in
//!   `tailwatch_facade_renamed_total` ([`MetricsRecorder::renamed`]):
//!   names and label names are made valid for Prometheus (any character
//!   outside `[a-zA-Z0-9_:]` becomes `_`; `le` and `quantile` become
//!   `exported_le`, `exported_quantile`); label names equal after that
//!   (`a.b` and `a-b`) get `_2`, `_3`; counters end in `_total` and
//!   gauges and histograms do not (`requests` → `requests_total`, a gauge
//!   `open_total` → `open`), as OpenMetrics and promtool want; names that
//!   come out the same (`req.count`, `req_count`) are one metric; a name
//!   another metric already writes (a counter and a gauge named alike, a
//!   counter named like a histogram's `_count`) is prefixed `exported_`,
//!   as Prometheus renames a clashing label; so is a name tailwatch
//!   writes itself (`http_server_active_requests`, `process_*`, any
//!   `tailwatch_*`): its family is never written twice, nor mixed with
//!   tailwatch's series. So every name has one
//!   `# TYPE` and `promtool check metrics` finds nothing. Label values
//!   are kept as given, up to the registry's length limit.
//! * Bounded: the registry's caps apply to every kind: label sets per name
//!   fold into an `__overflow__` label set, and names past the cap on
//!   names (or whose rename is taken too) fold into
//!   `tailwatch_facade_overflow_histogram`, `tailwatch_facade_overflow_total`
//!   or `tailwatch_facade_overflow_gauge`; every fold is counted in
//!   `tailwatch_series_overflow_total` ([`MetricsRecorder::folded`]), and
//!   nothing recorded is dropped.
//!
//! Only one global recorder can be installed. With no other:
//! [`MetricsRecorder::install`]. Next to another (an exporter you
//! already use), combine both with `metrics_util::layers::FanoutBuilder`:
//!
//! ```
//! use metrics_util::layers::FanoutBuilder;
//! # struct Theirs; // stands for the recorder you already have
//! # impl metrics::Recorder for Theirs {
//! #     fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
//! #     fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
//! #     fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
//! #     fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter { metrics::Counter::noop() }
//! #     fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge { metrics::Gauge::noop() }
//! #     fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram { metrics::Histogram::noop() }
//! # }
//! let monitor = tailwatch::Monitor::new();
//! let both = FanoutBuilder::default()
//!     .add_recorder(tailwatch::MetricsRecorder::new(&monitor))
//!     .add_recorder(Theirs)
//!     .build();
//! metrics::set_global_recorder(both).expect("no recorder installed yet");
//! ```

use crate::engine::lock::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{
    CounterFn, GaugeFn, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

use crate::engine::counter::{Counter, Value};
use crate::engine::histogram::Histogram;
use crate::engine::thread_cache::{self, ThreadCache, thread_cache};
use crate::measure::Monitor;
use crate::registry::names::{FACADE_OVERFLOW, Kind, reserved};
use crate::registry::{DEFAULT_SERIES_CAP, Label, RegistryError};

/// What the facade keeps: handles cached by the facade's key (it calls
/// `register_*` on every macro use), the names it settled on, and what it
/// had to change. One per monitor, kept in its extensions and shared by
/// its recorders.
struct Store {
    /// Tells stores apart in the per-thread caches (addresses are reused).
    id: u64,
    histograms: RwLock<hashbrown::HashMap<Key, Arc<FacadeHistogram>>>,
    counters: RwLock<hashbrown::HashMap<Key, Arc<FacadeCounter>>>,
    gauges: RwLock<hashbrown::HashMap<Key, Arc<FacadeGauge>>>,
    /// The name each given name (and kind) is written under, for the
    /// names that got one; by kind.
    names: Mutex<[HashMap<String, String>; 3]>,
    units: RwLock<HashMap<String, Unit>>,
    /// Descriptions given by `describe_*`, by kind and given name, until
    /// the metric is written under a name.
    descriptions: Mutex<[HashMap<String, String>; 3]>,
    /// Series whose name or label names had to be changed to be valid.
    renamed: AtomicU64,
    /// Registrations folded into a `tailwatch_facade_overflow_*` metric
    /// (no name to be had), by that metric.
    folded: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            id: thread_cache::next_owner(),
            histograms: RwLock::default(),
            counters: RwLock::default(),
            gauges: RwLock::default(),
            names: Mutex::default(),
            units: RwLock::default(),
            descriptions: Mutex::default(),
            renamed: AtomicU64::new(0),
            folded: Mutex::default(),
        }
    }
}

/// A handle in a thread's cache: its own `Arc` (cloning it touches no
/// cache line another thread writes), over the shared series.
struct Local<T> {
    key: Key,
    handle: Arc<T>,
}

thread_cache! {
    static LOCAL_HISTOGRAMS: Local<FacadeHistogram>;
}
thread_cache! {
    static LOCAL_COUNTERS: Local<FacadeCounter>;
}
thread_cache! {
    static LOCAL_GAUGES: Local<FacadeGauge>;
}

/// `a == b`, faster for the common case of a macro with static strings:
/// the cached hashes first, then each string by address before content.
fn same_key(a: &Key, b: &Key) -> bool {
    fn same(x: &str, y: &str) -> bool {
        (x.as_ptr() == y.as_ptr() && x.len() == y.len()) || x == y
    }
    a.get_hash() == b.get_hash()
        && same(a.name(), b.name())
        && a.labels().len() == b.labels().len()
        && a.labels()
            .zip(b.labels())
            .all(|(x, y)| same(x.key(), y.key()) && same(x.value(), y.value()))
}

/// Most handles cached per kind, names remembered per kind, units kept:
/// past it, `register_*` resolves through the registry each time (still
/// bounded by the registry's caps).
const MAX_CACHED: usize = 10 * DEFAULT_SERIES_CAP;

#[derive(Clone)]
struct FacadeHistogram {
    histogram: Histogram,
    scale: f64,
}

impl HistogramFn for FacadeHistogram {
    fn record(&self, value: f64) {
        // NaN and out-of-range values are counted by the histogram.
        let _ = self.histogram.record_scaled(value, self.scale);
    }
}

#[derive(Clone)]
struct FacadeCounter(Counter);

impl CounterFn for FacadeCounter {
    fn increment(&self, value: u64) {
        self.0.add(value);
    }

    fn absolute(&self, value: u64) {
        let now = self.0.value();
        if value > now {
            self.0.add(value - now);
        }
    }
}

#[derive(Clone)]
struct FacadeGauge(Value);

impl GaugeFn for FacadeGauge {
    fn increment(&self, value: f64) {
        self.0.add(value);
    }

    fn decrement(&self, value: f64) {
        self.0.add(-value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

/// A counter or gauge kept from the `metrics` facade.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue<T> {
    /// Metric name (as written: sanitized, or renamed on a clash).
    pub name: String,
    /// Labels (names sanitized), sorted by name.
    pub labels: Vec<(String, String)>,
    /// The current value.
    pub value: T,
}

/// The [`metrics::Recorder`] of a [`Monitor`]; see the [module docs](crate::integrations::facade).
#[derive(Clone, Debug)]
pub struct MetricsRecorder {
    monitor: Monitor,
    store: Arc<Store>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Monitor {
    /// The monitor's `metrics` recorder, if one was made (for the agent and
    /// the exposition, which must not make one).
    pub(crate) fn facade(&self) -> Option<MetricsRecorder> {
        let store = self.inner.extensions.get::<Store>()?;
        Some(MetricsRecorder {
            monitor: self.clone(),
            store,
        })
    }
}

impl MetricsRecorder {
    /// A [`metrics::Recorder`] feeding `monitor`, to [`install`](Self::install)
    /// or to combine with another recorder (see the [module docs](self)).
    /// Every recorder of one monitor shares its series.
    pub fn new(monitor: &Monitor) -> Self {
        MetricsRecorder {
            monitor: monitor.clone(),
            store: monitor.inner.extensions.get_or_init(Store::default),
        }
    }

    /// Installs this recorder as the process's `metrics` recorder.
    ///
    /// # Errors
    /// If a recorder is already installed: combine the two with a fanout
    /// instead (see the [module docs](self)).
    pub fn install(self) -> Result<(), metrics::SetRecorderError<MetricsRecorder>> {
        metrics::set_global_recorder(self)
    }

    /// The registry's `series` that the facade wrote (its names of `kind`,
    /// and the kind's overflow metric), read by `read`, sorted.
    fn facade_series<H, T>(
        &self,
        kind: Kind,
        series: Vec<(crate::registry::SeriesId, H)>,
        read: impl Fn(&H) -> T,
    ) -> Vec<MetricValue<T>> {
        let store = &self.store;
        let names: std::collections::HashSet<String> = {
            let names = store.names.lock();
            names[kind.index()].values().cloned().collect()
        };
        let overflow = FACADE_OVERFLOW[kind.index()];
        sorted(
            series
                .into_iter()
                .filter(|(id, _)| id.name() == overflow || names.contains(id.name()))
                .map(|(id, h)| metric_value(&id, read(&h))),
        )
    }

    /// Counters recorded through the `metrics` facade, sorted.
    pub fn counters(&self) -> Vec<MetricValue<u64>> {
        self.facade_series(
            Kind::Counter,
            self.monitor.registry().counters(),
            Counter::value,
        )
    }

    /// Gauges recorded through the `metrics` facade, sorted.
    pub fn gauges(&self) -> Vec<MetricValue<f64>> {
        self.facade_series(Kind::Gauge, self.monitor.registry().values(), Value::get)
    }

    /// Series the `metrics` facade registered under another name than given
    /// (characters outside `[a-zA-Z0-9_:]`, a leading digit, a `__` or
    /// reserved label name: `le` becomes `exported_le`; label names equal
    /// after that: `_2`, `_3` appended; a counter without `_total`, a gauge
    /// or histogram with it; a metric name another metric writes:
    /// `exported_` prefixed), each counted once; exported as
    /// `tailwatch_facade_renamed_total`.
    pub fn renamed(&self) -> u64 {
        self.store.renamed.load(Ordering::Relaxed)
    }

    /// Registrations the `metrics` facade folded into one of the
    /// `tailwatch_facade_overflow_*` metrics because no name could be had
    /// (the registry's cap on names of that kind reached, or the name and
    /// its rename both written by other metrics), by that metric; counted
    /// in `tailwatch_series_overflow_total`.
    pub fn folded(&self) -> Vec<(String, u64)> {
        self.store
            .folded
            .lock()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }
}

fn metric_value<T>(id: &crate::registry::SeriesId, value: T) -> MetricValue<T> {
    MetricValue {
        name: id.name().to_owned(),
        labels: id
            .labels()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        value,
    }
}

/// `name` with every character outside `[a-zA-Z0-9_:]` replaced by `_`
/// (and a leading digit prefixed by `_`).
fn sanitize(name: &str, colon: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn label_name(name: &str) -> String {
    let mut out = sanitize(name, false);
    // Names starting with "__" are reserved by Prometheus.
    while out.starts_with("__") {
        out.remove(0);
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'l');
    }
    // `le` and `quantile` are the exposition's own: renamed as Prometheus
    // renames a clashing target label.
    if crate::registry::key::RESERVED_LABELS.contains(&out.as_str()) {
        out.insert_str(0, "exported_");
    }
    out
}

fn sorted<T>(values: impl Iterator<Item = MetricValue<T>>) -> Vec<MetricValue<T>> {
    let mut out: Vec<_> = values.collect();
    out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    out
}

/// The labels of `key` with valid names, distinct after sanitizing (a
/// name equal to an earlier one gets `_2`, `_3`, …); and whether any name
/// was changed.
fn labels(key: &Key) -> (Vec<(String, String)>, bool) {
    let mut changed = false;
    let mut out: Vec<(String, String)> = Vec::with_capacity(key.labels().len());
    for l in key.labels() {
        let base = label_name(l.key());
        let mut name = base.clone();
        let mut n = 1;
        while out.iter().any(|(k, _)| *k == name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        changed |= name != l.key();
        out.push((name, l.value().to_owned()));
    }
    (out, changed)
}

/// The name a metric of `kind` is written under, from its sanitized name:
/// counters end in `_total` and nothing else does (as OpenMetrics and
/// promtool want).
fn conventional(name: String, kind: Kind) -> String {
    match (kind, name.strip_suffix("_total")) {
        (Kind::Counter, None) => format!("{name}_total"),
        (Kind::Gauge | Kind::Histogram, Some(base)) if !base.is_empty() => base.to_owned(),
        _ => name,
    }
}

/// The name a metric takes when its own is written by another metric, as
/// Prometheus renames a clashing label.
fn exported(name: &str) -> String {
    format!("exported_{name}")
}

/// Recorded units per unit of the metric.
fn scale_for(name: &str, unit: Option<Unit>) -> f64 {
    match unit {
        Some(Unit::Seconds) => 1e9,
        Some(Unit::Milliseconds) => 1e6,
        Some(Unit::Microseconds) => 1e3,
        Some(Unit::Nanoseconds | Unit::Bytes | Unit::Count) => 1.0,
        Some(_) => 1e3,
        None if name.ends_with("_seconds") => 1e9,
        None if name.ends_with("_milliseconds") => 1e6,
        None if name.ends_with("_bytes") => 1.0,
        None => 1e3,
    }
}

impl MetricsRecorder {
    fn store(&self) -> &Store {
        &self.store
    }

    /// Keeps `description` as the `# HELP` of the metric `given` of
    /// `kind`: now if it is written already, else when it is.
    fn describe(&self, kind: Kind, given: &str, description: &str) {
        let written = self.store.names.lock()[kind.index()].get(given).cloned();
        if let Some(name) = written {
            self.monitor.registry().describe(&name, description);
        }
        let mut kept = self.store.descriptions.lock();
        let kept = &mut kept[kind.index()];
        if kept.len() < MAX_CACHED || kept.contains_key(given) {
            kept.insert(given.to_owned(), description.to_owned());
        }
    }

    /// Resolves `key` as a metric of `kind` through `make` (which creates
    /// or finds the handle under a name and labels in the registry): under
    /// its sanitized name, else (taken by another metric) renamed, else
    /// (no name to be had) folded into the kind's overflow metric, counted.
    fn resolve<T: Default>(
        &self,
        key: &Key,
        kind: Kind,
        make: impl Fn(&str, &[Label<'_>]) -> Result<T, RegistryError>,
    ) -> T {
        let store = self.store();
        let given = sanitize(key.name(), true);
        let (owned, mut changed) = labels(key);
        let pairs: Vec<Label<'_>> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let known = store.names.lock()[kind.index()].get(key.name()).cloned();
        let candidates = match &known {
            Some(name) => vec![name.clone()],
            None => {
                let first = conventional(given, kind);
                let second = exported(&first);
                vec![first, second]
            }
        };
        for name in candidates {
            // A family tailwatch writes itself: the rename, visibly.
            if known.is_none() && reserved(&name, kind) {
                continue;
            }
            match make(&name, &pairs) {
                Ok(handle) => {
                    changed |= name != key.name();
                    if changed {
                        store.renamed.fetch_add(1, Ordering::Relaxed);
                    }
                    if known.is_none() {
                        if let Some(d) = store.descriptions.lock()[kind.index()].get(key.name()) {
                            self.monitor.registry().describe(&name, d);
                        }
                        let mut names = store.names.lock();
                        let names = &mut names[kind.index()];
                        if names.len() < MAX_CACHED {
                            names.insert(key.name().to_owned(), name);
                        }
                    }
                    return handle;
                }
                // Taken by another metric: try the rename.
                Err(RegistryError::NameClash { .. }) => {}
                // No room for another name of this kind, or (not expected
                // after sanitizing) refused: fold.
                Err(_) => break,
            }
        }
        let overflow = FACADE_OVERFLOW[kind.index()];
        *store.folded.lock().entry(overflow).or_insert(0) += 1;
        // Claimed by every registry from the start, without labels: cannot fail.
        make(overflow, &[]).unwrap_or_default()
    }

    fn new_histogram(&self, key: &Key) -> Arc<FacadeHistogram> {
        let units = self.store().units.read();
        let unit = units.get(&sanitize(key.name(), true)).copied();
        drop(units);
        let registry = self.monitor.registry();
        let histogram: Histogram = self.resolve(key, Kind::Histogram, |name, labels| {
            let scale = scale_for(name, unit);
            registry.histogram_or_new_metric(name, labels, || {
                registry.default_histogram().clone().unit_scale(scale)
            })
        });
        let scale = histogram.unit_scale();
        Arc::new(FacadeHistogram { histogram, scale })
    }

    /// The handle for `key`: from the calling thread's cache (no lock, no
    /// shared cache line: the `metrics` macros call `register_*` on every
    /// use), else from `map`, else resolved by `make` and kept in `map`
    /// while it has room; then cached for the thread.
    fn cached<T: Clone + 'static>(
        &self,
        local: &'static ThreadCache<Local<T>>,
        map: &RwLock<hashbrown::HashMap<Key, Arc<T>>>,
        key: &Key,
        make: impl FnOnce() -> Arc<T>,
    ) -> Arc<T> {
        local.get_or(
            self.store.id,
            key.get_hash(),
            |e| same_key(&e.key, key).then(|| e.handle.clone()),
            || {
                let found = map.read().get(key).cloned();
                let shared = found.unwrap_or_else(|| {
                    let h = make();
                    let mut map = map.write();
                    if map.len() < MAX_CACHED {
                        map.entry(key.clone()).or_insert(h).clone()
                    } else {
                        h
                    }
                });
                let handle = Arc::new(T::clone(&shared));
                let entry = Local {
                    key: key.clone(),
                    handle: handle.clone(),
                };
                (handle, Some(entry))
            },
        )
    }
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(Kind::Counter, key.as_str(), &description);
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(Kind::Gauge, key.as_str(), &description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(Kind::Histogram, key.as_str(), &description);
        if let Some(unit) = unit {
            let mut units = self.store().units.write();
            if units.len() < MAX_CACHED {
                units.insert(sanitize(key.as_str(), true), unit);
            }
        }
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        let registry = self.monitor.registry();
        let c = self.cached(&LOCAL_COUNTERS, &self.store().counters, key, || {
            let counter = self.resolve(key, Kind::Counter, |name, labels| {
                registry.counter(name, labels)
            });
            Arc::new(FacadeCounter(counter))
        });
        metrics::Counter::from_arc(c)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        let registry = self.monitor.registry();
        let g = self.cached(&LOCAL_GAUGES, &self.store().gauges, key, || {
            let value = self.resolve(key, Kind::Gauge, |name, labels| {
                registry.value(name, labels)
            });
            Arc::new(FacadeGauge(value))
        });
        metrics::Gauge::from_arc(g)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let h = self.cached(&LOCAL_HISTOGRAMS, &self.store().histograms, key, || {
            self.new_histogram(key)
        });
        metrics::Histogram::from_arc(h)
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(sanitize("db.query-time", true), "db_query_time");
        assert_eq!(sanitize("9lives", true), "_9lives");
        assert_eq!(sanitize("ns:ok", true), "ns:ok");
        assert_eq!(label_name("__reserved"), "_reserved");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name(""), "_");
        assert_eq!(label_name("le"), "exported_le");
        assert_eq!(label_name("quantile"), "exported_quantile");
        assert_eq!(label_name("lease"), "lease");
    }

    #[test]
    fn scales_follow_unit_then_name() {
        assert_eq!(scale_for("x", Some(Unit::Seconds)), 1e9);
        assert_eq!(scale_for("x_seconds", None), 1e9);
        assert_eq!(scale_for("x_bytes", None), 1.0);
        assert_eq!(scale_for("x_milliseconds", Some(Unit::Bytes)), 1.0);
        assert_eq!(scale_for("ratio", None), 1e3);
    }
}
