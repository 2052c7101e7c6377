//! [`Buckets`]: the classic `le` boundaries and the native-bucket settings
//! of each histogram family, the presets, and how a boundary is written.

use std::collections::BTreeMap;

use super::native::NativeBuckets;

/// The default classic boundaries, in base units (seconds for latencies):
/// a 1-2-5 ladder from 1 µs to 100 s, for microsecond routes and
/// minute-long jobs alike, every `le` a clean decimal (`0.000001`, `0.002`,
/// `50`).
///
/// Error bound of a quantile from these buckets (`histogram_quantile` over
/// `_bucket`): the estimate lies in the bucket of the exact value, so it is
/// off by at most the bucket's ratio: ×2 (100 %) or ×2.5 (150 %). For
/// accurate quantiles through Prometheus, use native histograms (a
/// protobuf scrape; see [`NativeBuckets`]) or finer boundaries
/// ([`Buckets::exponential_between`]).
pub const DEFAULT_BUCKETS: [f64; 25] = [
    0.000_001, 0.000_002, 0.000_005, 0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_2, 0.000_5,
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// OpenTelemetry's recommended boundaries for HTTP durations, in seconds
/// (the first is 5 ms: too coarse for fast routes); [`Buckets::otel`].
pub const OTEL_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Classic bucket boundaries (base units) and native-bucket settings, by
/// metric name; [`DEFAULT_BUCKETS`] and [`NativeBuckets::new`] unless
/// configured otherwise.
///
/// Classic counts come from the HDR data: a value in the same HDR bucket
/// as a boundary counts as equal to it, so a value up to the HDR error
/// (0.78 % at 2 significant digits) above a boundary that is not on an HDR
/// bucket edge may be counted at or below it. Boundaries on a 1-2-5 or
/// constant-ratio ladder are not special to HDR; the effect is bounded by
/// that error whatever the boundaries.
///
/// ```
/// use tailwatch::export::Buckets;
/// let buckets = Buckets::default()
///     .metric("job_duration_seconds", Buckets::exponential_between(1.0, 3600.0, 5))
///     .metric("http_server_request_duration_seconds", tailwatch::export::OTEL_BUCKETS.to_vec());
/// ```
#[derive(Debug, Clone)]
pub struct Buckets {
    default: Vec<f64>,
    per_metric: BTreeMap<String, Vec<f64>>,
    native: NativeBuckets,
    native_per_metric: BTreeMap<String, NativeBuckets>,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            default: DEFAULT_BUCKETS.to_vec(),
            per_metric: BTreeMap::new(),
            native: NativeBuckets::new(),
            native_per_metric: BTreeMap::new(),
        }
    }
}

impl Buckets {
    /// OpenTelemetry's 14 boundaries ([`OTEL_BUCKETS`]) for every metric.
    pub fn otel() -> Self {
        Self::default().default_boundaries(OTEL_BUCKETS.to_vec())
    }

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

    /// The native-bucket settings of every metric not configured otherwise.
    #[must_use]
    pub fn native(mut self, native: NativeBuckets) -> Self {
        self.native = native;
        self
    }

    /// The native-bucket settings of one metric.
    #[must_use]
    pub fn native_metric(mut self, name: &str, native: NativeBuckets) -> Self {
        self.native_per_metric.insert(name.to_owned(), native);
        self
    }

    /// A constant-ratio ladder: `per_decade` boundaries per power of ten,
    /// each `10^(1/per_decade)` times the one before, from `from` to `to`
    /// (base units, both positive), rounded to three significant digits so
    /// that every `le` is a clean decimal, the same on every build.
    ///
    /// A quantile from these buckets is off by at most one bucket ratio:
    /// 26 % at 10 per decade, 12 % at 20.
    ///
    /// ```
    /// let b = tailwatch::export::Buckets::exponential_between(0.001, 0.01, 4);
    /// assert_eq!(b, vec![0.001, 0.00178, 0.00316, 0.00562, 0.01]);
    /// ```
    pub fn exponential_between(from: f64, to: f64, per_decade: u32) -> Vec<f64> {
        if !(from > 0.0 && to >= from && to.is_finite() && per_decade > 0) {
            return Vec::new();
        }
        let n = f64::from(per_decade);
        let first = (from.log10() * n).round() as i64;
        let last = (to.log10() * n).round() as i64;
        clean(
            (first..=last)
                .map(|i| round_significant(10f64.powf(i as f64 / n), 3))
                .filter(|v| *v >= from * (1.0 - 1e-9) && *v <= to * (1.0 + 1e-9))
                .collect(),
        )
    }

    /// A log-linear ladder: `per_decade` boundaries evenly spaced within
    /// each power of ten (`1, 3.25, 5.5, 7.75, 10, …` for 4), from `from` to
    /// `to`, as clean decimals. Uneven: the bucket after each power of ten
    /// is the widest, so quantiles there are the least accurate; prefer
    /// [`exponential_between`](Self::exponential_between).
    pub fn log_linear(from: f64, to: f64, per_decade: u32) -> Vec<f64> {
        if !(from > 0.0 && to.is_finite() && per_decade > 0) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut exponent = from.log10().floor() as i32;
        loop {
            let decade = 10f64.powi(exponent);
            if decade > to * (1.0 + 1e-9) {
                break;
            }
            for i in 0..per_decade {
                let v = round_significant(
                    decade * (1.0 + 9.0 * f64::from(i) / f64::from(per_decade)),
                    6,
                );
                if v >= from * (1.0 - 1e-9) && v <= to * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
            exponent += 1;
        }
        clean(out)
    }

    pub(super) fn of(&self, name: &str) -> &[f64] {
        self.per_metric.get(name).unwrap_or(&self.default)
    }

    pub(super) fn native_of(&self, name: &str) -> &NativeBuckets {
        self.native_per_metric.get(name).unwrap_or(&self.native)
    }
}

/// Classic boundaries added to one monitor's families at run time (an
/// objective's latency threshold: its SLI is then read at that `le`, not
/// interpolated between two others). Every scrape of the monitor, whatever
/// [`Buckets`] the agent was given, includes them.
#[derive(Debug, Default)]
pub(super) struct AddedBoundaries {
    by_metric: crate::engine::lock::RwLock<BTreeMap<String, Vec<f64>>>,
}

impl AddedBoundaries {
    pub(super) fn of(monitor: &crate::measure::Monitor) -> Option<std::sync::Arc<Self>> {
        monitor.inner.extensions.get::<Self>()
    }

    /// `bounds` with this monitor's boundaries for `name` added (the same
    /// slice when there are none).
    pub(super) fn with<'a>(&self, name: &str, bounds: &'a [f64]) -> std::borrow::Cow<'a, [f64]> {
        match self.by_metric.read().get(name) {
            Some(added) => {
                let mut all = bounds.to_vec();
                all.extend_from_slice(added);
                std::borrow::Cow::Owned(clean(all))
            }
            None => std::borrow::Cow::Borrowed(bounds),
        }
    }
}

/// Adds `boundary` (base units: seconds for a duration) to the classic
/// ladder of `metric` in every scrape of `monitor`, whatever [`Buckets`]
/// its agent has. Returns `false`, adding nothing, when the boundary is not
/// a positive finite number.
///
/// Declaring a latency objective (the objectives piece) does this for its
/// threshold.
pub fn add_boundary(monitor: &crate::measure::Monitor, metric: &str, boundary: f64) -> bool {
    if !(boundary.is_finite() && boundary > 0.0) {
        return false;
    }
    let added = monitor
        .inner
        .extensions
        .get_or_init(AddedBoundaries::default);
    let mut by_metric = added.by_metric.write();
    let bounds = by_metric.entry(metric.to_owned()).or_default();
    bounds.push(boundary);
    *bounds = clean(std::mem::take(bounds));
    true
}

/// `v` rounded to `digits` significant decimal digits: the double nearest
/// that decimal, whose shortest text is that decimal (no float noise).
fn round_significant(v: f64, digits: usize) -> f64 {
    format!("{:.*e}", digits.saturating_sub(1), v)
        .parse()
        .unwrap_or(v)
}

fn clean(mut b: Vec<f64>) -> Vec<f64> {
    b.retain(|v| v.is_finite() && *v >= 0.0);
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// A boundary as an `le` value (`0.005`, `1.0`, `0.000001`: plain decimal,
/// always parseable as a float, the same text on every build).
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

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn le_text_is_clean_decimal() {
        let les: Vec<String> = DEFAULT_BUCKETS.iter().map(|b| format_le(*b)).collect();
        assert_eq!(les[0], "0.000001");
        assert_eq!(les[4], "0.00002");
        assert_eq!(les[18], "1.0");
        assert_eq!(les[24], "100.0");
        for b in Buckets::log_linear(1e-5, 100.0, 4)
            .into_iter()
            .chain(Buckets::exponential_between(1e-6, 60.0, 20))
        {
            let text = format_le(b);
            // At most six significant digits: no 0.7000000000000001.
            let digits = text.trim_start_matches(['0', '.']).replace('.', "");
            assert!(
                digits.trim_end_matches('0').len() <= 6,
                "float noise in {text}"
            );
        }
        assert_eq!(
            Buckets::log_linear(1e-5, 1e-4, 4),
            vec![0.00001, 0.0000325, 0.000055, 0.0000775, 0.0001]
        );
    }

    #[test]
    fn exponential_is_constant_ratio() {
        let b = Buckets::exponential_between(1e-6, 60.0, 10);
        assert_eq!(b.first(), Some(&0.000001));
        assert!(*b.last().unwrap() <= 60.0);
        for w in b.windows(2) {
            let ratio = w[1] / w[0];
            assert!(
                (ratio - 10f64.powf(0.1)).abs() < 0.01,
                "{} → {}",
                w[0],
                w[1]
            );
        }
        assert!(Buckets::exponential_between(0.0, 1.0, 10).is_empty());
    }
}
