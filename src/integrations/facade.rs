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
//! * Counters and gauges are kept in the monitor
//!   ([`Monitor::metrics_counters`], [`Monitor::metrics_gauges`]) for
//!   exposition with everything else.
//! * Names and label names are made valid for Prometheus (any character
//!   outside `[a-zA-Z0-9_:]` becomes `_`); label values are kept as given.
//! * Bounded: the registry's caps apply to histograms; counters and gauges
//!   are capped per name (the registry's series cap) and fold into an
//!   `__overflow__` label set past it.
//!
//! Only one global recorder can be installed. With no other:
//! [`Monitor::install_metrics_recorder`]. Next to another (an exporter you
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
//!     .add_recorder(monitor.metrics_recorder())
//!     .add_recorder(Theirs)
//!     .build();
//! metrics::set_global_recorder(both).expect("no recorder installed yet");
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use metrics::{CounterFn, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};

use crate::engine::counter::Counter;
use crate::engine::histogram::{Histogram, HistogramBuilder};
use crate::measure::Monitor;
use crate::registry::{DEFAULT_SERIES_CAP, Label, OVERFLOW_VALUE};

/// Handles cached by key: the facade calls `register_*` on every macro use.
/// One per monitor, kept in its extensions and shared by its recorders.
#[derive(Default)]
struct Store {
    histograms: RwLock<hashbrown::HashMap<Key, Arc<FacadeHistogram>>>,
    counters: RwLock<hashbrown::HashMap<Key, Arc<FacadeCounter>>>,
    gauges: RwLock<hashbrown::HashMap<Key, Arc<AtomicU64>>>,
    /// Label sets per counter/gauge name, for the cap.
    per_name: Mutex<HashMap<String, usize>>,
    units: RwLock<HashMap<String, Unit>>,
    /// Series whose name or label names had to be changed to be valid.
    renamed: AtomicU64,
}

impl Store {
    /// Counts `key` if its name or a label name is not written as given.
    fn count_rename(&self, key: &Key) {
        let changed =
            name(key) != key.name() || key.labels().any(|l| label_name(l.key()) != l.key());
        if changed {
            self.renamed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Most histogram handles cached; past it, `register_histogram` resolves
/// through the registry each time (still bounded by the registry's caps).
const MAX_CACHED: usize = 10 * DEFAULT_SERIES_CAP;

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

/// A counter or gauge kept from the `metrics` facade.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue<T> {
    /// Metric name (sanitized).
    pub name: String,
    /// Labels (names sanitized), in the order given.
    pub labels: Vec<(String, String)>,
    /// The current value.
    pub value: T,
}

/// The [`metrics::Recorder`] of a [`Monitor`]; see the [module docs](crate::facade).
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
    /// A [`metrics::Recorder`] feeding this monitor, to install or to
    /// combine with another recorder (see [`MetricsRecorder`]).
    pub fn metrics_recorder(&self) -> MetricsRecorder {
        MetricsRecorder {
            monitor: self.clone(),
            store: self.inner.extensions.get_or_init(Store::default),
        }
    }

    /// Installs this monitor's recorder as the process's `metrics` recorder.
    ///
    /// # Errors
    /// If a recorder is already installed: combine the two with a fanout
    /// instead (see [`MetricsRecorder`]).
    pub fn install_metrics_recorder(
        &self,
    ) -> Result<(), metrics::SetRecorderError<MetricsRecorder>> {
        metrics::set_global_recorder(self.metrics_recorder())
    }

    /// Counters recorded through the `metrics` facade, sorted.
    pub fn metrics_counters(&self) -> Vec<MetricValue<u64>> {
        let Some(store) = self.inner.extensions.get::<Store>() else {
            return Vec::new();
        };
        let map = store.counters.read().unwrap_or_else(|e| e.into_inner());
        sorted(map.iter().map(|(k, c)| value(k, c.0.value())))
    }

    /// Series the `metrics` facade registered under another name than given
    /// (characters outside `[a-zA-Z0-9_:]`, a leading digit, a `__` or
    /// reserved label name: `le` becomes `exported_le`), each counted once;
    /// exported as `tailwatch_facade_renamed_total`.
    pub fn metrics_renamed(&self) -> u64 {
        self.inner
            .extensions
            .get::<Store>()
            .map_or(0, |s| s.renamed.load(Ordering::Relaxed))
    }

    /// Gauges recorded through the `metrics` facade, sorted.
    pub fn metrics_gauges(&self) -> Vec<MetricValue<f64>> {
        let Some(store) = self.inner.extensions.get::<Store>() else {
            return Vec::new();
        };
        let map = store.gauges.read().unwrap_or_else(|e| e.into_inner());
        sorted(
            map.iter()
                .map(|(k, g)| value(k, f64::from_bits(g.load(Ordering::Relaxed)))),
        )
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

fn value<T>(key: &Key, value: T) -> MetricValue<T> {
    MetricValue {
        name: name(key),
        labels: labels(key),
        value,
    }
}

fn sorted<T>(values: impl Iterator<Item = MetricValue<T>>) -> Vec<MetricValue<T>> {
    let mut out: Vec<_> = values.collect();
    out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    out
}

fn name(key: &Key) -> String {
    sanitize(key.name(), true)
}

fn labels(key: &Key) -> Vec<(String, String)> {
    key.labels()
        .map(|l| (label_name(l.key()), l.value().to_owned()))
        .collect()
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

    fn new_histogram(&self, key: &Key) -> Arc<FacadeHistogram> {
        let name = name(key);
        let owned = labels(key);
        let pairs: Vec<Label<'_>> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let unit = self
            .store()
            .units
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .copied();
        let scale = scale_for(&name, unit);
        let histogram = self
            .monitor
            .registry()
            .histogram_or_new_metric(&name, &pairs, || HistogramBuilder::new().unit_scale(scale))
            // Sanitized names are valid; only the metric-name limit can
            // refuse. Keep recording into a detached histogram then.
            .unwrap_or_default();
        let scale = histogram.unit_scale();
        Arc::new(FacadeHistogram { histogram, scale })
    }

    /// The counter or gauge handle for `key`, created (within the per-name
    /// cap) if needed.
    fn cached<T>(
        &self,
        map: &RwLock<hashbrown::HashMap<Key, Arc<T>>>,
        key: &Key,
        make: impl Fn() -> Arc<T>,
    ) -> Arc<T> {
        if let Some(h) = map.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return h.clone();
        }
        let mut per_name = self
            .store()
            .per_name
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut map = map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = map.get(key) {
            return h.clone();
        }
        let cap = DEFAULT_SERIES_CAP;
        let used = per_name.entry(key.name().to_owned()).or_insert(0);
        let key = if *used < cap {
            *used += 1;
            key.clone()
        } else {
            let folded: Vec<metrics::Label> = key
                .labels()
                .map(|l| metrics::Label::new(l.key().to_owned(), OVERFLOW_VALUE))
                .collect();
            Key::from_parts(key.name().to_owned(), folded)
        };
        let store = self.store();
        map.entry(key)
            .or_insert_with_key(|key| {
                store.count_rename(key);
                make()
            })
            .clone()
    }
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        if let Some(unit) = unit {
            let mut units = self
                .store()
                .units
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if units.len() < MAX_CACHED {
                units.insert(sanitize(key.as_str(), true), unit);
            }
        }
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        let c = self.cached(&self.store().counters, key, || {
            Arc::new(FacadeCounter(Counter::new()))
        });
        metrics::Counter::from_arc(c)
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        let g = self.cached(&self.store().gauges, key, || {
            Arc::new(AtomicU64::new(0_f64.to_bits()))
        });
        metrics::Gauge::from_arc(g)
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let map = &self.store().histograms;
        if let Some(h) = map.read().unwrap_or_else(|e| e.into_inner()).get(key) {
            return metrics::Histogram::from_arc(h.clone());
        }
        let h = self.new_histogram(key);
        let mut map = map.write().unwrap_or_else(|e| e.into_inner());
        let h = if map.len() < MAX_CACHED {
            map.entry(key.clone())
                .or_insert_with(|| {
                    self.store().count_rename(key);
                    h
                })
                .clone()
        } else {
            h
        };
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
