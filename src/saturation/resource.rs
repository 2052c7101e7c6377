//! [`Resource`]: a pool or semaphore's units in use, capacity and acquire
//! waits (`resource_*`), wrapped or sampled ([`Usage`]).
//!
//! Wrapped resources count themselves on the caller's path (a sharded
//! gauge ±1 and one histogram record per acquire: no lock, no
//! allocation); sampled ones ([`Monitor::resource_sampled`]) are read by
//! the monitor's sampler thread.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::engine::counter::Gauge;
use crate::engine::exemplar::TraceContext;
use crate::engine::histogram::Histogram;
use crate::measure::Monitor;
use crate::measure::context::current_trace;

/// Units of a resource in use.
pub const RESOURCE_IN_USE: &str = "resource_in_use";
/// Units of a resource in total.
pub const RESOURCE_CAPACITY: &str = "resource_capacity";
/// Time spent waiting to acquire a unit of a resource.
pub const RESOURCE_WAIT: &str = "resource_wait_seconds";
/// Units open but not in use (a pool's idle connections), when known.
pub const RESOURCE_IDLE: &str = "resource_idle";
/// Callers waiting to acquire a unit now, when known.
pub const RESOURCE_WAITING: &str = "resource_waiting";

/// A pool or semaphore-like resource: capacity, units in use, and the time
/// callers wait to acquire one. Cheap to clone.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// let monitor = tailwatch::Monitor::new();
/// let permits = Arc::new(tokio::sync::Semaphore::new(10));
/// let pool = monitor.resource("db_pool");
/// pool.set_capacity(10);
///
/// let permit = pool.acquire(permits.clone().acquire_owned()).await?; // wait recorded
/// assert_eq!(pool.in_use(), 1);
/// drop(permit);                                                      // back to 0
/// assert_eq!(pool.in_use(), 0);
/// # Ok::<(), tokio::sync::AcquireError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Resource {
    in_use: Gauge,
    capacity: Gauge,
    wait: Histogram,
}

impl Resource {
    /// Sets the capacity (units in total).
    pub fn set_capacity(&self, capacity: i64) {
        self.capacity.set(capacity);
    }

    /// Units in use now.
    pub fn in_use(&self) -> i64 {
        self.in_use.value()
    }

    /// The capacity.
    pub fn capacity(&self) -> i64 {
        self.capacity.value()
    }

    /// `in_use / capacity`; `None` without a capacity.
    pub fn utilization(&self) -> Option<f64> {
        let c = self.capacity();
        (c > 0).then(|| self.in_use() as f64 / c as f64)
    }

    /// Awaits `acquire` (a pool's `get`, a semaphore's `acquire`), records
    /// the time it took in `resource_wait_seconds` (also when it fails or
    /// is cancelled: that was waiting too), and on success returns the
    /// unit wrapped in a [`Held`] that counts it in use until dropped.
    pub async fn acquire<T, E>(
        &self,
        acquire: impl Future<Output = Result<T, E>>,
    ) -> Result<Held<T>, E> {
        let waited = self.time_wait();
        let unit = acquire.await;
        drop(waited);
        unit.map(|unit| self.hold(unit))
    }

    /// Awaits `acquire` and records the time it took in
    /// `resource_wait_seconds` (also when it fails or is cancelled), without
    /// counting the unit in use: for pools whose use is sampled from the
    /// pool itself ([`Monitor::resource_sampled`], the deadpool adapter).
    pub async fn wait_for<F: Future>(&self, acquire: F) -> F::Output {
        let _waited = self.time_wait();
        acquire.await
    }

    /// [`acquire`](Self::acquire) for an acquire that cannot fail.
    pub async fn acquire_infallible<T>(&self, acquire: impl Future<Output = T>) -> Held<T> {
        let waited = self.time_wait();
        let unit = acquire.await;
        drop(waited);
        self.hold(unit)
    }

    /// Counts `unit` in use until the returned [`Held`] is dropped.
    pub fn hold<T>(&self, unit: T) -> Held<T> {
        self.in_use.increment();
        Held {
            unit: Some(unit),
            in_use: self.in_use.clone(),
        }
    }

    /// Records a wait measured elsewhere.
    pub fn record_wait(&self, waited: Duration) {
        self.wait.record_duration(waited);
    }

    /// The histogram of waits (`resource_wait_seconds{resource}`).
    pub fn wait_histogram(&self) -> &Histogram {
        &self.wait
    }

    fn time_wait(&self) -> WaitTimer<'_> {
        WaitTimer {
            wait: &self.wait,
            start: quanta::Instant::now(),
            trace: current_trace(),
        }
    }
}

/// Records the time since its creation when dropped (done or cancelled),
/// with the trace context of the code that waited as its exemplar.
struct WaitTimer<'a> {
    wait: &'a Histogram,
    start: quanta::Instant,
    trace: Option<TraceContext>,
}

impl Drop for WaitTimer<'_> {
    fn drop(&mut self) {
        let ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.wait.record_traced(ns, self.trace);
    }
}

/// A unit of a [`Resource`] in use; dereferences to it, and stops counting
/// when dropped (or [`release`](Self::release)d).
#[derive(Debug)]
#[must_use = "dropping it releases the unit at once: keep it while the unit is in use"]
pub struct Held<T> {
    unit: Option<T>,
    in_use: Gauge,
}

impl<T> Held<T> {
    /// Stops counting the unit in use and gives it back.
    pub fn release(mut self) -> T {
        self.in_use.decrement();
        self.unit
            .take()
            .expect("a Held holds its unit until released")
    }
}

impl<T> Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.unit
            .as_ref()
            .expect("a Held holds its unit until released")
    }
}

impl<T> DerefMut for Held<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.unit
            .as_mut()
            .expect("a Held holds its unit until released")
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        if self.unit.is_some() {
            self.in_use.decrement();
        }
    }
}

/// A resource's figures, as [`Monitor::resource_stats`] and `/stats` give them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResourceStats {
    /// The resource's name.
    pub resource: String,
    /// Units in use now.
    pub in_use: i64,
    /// Units in total.
    pub capacity: i64,
    /// `in_use / capacity`; `None` without a capacity.
    pub utilization: Option<f64>,
    /// Units open and idle, for pools that report it.
    pub idle: Option<i64>,
    /// Units open (`in_use + idle`), for pools that report idle units.
    pub size: Option<i64>,
    /// Callers waiting to acquire now, for pools that report it.
    pub waiting: Option<i64>,
}

/// What a sampled resource reports: `Usage::new(in_use, capacity)`, and
/// for pools that know them, `.idle(n)` and `.waiting(n)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Units in use.
    pub in_use: i64,
    /// Units in total (a pool's maximum size).
    pub capacity: i64,
    /// Units open but idle (`resource_idle`), if the pool reports it.
    pub idle: Option<i64>,
    /// Callers waiting to acquire now (`resource_waiting`), if known.
    pub waiting: Option<i64>,
}

impl Usage {
    /// `in_use` of `capacity` units.
    pub fn new(in_use: i64, capacity: i64) -> Self {
        Self {
            in_use,
            capacity,
            idle: None,
            waiting: None,
        }
    }

    /// With `idle` units open but unused.
    pub fn idle(self, idle: i64) -> Self {
        Self {
            idle: Some(idle),
            ..self
        }
    }

    /// With `waiting` callers waiting to acquire.
    pub fn waiting(self, waiting: i64) -> Self {
        Self {
            waiting: Some(waiting),
            ..self
        }
    }
}

impl Monitor {
    /// The resource `name` (a pool, a semaphore), created on first use.
    /// Resolve it once and keep it. Names are capped like other labels.
    pub fn resource(&self, name: &str) -> Resource {
        let r = self.registry();
        r.describe(RESOURCE_IN_USE, "Units of the resource in use.");
        r.describe(RESOURCE_CAPACITY, "Units of the resource in total.");
        r.describe(
            RESOURCE_WAIT,
            "Time spent waiting to acquire a unit of the resource.",
        );
        r.describe(
            RESOURCE_IDLE,
            "Units of the resource open but idle (a pool's idle connections).",
        );
        r.describe(
            RESOURCE_WAITING,
            "Callers waiting to acquire a unit of the resource now.",
        );
        let l = [("resource", name)];
        Resource {
            in_use: r.gauge(RESOURCE_IN_USE, &l).unwrap_or_default(),
            capacity: r.gauge(RESOURCE_CAPACITY, &l).unwrap_or_default(),
            wait: r.histogram(RESOURCE_WAIT, &l).unwrap_or_default(),
        }
    }

    /// A resource tailwatch cannot wrap (a pool with its own accounting):
    /// `usage` is called by the sampler thread every sample interval (and
    /// once now) and sets `resource_in_use` and `resource_capacity`, and
    /// `resource_idle` / `resource_waiting` if its first report has them.
    /// Returns the resource, whose waits can still be recorded
    /// ([`Resource::wait_for`]). Registering `name` again replaces its
    /// sampler (samplers never pile up).
    ///
    /// For sqlx, with `idle = p.num_idle() as i64`:
    /// `Usage::new(i64::from(p.size()) - idle, max_connections).idle(idle)`;
    /// for bb8, the same from `pool.state()` (`connections`,
    /// `idle_connections`). deadpool pools (deadpool-postgres,
    /// deadpool-redis, …) have a ready-made adapter with waiters counted:
    /// `Monitor::deadpool` (feature `deadpool`).
    pub fn resource_sampled(
        &self,
        name: &str,
        usage: impl Fn() -> Usage + Send + Sync + 'static,
    ) -> Resource {
        let resource = self.resource(name);
        let first = usage();
        let l = [("resource", name)];
        let optional =
            |known: Option<i64>, metric| known.and_then(|_| self.registry().gauge(metric, &l).ok());
        let idle = optional(first.idle, RESOURCE_IDLE);
        let waiting = optional(first.waiting, RESOURCE_WAITING);
        let r = resource.clone();
        self.sample_as(format!("resource\0{name}"), move || {
            let u = usage();
            r.in_use.set(u.in_use);
            r.capacity.set(u.capacity);
            for (gauge, value) in [(&idle, u.idle), (&waiting, u.waiting)] {
                if let Some(g) = gauge {
                    g.set(value.unwrap_or(0));
                }
            }
        });
        resource
    }

    /// Every resource's use and capacity, by name (wait times are in
    /// [`all_stats`](Self::all_stats) as `resource_wait_seconds`).
    pub fn resource_stats(&self) -> Vec<ResourceStats> {
        #[derive(Default)]
        struct Read {
            in_use: i64,
            capacity: i64,
            idle: Option<i64>,
            waiting: Option<i64>,
        }
        let mut by_name: std::collections::BTreeMap<String, Read> = Default::default();
        for (id, g) in self.registry().gauges() {
            let Some(resource) = id.label("resource") else {
                continue;
            };
            let e = by_name.entry(resource.to_owned()).or_default();
            match id.name() {
                RESOURCE_IN_USE => e.in_use = g.value(),
                RESOURCE_CAPACITY => e.capacity = g.value(),
                RESOURCE_IDLE => e.idle = Some(g.value()),
                RESOURCE_WAITING => e.waiting = Some(g.value()),
                _ => {}
            }
        }
        by_name
            .into_iter()
            .map(|(resource, r)| ResourceStats {
                resource,
                in_use: r.in_use,
                capacity: r.capacity,
                utilization: (r.capacity > 0).then(|| r.in_use as f64 / r.capacity as f64),
                idle: r.idle,
                size: r.idle.map(|idle| r.in_use + idle),
                waiting: r.waiting,
            })
            .collect()
    }
}
