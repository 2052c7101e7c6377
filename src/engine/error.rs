//! Errors of the engine, one enum per phase: building a histogram (or,
//! through it, a registry or monitor: [`BuildError`]) and recording a value
//! that cannot be represented ([`RecordError`]). Resolving a series by name
//! has its own error in the registry
//! ([`RegistryError`](crate::registry::RegistryError)).
//!
//! Recording through a resolved handle never fails and never panics: out of
//! range integers are clamped and counted. Only the float entry points can
//! return a [`RecordError`], and they still count the value.

use thiserror::Error;

/// A histogram or registry configuration that cannot be built.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The value range is not representable.
    #[error(
        "invalid histogram bounds [{lowest}, {highest}]: {reason}; \
         use e.g. lowest = 1 and highest = 3_600_000_000_000 (1 hour in ns)"
    )]
    InvalidBounds {
        /// The requested lowest discernible value.
        lowest: u64,
        /// The requested highest trackable value.
        highest: u64,
        /// Which rule the bounds break.
        reason: &'static str,
    },
    /// The precision is outside what HDR histograms support.
    #[error(
        "invalid precision: {significant_digits} significant digits; \
         use 1 to 5 (2 gives < 0.8 % relative error, 3 gives < 0.1 %)"
    )]
    InvalidPrecision {
        /// The requested number of significant decimal digits.
        significant_digits: u8,
    },
    /// The sliding window is not a whole, non-zero number of slices.
    #[error(
        "invalid window: {window_ns} ns in slices of {slice_ns} ns; the slice must be \
         non-zero and divide the window into 1 to 1024 slices (default: 60 s in 6 slices)"
    )]
    InvalidWindow {
        /// The requested window length in nanoseconds.
        window_ns: u64,
        /// The requested slice length in nanoseconds.
        slice_ns: u64,
    },
    /// A quantile outside `0.0..=1.0` (or NaN) was configured.
    #[error("invalid quantile {0}: quantiles are fractions in 0.0..=1.0 (p99 is 0.99)")]
    InvalidQuantile(f64),
    /// The unit scale is not a positive finite number.
    #[error(
        "invalid unit scale {0}: give the recorded units per base unit, a positive number \
         (1e9 for nanoseconds reported as seconds, 1.0 for bytes)"
    )]
    InvalidUnitScale(f64),
    /// A cardinality cap of zero would leave no room for any series.
    #[error("invalid series cap 0: the cap on label sets per metric must be at least 1")]
    ZeroCap,
    /// A sample interval of zero would sample in a busy loop.
    #[error(
        "invalid sample interval 0: sampled values need an interval of at least 1 ns (1 s by default)"
    )]
    ZeroSampleInterval,
    /// A native-histogram schema outside what Prometheus accepts.
    #[error(
        "invalid native histogram schema {0}: Prometheus accepts -4 to 8 (each power of two \
         cut into 2^schema buckets; 6 gives buckets 1.09 % wide)"
    )]
    InvalidNativeSchema(i8),
    /// A native-histogram zero threshold that is negative, NaN or infinite.
    #[error(
        "invalid native histogram zero threshold {0}: give the width of the zero bucket \
         in base units, a finite number >= 0 (default 2^-128: only exact zeros)"
    )]
    InvalidZeroThreshold(f64),
    /// A native-histogram bucket limit of zero would leave no bucket.
    #[error(
        "invalid native histogram bucket limit 0: allow at least 1 bucket \
         (default 1024; past the limit the resolution is halved until it fits)"
    )]
    ZeroBucketLimit,
}

/// A float value that could not be recorded as given.
///
/// The value is still accounted for: a clamped value was recorded at the
/// edge of the range; a rejected one (NaN) was counted as rejected.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// NaN has no place on a latency axis; it was not recorded but counted
    /// in the histogram's `rejected` total.
    #[error("value is NaN: not recorded (counted as rejected)")]
    NotANumber,
    /// The value was below zero or above the highest trackable value; it was
    /// recorded as `recorded_as` and counted in the `clamped` total.
    #[error("value {value} is out of range: recorded as {recorded_as} (counted as clamped)")]
    Clamped {
        /// The value as given.
        value: f64,
        /// The value recorded instead, in the histogram's unit.
        recorded_as: u64,
    },
}
