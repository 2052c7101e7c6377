//! Connection pools: a ready-made adapter for [deadpool] pools
//! (deadpool-postgres, deadpool-redis, deadpool-diesel, … all share
//! `deadpool::managed::Pool`), feature `deadpool`.
//!
//! ```no_run
//! # async fn demo(pg: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
//! let monitor = tailwatch::Monitor::new();
//! let pool = monitor.deadpool("db", &pg);
//!
//! let client = pool.get().await?; // the wait goes into resource_wait_seconds{resource="db"}
//! let row = client.query_one("SELECT 1", &[]).await?;
//! # Ok(()) }
//! ```
//!
//! | metric | from |
//! | --- | --- |
//! | `resource_capacity{resource}` | `status().max_size` |
//! | `resource_in_use{resource}` | `size - available`: connections handed out |
//! | `resource_idle{resource}` | `available`: open and idle |
//! | `resource_waiting{resource}` | `waiting`: callers blocked in `get` |
//! | `resource_wait_seconds{resource}` | each [`MonitoredPool::get`], timed (HDR) |
//!
//! The pool's figures are read by the monitor's sampler thread every
//! sample interval ([`MonitorBuilder::sample_interval`](crate::MonitorBuilder::sample_interval)),
//! so they count connections taken through the pool directly too; only
//! the wait needs the wrapped `get`. A wait is the caller's view: queueing
//! for a free connection, and opening a new one when the pool grows. Waits
//! that fail (a timeout, a refused connection) or are cancelled are
//! recorded too. The sampler holds the pool weakly: dropping the last
//! handle closes it as usual, and the gauges fall to 0.
//!
//! Why deadpool rather than sqlx's `PgPool` or bb8: its `status()` reports
//! the callers waiting, which the others do not, and one adapter covers
//! every deadpool backend. Other pools report through
//! [`Monitor::resource_sampled`] (recipes there).

use std::ops::Deref;

use deadpool::managed::{Manager, Object, Pool, PoolError, Timeouts};

use crate::measure::Monitor;
use crate::saturation::resource::{Resource, Usage};

/// A deadpool pool whose waits are timed; dereferences to the pool, so
/// every other method (`status`, `resize`, `close`, …) is the pool's own.
/// Cheap to clone.
pub struct MonitoredPool<M: Manager, W: From<Object<M>> = Object<M>> {
    pool: Pool<M, W>,
    resource: Resource,
}

impl<M: Manager, W: From<Object<M>>> Clone for MonitoredPool<M, W> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            resource: self.resource.clone(),
        }
    }
}

impl<M: Manager, W: From<Object<M>>> std::fmt::Debug for MonitoredPool<M, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredPool")
            .field("status", &self.pool.status())
            .field("resource", &self.resource)
            .finish()
    }
}

impl<M: Manager, W: From<Object<M>>> MonitoredPool<M, W> {
    /// `Pool::get`, with the time it took recorded as a wait.
    pub async fn get(&self) -> Result<W, PoolError<M::Error>> {
        self.resource.wait_for(self.pool.get()).await
    }

    /// `Pool::timeout_get`, with the time it took recorded as a wait.
    pub async fn timeout_get(&self, timeouts: &Timeouts) -> Result<W, PoolError<M::Error>> {
        self.resource
            .wait_for(self.pool.timeout_get(timeouts))
            .await
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<M, W> {
        &self.pool
    }

    /// The resource its figures are recorded in; its
    /// [`wait_for`](Resource::wait_for) times any other way of acquiring.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
}

impl<M: Manager, W: From<Object<M>>> Deref for MonitoredPool<M, W> {
    type Target = Pool<M, W>;
    fn deref(&self) -> &Pool<M, W> {
        &self.pool
    }
}

/// The pool's figures as tailwatch records them.
fn usage(status: deadpool::Status) -> Usage {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    Usage::new(
        n(status.size.saturating_sub(status.available)),
        n(status.max_size),
    )
    .idle(n(status.available))
    .waiting(n(status.waiting))
}

impl Monitor {
    /// Monitors the deadpool `pool` as the resource `name`: its size, idle
    /// and in-use connections and waiting callers are sampled, and the
    /// returned handle's [`get`](MonitoredPool::get) times each wait. See
    /// [`crate::saturation::pool`]. Monitoring a pool again under the same name
    /// replaces the previous one's sampler.
    pub fn deadpool<M, W>(&self, name: &str, pool: &Pool<M, W>) -> MonitoredPool<M, W>
    where
        M: Manager + 'static,
        W: From<Object<M>> + 'static,
    {
        let weak = pool.weak();
        let resource = self.resource_sampled(name, move || match weak.upgrade() {
            Some(pool) => usage(pool.status()),
            None => Usage::new(0, 0).idle(0).waiting(0),
        });
        MonitoredPool {
            pool: pool.clone(),
            resource,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_usage() {
        let status = |max_size, size, available, waiting| deadpool::Status {
            max_size,
            size,
            available,
            waiting,
        };
        assert_eq!(
            usage(status(10, 4, 1, 0)),
            Usage::new(3, 10).idle(1).waiting(0)
        );
        assert_eq!(
            usage(status(10, 10, 0, 7)),
            Usage::new(10, 10).idle(0).waiting(7)
        );
        // A momentary status with more available than size never goes negative.
        assert_eq!(usage(status(2, 1, 2, 0)).in_use, 0);
    }
}
