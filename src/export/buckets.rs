//! [`Buckets`]: the classic `le` boundaries of each histogram family, and
//! how a boundary is written.

use std::collections::BTreeMap;

/// OpenTelemetry's recommended boundaries for HTTP durations, in seconds.
pub const OTEL_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Bucket boundaries (base units) by metric name; OpenTelemetry's 14 by default.
#[derive(Debug, Clone)]
pub struct Buckets {
    default: Vec<f64>,
    per_metric: BTreeMap<String, Vec<f64>>,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            default: OTEL_BUCKETS.to_vec(),
            per_metric: BTreeMap::new(),
        }
    }
}

impl Buckets {
    /// The boundaries of every metric not configured otherwise.
    #[must_use]
    pub fn default_boundaries(mut self, boundaries: Vec<f64>) -> Self {
        self.default = clean(boundaries);
        self
    }

    /// The boundaries of one metric.
    #[must_use]
    pub fn metric(mut self, name: &str, boundaries: Vec<f64>) -> Self {
        self.per_metric.insert(name.to_owned(), clean(boundaries));
        self
    }

    /// A log-linear preset for accurate fleet-wide quantiles: `per_decade`
    /// boundaries per power of ten from `from` to `to` (base units).
    pub fn log_linear(from: f64, to: f64, per_decade: u32) -> Vec<f64> {
        let mut out = Vec::new();
        let mut decade = from;
        while decade <= to {
            for i in 0..per_decade {
                let v = decade * (1.0 + 9.0 * f64::from(i) / f64::from(per_decade));
                if v <= to {
                    out.push(v);
                }
            }
            decade *= 10.0;
        }
        clean(out)
    }

    pub(super) fn of(&self, name: &str) -> &[f64] {
        self.per_metric.get(name).unwrap_or(&self.default)
    }
}

fn clean(mut b: Vec<f64>) -> Vec<f64> {
    b.retain(|v| v.is_finite() && *v >= 0.0);
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// A boundary as an `le` value (`0.005`, `1`, `10`; always parseable as a float).
pub(super) fn format_le(v: f64) -> String {
    let s = format!("{v}");
    if om_needs_dot(&s) {
        format!("{s}.0")
    } else {
        s
    }
}

fn om_needs_dot(s: &str) -> bool {
    !s.contains('.') && !s.contains('e') && !s.contains("inf") && !s.contains("NaN")
}
