//! Measuring work by name: the [`Monitor`], its [`Operation`] handles, the
//! [`Measured`] future adapter, the [`Timer`] guard for sync code, and the
//! rule ([`Outcome`]) that says whether a result is an error.
//!
//! * [`monitor`]: operations by name (capped, with a per-thread cache),
//!   statistics of every series (`Monitor::stats`, `Monitor::all_stats`).
//! * [`operation`]: one operation's three outcome series and in-flight
//!   gauge; [`Timer`] records on finish or drop.
//! * [`measured`]: a future timed to `Ready`, drop (cancelled) or panic.
//! * [`outcome`]: [`Outcome`] and [`Ended`] (`ok`, `error`, `cancelled`).
//! * [`attribute`]: what `#[measure]` expands to (a per-function static
//!   operation of [`Monitor::global`]).
//! * [`context`]: the trace context of the running code ([`current_trace`]),
//!   which timers and measured futures keep as their value's exemplar.
//! * [`extensions`]: per-monitor state of the pieces above (the sampler,
//!   the `metrics` facade's store), held without knowing their types.
//!
//! Uses the engine and the registry.

#[cfg(feature = "macros")]
pub(crate) mod attribute;
pub(crate) mod context;
pub(crate) mod extensions;
pub(crate) mod measured;
pub(crate) mod monitor;
pub(crate) mod operation;
pub(crate) mod outcome;

pub use crate::engine::{SlowCall, Stats};
pub use crate::registry::group::Ended;
pub use context::{current_trace, parse_traceparent};
pub use measured::{AlwaysOk, ByOutcome, ClassifyOutput, Measured};
pub use monitor::{
    DEFAULT_MAX_OPERATIONS, DEFAULT_SAMPLE_INTERVAL, Monitor, MonitorBuilder, OPERATION_ACTIVE,
    OPERATION_DURATION,
};
pub use operation::{Operation, Timer};
pub use outcome::Outcome;
