//! The slow-call log (`SlowCallLog`).

use std::time::Duration;

pub use crate::registry::{DEFAULT_SLOW_EVENTS, DEFAULT_SLOW_WINDOW, SLOW_CALLS_SUPPRESSED};

use super::objective::{Objective, ObjectiveError, Scope, Sli, check_scope, check_threshold};
use crate::measure::Monitor;

/// The slow-call log ("slow query detected"): a call over its latency
/// objective's threshold, or over a threshold set on an operation or a
/// route, emits one `tracing` WARN event (target `tailwatch::slow_call`)
/// with the series, the duration, the threshold and the trace id.
///
/// Off by default: [`SlowCallLog::new`] turns it on for a monitor. At most
/// [`DEFAULT_SLOW_EVENTS`] events per [`DEFAULT_SLOW_WINDOW`] per watched
/// series ([`SlowCallLog::limit`]); past that, slow calls are counted in
/// `tailwatch_slow_calls_suppressed_total{metric}` and the next event
/// says how many were not logged. Off, a record pays one relaxed load;
/// on, a call under every threshold pays two.
///
/// ```
/// use std::time::Duration;
/// use tailwatch::objectives::SlowCallLog;
///
/// let monitor = tailwatch::Monitor::new();
/// SlowCallLog::new(&monitor)
///     .operation("db.query", Duration::from_millis(100))?
///     .limit(10, Duration::from_secs(60));
/// // A db.query call over 100 ms now logs, e.g. with tracing-subscriber's fmt:
/// // WARN tailwatch::slow_call: slow call: operation=db.query took 312.114 ms,
/// //   over 100.000 ms (threshold) metric=operation_duration_seconds … trace_id=4bf9…
/// # Ok::<(), tailwatch::objectives::ObjectiveError>(())
/// ```
#[derive(Clone)]
pub struct SlowCallLog {
    monitor: Monitor,
}

impl std::fmt::Debug for SlowCallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlowCallLog").finish_non_exhaustive()
    }
}

impl SlowCallLog {
    /// Turns the log on for `monitor`: every latency objective's threshold
    /// (declared before or after) is watched, and any threshold set here.
    pub fn new(monitor: &Monitor) -> Self {
        let registry = monitor.registry();
        registry.describe(
            SLOW_CALLS_SUPPRESSED,
            "Slow calls the slow-call log counted but did not log (past its limit per series).",
        );
        registry.slow_watch().set_on(true);
        Self {
            monitor: monitor.clone(),
        }
    }

    /// Logs calls of operation `name` over `threshold`.
    ///
    /// # Errors
    /// [`ObjectiveError::Invalid`] for an empty name or a threshold of 0 or
    /// over an hour.
    pub fn operation(&self, name: &str, threshold: Duration) -> Result<&Self, ObjectiveError> {
        self.watch(Scope::Operation(name.to_owned()), threshold)
    }

    /// Logs calls of an HTTP route over `threshold` (`method` `""` for
    /// every method).
    ///
    /// # Errors
    /// As [`operation`](Self::operation); a route not starting with `/`.
    pub fn http_route(
        &self,
        method: &str,
        route: &str,
        threshold: Duration,
    ) -> Result<&Self, ObjectiveError> {
        self.watch(Scope::http_route(method, route), threshold)
    }

    /// At most `events` events per `window` per watched series (10 per
    /// minute by default); 0 logs none and counts them all.
    pub fn limit(&self, events: u32, window: Duration) -> &Self {
        self.monitor
            .registry()
            .slow_watch()
            .set_limit(events, window);
        self
    }

    /// Turns the log off again (thresholds are kept).
    pub fn off(&self) {
        self.monitor.registry().slow_watch().set_on(false);
    }

    fn watch(&self, scope: Scope, threshold: Duration) -> Result<&Self, ObjectiveError> {
        // Checked as an objective's threshold and scope are.
        check_threshold("slow-call log", threshold)?;
        check_scope("slow-call log", &scope)?;
        watch(&self.monitor, &scope, threshold, "threshold");
        Ok(self)
    }
}

/// Watches `scope` at `threshold` in `monitor`'s slow-call log (which
/// logs only once on).
pub(super) fn watch(monitor: &Monitor, scope: &Scope, threshold: Duration, source: &str) {
    let labels = scope.labels();
    let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    monitor
        .registry()
        .slow_watch()
        .watch(scope.metric(), &refs, threshold, source);
}

/// Watches a latency objective's threshold.
pub(super) fn watch_objective(monitor: &Monitor, o: &Objective) {
    if let (Sli::Latency { threshold }, Some(scope)) = (o.sli, &o.scope) {
        watch(
            monitor,
            scope,
            threshold,
            &format!("objective \"{}\"", o.name),
        );
    }
}
