#![doc = include_str!("../docs/crate.md")]
#![doc = include_str!("../docs/architecture.md")]
#![deny(missing_docs)]
// Under loom only the engine's protocol is exercised (its models), so
// much of the crate is unused there.
#![cfg_attr(tailwatch_loom, allow(dead_code, unused_imports))]
#![deny(unsafe_code)] // allowed in one module only: engine/lazy.rs

// The pieces, each using only those above it here (docs/architecture.md).
#[cfg(feature = "agent")]
mod agent;
mod engine;
pub mod export;
#[cfg(feature = "http")]
pub mod http;
mod integrations;
mod measure;
mod registry;
mod saturation;

// The engine.
pub use engine::clock::{Clock, ManualClock, SystemClock};
pub use engine::counter::{Counter, Gauge, Value};
pub use engine::error::{BuildError, RecordError};
pub use engine::exemplar::{Exemplar, TraceContext};
pub use engine::histogram::{DEFAULT_QUANTILES, Histogram, HistogramBuilder};
pub use engine::layout::Layout;
pub use engine::slowest::KEEP as SLOWEST_KEPT;
pub use engine::snapshot::Snapshot;
pub use engine::stats::{QuantileValue, SeriesStats, SlowCall, Stats};

// The registry.
pub use registry::{
    DEFAULT_MAX_LABEL_VALUE_BYTES, DEFAULT_MAX_METRICS, DEFAULT_SERIES_CAP, FamilyInfo, Label,
    OVERFLOW_VALUE, Registry, RegistryBuilder, RegistryError, SeriesId, THREAD_CACHE_SLOTS,
};

// Measuring.
pub use measure::{
    AlwaysOk, ByOutcome, ClassifyOutput, DEFAULT_MAX_OPERATIONS, DEFAULT_SAMPLE_INTERVAL, Ended,
    Measured, Monitor, MonitorBuilder, OPERATION_ACTIVE, OPERATION_DURATION, Operation, Outcome,
    Timer, current_trace, parse_traceparent,
};

// Integrations.
#[cfg(feature = "metrics")]
pub use integrations::facade;
#[cfg(feature = "metrics")]
pub use integrations::facade::{MetricValue, MetricsRecorder};
#[cfg(feature = "tracing")]
pub use integrations::trace;
#[cfg(feature = "tracing")]
pub use integrations::trace::MonitorLayer;

// HTTP.
#[cfg(feature = "http")]
pub use http::{Classify, DefaultClassifier, ErrorType, HttpMetrics, HttpMetricsLayer};

// Saturation.
#[cfg(feature = "deadpool")]
pub use saturation::pool;
pub use saturation::process;
#[cfg(feature = "agent")]
pub use saturation::runtime;
pub use saturation::{
    CACHE_REQUESTS, Cache, CacheStats, Held, QUEUE_DEPTH, Queue, QueueStats, RESOURCE_CAPACITY,
    RESOURCE_IDLE, RESOURCE_IN_USE, RESOURCE_WAIT, RESOURCE_WAITING, Resource, ResourceStats,
    SAMPLER_STALLED, SAMPLER_STALLS, Usage,
};

// Export: the old name of the module, kept so that code written against
// 0.1's `tailwatch::expo` still builds.
#[doc(hidden)]
pub use export as expo;

// The agent.
#[cfg(feature = "tls")]
pub use agent::{AUTH_FAILURES, WebConfig};
#[cfg(feature = "agent")]
pub use agent::{
    Agent, AgentBuilder, AgentError, CONNECTIONS_CLOSED, CONNECTIONS_OPEN, DEFAULT_LISTEN,
    HEALTH_CHECK_TIMEOUT, LISTEN_ENV, MIN_HEADER_BYTES, ServerLimits, agent, parse_listen,
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
