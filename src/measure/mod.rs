//! Measuring work by name: the [`Monitor`], its [`Operation`] handles, the
//! [`Measured`] future adapter, the [`Timer`] guard for sync code, and the
//! rule ([`Outcome`]) that says whether a result is an error.
//!
//! Every entry point records into `operation_duration_seconds{operation,
//! outcome}` ([`OPERATION_DURATION`]; outcome [`Ended`]: `ok`, `error` or
//! `cancelled`) and keeps `operation_active{operation}`
//! ([`OPERATION_ACTIVE`]) up while the work runs:
//!
//! | code | entry point |
//! | --- | --- |
//! | a future | [`Monitor::measure`] (its `Result` decides), [`Monitor::time`] (always ok) |
//! | a closure | [`Monitor::run`] |
//! | a block of sync code | [`Monitor::start`] → [`Timer`], recorded on finish or drop |
//! | a function | `#[tailwatch::measure]`, into [`Monitor::global`] |
//! | a hot loop | [`Monitor::operation`] once, then the same calls on the [`Operation`] |
//!
//! A panic counts as an error (and propagates); a future dropped before it
//! finished counts as cancelled. Timers and measured futures keep the trace
//! of the running code ([`current_trace`]) as their value's exemplar.
//!
//! [`Monitor::stats`] and [`Monitor::all_stats`] read every series as
//! [`Stats`]: the figures `/stats` serves.
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
