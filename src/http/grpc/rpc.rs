//! One gRPC call's pending record: once, at the end of its stream (or its
//! head, for a trailers-only answer), or as cancelled when dropped.

use std::sync::Arc;

use super::codes::{CANCELLED, CODE_LABELS, CODE_NAMES, DEADLINE_EXCEEDED, UNKNOWN};
use crate::engine::exemplar::TraceContext;
use crate::http::series_cache::{TargetSeries, Timing};

/// The server call latency histogram.
pub const GRPC_DURATION: &str = "rpc_server_duration_seconds";
/// The server calls in flight gauge.
pub const GRPC_ACTIVE: &str = "rpc_server_active_requests";

/// Which codes are server errors.
pub(crate) type ServerErrors = Arc<dyn Fn(u8) -> bool + Send + Sync>;

/// One call being measured: recorded once, at the end of its stream (or
/// its head, for a trailers-only answer), or as cancelled when dropped.
pub(crate) struct Rpc {
    timing: Timing,
    server_errors: ServerErrors,
    /// The caller's deadline (`grpc-timeout`), if it gave one.
    deadline: Option<std::time::Duration>,
}

impl Rpc {
    /// Starts measuring a call of `entry`'s method (in flight from now).
    pub(crate) fn start(
        entry: Arc<TargetSeries>,
        server_errors: &ServerErrors,
        trace: Option<TraceContext>,
        deadline: Option<std::time::Duration>,
    ) -> Self {
        Self {
            timing: Timing::begin(entry, trace),
            server_errors: server_errors.clone(),
            deadline,
        }
    }

    /// Records the call with status `code`; `cancelled` when the client
    /// went away. A call cancelled (by either side) after its deadline
    /// passed is DEADLINE_EXCEEDED: tonic's server answers a call past its
    /// `grpc-timeout` with CANCELLED ("Timeout expired"), and a client
    /// whose own deadline passes resets the stream.
    pub(crate) fn finish(self, code: u8, cancelled: bool) {
        let elapsed = self.timing.elapsed();
        let code = if usize::from(code) < CODE_NAMES.len() {
            code
        } else {
            UNKNOWN
        };
        let past_deadline = self.deadline.is_some_and(|d| elapsed >= d);
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
        self.timing.end(Some(CODE_LABELS[usize::from(code)]), error);
    }
}
