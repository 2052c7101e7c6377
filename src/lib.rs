#![doc = include_str!("../docs/crate.md")]
#![deny(missing_docs)]
// Under loom only the engine's protocol is exercised (its models), so
// much of the crate is unused there.
#![cfg_attr(tailwatch_loom, allow(dead_code, unused_imports))]
#![deny(unsafe_code)] // allowed, with a `// SAFETY:` per block, in engine/lazy.rs, shard.rs and cpu.rs
#![cfg_attr(docsrs, feature(doc_cfg))]

// The pieces, each using only those above it here (docs/architecture.md).
// Each is a public module holding its types and constants; the root
// re-exports only the handful a user starts from.
#[cfg(feature = "agent")]
#[cfg_attr(docsrs, doc(cfg(feature = "agent")))]
pub mod agent;
pub mod engine;
pub mod export;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod integrations;
pub mod measure;
pub mod objectives;
pub mod registry;
pub mod saturation;

pub use engine::Histogram;
pub use measure::{Monitor, MonitorBuilder, Operation, Outcome, Timer};
pub use registry::Registry;

#[cfg(feature = "agent")]
pub use agent::{Agent, AgentBuilder};
#[cfg(feature = "http")]
pub use http::{HttpMetricsLayer, client::HttpClientMetricsLayer, grpc::GrpcMetricsLayer};
#[cfg(feature = "metrics")]
pub use integrations::MetricsRecorder;
#[cfg(feature = "tracing")]
pub use integrations::MonitorLayer;

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
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use tailwatch_macros::measure;

/// What `#[measure]` expands to; not a public API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use crate::measure::attribute::{
        OperationSlot, PickAlwaysOk, PickOutcome, Probe, is_error, measure, probe, probe_output,
    };
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// docs/objectives.md's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/objectives.md")]
struct ObjectivesDoctests;
