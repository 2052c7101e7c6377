//! Saturation: how full the things a service depends on are.
//!
//! | metric | type | labels | from |
//! | --- | --- | --- | --- |
//! | `resource_in_use` | gauge | `resource` | [`Monitor::resource`](crate::Monitor::resource) |
//! | `resource_capacity` | gauge | `resource` | [`Monitor::resource`](crate::Monitor::resource) |
//! | `resource_wait_seconds` | histogram (HDR, window quantiles like any series) | `resource` | [`Resource::acquire`] |
//! | `resource_idle` | gauge, for pools that report it | `resource` | [`Monitor::resource_sampled`](crate::Monitor::resource_sampled), the deadpool adapter |
//! | `resource_waiting` | gauge, for pools that report it | `resource` | the same |
//! | `queue_depth` | gauge | `queue` | [`Monitor::queue`](crate::Monitor::queue) |
//! | `cache_requests_total` | counter | `cache`, `result` (`hit`, `miss`) | [`Monitor::cache`](crate::Monitor::cache) |
//! | `process_*` | see [`process`] | | [`Monitor::sample_process`](crate::Monitor::sample_process) |
//! | `tokio_*` | see `runtime` (feature `agent`) | `runtime` | `Monitor::sample_tokio` |
//!
//! Wrapped resources, queues and caches count on the caller's path (sharded
//! gauges and counters: no lock, no allocation). Everything read from
//! elsewhere (a pool's own counts, a channel's length, `/proc`, the tokio
//! runtime) is sampled off the request path by the monitor's sampler
//! thread, each closure isolated: one that blocks stales
//! only its own values, visibly (`tailwatch_sampler_stalled`). In-flight request gauges are kept by the
//! middleware that sees the requests (`http`, `measure`).
//!
//! Uses the measure piece (a [`Monitor`](crate::Monitor) and its registry)
//! and the engine.

pub(crate) mod cache;
#[cfg(feature = "deadpool")]
#[cfg_attr(docsrs, doc(cfg(feature = "deadpool")))]
pub mod pool;
pub mod process;
pub(crate) mod queue;
pub(crate) mod resource;
#[cfg(feature = "agent")]
#[cfg_attr(docsrs, doc(cfg(feature = "agent")))]
pub mod runtime;
pub(crate) mod sampler;

pub use cache::{CACHE_REQUESTS, Cache, CacheStats};
pub use process::ProcessError;
pub use queue::{QUEUE_DEPTH, Queue, QueueStats};
pub use resource::{
    Held, RESOURCE_CAPACITY, RESOURCE_IDLE, RESOURCE_IN_USE, RESOURCE_WAIT, RESOURCE_WAITING,
    Resource, ResourceStats, Usage,
};
pub use sampler::{SAMPLER_PANICS, SAMPLER_STALLED, SAMPLER_STALLS};
