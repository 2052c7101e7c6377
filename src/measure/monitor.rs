//! [`Monitor`]: measure operations by name, read their statistics.

use crate::engine::lock::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::extensions::Extensions;
use super::measured::{AlwaysOk, ByOutcome, Measured};
use super::operation::{Operation, OperationInner, Timer};
use super::outcome::Outcome;
use crate::engine::counter::Gauge;
use crate::engine::error::BuildError;
use crate::engine::histogram::{Histogram, HistogramBuilder};
use crate::engine::slowest::KEEP as SLOWEST_KEPT;
use crate::engine::snapshot::Snapshot;
use crate::engine::stats::{SlowCall, Stats, rate};
use crate::engine::thread_cache::{self, thread_cache};
use crate::registry::group::{Ended, Member, families, groups};
use crate::registry::{OVERFLOW_VALUE, Registry, RegistryBuilder, same};

/// The histogram of operation latencies (`operation`, `outcome` labels).
pub const OPERATION_DURATION: &str = "operation_duration_seconds";
/// The gauge of operations in flight (`operation` label).
pub const OPERATION_ACTIVE: &str = "operation_active";
/// Operations per monitor unless configured otherwise.
pub const DEFAULT_MAX_OPERATIONS: usize = 1000;
/// How often sampled values are refreshed unless configured otherwise.
pub const DEFAULT_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Settings for a [`Monitor`].
///
/// ```
/// use tailwatch::{Monitor, Registry};
/// let monitor = Monitor::builder()
///     .max_operations(200)
///     .registry(Registry::builder().series_cap(500))
///     .build()?;
/// # Ok::<(), tailwatch::engine::BuildError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MonitorBuilder {
    registry: RegistryBuilder,
    max_operations: Option<usize>,
    operations: Option<HistogramBuilder>,
    sample_interval: Option<std::time::Duration>,
}

impl MonitorBuilder {
    /// The registry settings (caps, histogram defaults) of the monitor's
    /// registry. The monitor sets the cap of [`OPERATION_DURATION`] itself
    /// (three outcomes per operation).
    #[must_use]
    pub fn registry(mut self, registry: RegistryBuilder) -> Self {
        self.registry = registry;
        self
    }

    /// The most distinct operation names (default
    /// [`DEFAULT_MAX_OPERATIONS`]); further names are measured as the
    /// operation `__overflow__` and counted in
    /// [`Monitor::operations_folded`].
    #[must_use]
    pub fn max_operations(mut self, max: usize) -> Self {
        self.max_operations = Some(max);
        self
    }

    /// Histogram settings for operation latencies (range, precision,
    /// window); nanoseconds, reported in seconds. Default: the registry's
    /// defaults ([`RegistryBuilder::defaults`], with its
    /// [`quantiles`](Self::quantiles)).
    #[must_use]
    pub fn operation_histograms(mut self, histogram: HistogramBuilder) -> Self {
        self.operations = Some(histogram);
        self
    }

    /// The quantiles every histogram of the monitor reports (operations,
    /// HTTP routes, gRPC methods, outbound calls, the `metrics` facade's):
    /// in [`Stats`] (`Monitor::stats`, `/stats`) and in the window
    /// summaries of `/metrics`. Each in `0.0..=1.0`; default 0.5, 0.95,
    /// 0.99.
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::builder().quantiles(&[0.5, 0.99, 0.999]).build()?;
    /// monitor.run("job", || ());
    /// let stats = monitor.stats("job").unwrap();
    /// assert!(stats.quantile(0.999).is_some());
    /// # Ok::<(), tailwatch::engine::BuildError>(())
    /// ```
    #[must_use]
    pub fn quantiles(mut self, quantiles: &[f64]) -> Self {
        self.registry = self.registry.quantiles(quantiles);
        self
    }

    /// How often sampled values (resources, queues, process, runtime) are
    /// refreshed by the monitor's sampler thread (default
    /// [`DEFAULT_SAMPLE_INTERVAL`], 1 s).
    #[must_use]
    pub fn sample_interval(mut self, interval: std::time::Duration) -> Self {
        self.sample_interval = Some(interval);
        self
    }

    /// Builds the monitor.
    ///
    /// # Errors
    /// [`BuildError`] for invalid registry or histogram settings, or a zero cap.
    pub fn build(self) -> Result<Monitor, BuildError> {
        let max_operations = self.max_operations.unwrap_or(DEFAULT_MAX_OPERATIONS);
        if max_operations == 0 {
            return Err(BuildError::ZeroCap);
        }
        let sample_interval = self.sample_interval.unwrap_or(DEFAULT_SAMPLE_INTERVAL);
        if sample_interval.is_zero() {
            return Err(BuildError::ZeroSampleInterval);
        }
        let histograms = self
            .operations
            .unwrap_or_else(|| self.registry.default_histogram());
        let registry = self
            .registry
            .metric(
                OPERATION_DURATION,
                histograms,
                Some(3 * max_operations.saturating_add(1)),
            )
            .build()?;
        registry.describe(OPERATION_DURATION, "Duration of measured operations.");
        registry.describe(OPERATION_ACTIVE, "Measured operations in flight.");
        let monitor = Monitor {
            inner: Arc::new(MonitorInner {
                id: thread_cache::next_owner(),
                registry,
                operations: RwLock::new(hashbrown::HashMap::new()),
                max_operations,
                folded: AtomicU64::new(0),
                sample_interval,
                extensions: Extensions::default(),
            }),
        };
        Ok(monitor)
    }
}

/// Hashes names for the cache's slot (fixed seed: a collision only evicts).
static OP_HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x7461_696c);
thread_cache! {
    /// Operations by hash of their name, per monitor.
    static OP_CACHE: Operation;
}

pub(crate) struct MonitorInner {
    id: u64,
    pub(crate) registry: Registry,
    operations: RwLock<hashbrown::HashMap<Box<str>, Operation>>,
    max_operations: usize,
    folded: AtomicU64,
    /// How often the sampler (in `saturation`) runs its closures.
    pub(crate) sample_interval: std::time::Duration,
    /// State of the pieces above this one (the sampler, the facade's store).
    pub(crate) extensions: Extensions,
}

/// Measures operations by name and reports their statistics; cheap to
/// clone (an `Arc`), one per process or as many as you like.
///
/// Every entry point records into `operation_duration_seconds{operation,
/// outcome}` (outcome `ok`, `error` or `cancelled`) and keeps
/// `operation_active{operation}`; see [`Operation`] for exactly what is
/// measured. Name lookups cost a hash and a read lock; in hot loops,
/// resolve an [`Operation`] once with [`operation`](Self::operation).
///
/// ```
/// use tailwatch::Monitor;
/// # async fn fetch_user(id: u32) -> Result<String, std::io::Error> { Ok("ann".into()) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let monitor = Monitor::new();
/// let user = monitor.measure("db.get_user", fetch_user(7)).await?;
///
/// let stats = monitor.stats("db.get_user").unwrap();
/// assert_eq!((stats.count, stats.errors), (1, 0));
/// println!("p99 {:?} s over {:.0} s", stats.p99(), stats.window_seconds);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Monitor {
    pub(crate) inner: Arc<MonitorInner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("operations", &self.read_operations().len())
            .field("max_operations", &self.inner.max_operations)
            .finish_non_exhaustive()
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new()
    }
}

impl Monitor {
    /// A monitor with default settings.
    pub fn new() -> Self {
        match MonitorBuilder::default().build() {
            Ok(m) => m,
            Err(_) => unreachable!("the default settings are valid"),
        }
    }

    /// The process-wide monitor: the one `#[measure]` records into, and
    /// any code can use without passing a monitor around. Created with the
    /// default settings on first use, unless [`set_global`](Self::set_global)
    /// gave one before. Serve it like any other:
    /// `tailwatch::agent(Monitor::global())`.
    ///
    /// ```
    /// let m = tailwatch::Monitor::global();
    /// m.run("startup.load_config", || ());
    /// assert!(m.same_as(tailwatch::Monitor::global()));
    /// ```
    pub fn global() -> &'static Monitor {
        GLOBAL.get_or_init(Monitor::new)
    }

    /// Makes `monitor` the [`global`](Self::global) one. Only before the
    /// global monitor is first used: afterwards `monitor` is handed back
    /// (`Err`), and the global one stays (values recorded into it are
    /// never split between two).
    pub fn set_global(monitor: Monitor) -> Result<(), Monitor> {
        GLOBAL.set(monitor)
    }

    /// Whether two handles are the same monitor.
    pub fn same_as(&self, other: &Monitor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A builder for other settings.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder::default()
    }

    /// The registry holding the monitor's series (for exposition, or to
    /// add histograms of your own).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn read_operations(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, hashbrown::HashMap<Box<str>, Operation>> {
        self.inner.operations.read()
    }

    /// The handle of operation `name`, created on first use. Past
    /// [`MonitorBuilder::max_operations`] names, the `__overflow__` operation.
    ///
    /// Each thread remembers the operations it looked up last (one per
    /// slot of a small hash-indexed cache), so a repeated name costs a hash
    /// and a string comparison, no lock.
    pub fn operation(&self, name: &str) -> Operation {
        let hash = OP_HASH.hash_one(name);
        OP_CACHE.get_or(
            self.inner.id,
            hash,
            |op| same(op.name(), name).then(|| op.clone()),
            || {
                let found = self.read_operations().get(name).cloned();
                let op = found.unwrap_or_else(|| self.create(name));
                // Only exact names are cached: a name folded into
                // `__overflow__` keeps taking the slow path, so each use is
                // counted. The cache holds the thread's own handle: handing
                // it out touches no shared reference count.
                if same(op.name(), name) {
                    let own = op.for_this_thread();
                    (own.clone(), Some(own))
                } else {
                    (op, None)
                }
            },
        )
    }

    #[cold]
    fn create(&self, name: &str) -> Operation {
        let mut ops = self.inner.operations.write();
        if let Some(op) = ops.get(name) {
            return op.clone();
        }
        // The overflow operation does not count toward the limit.
        let live = ops
            .len()
            .saturating_sub(usize::from(ops.contains_key(OVERFLOW_VALUE)));
        let name = if live >= self.inner.max_operations && name != OVERFLOW_VALUE {
            self.inner.folded.fetch_add(1, Ordering::Relaxed);
            if let Some(op) = ops.get(OVERFLOW_VALUE) {
                return op.clone();
            }
            OVERFLOW_VALUE
        } else {
            name
        };
        let histogram = |outcome: Ended| {
            self.inner
                .registry
                .histogram(
                    OPERATION_DURATION,
                    &[("operation", name), ("outcome", outcome.as_str())],
                )
                // The metric is configured on the registry (so its family
                // exists and no metric limit applies) and the names are
                // valid, so this cannot fail; keep recording regardless.
                .unwrap_or_default()
        };
        let op = Operation {
            inner: Arc::new(OperationInner {
                name: name.into(),
                ok: histogram(Ended::Ok),
                error: histogram(Ended::Error),
                cancelled: histogram(Ended::Cancelled),
                active: Gauge::new(),
                owner: 0,
                registry: self.registry().clone(),
            }),
        };
        ops.insert(name.into(), op.clone());
        op
    }

    /// `(operation, in flight)` for every operation, sorted by name.
    pub fn operations_in_flight(&self) -> Vec<(String, i64)> {
        let mut out: Vec<_> = self
            .read_operations()
            .values()
            .map(|op| (op.name().to_owned(), op.active()))
            .collect();
        out.sort();
        out
    }

    /// Operation names folded into `__overflow__` because the limit was reached.
    pub fn operations_folded(&self) -> u64 {
        self.inner.folded.load(Ordering::Relaxed)
    }

    /// Times `future` as operation `op` (see [`Operation::measure`]):
    /// `Err` → `error`, dropped early → `cancelled`, panic → `error`.
    pub fn measure<F>(&self, op: &str, future: F) -> Measured<F, ByOutcome>
    where
        F: Future,
        F::Output: Outcome,
    {
        self.operation(op).measure(future)
    }

    /// Times `future` whatever it returns (see [`Operation::time`]).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let monitor = tailwatch::Monitor::new();
    /// struct Page; // implements nothing
    /// let _page: Page = monitor.time("render", async { Page }).await;
    /// assert_eq!(monitor.stats("render").unwrap().count, 1);
    /// # });
    /// ```
    pub fn time<F: Future>(&self, op: &str, future: F) -> Measured<F, AlwaysOk> {
        self.operation(op).time(future)
    }

    /// Runs and times a closure as operation `op` (see [`Operation::run`]).
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::new();
    /// let total: u64 = monitor.run("sum", || (1..=10).sum());
    /// assert_eq!(total, 55);
    /// ```
    pub fn run<T: Outcome>(&self, op: &str, f: impl FnOnce() -> T) -> T {
        self.operation(op).run(f)
    }

    /// Starts a [`Timer`] for operation `op`.
    pub fn start(&self, op: &str) -> Timer {
        self.operation(op).start()
    }

    /// Statistics of operation `op` over the window, in seconds; `None`
    /// if the operation was never used.
    pub fn stats(&self, op: &str) -> Option<Stats> {
        let op = self.read_operations().get(op)?.clone();
        let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
        Some(operation_stats(&op, &mut a, &mut b))
    }

    /// Statistics of every operation, then of every other histogram in the
    /// registry (HTTP routes, those fed through the `metrics` facade),
    /// sorted by name and labels.
    ///
    /// Series that differ only in outcome labels (`http_response_status_code`,
    /// `rpc_grpc_status_code`, `error_type`, `outcome`) are one entry, as for an operation: an HTTP
    /// route's entry counts all its calls, `errors` those with an
    /// `error_type` (`cancelled` apart), and its latency figures are over
    /// the calls that finished. These are the values of the exposition's
    /// window gauges.
    ///
    /// ```
    /// let monitor = tailwatch::Monitor::new();
    /// monitor.run("a", || ());
    /// monitor.run("b", || Err::<(), _>("failed"));
    /// monitor.registry().record("queue_wait_seconds", &[], 2_000_000)?;
    /// for s in monitor.all_stats() {
    ///     println!("{} {:?}: {} calls, {} errors, p99 {:?}", s.name, s.labels, s.count, s.errors, s.p99());
    /// }
    /// assert_eq!(monitor.all_stats().len(), 3);
    /// # Ok::<(), tailwatch::registry::RegistryError>(())
    /// ```
    pub fn all_stats(&self) -> Vec<Stats> {
        let mut ops: Vec<Operation> = self.read_operations().values().cloned().collect();
        ops.sort_by(|a, b| a.name().cmp(b.name()));
        // Two working buffers for every series (a snapshot only allocates
        // when it meets a new layout).
        let (mut a, mut b) = (Snapshot::default(), Snapshot::default());
        let mut out: Vec<Stats> = ops
            .iter()
            .map(|op| operation_stats(op, &mut a, &mut b))
            .collect();
        let mut series = self.inner.registry.series();
        series.retain(|(id, _)| id.name() != OPERATION_DURATION);
        let mut others = Vec::new();
        for mut members in families(series) {
            for range in groups(&mut members) {
                others.push(group_stats(&members[range], &mut a, &mut b));
            }
        }
        others.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        out.extend(others);
        out
    }
}

/// The process-wide monitor ([`Monitor::global`]).
static GLOBAL: std::sync::OnceLock<Monitor> = std::sync::OnceLock::new();

/// Statistics of an operation: its three outcome series merged.
fn operation_stats(op: &Operation, window: &mut Snapshot, series: &mut Snapshot) -> Stats {
    let i = &op.inner;
    let labels = BTreeMap::from([("operation".to_owned(), op.name().to_owned())]);
    let parts = [
        (&i.ok, Ended::Ok),
        (&i.error, Ended::Error),
        (&i.cancelled, Ended::Cancelled),
    ];
    let mut s = merged_stats(OPERATION_DURATION, labels, parts, window, series);
    s.slowest = slowest_of(parts.iter().map(|&(h, ending)| {
        (h, move || {
            BTreeMap::from([("outcome".to_owned(), ending.as_str().to_owned())])
        })
    }));
    s
}

/// Statistics of one group of series (one route: its status codes and
/// errors merged).
fn group_stats(members: &[Member], window: &mut Snapshot, series: &mut Snapshot) -> Stats {
    let labels = members[0]
        .group()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let parts = members.iter().map(|m| (&m.histogram, m.ending));
    let mut s = merged_stats(members[0].id.name(), labels, parts, window, series);
    s.slowest = slowest_of(members.iter().map(|m| {
        (&m.histogram, || {
            m.outcome_labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
    }));
    s
}

/// Statistics of series that differ only in how their calls ended, using
/// `window` and `series` as buffers: every call counts, `errors` and
/// `cancelled` apart; latency figures are over the calls that finished
/// (a cancelled call has no complete latency).
fn merged_stats<'a>(
    name: &str,
    labels: BTreeMap<String, String>,
    parts: impl IntoIterator<Item = (&'a Histogram, Ended)>,
    window: &mut Snapshot,
    series: &mut Snapshot,
) -> Stats {
    let mut parts = parts.into_iter().peekable();
    let Some((first, _)) = parts.peek() else {
        return build(name, labels, &Snapshot::default(), None);
    };
    let first = (*first).clone();
    window.clear(first.layout());
    let (mut total, mut total_sum, mut errors, mut cancelled) = (0, 0_u128, 0, 0);
    let (mut clamped, mut rejected) = (0, 0);
    for (h, ending) in parts {
        let (t, sum) = h.window_with_totals(series);
        total += t;
        total_sum += sum;
        clamped += h.clamped();
        rejected += h.rejected();
        match ending {
            Ended::Cancelled => cancelled += series.count(),
            Ended::Error => errors += series.count(),
            Ended::Ok => {}
        }
        if ending != Ended::Cancelled {
            window.merge(series);
        }
    }
    let mut s = build(name, labels, window, Some(&first));
    s.count += cancelled;
    s.rate_per_second = rate(s.count, s.window_seconds);
    s.errors = errors;
    s.cancelled = cancelled;
    s.error_ratio = (s.count > 0).then(|| errors as f64 / s.count as f64);
    s.total_count = total;
    s.total_sum = total_sum as f64 / first.unit_scale();
    s.clamped = clamped;
    s.rejected = rejected;
    s
}

/// The statistics of the window in `snap`, in base units, for the
/// quantiles `h` is configured with.
fn build(
    name: &str,
    labels: BTreeMap<String, String>,
    snap: &Snapshot,
    h: Option<&Histogram>,
) -> Stats {
    match h {
        Some(h) => Stats::of_window(name, labels, snap, h.unit_scale(), h.quantiles()),
        None => Stats::of_window(name, labels, snap, 1.0, &[]),
    }
}

/// The slowest traced calls of `parts` (each a series and a function
/// giving its outcome labels), slowest first, at most `SLOWEST_KEPT`.
fn slowest_of<'a, L>(parts: impl IntoIterator<Item = (&'a Histogram, L)>) -> Vec<SlowCall>
where
    L: Fn() -> BTreeMap<String, String>,
{
    let mut out: Vec<(u64, SlowCall)> = Vec::new();
    for (h, outcome) in parts {
        let held = h.slowest();
        if held.is_empty() {
            continue;
        }
        let outcome = outcome();
        let unix = h.to_unix_seconds();
        out.extend(held.iter().map(|e| {
            let call = SlowCall {
                value: e.value as f64 / h.unit_scale(),
                trace_id: e.trace.trace_id_hex(),
                span_id: e.trace.span_id_hex(),
                unix_seconds: unix(e.at_ns),
                outcome: outcome.clone(),
            };
            (e.value, call)
        }));
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.0));
    out.truncate(SLOWEST_KEPT);
    out.into_iter().map(|(_, c)| c).collect()
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::Monitor;
    use std::sync::Arc;

    #[test]
    fn a_handle_owned_by_one_thread_is_not_shared_by_another() {
        let monitor = Monitor::new();
        let op = monitor.operation("db.get_user");
        // `Monitor::operation` hands out this thread's own handle …
        assert!(Arc::ptr_eq(&op.for_this_thread().inner, &op.inner));
        // … which another thread does not use as its own.
        let (theirs, again) = std::thread::scope(|s| {
            s.spawn(|| (op.for_this_thread(), op.for_this_thread()))
                .join()
                .unwrap()
        });
        assert!(!Arc::ptr_eq(&theirs.inner, &op.inner));
        assert!(Arc::ptr_eq(&theirs.inner, &again.inner), "not cached");
        // Same series either way.
        theirs.run(|| ());
        op.run(|| ());
        assert_eq!(op.inner.ok.stats().total_count, 2);
    }
}
