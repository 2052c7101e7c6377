//! Service-level objectives declared next to the code they judge, and what
//! follows from them: exact thresholds in the exported buckets, an info
//! metric that dashboards and rules find them by, the Prometheus rules
//! that page when an objective's error budget burns ([`rules`]), and the
//! slow-call log ([`SlowCallLog`]).
//!
//! Two kinds, each over a [`Scope`] (an HTTP route, a gRPC method, an
//! operation, an outbound host) and a period (28 days by default):
//!
//! * **latency**: the fraction of calls that finish within a threshold
//!   (`99 %` under `300 ms`). Any threshold: declaring the objective adds
//!   it to the classic `le` ladder of its metric
//!   ([`export::add_boundary`](crate::export::add_boundary)), so the SLI is
//!   read at that boundary, not interpolated between two others (to the
//!   recording's resolution, 0.78 %: a call within 0.78 % above the
//!   threshold may count as under it); native histograms read it with
//!   `histogram_fraction`.
//! * **availability**: the fraction of calls that are not errors (as the
//!   layer classifies them: 5xx, failing gRPC codes, `Err` outcomes).
//!
//! ```
//! use std::time::Duration;
//! use tailwatch::objectives::{Objective, Objectives};
//!
//! let monitor = tailwatch::Monitor::new();
//! let objectives = Objectives::new(&monitor);
//! objectives.add(
//!     Objective::latency("checkout-fast", Duration::from_millis(300), 0.99)
//!         .http_route("POST", "/checkout"),
//! )?;
//! objectives.add(Objective::availability("checkout-up", 0.999).http_route("POST", "/checkout"))?;
//! assert_eq!(objectives.list().len(), 2);
//! # Ok::<(), tailwatch::objectives::ObjectiveError>(())
//! ```
//!
//! Every objective is exported as `tailwatch_objective_info{objective, sli,
//! metric, target, period, …}` = 1, with its threshold and its scope's
//! labels; `tailwatch rules --agent URL` reads them back to write the
//! rules. Uses the export piece (boundaries), the measure piece and the
//! registry.

mod declared;
mod objective;
pub mod rules;
mod slow;

pub use declared::Objectives;
pub use objective::{
    DEFAULT_MIN_FAILURES, DEFAULT_PERIOD, OBJECTIVE_INFO, Objective, ObjectiveError, Scope, Sli,
    seconds,
};
pub use slow::{DEFAULT_SLOW_EVENTS, DEFAULT_SLOW_WINDOW, SLOW_CALLS_SUPPRESSED, SlowCallLog};
