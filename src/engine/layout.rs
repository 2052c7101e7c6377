//! The HDR bucket layout: which counter a value lands in, and back.
//!
//! The arithmetic is the one of the [`hdrhistogram`] crate
//! (`Histogram::new_with_bounds(low, high, sigfig)`), so that a tailwatch
//! series and an `hdrhistogram::Histogram` with the same bounds index every
//! value into the same slot. `tests/it/layout_compat.rs` checks that.
//!
//! The counts array is split into *pages* of [`PAGE_LEN`] counters. A series
//! only allocates the pages that values actually land in, so a wide range
//! (1 ns to 1 hour by default) costs nothing until it is used.

use crate::engine::error::BuildError;

/// log2 of the number of counters in one page.
#[cfg(not(tailwatch_loom))]
pub(crate) const PAGE_BITS: u32 = 7;
/// Under loom, pages of 4 counters keep the model's state space small.
#[cfg(tailwatch_loom)]
pub(crate) const PAGE_BITS: u32 = 2;
/// Counters per page (128 × 8 bytes = 1 KiB).
pub(crate) const PAGE_LEN: usize = 1 << PAGE_BITS;
/// Mask of a counter's offset inside its page.
pub(crate) const PAGE_MASK: usize = PAGE_LEN - 1;

/// Bounds and precision of a histogram, and the index arithmetic they imply.
///
/// Values are unsigned integers in the histogram's unit (nanoseconds for
/// durations). A value `v` is counted in a bucket whose width is at most
/// `v / 2^(m)` where `2^m ≥ 10^sigfig`, so a reported quantile differs from
/// the exact one by less than [`Layout::relative_error`] (1/128 = 0.78 % for
/// 2 significant digits). Values below `2^m × lowest_discernible` are
/// counted with a bucket width of `lowest_discernible` rounded down to a
/// power of two (1 by default: exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    lowest_discernible: u64,
    highest_trackable: u64,
    significant_digits: u8,
    unit_magnitude: u32,
    sub_bucket_half_count_magnitude: u32,
    sub_bucket_half_count: usize,
    sub_bucket_mask: u64,
    leading_zero_count_base: u32,
    counts_len: usize,
}

impl Layout {
    /// The default layout: 1 ns to 1 hour at 2 significant digits.
    pub const DEFAULT_LOWEST: u64 = 1;
    /// One hour in nanoseconds, the default highest trackable value.
    pub const DEFAULT_HIGHEST: u64 = 3_600_000_000_000;
    /// The default precision.
    pub const DEFAULT_SIGNIFICANT_DIGITS: u8 = 2;

    /// Builds a layout; the checks and the arithmetic are those of
    /// `hdrhistogram::Histogram::new_with_bounds`.
    ///
    /// # Errors
    /// [`BuildError::InvalidBounds`] when `lowest < 1`, `highest < 2 × lowest`
    /// or the range cannot be represented; [`BuildError::InvalidPrecision`]
    /// when `significant_digits` is not in `1..=5`.
    pub fn new(lowest: u64, highest: u64, significant_digits: u8) -> Result<Self, BuildError> {
        if !(1..=5).contains(&significant_digits) {
            return Err(BuildError::InvalidPrecision { significant_digits });
        }
        let bounds = |reason: &'static str| BuildError::InvalidBounds {
            lowest,
            highest,
            reason,
        };
        if lowest < 1 {
            return Err(bounds("the lowest discernible value must be at least 1"));
        }
        if lowest > u64::MAX / 2 || highest < lowest.saturating_mul(2) {
            return Err(bounds(
                "the highest trackable value must be at least twice the lowest",
            ));
        }
        // Largest value with single-unit resolution, rounded up to a power of two.
        let largest = 2 * 10_u64.pow(u32::from(significant_digits));
        let sub_bucket_count_magnitude = 64 - (largest - 1).leading_zeros();
        let unit_magnitude = 63 - lowest.leading_zeros();
        if unit_magnitude + sub_bucket_count_magnitude > 63 {
            return Err(bounds(
                "lowest × 10^significant_digits does not fit in 63 bits",
            ));
        }
        let sub_bucket_half_count_magnitude = sub_bucket_count_magnitude - 1;
        let sub_bucket_count = 1_u64 << sub_bucket_count_magnitude;
        let sub_bucket_half_count = (sub_bucket_count / 2) as usize;

        // Number of power-of-two buckets needed to cover `highest`.
        let mut smallest_untrackable = sub_bucket_count << unit_magnitude;
        let mut buckets: usize = 1;
        while smallest_untrackable <= highest {
            if smallest_untrackable > u64::MAX / 2 {
                buckets += 1;
                break;
            }
            smallest_untrackable <<= 1;
            buckets += 1;
        }
        Ok(Self {
            lowest_discernible: lowest,
            highest_trackable: highest,
            significant_digits,
            unit_magnitude,
            sub_bucket_half_count_magnitude,
            sub_bucket_half_count,
            sub_bucket_mask: (sub_bucket_count - 1) << unit_magnitude,
            leading_zero_count_base: 64 - unit_magnitude - sub_bucket_count_magnitude,
            counts_len: (buckets + 1) * sub_bucket_half_count,
        })
    }

    /// The lowest discernible value (the resolution at the bottom of the range).
    pub fn lowest_discernible(&self) -> u64 {
        self.lowest_discernible
    }

    /// The highest trackable value; larger values are clamped to it and counted.
    pub fn highest_trackable(&self) -> u64 {
        self.highest_trackable
    }

    /// Significant decimal digits of precision.
    pub fn significant_digits(&self) -> u8 {
        self.significant_digits
    }

    /// Upper bound of the relative error of any reported quantile, min or
    /// max against the exact value: `1 / 2^⌈log2(10^digits)⌉`
    /// (0.0078125 for 2 digits, 0.0009765625 for 3).
    pub fn relative_error(&self) -> f64 {
        1.0 / self.sub_bucket_half_count as f64
    }

    /// Number of counters in a dense array of this layout (as in hdrhistogram).
    pub fn counts_len(&self) -> usize {
        self.counts_len
    }

    /// Number of pages needed to hold `counts_len` counters.
    pub(crate) fn pages(&self) -> usize {
        self.counts_len.div_ceil(PAGE_LEN)
    }

    /// Length of a dense array padded to whole pages.
    pub(crate) fn padded_len(&self) -> usize {
        self.pages() * PAGE_LEN
    }

    /// The counter index of `value`. `value` must be at most
    /// [`highest_trackable`](Self::highest_trackable) (callers clamp first).
    #[inline(always)]
    pub fn index_of(&self, value: u64) -> usize {
        debug_assert!(value <= self.highest_trackable);
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (value >> (bucket + self.unit_magnitude)) as usize;
        // For bucket 0 `sub_bucket` may be below the half count; the base is
        // then one half count up, so the sum never goes below zero.
        (((bucket as usize) + 1) << self.sub_bucket_half_count_magnitude) + sub_bucket
            - self.sub_bucket_half_count
    }

    /// The lowest value counted at `index`.
    pub fn lowest_equivalent_of_index(&self, index: usize) -> u64 {
        let half_mask = self.sub_bucket_half_count - 1;
        let bucket = (index >> self.sub_bucket_half_count_magnitude) as i64 - 1;
        let mut sub_bucket = (index & half_mask) + self.sub_bucket_half_count;
        let bucket = if bucket < 0 {
            sub_bucket -= self.sub_bucket_half_count;
            0
        } else {
            bucket as u32
        };
        (sub_bucket as u64) << (bucket + self.unit_magnitude)
    }

    /// Width of the bucket at `index` (all values in it are equivalent).
    pub fn width_of_index(&self, index: usize) -> u64 {
        let bucket = ((index >> self.sub_bucket_half_count_magnitude) as u32).saturating_sub(1);
        1_u64 << (bucket + self.unit_magnitude)
    }

    /// The highest value counted at `index` (computed as hdrhistogram
    /// does, so the topmost bucket of a full-u64 layout reports
    /// `u64::MAX - 1`).
    pub fn highest_equivalent_of_index(&self, index: usize) -> u64 {
        self.lowest_equivalent_of_index(index)
            .saturating_add(self.width_of_index(index))
            - 1
    }

    /// The highest value equivalent to `value` (same bucket), as hdrhistogram reports it.
    pub fn highest_equivalent(&self, value: u64) -> u64 {
        self.highest_equivalent_of_index(self.index_of(value.min(self.highest_trackable)))
    }
}

impl Default for Layout {
    fn default() -> Self {
        match Self::new(
            Self::DEFAULT_LOWEST,
            Self::DEFAULT_HIGHEST,
            Self::DEFAULT_SIGNIFICANT_DIGITS,
        ) {
            Ok(layout) => layout,
            Err(_) => unreachable!("the default layout is valid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_shape() {
        let l = Layout::default();
        assert_eq!(l.sub_bucket_half_count, 128);
        assert_eq!(l.relative_error(), 1.0 / 128.0);
        // 1 ns .. 1 h needs 35 power-of-two buckets: (35 + 1) × 128 counters.
        assert_eq!(l.counts_len(), 36 * 128);
        assert_eq!(l.pages(), 36);
    }

    #[test]
    fn small_values_are_exact() {
        let l = Layout::default();
        for v in 0..256 {
            let i = l.index_of(v);
            assert_eq!(i as u64, v);
            assert_eq!(l.lowest_equivalent_of_index(i), v);
            assert_eq!(l.highest_equivalent_of_index(i), v);
        }
    }

    #[test]
    fn index_round_trips_within_error() {
        let l = Layout::default();
        let mut v = 1_u64;
        while v <= l.highest_trackable() {
            let i = l.index_of(v);
            assert!(i < l.counts_len());
            let lo = l.lowest_equivalent_of_index(i);
            let hi = l.highest_equivalent_of_index(i);
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            assert!((hi - lo) as f64 <= v as f64 * l.relative_error());
            v = v * 3 / 2 + 1;
        }
        assert!(l.index_of(l.highest_trackable()) < l.counts_len());
    }

    #[test]
    fn rejects_bad_bounds() {
        assert!(matches!(
            Layout::new(0, 10, 2),
            Err(BuildError::InvalidBounds { .. })
        ));
        assert!(matches!(
            Layout::new(10, 15, 2),
            Err(BuildError::InvalidBounds { .. })
        ));
        assert!(matches!(
            Layout::new(1, 1000, 0),
            Err(BuildError::InvalidPrecision { .. })
        ));
        assert!(matches!(
            Layout::new(1, 1000, 6),
            Err(BuildError::InvalidPrecision { .. })
        ));
        assert!(matches!(
            Layout::new(1 << 50, u64::MAX, 5),
            Err(BuildError::InvalidBounds { .. })
        ));
        // The full u64 range is fine.
        let l = Layout::new(1, u64::MAX, 2).unwrap();
        assert!(l.index_of(u64::MAX) < l.counts_len());
    }
}
