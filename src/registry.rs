//! [`Registry`]: (metric name, label set) → [`Histogram`], get-or-create,
//! with a cap on label sets per metric.
//!
//! * Resolve once, record many: [`Registry::histogram`] returns a handle
//!   (an `Arc`) to keep; recording through it takes no lock.
//! * Or record by name each call: [`Registry::record`] hashes the name and
//!   labels (no allocation) and looks the series up under a read lock.
//! * Label order does not matter: `[("a", "1"), ("b", "2")]` and
//!   `[("b", "2"), ("a", "1")]` are the same series.
//! * Cardinality, in three bounds, all on the slow path of a new label set:
//!   - a label can be capped in distinct values per metric
//!     ([`RegistryBuilder::label_cap`], e.g. 100 routes): a value past the
//!     cap becomes [`OVERFLOW_VALUE`] for that label only, the other labels
//!     keep theirs;
//!   - each metric holds at most `cap` label sets (1000 unless configured).
//!     Past it, a new label set is folded into the metric's one overflow
//!     series, whose every label value is [`OVERFLOW_VALUE`];
//!   - at most [`DEFAULT_MAX_METRICS`] metric names (configurable); a new
//!     name past it is an error, since names should be fixed strings.
//!
//!   Each fold is counted in [`Registry::overflow_total`] (exported as
//!   `tailwatch_series_overflow_total`). Nothing is dropped: the values are
//!   recorded in the series they were folded into. A metric never has more
//!   than `cap + 1` series, whatever the traffic.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

use hashbrown::Equivalent;

use crate::counter::{Counter, Gauge, Value};
use crate::error::{BuildError, RegistryError};
use crate::histogram::{Histogram, HistogramBuilder};
use crate::thread_cache;

/// The label value of a metric's overflow series.
pub const OVERFLOW_VALUE: &str = "__overflow__";
/// Label sets per metric unless configured otherwise.
pub const DEFAULT_SERIES_CAP: usize = 1000;
/// Metric names per registry unless configured otherwise.
pub const DEFAULT_MAX_METRICS: usize = 10_000;

/// A label: `(name, value)`.
pub type Label<'a> = (&'a str, &'a str);

/// A label set owned, sorted by name.
type OwnedLabels = Vec<(Box<str>, Box<str>)>;

/// The identity of a series: metric name and label set (sorted by label name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeriesId {
    name: Arc<str>,
    labels: Arc<[(Box<str>, Box<str>)]>,
}

impl SeriesId {
    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = Label<'_>> {
        self.labels.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &*self.labels[i].1)
    }
}

/// A map key: the id and its hash, computed once.
struct Key {
    hash: u64,
    id: SeriesId,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.id == other.id
    }
}

impl Eq for Key {}

/// The borrowed form a caller looks up with (labels in any order).
struct Lookup<'a, 'l> {
    hash: u64,
    name: &'a str,
    labels: &'a [Label<'l>],
}

impl Hash for Lookup<'_, '_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Equivalent<Key> for Lookup<'_, '_> {
    fn equivalent(&self, key: &Key) -> bool {
        let stored = &key.id.labels;
        if key.hash != self.hash
            || !same(&key.id.name, self.name)
            || stored.len() != self.labels.len()
        {
            return false;
        }
        // Common case: the caller passes the labels in sorted order.
        if stored
            .iter()
            .zip(self.labels)
            .all(|((k, v), (lk, lv))| same(k, lk) && same(v, lv))
        {
            return true;
        }
        // Any order: every given label must hit a distinct stored one (so a
        // lookup that repeats a label cannot match).
        let mut hit = 0_u128;
        for (k, v) in self.labels {
            match stored.iter().position(|(sk, _)| same(sk, k)) {
                Some(i) if i < 128 && same(&stored[i].1, v) => hit |= 1 << i,
                Some(i) if i >= 128 && same(&stored[i].1, v) => {}
                _ => return false,
            }
        }
        if stored.len() <= 128 {
            return hit.count_ones() as usize == stored.len();
        }
        // Beyond 128 labels, check the other direction too.
        stored.iter().all(|(k, v)| {
            self.labels
                .iter()
                .any(|(lk, lv)| same(k, lk) && same(v, lv))
        })
    }
}

/// String equality without an out-of-line `memcmp` call: label names and
/// values are short, and most mismatches differ in length.
#[inline(always)]
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(0, u64::from_ne_bytes);
    (&mut ca).zip(&mut cb).all(|(x, y)| word(x) == word(y))
        && ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .all(|(x, y)| x == y)
}

/// The map hashes keys by their precomputed hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SeriesMap = hashbrown::HashMap<Key, Histogram, BuildHasherDefault<PassThrough>>;

/// Gauges or counters of the registry: `(name, labels)` → handle, with
/// the number of label sets per metric (capped like histograms).
struct HandleStore<T> {
    by_id: HashMap<SeriesId, T>,
    per_metric: HashMap<String, usize>,
}

impl<T> Default for HandleStore<T> {
    fn default() -> Self {
        Self {
            by_id: HashMap::new(),
            per_metric: HashMap::new(),
        }
    }
}

impl<T: Clone + Default> HandleStore<T> {
    /// The handle of `name{labels}`, created if needed; past `cap` label
    /// sets for `name`, the labels all become [`OVERFLOW_VALUE`].
    fn get_or_create(
        store: &Mutex<Self>,
        name: &str,
        labels: &[Label<'_>],
        cap: usize,
    ) -> Result<T, RegistryError> {
        let mut id = SeriesId {
            name: name.into(),
            labels: canonical(name, labels)?.into(),
        };
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = store.by_id.get(&id) {
            return Ok(h.clone());
        }
        let used = store.per_metric.entry(name.to_owned()).or_insert(0);
        if *used >= cap {
            id.labels = id
                .labels
                .iter()
                .map(|(k, _)| (k.clone(), Box::from(OVERFLOW_VALUE)))
                .collect();
        } else {
            *used += 1;
        }
        Ok(store.by_id.entry(id).or_default().clone())
    }

    fn all(store: &Mutex<Self>) -> Vec<(SeriesId, T)> {
        let store = store.lock().unwrap_or_else(|e| e.into_inner());
        store
            .by_id
            .iter()
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect()
    }
}

/// Slots of the per-thread cache of [`Registry::record`].
pub const THREAD_CACHE_SLOTS: usize = thread_cache::SLOTS;

/// A series a thread resolved by name, for [`Registry::record`].
struct Cached {
    registry: u64,
    key: Key,
    histogram: Histogram,
}

thread_local! {
    static THREAD_CACHE: thread_cache::Slots<Cached> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Distinguishes registries in the thread caches (addresses can be reused).
static NEXT_REGISTRY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Per-metric bookkeeping, touched only when a label set is new.
#[derive(Debug)]
struct Family {
    cap: usize,
    template: HistogramBuilder,
    live: usize,
    overflow: Option<Histogram>,
    folded: u64,
    /// Distinct values seen, for the labels that have a cap.
    values: HashMap<Box<str>, hashbrown::HashSet<Box<str>>>,
    /// Every series of the metric, for the aggregated figures.
    members: Vec<Histogram>,
}

/// Cardinality and data-quality figures of one metric (the registry's
/// self-metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyInfo {
    /// The metric name.
    pub name: String,
    /// Series that exist, the overflow series included.
    pub series: usize,
    /// The cap on label sets.
    pub cap: usize,
    /// Label-set resolutions folded into an overflow series or value.
    pub overflow_total: u64,
    /// Values clamped to the range, over all the metric's series.
    pub clamped: u64,
    /// Values refused (NaN), over all the metric's series.
    pub rejected: u64,
}

/// Settings for a [`Registry`].
///
/// ```
/// use tailwatch::{HistogramBuilder, Registry};
/// let registry = Registry::builder()
///     .series_cap(500)
///     .metric("payload_size_bytes", HistogramBuilder::new().range(1, 1 << 30), None)
///     .build()?;
/// # Ok::<(), tailwatch::BuildError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RegistryBuilder {
    defaults: HistogramBuilder,
    cap: Option<usize>,
    max_metrics: Option<usize>,
    label_caps: HashMap<String, usize>,
    metrics: HashMap<String, (HistogramBuilder, Option<usize>)>,
}

impl RegistryBuilder {
    /// Histogram settings for metrics not configured with [`metric`](Self::metric).
    #[must_use]
    pub fn defaults(mut self, defaults: HistogramBuilder) -> Self {
        self.defaults = defaults;
        self
    }

    /// The cap on label sets per metric (default [`DEFAULT_SERIES_CAP`]).
    #[must_use]
    pub fn series_cap(mut self, cap: usize) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Caps the distinct values of label `label` in each metric at `cap`;
    /// further values are recorded as [`OVERFLOW_VALUE`] for that label.
    #[must_use]
    pub fn label_cap(mut self, label: &str, cap: usize) -> Self {
        self.label_caps.insert(label.to_owned(), cap);
        self
    }

    /// The limit on metric names (default [`DEFAULT_MAX_METRICS`]).
    #[must_use]
    pub fn max_metrics(mut self, limit: usize) -> Self {
        self.max_metrics = Some(limit);
        self
    }

    /// Histogram settings, and optionally a cap, for one metric.
    #[must_use]
    pub fn metric(mut self, name: &str, histogram: HistogramBuilder, cap: Option<usize>) -> Self {
        self.metrics.insert(name.to_owned(), (histogram, cap));
        self
    }

    /// Builds the registry.
    ///
    /// # Errors
    /// [`BuildError`] when a histogram setting is invalid or a cap is 0.
    pub fn build(self) -> Result<Registry, BuildError> {
        let cap = self.cap.unwrap_or(DEFAULT_SERIES_CAP);
        self.defaults.validate()?;
        let mut families = HashMap::new();
        for (name, (template, metric_cap)) in self.metrics {
            template.validate()?;
            let cap = metric_cap.unwrap_or(cap);
            if cap == 0 {
                return Err(BuildError::ZeroCap);
            }
            families.insert(name, Family::new(template, cap));
        }
        if cap == 0 || self.label_caps.values().any(|&c| c == 0) {
            return Err(BuildError::ZeroCap);
        }
        Ok(Registry {
            inner: Arc::new(Inner {
                gauges: Mutex::new(HandleStore::default()),
                counters: Mutex::new(HandleStore::default()),
                values: Mutex::new(HandleStore::default()),
                id: NEXT_REGISTRY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                hasher: foldhash::fast::RandomState::default(),
                series: RwLock::new(SeriesMap::default()),
                families: Mutex::new(families),
                defaults: self.defaults,
                cap,
                max_metrics: self.max_metrics.unwrap_or(DEFAULT_MAX_METRICS),
                label_caps: self.label_caps,
            }),
        })
    }
}

impl Family {
    fn new(template: HistogramBuilder, cap: usize) -> Self {
        Self {
            cap,
            template,
            live: 0,
            overflow: None,
            folded: 0,
            values: HashMap::new(),
            members: Vec::new(),
        }
    }
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
/// # Ok::<(), tailwatch::RegistryError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Gauges and counters by id, with their per-metric counts.
    gauges: Mutex<HandleStore<Gauge>>,
    counters: Mutex<HandleStore<Counter>>,
    values: Mutex<HandleStore<Value>>,
    id: u64,
    hasher: foldhash::fast::RandomState,
    series: RwLock<SeriesMap>,
    families: Mutex<HashMap<String, Family>>,
    defaults: HistogramBuilder,
    cap: usize,
    max_metrics: usize,
    label_caps: HashMap<String, usize>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("cap", &self.cap)
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with default histogram settings and cap.
    pub fn new() -> Self {
        match RegistryBuilder::default().build() {
            Ok(r) => r,
            Err(_) => unreachable!("the default settings are valid"),
        }
    }

    /// A builder for other settings.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
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
    /// [`THREAD_CACHE_SLOTS`] slots (by hash), so repeated calls take no
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
        let slot = lookup.hash as usize;
        let id = self.inner.id;
        let hit = thread_cache::get(&THREAD_CACHE, slot, |e| {
            (e.registry == id && lookup.equivalent(&e.key)).then(|| e.histogram.record(value))
        });
        if hit.is_some() {
            return Ok(());
        }
        self.record_slow(lookup, slot, value)
    }

    #[cold]
    fn record_slow(
        &self,
        lookup: Lookup<'_, '_>,
        slot: usize,
        value: u64,
    ) -> Result<(), RegistryError> {
        let found = {
            let series = self.inner.series.read().unwrap_or_else(|e| e.into_inner());
            series.get_key_value(&lookup).map(|(k, h)| {
                h.record(value);
                let key = Key {
                    hash: k.hash,
                    id: k.id.clone(),
                };
                (key, h.clone())
            })
        };
        let Some((key, histogram)) = found else {
            self.resolve(lookup, None::<fn() -> HistogramBuilder>)?
                .record(value);
            return Ok(());
        };
        // Only exact matches are cached: a folded label set keeps taking
        // this path, so each of its calls is counted.
        let registry = self.inner.id;
        thread_cache::put(
            &THREAD_CACHE,
            slot,
            Cached {
                registry,
                key,
                histogram,
            },
        );
        Ok(())
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
        let mut labels = canonical(lookup.name, lookup.labels)?;

        let mut families = self
            .inner
            .families
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Another thread may have created it meanwhile.
        if let Some(h) = self.get(&lookup) {
            return Ok(h);
        }
        if !families.contains_key(lookup.name) && families.len() >= self.inner.max_metrics {
            return Err(RegistryError::TooManyMetrics {
                name: lookup.name.to_owned(),
                limit: self.inner.max_metrics,
            });
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

        // Per-label caps: a value past its label's cap becomes the overflow value.
        let mut hash = lookup.hash;
        if self.cap_label_values(family, &mut labels) {
            family.folded += 1;
            let pairs: Vec<Label<'_>> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
            hash = self.hash(lookup.name, &pairs);
            let capped = Lookup {
                hash,
                name: lookup.name,
                labels: &pairs,
            };
            if let Some(h) = self.get(&capped) {
                return Ok(h);
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

    fn get(&self, lookup: &Lookup<'_, '_>) -> Option<Histogram> {
        let series = self.inner.series.read().unwrap_or_else(|e| e.into_inner());
        series.get(lookup).cloned()
    }

    /// Replaces label values past their label's cap by the overflow value;
    /// returns whether any was replaced.
    fn cap_label_values(&self, family: &mut Family, labels: &mut [(Box<str>, Box<str>)]) -> bool {
        let mut replaced = false;
        for (k, v) in labels.iter_mut() {
            let Some(&cap) = self.inner.label_caps.get(&**k) else {
                continue;
            };
            if **v == *OVERFLOW_VALUE {
                continue;
            }
            let seen = family.values.entry(k.clone()).or_default();
            if seen.contains(&**v) {
                continue;
            }
            if seen.len() < cap {
                seen.insert(v.clone());
            } else {
                *v = OVERFLOW_VALUE.into();
                replaced = true;
            }
        }
        replaced
    }

    fn new_histogram(&self, template: &HistogramBuilder) -> Histogram {
        // Templates are validated when the registry is built.
        template.clone().build().unwrap_or_default()
    }

    fn insert(&self, hash: u64, id: SeriesId, histogram: Histogram) {
        let mut series = self.inner.series.write().unwrap_or_else(|e| e.into_inner());
        // An explicit label set equal to the overflow one keeps its series.
        series.entry(Key { hash, id }).or_insert(histogram);
    }

    /// The gauge `name{labels}`, created if needed. Gauges are capped per
    /// metric like histograms: past the cap, the labels all become
    /// [`OVERFLOW_VALUE`]. Resolve once and keep the handle: this takes a lock.
    ///
    /// # Errors
    /// [`RegistryError`] when the name or a label name is invalid or a
    /// label is repeated.
    pub fn gauge(&self, name: &str, labels: &[Label<'_>]) -> Result<Gauge, RegistryError> {
        HandleStore::get_or_create(&self.inner.gauges, name, labels, self.inner.cap)
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
        HandleStore::get_or_create(&self.inner.counters, name, labels, self.inner.cap)
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
        HandleStore::get_or_create(&self.inner.values, name, labels, self.inner.cap)
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
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, h)| (k.id.clone(), h.clone()))
            .collect()
    }

    /// Label-set resolutions of metric `name` folded into its overflow series.
    pub fn overflow_total(&self, name: &str) -> u64 {
        self.family(name).map_or(0, |f| f.overflow_total)
    }

    /// Cardinality figures of metric `name`, if it has any series.
    pub fn family(&self, name: &str) -> Option<FamilyInfo> {
        let families = self
            .inner
            .families
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        families.get(name).map(|f| info(name, f))
    }

    /// Cardinality figures of every metric.
    pub fn families(&self) -> Vec<FamilyInfo> {
        let families = self
            .inner
            .families
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = families.iter().map(|(n, f)| info(n, f)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Rotates every series' window that is due (see [`Histogram::rotate`]);
    /// needed only for histograms built with a clock other than the system one.
    pub fn rotate_all(&self) {
        for (_, h) in self.series() {
            h.rotate();
        }
    }
}

fn info(name: &str, f: &Family) -> FamilyInfo {
    FamilyInfo {
        name: name.to_owned(),
        series: f.live + usize::from(f.overflow.is_some()),
        cap: f.cap,
        overflow_total: f.folded,
        clamped: f.members.iter().map(Histogram::clamped).sum(),
        rejected: f.members.iter().map(Histogram::rejected).sum(),
    }
}

/// Validates a metric name and label set and returns the labels owned and
/// sorted by name (the form a [`SeriesId`] keeps).
fn canonical(name: &str, labels: &[Label<'_>]) -> Result<OwnedLabels, RegistryError> {
    validate_metric_name(name)?;
    let mut owned: OwnedLabels = Vec::with_capacity(labels.len());
    for &(k, v) in labels {
        validate_label_name(k)?;
        owned.push((k.into(), v.into()));
    }
    owned.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = owned.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(RegistryError::DuplicateLabel(w[0].0.to_string()));
    }
    Ok(owned)
}

fn validate_metric_name(name: &str) -> Result<(), RegistryError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidMetricName(name.to_owned()))
    }
}

fn validate_label_name(name: &str) -> Result<(), RegistryError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidLabelName(name.to_owned()))
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn label_order_does_not_matter() {
        let r = Registry::new();
        let a = r.histogram("m", &[("a", "1"), ("b", "2")]).unwrap();
        let b = r.histogram("m", &[("b", "2"), ("a", "1")]).unwrap();
        assert!(a.same_as(&b));
        let c = r.histogram("m", &[("a", "2"), ("b", "1")]).unwrap();
        assert!(!a.same_as(&c));
        assert_eq!(r.series().len(), 2);
    }

    #[test]
    fn repeated_label_never_matches_and_is_refused() {
        let r = Registry::new();
        r.histogram("m", &[("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(
            r.record("m", &[("a", "1"), ("a", "1")], 5),
            Err(RegistryError::DuplicateLabel("a".into()))
        );
    }

    #[test]
    fn names_are_validated_with_a_clear_error() {
        let r = Registry::new();
        let e = r.histogram("bad name", &[]).unwrap_err();
        assert!(e.to_string().contains("bad name"), "{e}");
        assert!(matches!(
            r.histogram("1abc", &[]),
            Err(RegistryError::InvalidMetricName(_))
        ));
        assert!(matches!(
            r.histogram("ok", &[("__x", "v")]),
            Err(RegistryError::InvalidLabelName(_))
        ));
        assert!(matches!(
            r.histogram("ok", &[("a-b", "v")]),
            Err(RegistryError::InvalidLabelName(_))
        ));
        // Any UTF-8 label value is fine.
        r.histogram("ok", &[("path", "/ünïcode/\"quoted\"\n\\")])
            .unwrap();
        assert!(r.histogram("ns:sub_name", &[]).is_ok());
    }

    #[test]
    fn cap_folds_into_one_overflow_series() {
        let r = Registry::builder().series_cap(3).build().unwrap();
        for i in 0..10 {
            r.record("m", &[("id", &i.to_string())], 1).unwrap();
        }
        let f = r.family("m").unwrap();
        assert_eq!((f.series, f.cap, f.overflow_total), (4, 3, 7));
        let overflow = r.histogram("m", &[("id", OVERFLOW_VALUE)]).unwrap();
        assert_eq!(overflow.stats().total_count, 7);
        // Existing series keep working.
        r.record("m", &[("id", "0")], 1).unwrap();
        assert_eq!(
            r.histogram("m", &[("id", "0")])
                .unwrap()
                .stats()
                .total_count,
            2
        );
        assert_eq!(r.overflow_total("m"), 7);
        assert_eq!(r.overflow_total("unknown"), 0);
    }

    #[test]
    fn label_cap_folds_only_that_label() {
        let r = Registry::builder().label_cap("route", 2).build().unwrap();
        for route in ["/a", "/b", "/c", "/d", "/a"] {
            for method in ["GET", "POST"] {
                r.record("http", &[("route", route), ("method", method)], 1)
                    .unwrap();
            }
        }
        let get = r
            .histogram("http", &[("route", OVERFLOW_VALUE), ("method", "GET")])
            .unwrap();
        assert_eq!(get.stats().total_count, 2, "/c and /d folded, method kept");
        assert_eq!(
            r.histogram("http", &[("route", "/a"), ("method", "POST")])
                .unwrap()
                .stats()
                .total_count,
            2
        );
        let f = r.family("http").unwrap();
        assert_eq!(f.series, 6); // {/a,/b,overflow} × {GET,POST}
        // /c and /d past the cap, each with GET and POST: four folds.
        assert_eq!(f.overflow_total, 4);
        assert_eq!(
            Registry::builder().label_cap("x", 0).build().unwrap_err(),
            BuildError::ZeroCap
        );
    }

    #[test]
    fn metric_names_are_bounded_with_a_clear_error() {
        let r = Registry::builder().max_metrics(2).build().unwrap();
        r.record("a", &[], 1).unwrap();
        r.record("b", &[], 1).unwrap();
        let e = r.record("c", &[], 1).unwrap_err();
        assert!(matches!(e, RegistryError::TooManyMetrics { limit: 2, .. }));
        assert!(e.to_string().contains("label values"), "{e}");
        r.record("a", &[("x", "1")], 1).unwrap(); // existing names still work
    }

    #[test]
    fn families_report_clamped_and_rejected() {
        let r = Registry::new();
        let h = r.histogram("m", &[("a", "1")]).unwrap();
        h.record(u64::MAX);
        let _ = h.record_scaled(f64::NAN, 1.0);
        r.histogram("m", &[("a", "2")]).unwrap().record(u64::MAX);
        let f = r.family("m").unwrap();
        assert_eq!((f.clamped, f.rejected), (2, 1));
    }

    #[test]
    fn thread_cache_never_confuses_registries_or_label_sets() {
        let (a, b) = (Registry::new(), Registry::new());
        for _ in 0..3 {
            a.record("m", &[("k", "1")], 1).unwrap();
            b.record("m", &[("k", "1")], 1).unwrap();
            b.record("m", &[("k", "1")], 1).unwrap();
        }
        assert_eq!(
            a.histogram("m", &[("k", "1")]).unwrap().stats().total_count,
            3
        );
        assert_eq!(
            b.histogram("m", &[("k", "1")]).unwrap().stats().total_count,
            6
        );
        // Many label sets share the 64 slots: each still lands in its own series.
        for round in 0..3 {
            for i in 0..500 {
                a.record("n", &[("i", &i.to_string())], round).unwrap();
            }
        }
        for i in [0, 63, 64, 499] {
            let h = a.histogram("n", &[("i", &i.to_string())]).unwrap();
            assert_eq!(h.stats().total_count, 3, "label set {i}");
        }
    }

    #[test]
    fn overflowed_label_sets_are_counted_on_every_call() {
        let r = Registry::builder().series_cap(1).build().unwrap();
        for _ in 0..5 {
            r.record("m", &[("k", "a")], 1).unwrap();
            r.record("m", &[("k", "b")], 1).unwrap();
        }
        assert_eq!(r.overflow_total("m"), 5);
    }

    #[test]
    fn same_agrees_with_string_equality() {
        let base = "abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..base.len() {
            let a = &base[..len];
            assert!(same(a, a));
            assert!(!same(a, &base[..len + 1]));
            for pos in 0..len {
                let mut b = a.to_owned().into_bytes();
                b[pos] = b'#';
                let b = String::from_utf8(b).unwrap();
                assert_eq!(same(a, &b), a == b, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn gauges_are_shared_by_labels_and_capped() {
        let r = Registry::builder().series_cap(2).build().unwrap();
        let a = r.gauge("active", &[("route", "/a")]).unwrap();
        a.increment();
        assert_eq!(r.gauge("active", &[("route", "/a")]).unwrap().value(), 1);
        r.gauge("active", &[("route", "/b")]).unwrap();
        let c = r.gauge("active", &[("route", "/c")]).unwrap();
        let d = r.gauge("active", &[("route", "/d")]).unwrap();
        c.increment();
        d.increment();
        assert_eq!(
            r.gauge("active", &[("route", OVERFLOW_VALUE)])
                .unwrap()
                .value(),
            2
        );
        assert_eq!(r.gauges().len(), 3);
        assert!(r.gauge("bad name", &[]).is_err());
    }

    #[test]
    fn zero_cap_is_refused() {
        assert_eq!(
            Registry::builder().series_cap(0).build().unwrap_err(),
            BuildError::ZeroCap
        );
    }
}
