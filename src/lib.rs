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

/// Times every call of a function into an operation of
/// [`Monitor::global()`], as [`Operation::measure`] (async) or a [`Timer`]
/// (sync) would: `operation_duration_seconds{operation, outcome}` and
/// `operation_active{operation}`.
///
/// * **Name:** `module::path::function` (`module_path!()` and the
///   function's name), or the one given: `#[measure("db.get_user")]` or
///   `#[measure(name = "db.get_user")]`.
/// * **Outcome:** a return value whose type implements [`Outcome`]
///   decides (`Err` is an error, with `?` and early `return`s as written);
///   any other type is a success. A panic is an error (and propagates); an
///   async call dropped before it finishes is `cancelled`.
/// * **Cost:** the operation is resolved once, on the first call, into a
///   static of the function (no name lookup per call); then a call costs
///   what [`Operation::measure`] or [`Operation::start`] does.
/// * **Where:** free functions and methods, sync or `async`, generic or
///   not. Not on a `const fn`, an item that is not a function, or a
///   trait method without a body (compile errors that say so).
///
/// ```
/// use tailwatch::{Monitor, measure};
///
/// #[derive(Debug)]
/// struct NotFound;
///
/// #[measure("db.get_user")]
/// async fn get_user(id: u64) -> Result<String, NotFound> {
///     if id == 0 {
///         return Err(NotFound);
///     }
///     Ok(format!("user-{id}"))
/// }
///
/// struct Cache;
/// impl Cache {
///     #[measure] // named "<module path>::lookup"
///     fn lookup(&self, key: &str) -> Option<usize> {
///         Some(key.len())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// get_user(7).await.unwrap();
/// assert!(get_user(0).await.is_err());
/// # });
/// Cache.lookup("k");
/// let stats = Monitor::global().stats("db.get_user").unwrap();
/// assert_eq!((stats.count, stats.errors), (2, 1));
/// ```
#[cfg(feature = "macros")]
pub use tailwatch_macros::measure;

/// What `#[measure]` expands to; not a public API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use crate::measure::attribute::{
        OperationSlot, PickAlwaysOk, PickOutcome, Probe, is_error, measure, probe, probe_output,
    };
}

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
#[cfg(feature = "reqwest")]
pub use http::client::ReqwestMetrics;
#[cfg(feature = "http")]
pub use http::client::{HttpClientMetrics, HttpClientMetricsLayer};
#[cfg(feature = "http")]
pub use http::grpc::{GrpcMetrics, GrpcMetricsLayer};
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
