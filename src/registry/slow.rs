//! The slow-call log's watch: thresholds on series (an operation, an HTTP
//! route), checked where those series record, and one `tracing` WARN
//! event per slow call, rate-limited per watched series.
//!
//! Off by default, and then a record pays one relaxed load. On, a call
//! under the smallest threshold pays a second; only a slow call takes the
//! rules' read lock. Configured by the objectives piece
//! (`objectives::SlowCallLog`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::engine::TraceContext;
use crate::engine::lock::{Mutex, RwLock};

/// Slow calls counted but not logged (past the per-series limit).
pub const SLOW_CALLS_SUPPRESSED: &str = "tailwatch_slow_calls_suppressed_total";

/// Events per window per watched series, by default.
pub const DEFAULT_SLOW_EVENTS: u32 = 10;
/// The window of that limit, by default.
pub const DEFAULT_SLOW_WINDOW: Duration = Duration::from_secs(60);

/// Thresholds on series, and whether the log is on.
#[derive(Debug)]
pub(crate) struct SlowWatch {
    on: AtomicBool,
    /// The smallest threshold: faster calls are not looked at further.
    min_ns: AtomicU64,
    rules: RwLock<Vec<Rule>>,
    events: AtomicU32,
    window_ns: AtomicU64,
}

impl Default for SlowWatch {
    fn default() -> Self {
        Self {
            on: AtomicBool::new(false),
            min_ns: AtomicU64::new(u64::MAX),
            rules: RwLock::default(),
            events: AtomicU32::new(DEFAULT_SLOW_EVENTS),
            window_ns: AtomicU64::new(DEFAULT_SLOW_WINDOW.as_nanos() as u64),
        }
    }
}

/// One threshold: the series of `metric` whose labels include `labels`.
#[derive(Debug)]
struct Rule {
    metric: String,
    labels: Vec<(String, String)>,
    threshold_ns: u64,
    /// Why it is watched: `objective "checkout-fast"`, `threshold`.
    source: String,
    limiter: Mutex<Limiter>,
}

#[derive(Debug, Default)]
struct Limiter {
    window_start: Option<Instant>,
    emitted: u32,
    /// Suppressed since the last event.
    suppressed: u64,
}

impl SlowWatch {
    /// Turns the log on or off.
    pub(crate) fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// At most `events` events per `window` per watched series.
    pub(crate) fn set_limit(&self, events: u32, window: Duration) {
        self.events.store(events, Ordering::Relaxed);
        self.window_ns.store(
            u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Watches `metric{labels…}` at `threshold` (replacing a rule of the
    /// same series and source).
    pub(crate) fn watch(
        &self,
        metric: &str,
        labels: &[(&str, &str)],
        threshold: Duration,
        source: &str,
    ) {
        let threshold_ns = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut rules = self.rules.write();
        rules.retain(|r| !(r.metric == metric && r.labels == labels && r.source == source));
        rules.push(Rule {
            metric: metric.to_owned(),
            labels,
            threshold_ns,
            source: source.to_owned(),
            limiter: Mutex::default(),
        });
        let min = rules
            .iter()
            .map(|r| r.threshold_ns)
            .min()
            .unwrap_or(u64::MAX);
        self.min_ns.store(min, Ordering::Relaxed);
    }

    /// Whether a call of `ns` may be slow for some rule (the log is on and
    /// `ns` is over the smallest threshold): the cheap test callers make
    /// before gathering a call's labels.
    #[inline]
    pub(crate) fn may_be_slow(&self, ns: u64) -> bool {
        self.on.load(Ordering::Relaxed) && ns > self.min_ns.load(Ordering::Relaxed)
    }

    /// A call of `metric{labels}` took `ns`, which [`may_be_slow`](Self::may_be_slow):
    /// logs it if a rule calls it slow, within the rule's limit. Whether
    /// it was suppressed (slow, past the limit).
    #[cold]
    pub(crate) fn judge(
        &self,
        metric: &str,
        labels: &[(&str, &str)],
        ns: u64,
        trace: Option<TraceContext>,
    ) -> bool {
        let rules = self.rules.read();
        let Some(rule) = rules.iter().find(|r| {
            r.metric == metric
                && ns > r.threshold_ns
                && r.labels
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        }) else {
            return false;
        };
        let window = Duration::from_nanos(self.window_ns.load(Ordering::Relaxed));
        let events = self.events.load(Ordering::Relaxed);
        let now = Instant::now();
        let suppressed = {
            let mut l = rule.limiter.lock();
            if l.window_start
                .is_none_or(|s| now.duration_since(s) >= window)
            {
                l.window_start = Some(now);
                l.emitted = 0;
            }
            if l.emitted >= events {
                l.suppressed += 1;
                return true;
            }
            l.emitted += 1;
            std::mem::take(&mut l.suppressed)
        };
        emit(rule, labels, ns, trace, suppressed);
        false
    }
}

/// The event: one WARN on target `tailwatch::slow_call`.
#[cfg(feature = "tracing")]
fn emit(
    rule: &Rule,
    labels: &[(&str, &str)],
    ns: u64,
    trace: Option<TraceContext>,
    suppressed: u64,
) {
    let series = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let trace_id = trace.map_or_else(String::new, |t| format!("{:032x}", t.trace_id));
    let duration_ms = ns as f64 / 1e6;
    let threshold_ms = rule.threshold_ns as f64 / 1e6;
    tracing::warn!(
        target: "tailwatch::slow_call",
        metric = %rule.metric,
        series = %series,
        duration_ms,
        threshold_ms,
        trace_id = %trace_id,
        suppressed,
        source = %rule.source,
        "slow call: {series} took {duration_ms:.3} ms, over {threshold_ms:.3} ms ({}){}",
        rule.source,
        if suppressed > 0 {
            format!("; {suppressed} more slow calls not logged since the last event")
        } else {
            String::new()
        }
    );
}

#[cfg(not(feature = "tracing"))]
fn emit(_: &Rule, _: &[(&str, &str)], _: u64, _: Option<TraceContext>, _: u64) {}
