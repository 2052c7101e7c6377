#![doc = include_str!("../docs/crate.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "agent")]
mod agent;
mod clock;
mod counter;
mod error;
pub mod expo;
#[cfg(feature = "metrics")]
pub mod facade;
mod group;
mod histogram;
#[cfg(feature = "http")]
pub mod http;
mod layout;
mod measure;
mod monitor;
mod operation;
mod outcome;
#[cfg(feature = "deadpool")]
pub mod pool;
pub mod process;
mod registry;
mod resource;
#[cfg(feature = "agent")]
pub mod runtime;
mod sampler;
mod shard;
mod slot;
mod snapshot;
mod stats;
mod sync;
mod thread_cache;
#[cfg(feature = "tracing")]
pub mod trace;
mod upkeep;
mod window;

#[cfg(feature = "agent")]
pub use agent::{
    Agent, AgentBuilder, AgentError, DEFAULT_LISTEN, HEALTH_CHECK_TIMEOUT, LISTEN_ENV, agent,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use counter::{Counter, Gauge, Value};
pub use error::{BuildError, RecordError, RegistryError};
pub use histogram::{DEFAULT_QUANTILES, Histogram, HistogramBuilder};
pub use layout::Layout;
pub use registry::{
    DEFAULT_MAX_METRICS, DEFAULT_SERIES_CAP, FamilyInfo, Label, OVERFLOW_VALUE, Registry,
    RegistryBuilder, SeriesId, THREAD_CACHE_SLOTS,
};
pub use snapshot::Snapshot;
pub use stats::{QuantileValue, SeriesStats, Stats};

#[cfg(feature = "metrics")]
pub use facade::{MetricValue, MetricsRecorder};
#[cfg(feature = "http")]
pub use http::{Classify, DefaultClassifier, ErrorType, HttpMetrics, HttpMetricsLayer};
pub use measure::{AlwaysOk, ByOutcome, ClassifyOutput, Measured};
pub use monitor::{
    DEFAULT_MAX_OPERATIONS, Monitor, MonitorBuilder, OPERATION_ACTIVE, OPERATION_DURATION,
};
pub use operation::{Ended, Operation, Timer};
pub use outcome::Outcome;
pub use resource::{
    CACHE_REQUESTS, Cache, CacheStats, Held, QUEUE_DEPTH, Queue, QueueStats, RESOURCE_CAPACITY,
    RESOURCE_IDLE, RESOURCE_IN_USE, RESOURCE_WAIT, RESOURCE_WAITING, Resource, ResourceStats,
    Usage,
};
pub use sampler::DEFAULT_SAMPLE_INTERVAL;
#[cfg(feature = "tracing")]
pub use trace::MonitorLayer;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
