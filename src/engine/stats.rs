//! [`Stats`]: what people read about a series, serializable as JSON.

use serde::{Deserialize, Serialize};

/// A quantile and its value (`None` when the window is empty).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantileValue {
    /// The quantile, in `0.0..=1.0` (0.99 is p99).
    pub quantile: f64,
    /// Its value in the histogram's unit; `None` when nothing was recorded
    /// in the window (never a made-up 0).
    pub value: Option<u64>,
}

/// Statistics of one series: the sliding window (count, rate, min, mean,
/// max, quantiles) and the cumulative totals since creation.
///
/// Values are in the histogram's unit (nanoseconds for durations). Min,
/// max and quantiles come from HDR buckets and are within
/// [`relative_error`](Self::relative_error) of the exact values
/// (quantiles and max rounded up, min rounded down); count, sum and mean
/// are exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Values recorded in the window.
    pub count: u64,
    /// Sum of the values recorded in the window.
    pub sum: u128,
    /// Smallest value in the window.
    pub min: Option<u64>,
    /// Mean of the window's values.
    pub mean: Option<f64>,
    /// Largest value in the window.
    pub max: Option<u64>,
    /// The configured quantiles of the window.
    pub quantiles: Vec<QuantileValue>,
    /// `count / window_seconds`.
    pub rate_per_second: f64,
    /// The time the window covers (the configured length plus at most one
    /// slice; less while the series is younger than that).
    pub window_seconds: f64,
    /// Upper bound of the relative error of min, max and quantiles
    /// (0.0078125 at 2 significant digits).
    pub relative_error: f64,
    /// Values recorded since creation.
    pub total_count: u64,
    /// Sum of all values recorded since creation.
    pub total_sum: u128,
    /// Values recorded at the edge of the range instead of their own value.
    pub clamped: u64,
    /// Values refused (NaN).
    pub rejected: u64,
}

impl Stats {
    /// The value of quantile `q` if it was configured and the window is not empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.quantiles
            .iter()
            .find(|v| v.quantile == q)
            .and_then(|v| v.value)
    }
}

/// Statistics of one series in base units (seconds for durations), as
/// [`Monitor::stats`](crate::Monitor::stats) returns them and `/stats`
/// serves them.
///
/// For an operation, the series is all of its outcomes: `count` includes
/// errors and cancellations, `errors` and `cancelled` count those, and the
/// latency figures (`min` … `p99`) are over the calls that finished (`ok`
/// and `error`; a cancelled call has no complete latency). Window figures
/// cover `window_seconds`; latency figures are `None` when the window holds
/// no finished call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesStats {
    /// Metric name (`operation_duration_seconds` for operations).
    pub name: String,
    /// Labels identifying the series (`operation` for operations).
    pub labels: std::collections::BTreeMap<String, String>,
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
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Time the window covers.
    pub window_seconds: f64,
    /// Bound of the relative error of min, max and quantiles.
    pub relative_error: f64,
    /// Calls (values) since start.
    pub total_count: u64,
    /// The slowest calls of the window that were recorded with a trace
    /// context, slowest first (at most [`SLOWEST_KEPT`](crate::SLOWEST_KEPT)):
    /// where to look when the tail moves.
    #[serde(default)]
    pub slowest: Vec<SlowCall>,
}

/// One of the slowest traced calls of a window ([`SeriesStats::slowest`]).
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
    pub outcome: std::collections::BTreeMap<String, String>,
}
