//! [`Registry`]: the store of series by name and labels, the lookup on
//! every record, and the slow path that creates a series within its caps.

use crate::engine::lock::{Mutex, RwLock};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::Arc;

use hashbrown::Equivalent;

use super::caps::{Family, FamilyInfo, HandleStore, Limits, OVERFLOW_VALUE, info};
use super::error::RegistryError;
use super::key::{Key, Label, LabelLimits, Lookup, OwnedLabels, PassThrough, SeriesId, canonical};
use super::names::{Kind, Names};
use crate::engine::counter::{Counter, Gauge, Value};
use crate::engine::histogram::{Histogram, HistogramBuilder};
use crate::engine::thread_cache::thread_cache;

pub(super) type SeriesMap = hashbrown::HashMap<Key, Histogram, BuildHasherDefault<PassThrough>>;

/// A series a thread resolved by name, for [`Registry::record`].
struct Cached {
    key: Key,
    histogram: Histogram,
}

/// The longest `# HELP` text kept.
const MAX_HELP_BYTES: usize = 1024;

thread_cache! {
    /// Series by hash of name and labels, per registry.
    static THREAD_CACHE: Cached;
}

/// Series by metric name and labels; cheap to clone (an `Arc`).
///
/// ```
/// use tailwatch::Registry;
///
/// let registry = Registry::new();
/// // Resolve once, record many (no lock per record):
/// let get_user = registry.histogram("db_query_duration_seconds", &[("table", "users")])?;
/// get_user.record(1_200_000);
/// // Or by name each call:
/// registry.record("db_query_duration_seconds", &[("table", "users")], 900_000)?;
/// assert_eq!(get_user.stats().total_count, 2);
/// # Ok::<(), tailwatch::registry::RegistryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// Gauges and counters by id, with their per-metric counts.
    pub(super) gauges: Mutex<HandleStore<Gauge>>,
    pub(super) counters: Mutex<HandleStore<Counter>>,
    pub(super) values: Mutex<HandleStore<Value>>,
    pub(super) id: u64,
    pub(super) hasher: foldhash::fast::RandomState,
    pub(super) series: RwLock<SeriesMap>,
    pub(super) families: Mutex<HashMap<String, Family>>,
    pub(super) defaults: HistogramBuilder,
    pub(super) cap: usize,
    pub(super) label_caps: HashMap<String, usize>,
    /// Written names and their owners; the cap on names per kind.
    pub(super) names: Mutex<Names>,
    pub(super) labels: LabelLimits,
    /// `# HELP` texts by metric name ([`Registry::describe`]).
    pub(super) helps: RwLock<HashMap<String, Arc<str>>>,
    /// The slow-call log's thresholds.
    pub(super) slow: super::slow::SlowWatch,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("cap", &self.cap)
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// The settings of histograms of metrics not configured otherwise.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn default_histogram(&self) -> &HistogramBuilder {
        &self.inner.defaults
    }

    fn hash(&self, name: &str, labels: &[Label<'_>]) -> u64 {
        // Label order must not matter: combine per-label hashes commutatively.
        let labels = labels.iter().fold(0_u64, |acc, label| {
            acc.wrapping_add(self.inner.hasher.hash_one(label))
        });
        self.inner.hasher.hash_one((name, labels))
    }

    /// Records `value` into the series `name{labels}`, creating it if needed.
    ///
    /// # Errors
    /// [`RegistryError`] when the name or a label name is invalid or a
    /// label is repeated (checked only when the series is new).
    ///
    /// Each thread keeps the last series it resolved in each of
    /// 64 slots (by hash), so repeated calls take no
    /// lock and touch no shared cache line; a miss takes the registry's
    /// read lock. Label sets folded into an overflow series are never
    /// cached, so every such call is counted.
    #[inline]
    pub fn record(
        &self,
        name: &str,
        labels: &[Label<'_>],
        value: u64,
    ) -> Result<(), RegistryError> {
        let lookup = Lookup {
            hash: self.hash(name, labels),
            name,
            labels,
        };
        THREAD_CACHE.get_or(
            self.inner.id,
            lookup.hash,
            |e| {
                lookup.equivalent(&e.key).then(|| {
                    e.histogram.record(value);
                    Ok(())
                })
            },
            || self.record_slow(lookup, value),
        )
    }

    /// A miss of [`record`](Self::record)'s cache: the registry's map,
    /// and the series to cache (exact matches only: a folded label set
    /// keeps taking this path, so each of its calls is counted).
    #[cold]
    fn record_slow(
        &self,
        lookup: Lookup<'_, '_>,
        value: u64,
    ) -> (Result<(), RegistryError>, Option<Cached>) {
        let found = {
            let series = self.inner.series.read();
            series.get_key_value(&lookup).map(|(k, h)| {
                h.record(value);
                let key = Key {
                    hash: k.hash,
                    id: k.id.clone(),
                };
                (key, h.clone())
            })
        };
        match found {
            Some((key, histogram)) => (Ok(()), Some(Cached { key, histogram })),
            None => {
                let recorded = self
                    .resolve(lookup, None::<fn() -> HistogramBuilder>)
                    .map(|h| h.record(value));
                (recorded, None)
            }
        }
    }

    /// The series `name{labels}`, created if needed (or the metric's
    /// overflow series when it is at its cap).
    ///
    /// # Errors
    /// [`RegistryError`] when the name or a label name is invalid or a
    /// label is repeated.
    pub fn histogram(&self, name: &str, labels: &[Label<'_>]) -> Result<Histogram, RegistryError> {
        self.get_or_create(name, labels, None::<fn() -> HistogramBuilder>)
    }

    /// Like [`histogram`](Self::histogram), but if the metric is new, its
    /// series use `template` instead of the registry's defaults.
    ///
    /// # Errors
    /// As [`histogram`](Self::histogram).
    pub fn histogram_or_new_metric(
        &self,
        name: &str,
        labels: &[Label<'_>],
        template: impl FnOnce() -> HistogramBuilder,
    ) -> Result<Histogram, RegistryError> {
        self.get_or_create(name, labels, Some(template))
    }

    fn get_or_create<F: FnOnce() -> HistogramBuilder>(
        &self,
        name: &str,
        labels: &[Label<'_>],
        template: Option<F>,
    ) -> Result<Histogram, RegistryError> {
        let lookup = Lookup {
            hash: self.hash(name, labels),
            name,
            labels,
        };
        match self.get(&lookup) {
            Some(h) => Ok(h),
            None => self.resolve(lookup, template),
        }
    }

    /// Slow path: validate, then create under the family lock (a new
    /// metric's series use `template`, or the registry's defaults).
    #[cold]
    fn resolve<F: FnOnce() -> HistogramBuilder>(
        &self,
        lookup: Lookup<'_, '_>,
        template: Option<F>,
    ) -> Result<Histogram, RegistryError> {
        let (mut labels, truncated) = canonical(lookup.name, lookup.labels, self.inner.labels)?;

        let mut families = self.inner.families.lock();
        // Another thread may have created it meanwhile.
        if let Some(h) = self.get(&lookup) {
            return Ok(h);
        }
        if !families.contains_key(lookup.name) {
            self.claim(lookup.name, Kind::Histogram)?;
        }
        let family = families.entry(lookup.name.to_owned()).or_insert_with(|| {
            let template = template.map_or_else(|| self.inner.defaults.clone(), |t| t());
            // An invalid template falls back to the defaults.
            let template = if template.validate().is_ok() {
                template
            } else {
                self.inner.defaults.clone()
            };
            Family::new(template, self.inner.cap)
        });

        // A value cut to the length limit: the series is the cut one.
        let mut hash = lookup.hash;
        if truncated {
            family.truncated += 1;
            match self.get_changed(lookup.name, &labels) {
                (_, Some(h)) => return Ok(h),
                (h, None) => hash = h,
            }
        }

        // Per-label caps: a value past its label's cap becomes the overflow value.
        if family.cap_label_values(&self.inner.label_caps, &mut labels) {
            family.folded += 1;
            match self.get_changed(lookup.name, &labels) {
                (_, Some(h)) => return Ok(h),
                (h, None) => hash = h,
            }
        }

        if family.live < family.cap {
            let histogram = self.new_histogram(&family.template);
            let id = SeriesId {
                name: lookup.name.into(),
                labels: labels.into(),
            };
            self.insert(hash, id, histogram.clone());
            family.live += 1;
            family.members.push(histogram.clone());
            return Ok(histogram);
        }
        family.folded += 1;
        if let Some(h) = &family.overflow {
            return Ok(h.clone());
        }
        let histogram = self.new_histogram(&family.template);
        let overflow_labels: OwnedLabels = labels
            .into_iter()
            .map(|(k, _)| (k, OVERFLOW_VALUE.into()))
            .collect();
        let pairs: Vec<Label<'_>> = overflow_labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        let hash = self.hash(lookup.name, &pairs);
        let id = SeriesId {
            name: lookup.name.into(),
            labels: overflow_labels.into(),
        };
        self.insert(hash, id, histogram.clone());
        family.overflow = Some(histogram.clone());
        family.members.push(histogram.clone());
        Ok(histogram)
    }

    /// The hash of `name{labels}` (labels changed from the caller's: cut or
    /// capped) and its series, if it exists.
    fn get_changed(&self, name: &str, labels: &OwnedLabels) -> (u64, Option<Histogram>) {
        let pairs: Vec<Label<'_>> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        let hash = self.hash(name, &pairs);
        let found = self.get(&Lookup {
            hash,
            name,
            labels: &pairs,
        });
        (hash, found)
    }

    fn get(&self, lookup: &Lookup<'_, '_>) -> Option<Histogram> {
        let series = self.inner.series.read();
        series.get(lookup).cloned()
    }

    fn new_histogram(&self, template: &HistogramBuilder) -> Histogram {
        // Templates are validated when the registry is built.
        template.clone().build().unwrap_or_default()
    }

    fn insert(&self, hash: u64, id: SeriesId, histogram: Histogram) {
        let mut series = self.inner.series.write();
        // An explicit label set equal to the overflow one keeps its series.
        series.entry(Key { hash, id }).or_insert(histogram);
    }

    /// The gauge `name{labels}`, created if needed. Gauges are capped per
    /// metric like histograms: past the cap, the labels all become
    /// [`OVERFLOW_VALUE`] (counted). Resolve once and keep the handle: this
    /// takes a lock.
    ///
    /// # Errors
    /// [`RegistryError`] when the name or a label name is invalid or a
    /// label is repeated.
    pub fn gauge(&self, name: &str, labels: &[Label<'_>]) -> Result<Gauge, RegistryError> {
        HandleStore::get_or_create(&self.inner.gauges, name, labels, &self.limits(Kind::Gauge))
    }

    /// Every gauge, as `(id, handle)` pairs, in no particular order.
    pub fn gauges(&self) -> Vec<(SeriesId, Gauge)> {
        HandleStore::all(&self.inner.gauges)
    }

    /// The counter `name{labels}` (name ending in `_total`, by convention),
    /// created if needed; capped per metric like gauges. Resolve once and
    /// keep the handle: this takes a lock.
    ///
    /// # Errors
    /// [`RegistryError`] when the name or a label name is invalid or a
    /// label is repeated.
    pub fn counter(&self, name: &str, labels: &[Label<'_>]) -> Result<Counter, RegistryError> {
        HandleStore::get_or_create(
            &self.inner.counters,
            name,
            labels,
            &self.limits(Kind::Counter),
        )
    }

    /// Every counter, as `(id, handle)` pairs, in no particular order.
    pub fn counters(&self) -> Vec<(SeriesId, Counter)> {
        HandleStore::all(&self.inner.counters)
    }

    /// The sampled value `name{labels}` (floating point, set by one
    /// writer), created if needed; exposed as a counter when `name` ends in
    /// `_total`, else as a gauge. Capped per metric like gauges.
    ///
    /// # Errors
    /// [`RegistryError`] when the name or a label name is invalid or a
    /// label is repeated.
    pub fn value(&self, name: &str, labels: &[Label<'_>]) -> Result<Value, RegistryError> {
        let limits = self.limits(super::names::value_kind(name));
        HandleStore::get_or_create(&self.inner.values, name, labels, &limits)
    }

    /// Every sampled value, as `(id, handle)` pairs, in no particular order.
    pub fn values(&self) -> Vec<(SeriesId, Value)> {
        HandleStore::all(&self.inner.values)
    }

    /// Every series, as `(id, handle)` pairs, in no particular order.
    pub fn series(&self) -> Vec<(SeriesId, Histogram)> {
        self.inner
            .series
            .read()
            .iter()
            .map(|(k, h)| (k.id.clone(), h.clone()))
            .collect()
    }

    /// Counts one more value of histogram `name` folded into an overflow
    /// series by a layer's own cap (a gRPC method, a route, a host past the
    /// layer's limit), which resolves the overflow series once and then
    /// records into it: every folded call counts, not only the first.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn count_fold(&self, name: &str) {
        if let Some(f) = self.inner.families.lock().get_mut(name) {
            f.folded += 1;
        }
    }

    /// Label-set resolutions of metric `name` folded into its overflow series.
    pub fn overflow_total(&self, name: &str) -> u64 {
        self.family(name).map_or(0, |f| f.overflow_total)
    }

    /// Cardinality figures of metric `name`, if it has any series.
    pub fn family(&self, name: &str) -> Option<FamilyInfo> {
        let families = self.inner.families.lock();
        families.get(name).map(|f| info(name, f))
    }

    /// The slow-call log's watch (configured by the objectives piece).
    pub(crate) fn slow_watch(&self) -> &super::slow::SlowWatch {
        &self.inner.slow
    }

    /// A call of `metric{labels}` took `ns`, which the slow-call log's
    /// `may_be_slow` let through: the log decides; a slow call past its
    /// series' limit is counted in
    /// [`SLOW_CALLS_SUPPRESSED`](super::SLOW_CALLS_SUPPRESSED).
    pub(crate) fn check_slow(
        &self,
        metric: &str,
        labels: &[(&str, &str)],
        ns: u64,
        trace: Option<crate::engine::TraceContext>,
    ) {
        if self.inner.slow.judge(metric, labels, ns, trace) {
            if let Ok(c) = self.counter(super::SLOW_CALLS_SUPPRESSED, &[("metric", metric)]) {
                c.increment();
            }
        }
    }

    /// Describes metric `name` (any kind): `help` becomes its `# HELP`
    /// text in every exposition format, where metrics without one get a
    /// generic text. Give it where the metric is defined, next to the code
    /// that records it; describing it again replaces the text. A help
    /// longer than 1 KiB is cut (at a character boundary); past 3 texts
    /// per allowed metric name (`RegistryBuilder::max_metrics`), new ones
    /// are ignored, so memory stays bounded.
    ///
    /// ```
    /// let registry = tailwatch::Registry::new();
    /// registry.describe("payload_size_bytes", "Sizes of accepted payloads.");
    /// registry.histogram("payload_size_bytes", &[])?.record(512);
    /// assert_eq!(registry.help("payload_size_bytes").as_deref(), Some("Sizes of accepted payloads."));
    /// # Ok::<(), tailwatch::registry::RegistryError>(())
    /// ```
    pub fn describe(&self, name: &str, help: &str) {
        let mut cut = help.len().min(MAX_HELP_BYTES);
        while !help.is_char_boundary(cut) {
            cut -= 1;
        }
        let help = &help[..cut];
        // Handles are looked up again and again (`Monitor::resource`, a
        // layer per router): the same text again takes a read lock only.
        if self
            .inner
            .helps
            .read()
            .get(name)
            .is_some_and(|h| **h == *help)
        {
            return;
        }
        let help: Arc<str> = help.into();
        let mut helps = self.inner.helps.write();
        let room = helps.len() < 3 * self.inner.names.lock().max_per_kind();
        if let Some(h) = helps.get_mut(name) {
            *h = help;
        } else if room {
            helps.insert(name.to_owned(), help);
        }
    }

    /// The help text given to metric `name` with [`describe`](Self::describe).
    pub fn help(&self, name: &str) -> Option<Arc<str>> {
        self.inner.helps.read().get(name).cloned()
    }

    /// Every help text given, by metric name (for one exposition).
    pub(crate) fn helps(&self) -> HashMap<String, Arc<str>> {
        self.inner.helps.read().clone()
    }

    /// Cardinality figures of every metric, of every kind, by name.
    pub fn families(&self) -> Vec<FamilyInfo> {
        let mut out: Vec<_> = {
            let families = self.inner.families.lock();
            families.iter().map(|(n, f)| info(n, f)).collect()
        };
        let cap = self.inner.cap;
        out.extend(HandleStore::infos(&self.inner.gauges, cap));
        out.extend(HandleStore::infos(&self.inner.counters, cap));
        out.extend(HandleStore::infos(&self.inner.values, cap));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Claims the names metric `name` of `kind` is written under (see
    /// [`RegistryError::NameClash`]), for metrics kept outside the
    /// registry (the `metrics` facade's); the registry claims its own.
    ///
    /// # Errors
    /// [`RegistryError::NameClash`] or [`RegistryError::TooManyMetrics`].
    pub(crate) fn claim(&self, name: &str, kind: Kind) -> Result<(), RegistryError> {
        self.inner.names.lock().claim(name, kind)
    }

    fn limits(&self, kind: Kind) -> Limits<'_> {
        Limits {
            names: &self.inner.names,
            kind,
            cap: self.inner.cap,
            labels: self.inner.labels,
        }
    }

    /// Rotates every series' window that is due (see [`Histogram::rotate`]);
    /// needed only for histograms built with a clock other than the system one.
    pub fn rotate_all(&self) {
        for (_, h) in self.series() {
            h.rotate();
        }
    }
}
