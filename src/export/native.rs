//! Native histograms: Prometheus' sparse exponential buckets, computed at
//! scrape time from a series' HDR counts. Nothing changes on the recording
//! path: the schema is a choice of the scrape.
//!
//! A native bucket of schema `s` and index `k` holds the values in
//! `(2^((k-1)/2^s), 2^(k/2^s)]` (base units); each power of two is cut into
//! `2^s` buckets, each `2^(2^-s)` times as wide as the one before. An HDR
//! bucket counts into the native bucket of its midpoint; values at or below
//! the zero threshold go to the zero bucket.

use std::sync::OnceLock;

use crate::engine::error::BuildError;
use crate::engine::snapshot::Snapshot;

/// The schema used unless configured otherwise: 64 buckets per power of two,
/// each 1.09 % wider than the one before.
pub const DEFAULT_NATIVE_SCHEMA: i8 = 6;
/// Populated native buckets per series unless configured otherwise; past
/// it, the resolution is halved (the schema lowered) until it fits.
pub const DEFAULT_NATIVE_MAX_BUCKETS: usize = 1024;
/// The zero bucket's width unless configured otherwise: 2^-128, so only
/// values recorded as exactly 0 go there (client_golang's default).
pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

const MIN_SCHEMA: i8 = -4;
const MAX_SCHEMA: i8 = 8;

/// How the native buckets of a histogram are written (protobuf scrapes
/// only; the text formats have no native histograms).
///
/// The error bound of a quantile that Prometheus computes from these
/// buckets (`histogram_quantile`, per instance or summed over a fleet) is
/// the growth of one bucket plus the HDR bound: [`relative_error`]
/// (1.87 % at the default schema 6 with the default 2-digit HDR layout;
/// 2.97 % at 5, 1.32 % at 7). Prometheus interpolates within the bucket
/// that holds the rank, so the estimate and the exact value share a
/// bucket, except that an HDR bucket straddling a native boundary counts
/// wholly on the side of its midpoint.
///
/// [`relative_error`]: NativeBuckets::relative_error
///
/// ```
/// use tailwatch::export::{Buckets, NativeBuckets};
/// let native = NativeBuckets::new().with_schema(5)?.with_max_buckets(300)?;
/// let buckets = Buckets::default().native_metric("payload_size_bytes", native);
/// assert!((native.relative_error(0.0078) - 0.0297).abs() < 1e-3);
/// # Ok::<(), tailwatch::engine::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeBuckets {
    schema: i8,
    max_buckets: usize,
    zero_threshold: f64,
}

impl Default for NativeBuckets {
    fn default() -> Self {
        Self::new()
    }
}

impl NativeBuckets {
    /// Schema [`DEFAULT_NATIVE_SCHEMA`], at most
    /// [`DEFAULT_NATIVE_MAX_BUCKETS`] populated buckets, zero threshold
    /// [`DEFAULT_ZERO_THRESHOLD`].
    pub fn new() -> Self {
        Self {
            schema: DEFAULT_NATIVE_SCHEMA,
            max_buckets: DEFAULT_NATIVE_MAX_BUCKETS,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
        }
    }

    /// The coarsest schema whose buckets grow by at most `factor` (as
    /// client_golang's `NativeHistogramBucketFactor`: 1.1 gives schema 3);
    /// schema 8 for factors below its growth.
    ///
    /// # Errors
    /// [`BuildError::InvalidNativeSchema`] when `factor` is not above 1.
    pub fn for_factor(factor: f64) -> Result<Self, BuildError> {
        if factor.is_nan() || factor <= 1.0 {
            return Err(BuildError::InvalidNativeSchema(i8::MIN));
        }
        let schema = (MIN_SCHEMA..=MAX_SCHEMA)
            .find(|&s| growth(s) <= factor)
            .unwrap_or(MAX_SCHEMA);
        Self::new().with_schema(schema)
    }

    /// The schema: each power of two cut into `2^schema` buckets.
    ///
    /// # Errors
    /// [`BuildError::InvalidNativeSchema`] outside -4..=8.
    pub fn with_schema(mut self, schema: i8) -> Result<Self, BuildError> {
        if !(MIN_SCHEMA..=MAX_SCHEMA).contains(&schema) {
            return Err(BuildError::InvalidNativeSchema(schema));
        }
        self.schema = schema;
        Ok(self)
    }

    /// The most populated buckets a series may write; past it, the
    /// resolution is halved (two buckets merged into one, the schema
    /// lowered by one) until it fits or the schema is -4, as client_golang
    /// does. The merged schema holds for that scrape; as a series' counts
    /// only grow, it never goes back up.
    ///
    /// # Errors
    /// [`BuildError::ZeroBucketLimit`] for 0.
    pub fn with_max_buckets(mut self, max: usize) -> Result<Self, BuildError> {
        if max == 0 {
            return Err(BuildError::ZeroBucketLimit);
        }
        self.max_buckets = max;
        Ok(self)
    }

    /// The zero bucket's width, in base units: values at or below it are
    /// counted in the zero bucket.
    ///
    /// # Errors
    /// [`BuildError::InvalidZeroThreshold`] when negative, NaN or infinite.
    pub fn with_zero_threshold(mut self, threshold: f64) -> Result<Self, BuildError> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(BuildError::InvalidZeroThreshold(threshold));
        }
        self.zero_threshold = threshold;
        Ok(self)
    }

    /// The configured schema.
    pub fn schema(&self) -> i8 {
        self.schema
    }

    /// The configured bucket limit.
    pub fn max_buckets(&self) -> usize {
        self.max_buckets
    }

    /// The configured zero threshold.
    pub fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// How much wider each bucket is than the one before: `2^(2^-schema)`.
    pub fn bucket_growth(&self) -> f64 {
        growth(self.schema)
    }

    /// The bound on the relative error of a quantile computed from these
    /// buckets, for HDR data of relative error `hdr` (see
    /// [`Layout::relative_error`](crate::engine::Layout::relative_error)):
    /// `bucket_growth − 1 + hdr`. Holds while the bucket limit keeps the
    /// configured schema.
    pub fn relative_error(&self, hdr: f64) -> f64 {
        self.bucket_growth() - 1.0 + hdr
    }
}

fn growth(schema: i8) -> f64 {
    (-f64::from(schema)).exp2().exp2()
}

/// One series' native buckets, as the protobuf format writes them.
#[derive(Debug, Default)]
pub(super) struct Native {
    /// The schema written (the configured one, or lower past the limit).
    pub(super) schema: i8,
    pub(super) zero_threshold: f64,
    pub(super) zero_count: u64,
    /// `(offset, length)`: the first offset is the first bucket's index,
    /// the others the gap since the previous span.
    pub(super) spans: Vec<(i32, u32)>,
    /// Each bucket's count minus the previous bucket's.
    pub(super) deltas: Vec<i64>,
    /// `(index, count)` of the populated buckets, ascending.
    keyed: Vec<(i32, u64)>,
}

impl Native {
    /// Computes the native buckets of `snap` (in units `scale` per base
    /// unit) under `settings`, reusing this value's buffers.
    pub(super) fn fill(&mut self, snap: &Snapshot, scale: f64, settings: &NativeBuckets) {
        self.schema = settings.schema;
        self.zero_threshold = settings.zero_threshold;
        self.zero_count = 0;
        self.spans.clear();
        self.deltas.clear();
        self.keyed.clear();
        // HDR buckets come in ascending order: most fall in the native
        // bucket of the previous one or the next, so the search for the
        // index (a binary search over the schema's bounds) runs only when
        // the value moved further.
        let mut current: Option<(i32, f64)> = None;
        for (lo, hi, count) in snap.iter_buckets() {
            let x = ((lo as f64 + hi as f64) / 2.0 / scale).min(f64::MAX);
            if x <= self.zero_threshold {
                self.zero_count += count;
                continue;
            }
            let k = match current {
                Some((k, upper)) if x <= upper => k,
                Some((k, _)) if x <= upper_bound(k + 1, self.schema) => k + 1,
                _ => key(x, self.schema),
            };
            if current.is_none_or(|(c, _)| c != k) {
                current = Some((k, upper_bound(k, self.schema)));
            }
            match self.keyed.last_mut() {
                Some((last, c)) if *last == k => *c += count,
                _ => self.keyed.push((k, count)),
            }
        }
        while self.keyed.len() > settings.max_buckets && self.schema > MIN_SCHEMA {
            self.halve();
        }
        let mut previous: Option<(i32, u64)> = None;
        for &(k, c) in &self.keyed {
            match previous {
                None => self.spans.push((k, 1)),
                Some((p, mut before)) => {
                    let gap = k - p - 1;
                    if gap <= 2 {
                        // Two empty buckets cost less as zero deltas than
                        // as a new span (as client_golang writes them).
                        for _ in 0..gap {
                            self.deltas.push(-(before as i64));
                            before = 0;
                        }
                        if let Some(span) = self.spans.last_mut() {
                            span.1 += gap as u32 + 1;
                        }
                        previous = Some((p, before));
                    } else {
                        self.spans.push((gap, 1));
                    }
                }
            }
            let before = previous.map_or(0, |(_, b)| b);
            self.deltas.push(c as i64 - before as i64);
            previous = Some((k, c));
        }
        if self.spans.is_empty() && self.zero_threshold == 0.0 {
            // An empty native histogram must still look like one.
            self.spans.push((0, 0));
        }
    }

    /// Merges pairs of buckets: schema `s` → `s - 1`.
    fn halve(&mut self) {
        self.schema -= 1;
        let mut out = 0;
        for i in 0..self.keyed.len() {
            let (k, c) = self.keyed[i];
            let k = (k + 1) >> 1;
            if out > 0 && self.keyed[out - 1].0 == k {
                self.keyed[out - 1].1 += c;
            } else {
                self.keyed[out] = (k, c);
                out += 1;
            }
        }
        self.keyed.truncate(out);
    }

    /// The populated buckets as `(index, count)`, ascending.
    #[cfg(all(test, not(tailwatch_loom)))]
    fn buckets(&self) -> Vec<(i32, u64)> {
        let mut out = Vec::new();
        let (mut index, mut count, mut d) = (0_i32, 0_i64, 0);
        for (n, &(offset, length)) in self.spans.iter().enumerate() {
            index = if n == 0 { offset } else { index + offset };
            for _ in 0..length {
                count += self.deltas[d];
                d += 1;
                if count > 0 {
                    out.push((index, count as u64));
                }
                index += 1;
            }
        }
        out
    }
}

/// The index of the native bucket holding `x > 0` at `schema`, as
/// Prometheus and client_golang compute it (upper bounds inclusive).
pub(super) fn key(x: f64, schema: i8) -> i32 {
    let (frac, exp) = frexp(x);
    if schema > 0 {
        let bounds = &fraction_bounds()[schema as usize];
        let j = bounds.partition_point(|&b| b < frac) as i32;
        j + (exp - 1) * (1 << schema)
    } else {
        let k = if frac == 0.5 { exp - 1 } else { exp };
        let shift = i32::from(-schema);
        (k + (1 << shift) - 1) >> shift
    }
}

/// The upper bound of native bucket `k` at `schema`, `2^(k/2^schema)`,
/// from the same table as [`key`], so that `key(x)` is the smallest `k`
/// with `x <= upper_bound(k)`.
fn upper_bound(k: i32, schema: i8) -> f64 {
    if schema > 0 {
        let n = 1_i32 << schema;
        let bounds = &fraction_bounds()[schema as usize];
        let (e, j) = (k.div_euclid(n), k.rem_euclid(n));
        2.0 * bounds[j as usize] * exp2i(e)
    } else {
        exp2i(k << i32::from(-schema))
    }
}

/// `2^e`, exactly, without a call to `powi`.
fn exp2i(e: i32) -> f64 {
    if (-1022..=1023).contains(&e) {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        2f64.powi(e)
    }
}

/// `x = frac × 2^exp` with `frac` in `[0.5, 1)`, for positive finite `x`.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 {
        // Not a bucket's value (zeros go to the zero bucket); kept finite.
        return (0.5, -1074);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (f, e) = frexp(x * 2f64.powi(64));
        return (f, e - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, biased - 1022)
}

/// For each schema `s` in 1..=8, the `2^s` lower bounds of the fractions in
/// `[0.5, 1)` of its buckets: `2^(j / 2^s) / 2`.
fn fraction_bounds() -> &'static [Vec<f64>] {
    static BOUNDS: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        (0..=MAX_SCHEMA)
            .map(|s| {
                let n = 1_u32 << s;
                (0..n)
                    .map(|j| (f64::from(j) / f64::from(n)).exp2() / 2.0)
                    .collect()
            })
            .collect()
    })
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;
    use crate::engine::histogram::Histogram;
    use proptest::prelude::*;

    /// The bucket's range by its definition, independently of `key`.
    fn holds(k: i32, schema: i8, x: f64) -> bool {
        let width = (-f64::from(schema)).exp2();
        let upper = (f64::from(k) * width).exp2();
        let lower = (f64::from(k - 1) * width).exp2();
        // One ulp of slack either way for exp2's rounding at the edges.
        x > lower * (1.0 - 1e-15) && x <= upper * (1.0 + 1e-15)
    }

    #[test]
    fn keys_follow_prometheus_upper_inclusive_buckets() {
        assert_eq!(key(1.0, 0), 0);
        assert_eq!(key(1.5, 0), 1);
        assert_eq!(key(2.0, 0), 1);
        assert_eq!(key(2.0, 3), 8);
        assert_eq!(key(1.0, 3), 0);
        assert_eq!(key(1.0001, 3), 1);
        assert_eq!(key(0.25, -1), -1);
        assert_eq!(key(0.3, -1), 0);
        assert_eq!(key(4.0, -2), 1);
        assert_eq!(key(5.0, -2), 1);
        assert_eq!(key(17.0, -2), 2);
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            for x in [
                1e-9, 3.3e-7, 0.001, 0.0123, 0.5, 1.0, 7.0, 1024.0, 3600.0, 1e300,
            ] {
                assert!(holds(key(x, schema), schema, x), "{x} at schema {schema}");
            }
        }
    }

    #[test]
    fn upper_bounds_agree_with_keys() {
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            // Bounds between 2^-1000 and 2^1000 (normal doubles).
            let reach = if schema > 0 { 300 } else { 1000 >> -schema };
            for k in -reach..reach {
                let upper = upper_bound(k, schema);
                assert_eq!(key(upper, schema), k, "schema {schema}, bucket {k}");
                let above = upper * (1.0 + 1e-12);
                assert_eq!(key(above, schema), k + 1, "schema {schema}, above {k}");
            }
        }
    }

    #[test]
    fn settings_are_validated_with_clear_errors() {
        assert_eq!(
            NativeBuckets::new().with_schema(9),
            Err(BuildError::InvalidNativeSchema(9))
        );
        assert_eq!(
            NativeBuckets::new().with_max_buckets(0),
            Err(BuildError::ZeroBucketLimit)
        );
        let e = NativeBuckets::new().with_zero_threshold(-1.0).unwrap_err();
        assert!(e.to_string().contains(">= 0"), "{e}");
        assert_eq!(NativeBuckets::for_factor(1.1).unwrap().schema(), 3);
        assert_eq!(NativeBuckets::for_factor(1.011).unwrap().schema(), 6);
        assert_eq!(NativeBuckets::for_factor(100.0).unwrap().schema(), -2);
        assert!(NativeBuckets::for_factor(1.0).is_err());
        let d = NativeBuckets::new();
        assert!((d.relative_error(0.0078) - 0.0187).abs() < 1e-4);
    }

    #[test]
    fn spans_and_deltas_encode_gaps() {
        // At schema 0, 1.5 s is in bucket 1 (1, 2], 3 s in 2, 12 s in 4,
        // 1500 s in 11: a one-bucket gap filled with a zero delta, then a
        // new span.
        let h = Histogram::new();
        for v in [
            1_500_000_000_u64,
            3_000_000_000,
            3_000_000_000,
            12_000_000_000,
            1_500_000_000_000,
        ] {
            h.record(v);
        }
        h.record(0);
        let mut snap = Snapshot::default();
        h.cumulative(&mut snap);
        let mut n = Native::default();
        n.fill(&snap, 1e9, &NativeBuckets::new().with_schema(0).unwrap());
        assert_eq!(n.zero_count, 1);
        assert_eq!(n.spans, vec![(1, 4), (6, 1)]);
        assert_eq!(n.deltas, vec![1, 1, -2, 1, 0]);
        assert_eq!(n.buckets(), vec![(1, 1), (2, 2), (4, 1), (11, 1)]);
    }

    #[test]
    fn past_the_limit_the_resolution_is_halved() {
        let h = Histogram::new();
        for i in 1..=1000_u64 {
            h.record(i * 1_000_000);
        }
        let mut snap = Snapshot::default();
        h.cumulative(&mut snap);
        let mut n = Native::default();
        n.fill(
            &snap,
            1e9,
            &NativeBuckets::new().with_max_buckets(40).unwrap(),
        );
        assert!(n.schema < DEFAULT_NATIVE_SCHEMA);
        let buckets = n.buckets();
        assert!(buckets.len() <= 40, "{} buckets", buckets.len());
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 1000);
        // One schema finer would not have fitted.
        let mut finer = Native::default();
        let settings = NativeBuckets::new().with_schema(n.schema + 1).unwrap();
        finer.fill(&snap, 1e9, &settings);
        assert!(finer.buckets().len() > 40);
    }

    proptest! {
        #[test]
        fn native_buckets_add_up_and_hold_their_hdr_counts(
            values in proptest::collection::vec(0_u64..5_000_000_000_000, 1..400),
            schema in MIN_SCHEMA..=MAX_SCHEMA,
            max in 1_usize..300,
        ) {
            let h = Histogram::new();
            for &v in &values {
                h.record(v);
            }
            let mut snap = Snapshot::default();
            h.cumulative(&mut snap);
            let settings = NativeBuckets::new().with_schema(schema).unwrap().with_max_buckets(max).unwrap();
            let mut n = Native::default();
            n.fill(&snap, 1e9, &settings);
            let buckets = n.buckets();
            prop_assert_eq!(
                buckets.iter().map(|b| b.1).sum::<u64>() + n.zero_count,
                values.len() as u64
            );
            prop_assert!(buckets.len() <= max || n.schema == MIN_SCHEMA);
            // Each native bucket holds exactly the HDR buckets whose
            // midpoint it contains.
            let mut expected: Vec<(i32, u64)> = Vec::new();
            let mut zero = 0;
            for (lo, hi, c) in snap.iter_buckets() {
                let x = (lo as f64 + hi as f64) / 2.0 / 1e9;
                if x <= settings.zero_threshold() {
                    zero += c;
                    continue;
                }
                let k = key(x, n.schema);
                prop_assert!(holds(k, n.schema, x));
                match expected.last_mut() {
                    Some((last, n)) if *last == k => *n += c,
                    _ => expected.push((k, c)),
                }
            }
            prop_assert_eq!(zero, n.zero_count);
            prop_assert_eq!(buckets, expected);
        }
    }
}
