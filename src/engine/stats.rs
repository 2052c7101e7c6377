//! [`Stats`]: what people read about a series, serializable as JSON; the
//! one type that `Histogram::stats`, `Monitor::stats` and `/stats` share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::snapshot::Snapshot;

/// A configured quantile and its value over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// The quantile, in `0.0..=1.0` (0.99 is p99).
    pub quantile: f64,
    /// Its value in base units (seconds for durations); `None` when the
    /// window holds no finished call (never a made-up 0).
    pub value: Option<f64>,
}

/// Statistics of one series over the sliding window, with its totals
/// since creation, in base units (seconds for durations).
///
/// For an operation or an HTTP route, the series is all of its outcomes:
/// `count` includes errors and cancellations, `errors` and `cancelled`
/// count those, and the latency figures (`min`, `mean`, `max`, the
/// quantiles) are over the calls that finished (a cancelled call has no
/// complete latency). A bare [`Histogram`](crate::Histogram) has no
/// outcomes: its `errors` and `cancelled` are 0.
///
/// Min, max and quantiles come from HDR buckets and are within
/// [`relative_error`](Self::relative_error) of the exact values (quantiles
/// and max rounded up, min rounded down); counts, sums and the mean are
/// exact. The quantiles are the ones the histogram is configured with
/// ([`HistogramBuilder::quantiles`](crate::engine::HistogramBuilder::quantiles);
/// 0.5, 0.95, 0.99 by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Metric name (`operation_duration_seconds` for operations; empty for
    /// a histogram outside a registry).
    pub name: String,
    /// Labels identifying the series (`operation` for operations), without
    /// the outcome labels.
    pub labels: BTreeMap<String, String>,
    /// Calls (values) in the window.
    pub count: u64,
    /// `count` per second over the window.
    pub rate_per_second: f64,
    /// Calls that ended in error in the window.
    pub errors: u64,
    /// Calls cancelled in the window.
    pub cancelled: u64,
    /// `errors / count`; `None` when `count` is 0.
    pub error_ratio: Option<f64>,
    /// Smallest latency (value).
    pub min: Option<f64>,
    /// Mean latency (exact).
    pub mean: Option<f64>,
    /// Largest latency.
    pub max: Option<f64>,
    /// The configured quantiles, ascending.
    pub quantiles: Vec<Quantile>,
    /// Time the window covers: the configured length plus at most one
    /// slice (less while the series is younger than that).
    pub window_seconds: f64,
    /// Upper bound of the relative error of min, max and quantiles
    /// (0.0078125 at 2 significant digits).
    pub relative_error: f64,
    /// Calls (values) since creation.
    pub total_count: u64,
    /// Sum of all values since creation.
    pub total_sum: f64,
    /// Values recorded at the edge of the range instead of their own value
    /// (since creation).
    #[serde(default)]
    pub clamped: u64,
    /// Values refused (NaN floats; since creation).
    #[serde(default)]
    pub rejected: u64,
    /// The slowest calls of the window that were recorded with a trace
    /// context, slowest first (at most
    /// [`SLOWEST_KEPT`](crate::engine::SLOWEST_KEPT)): where to look when
    /// the tail moves.
    #[serde(default)]
    pub slowest: Vec<SlowCall>,
}

impl Stats {
    /// The value of quantile `q` (in `0.0..=1.0`), if it is configured and
    /// the window is not empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|v| v.quantile == q)
            .and_then(|v| v.value)
    }

    /// The median, if 0.5 is configured and the window is not empty.
    pub fn p50(&self) -> Option<f64> {
        self.quantile(0.5)
    }

    /// The 95th percentile, if configured and the window is not empty.
    pub fn p95(&self) -> Option<f64> {
        self.quantile(0.95)
    }

    /// The 99th percentile, if configured and the window is not empty.
    pub fn p99(&self) -> Option<f64> {
        self.quantile(0.99)
    }

    /// The statistics of the window in `snap` (values in units of which
    /// `scale` make one base unit), for quantiles `qs`; no outcomes,
    /// totals from the window.
    pub(crate) fn of_window(
        name: &str,
        labels: BTreeMap<String, String>,
        snap: &Snapshot,
        scale: f64,
        qs: &[f64],
    ) -> Self {
        let mut values = vec![None; qs.len()];
        snap.quantiles_into(qs, &mut values);
        let base = |v: Option<u64>| v.map(|v| v as f64 / scale);
        let window_seconds = snap.span_ns().unwrap_or(0) as f64 / 1e9;
        Stats {
            name: name.to_owned(),
            labels,
            count: snap.count(),
            rate_per_second: rate(snap.count(), window_seconds),
            errors: 0,
            cancelled: 0,
            error_ratio: (snap.count() > 0).then_some(0.0),
            min: base(snap.min()),
            mean: snap.mean().map(|m| m / scale),
            max: base(snap.max()),
            quantiles: qs
                .iter()
                .zip(values)
                .map(|(&quantile, v)| Quantile {
                    quantile,
                    value: base(v),
                })
                .collect(),
            window_seconds,
            relative_error: snap.relative_error(),
            total_count: snap.count(),
            total_sum: snap.sum() as f64 / scale,
            clamped: 0,
            rejected: 0,
            slowest: Vec::new(),
        }
    }
}

/// `count / seconds`, 0 for an empty span.
pub(crate) fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// One of the slowest traced calls of a window ([`Stats::slowest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowCall {
    /// Its latency (value), in base units.
    pub value: f64,
    /// Its trace id, 32 hex digits: the key to open it in a trace backend.
    pub trace_id: String,
    /// Its span id, 16 hex digits.
    pub span_id: String,
    /// When it was recorded, Unix time in seconds.
    pub unix_seconds: f64,
    /// How it ended: its series' outcome labels (`outcome` for an
    /// operation; `http_response_status_code` and `error_type` for HTTP).
    pub outcome: BTreeMap<String, String>,
}
