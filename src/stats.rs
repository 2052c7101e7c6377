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
