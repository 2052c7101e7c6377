//! One gRPC call's pending record: once, at the end of its stream (or its
//! head, for a trailers-only answer), or as cancelled when dropped.

use std::sync::Arc;

use super::codes::{CANCELLED, CODE_LABELS, CODE_NAMES, DEADLINE_EXCEEDED, UNIMPLEMENTED, UNKNOWN};
use crate::engine::exemplar::TraceContext;
use crate::http::series_cache::{TargetSeries, Timing};

/// The server call latency histogram.
pub const GRPC_DURATION: &str = "rpc_server_duration_seconds";
/// The server calls in flight gauge.
pub const GRPC_ACTIVE: &str = "rpc_server_active_requests";

/// Which codes are server errors.
pub(crate) type ServerErrors = Arc<dyn Fn(u8) -> bool + Send + Sync>;

/// Picks the series of a call to a method not admitted yet, once the
/// service's answer says whether the method exists (`true`: it answered
/// with a code other than UNIMPLEMENTED).
pub(crate) type Admit = Box<dyn FnOnce(bool) -> Arc<TargetSeries> + Send>;

/// One call being measured: recorded once, at the end of its stream (or
/// its head, for a trailers-only answer), or as cancelled when dropped.
pub(crate) struct Rpc {
    timing: Timing,
    server_errors: ServerErrors,
    /// The caller's deadline (`grpc-timeout`), if it gave one.
    deadline: Option<std::time::Duration>,
    /// For a method not admitted yet: how to pick its series once the
    /// answer is known (in flight meanwhile under `_OTHER`).
    admit: Option<Admit>,
    /// The series picked by `admit`.
    target: Option<Arc<TargetSeries>>,
}

impl Rpc {
    /// Starts measuring a call of `entry`'s method (in flight from now).
    pub(crate) fn start(
        entry: Arc<TargetSeries>,
        server_errors: &ServerErrors,
        trace: Option<TraceContext>,
        deadline: Option<std::time::Duration>,
        admit: Option<Admit>,
    ) -> Self {
        Self {
            timing: Timing::begin(entry, trace),
            server_errors: server_errors.clone(),
            deadline,
            admit,
            target: None,
        }
    }

    /// The service answered (its head): with UNIMPLEMENTED (`code`) the
    /// method does not exist, else it does and is admitted.
    pub(crate) fn answered(&mut self, code: Option<u8>) {
        if let Some(admit) = self.admit.take() {
            self.target = Some(admit(code != Some(UNIMPLEMENTED)));
        }
    }

    /// Records the call with status `code`; `cancelled` when the client
    /// went away. A call cancelled (by either side) once its deadline
    /// passed is DEADLINE_EXCEEDED: tonic's server answers a call past its
    /// `grpc-timeout` with CANCELLED ("Timeout expired"), and a client
    /// whose own deadline passes resets the stream (see [`past_deadline`]
    /// for why "passed" allows a margin).
    pub(crate) fn finish(mut self, code: u8, cancelled: bool) {
        // Never answered (dropped, or failed before its head): a method
        // nobody has shown to exist is not admitted.
        if let Some(admit) = self.admit.take() {
            self.target = Some(admit(false));
        }
        let elapsed = self.timing.elapsed();
        let code = if usize::from(code) < CODE_NAMES.len() {
            code
        } else {
            UNKNOWN
        };
        let past_deadline = self.deadline.is_some_and(|d| past_deadline(elapsed, d));
        let (code, cancelled) = if code == CANCELLED && past_deadline {
            (DEADLINE_EXCEEDED, false)
        } else {
            (code, cancelled)
        };
        let error = if cancelled {
            Some("cancelled")
        } else if (self.server_errors)(code) {
            Some(CODE_NAMES[usize::from(code)])
        } else {
            None
        };
        let status = Some(CODE_LABELS[usize::from(code)]);
        match &self.target {
            Some(target) => self.timing.end_as(target, status, error),
            None => self.timing.end(status, error),
        }
    }
}

/// Whether a call cancelled `elapsed` after the server saw it had run out
/// of the caller's `deadline`. The caller's clock started before the
/// request reached the server (and before this layer saw it), so a client
/// that resets the stream at its own deadline is seen here slightly
/// *before* the deadline by the server's clock: a cancel in the last tenth
/// of the budget counts as the deadline passing. Without the margin, a
/// client's deadline cancel would be a coin flip between CANCELLED and
/// DEADLINE_EXCEEDED, decided by the transit time.
pub(crate) fn past_deadline(elapsed: std::time::Duration, deadline: std::time::Duration) -> bool {
    elapsed >= deadline - deadline / 10
}

#[cfg(test)]
mod tests {
    use super::past_deadline;
    use std::time::Duration;

    #[test]
    fn a_cancel_in_the_last_tenth_of_the_budget_is_the_deadline() {
        let d = Duration::from_millis(100);
        assert!(past_deadline(Duration::from_millis(100), d));
        assert!(past_deadline(Duration::from_millis(250), d));
        // The caller's reset, seen 3 ms early by the server's clock.
        assert!(past_deadline(Duration::from_millis(97), d));
        assert!(past_deadline(Duration::from_millis(90), d));
        // Cancelled well inside the budget: the caller gave up.
        assert!(!past_deadline(Duration::from_millis(89), d));
        assert!(!past_deadline(Duration::from_millis(10), d));
        assert!(past_deadline(Duration::ZERO, Duration::ZERO));
    }
}
