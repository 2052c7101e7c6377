//! [`Snapshot`]: a point-in-time copy of a histogram's counts.

use crate::engine::layout::{Layout, PAGE_LEN};

/// A point-in-time copy of a histogram's counts, and everything computed
/// from it: count, sum, min, max, mean, quantiles, cumulative buckets.
///
/// A [`Snapshot`] is a reusable buffer: fill it again and again with
/// [`Histogram::cumulative`](crate::Histogram::cumulative) or
/// [`Histogram::window`](crate::Histogram::window); it only allocates when
/// it first meets a layout.
///
/// Quantiles follow `hdrhistogram::Histogram::value_at_quantile`: the
/// reported value is the highest value equivalent to the nearest-rank
/// sample, so it is never below the exact quantile and above it by less
/// than [`relative_error`](Snapshot::relative_error).
#[derive(Clone, Debug)]
pub struct Snapshot {
    layout: Layout,
    counts: Vec<u64>,
    touched: Vec<u64>,
    count: u64,
    sum: u128,
    span_ns: Option<u64>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::new(Layout::default())
    }
}

impl Snapshot {
    /// An empty snapshot for histograms of `layout`.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            counts: vec![0; layout.padded_len()],
            touched: vec![0; layout.pages().div_ceil(64)],
            count: 0,
            sum: 0,
            span_ns: None,
        }
    }

    /// Empties the snapshot, adapting it to `layout`; only the pages that
    /// were used are zeroed.
    pub(crate) fn clear(&mut self, layout: &Layout) {
        if self.layout != *layout {
            *self = Self::new(*layout);
            return;
        }
        for p in touched_pages(&self.touched) {
            self.counts[p * PAGE_LEN..(p + 1) * PAGE_LEN].fill(0);
        }
        self.touched.fill(0);
        self.count = 0;
        self.sum = 0;
        self.span_ns = None;
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut [u64], &mut [u64]) {
        (&mut self.counts, &mut self.touched)
    }

    pub(crate) fn set_totals(&mut self, sum: u128, span_ns: Option<u64>) {
        self.sum = sum;
        self.span_ns = span_ns;
        self.count = touched_pages(&self.touched)
            .map(|p| {
                self.counts[p * PAGE_LEN..(p + 1) * PAGE_LEN]
                    .iter()
                    .sum::<u64>()
            })
            .fold(0, u64::wrapping_add);
    }

    /// Makes this snapshot a copy of `other`, touching only used pages.
    pub(crate) fn copy_from(&mut self, other: &Snapshot) {
        self.clear(&other.layout);
        for p in touched_pages(&other.touched) {
            let page = p * PAGE_LEN..(p + 1) * PAGE_LEN;
            self.counts[page.clone()].copy_from_slice(&other.counts[page]);
        }
        self.touched.copy_from_slice(&other.touched);
        (self.count, self.sum, self.span_ns) = (other.count, other.sum, other.span_ns);
    }

    /// Adds `other`'s counts and sum to this snapshot (the span becomes the
    /// longer of the two). Returns `false`, changing nothing, when the
    /// layouts differ.
    pub fn merge(&mut self, other: &Snapshot) -> bool {
        if self.layout != other.layout {
            return false;
        }
        for p in touched_pages(&other.touched) {
            let (dst, src) = (
                &mut self.counts[p * PAGE_LEN..(p + 1) * PAGE_LEN],
                &other.counts[p * PAGE_LEN..(p + 1) * PAGE_LEN],
            );
            for (d, s) in dst.iter_mut().zip(src) {
                *d = d.wrapping_add(*s);
            }
            self.touched[p / 64] |= 1 << (p % 64);
        }
        self.count = self.count.wrapping_add(other.count);
        self.sum = self.sum.wrapping_add(other.sum);
        self.span_ns = self.span_ns.max(other.span_ns);
        true
    }

    /// Takes an `earlier` snapshot of the same histogram's cumulative counts
    /// away from this one: what was recorded between the two (a fixed
    /// window of a run, with nothing on the recording path). The span
    /// stays this snapshot's. Returns `false`, changing nothing, when the
    /// layouts differ or `earlier` holds a count this one does not (it was
    /// not taken earlier from the same histogram).
    pub fn subtract(&mut self, earlier: &Snapshot) -> bool {
        if self.layout != earlier.layout {
            return false;
        }
        let pages: Vec<usize> = touched_pages(&earlier.touched).collect();
        for &p in &pages {
            let page = p * PAGE_LEN..(p + 1) * PAGE_LEN;
            let untouched = self.touched[p / 64] & (1 << (p % 64)) == 0;
            if self.counts[page.clone()]
                .iter()
                .zip(&earlier.counts[page])
                .any(|(now, then)| now < then || (untouched && *then > 0))
            {
                return false;
            }
        }
        for p in pages {
            let page = p * PAGE_LEN..(p + 1) * PAGE_LEN;
            for (d, s) in self.counts[page.clone()]
                .iter_mut()
                .zip(&earlier.counts[page])
            {
                *d -= *s;
            }
        }
        self.count = self.count.saturating_sub(earlier.count);
        self.sum = self.sum.saturating_sub(earlier.sum);
        true
    }

    /// The layout of the histogram this snapshot was taken from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum of the recorded values, in the histogram's unit.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Mean of the recorded values (exact: sum / count), `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// For a window snapshot, the time it covers in nanoseconds.
    pub fn span_ns(&self) -> Option<u64> {
        self.span_ns
    }

    /// Upper bound of the relative error of quantiles, min and max.
    pub fn relative_error(&self) -> f64 {
        self.layout.relative_error()
    }

    /// Smallest recorded value (to the layout's precision, rounded down),
    /// `None` when empty.
    pub fn min(&self) -> Option<u64> {
        self.nonzero()
            .next()
            .map(|i| self.layout.lowest_equivalent_of_index(i))
    }

    /// Largest recorded value (to the layout's precision, rounded up),
    /// `None` when empty.
    pub fn max(&self) -> Option<u64> {
        // The highest touched page that still holds a count: a page can be
        // touched and hold none (a window slice whose values rotated out).
        let highest = touched_pages(&self.touched)
            .filter_map(|p| {
                let page = &self.counts[p * PAGE_LEN..(p + 1) * PAGE_LEN];
                page.iter().rposition(|&c| c > 0).map(|o| p * PAGE_LEN + o)
            })
            .last()?;
        Some(self.layout.highest_equivalent_of_index(highest))
    }

    /// The value at quantile `q` (`0.0..=1.0`), `None` when the snapshot is
    /// empty or `q` is not in range. Same definition as
    /// `hdrhistogram::Histogram::value_at_quantile`.
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        let mut out = [None];
        self.quantiles_into(&[q], &mut out);
        out[0]
    }

    /// Several quantiles in one pass over the counts; `out[i]` receives the
    /// value at `qs[i]` (see [`value_at_quantile`](Self::value_at_quantile)).
    /// `qs` must be sorted ascending for the single pass; unsorted input
    /// still gives correct values, one pass per out-of-order quantile.
    pub fn quantiles_into(&self, qs: &[f64], out: &mut [Option<u64>]) {
        out.fill(None);
        if self.count == 0 {
            return;
        }
        for (q, slot) in qs.iter().copied().zip(out.iter_mut()) {
            if !(0.0..=1.0).contains(&q) {
                continue;
            }
            *slot = self.index_at_rank(self.rank(q)).map(|i| {
                if q == 0.0 {
                    self.layout.lowest_equivalent_of_index(i)
                } else {
                    self.layout.highest_equivalent_of_index(i)
                }
            });
        }
    }

    /// The bucket holding the `rank`-th smallest value (1-based). Whole
    /// pages are skipped by their sums (a vectorized loop), so only the
    /// page holding the rank is walked bucket by bucket.
    fn index_at_rank(&self, rank: u64) -> Option<usize> {
        let mut running = 0_u64;
        for p in touched_pages(&self.touched) {
            let page = &self.counts[p * PAGE_LEN..(p + 1) * PAGE_LEN];
            let total = page_sum(page);
            if running.wrapping_add(total) < rank {
                running = running.wrapping_add(total);
                continue;
            }
            for (j, &c) in page.iter().enumerate() {
                running = running.wrapping_add(c);
                if c > 0 && running >= rank {
                    return Some(p * PAGE_LEN + j);
                }
            }
        }
        None
    }

    /// Sum of the counts of buckets `from..to`, over the touched pages only.
    fn range_sum(&self, from: usize, to: usize) -> u64 {
        if from >= to {
            return 0;
        }
        let mut sum = 0_u64;
        for p in from / PAGE_LEN..=(to - 1) / PAGE_LEN {
            if self.touched[p / 64] & (1 << (p % 64)) == 0 {
                continue;
            }
            let lo = from.max(p * PAGE_LEN);
            let hi = to.min((p + 1) * PAGE_LEN);
            sum = sum.wrapping_add(page_sum(&self.counts[lo..hi]));
        }
        sum
    }

    /// Nearest rank of quantile `q`: `max(1, ⌈q × count⌉)`.
    fn rank(&self, q: f64) -> u64 {
        ((q * self.count as f64).ceil() as u64).max(1)
    }

    /// Number of values less than or equal to `bound` (values in the same
    /// HDR bucket as `bound` count as equal), for Prometheus `le` buckets.
    pub fn count_at_or_below(&self, bound: u64) -> u64 {
        let last = self
            .layout
            .index_of(bound.min(self.layout.highest_trackable()));
        self.range_sum(0, last + 1)
    }

    /// Cumulative counts for ascending `bounds` (Prometheus `le` buckets;
    /// `+Inf` is [`count`](Self::count)), in one pass.
    pub fn cumulative_buckets(&self, bounds: &[u64], out: &mut Vec<u64>) {
        out.clear();
        let mut running = 0_u64;
        let mut from = 0;
        for &bound in bounds {
            let to = self
                .layout
                .index_of(bound.min(self.layout.highest_trackable()))
                + 1;
            running = running.wrapping_add(self.range_sum(from, to));
            from = from.max(to);
            out.push(running);
        }
    }

    /// `(lowest value, highest value, count)` of every non-empty bucket, ascending.
    pub fn iter_buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.nonzero().map(|i| {
            (
                self.layout.lowest_equivalent_of_index(i),
                self.layout.highest_equivalent_of_index(i),
                self.counts[i],
            )
        })
    }

    /// The same counts as an [`hdrhistogram::Histogram`] (same bounds and
    /// precision, so every count lands at the same index), for merging,
    /// serialization or any analysis the crate offers.
    pub fn to_hdrhistogram(&self) -> hdrhistogram::Histogram<u64> {
        let l = &self.layout;
        let mut h = hdrhistogram::Histogram::new_with_bounds(
            l.lowest_discernible(),
            l.highest_trackable(),
            l.significant_digits(),
        )
        .expect("a valid Layout is a valid hdrhistogram configuration");
        for i in self.nonzero() {
            let v = l.lowest_equivalent_of_index(i).min(l.highest_trackable());
            h.record_n(v, self.counts[i])
                .expect("values of a valid index are in range");
        }
        h
    }

    /// Indexes of non-zero counters, ascending.
    fn nonzero(&self) -> impl Iterator<Item = usize> + '_ {
        touched_pages(&self.touched).flat_map(move |p| {
            let base = p * PAGE_LEN;
            self.counts[base..base + PAGE_LEN]
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(move |(j, _)| base + j)
        })
    }
}

/// Sum of a run of counts (wrapping, as counts are merged).
fn page_sum(counts: &[u64]) -> u64 {
    counts.iter().fold(0, |a, &c| a.wrapping_add(c))
}

/// Iterates the set bits of a page bitmap, ascending.
pub(crate) fn touched_pages(bits: &[u64]) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            (word != 0).then(|| {
                let b = word.trailing_zeros() as usize;
                word &= word - 1;
                w * 64 + b
            })
        })
    })
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    /// A window can hold a touched page whose counts all rotated out,
    /// above the values still in it: the max is the highest count, not
    /// "none" (the demo's table showed `-` for a busy route's max).
    #[test]
    fn max_skips_touched_pages_without_counts() {
        let mut s = Snapshot::new(Layout::default());
        let (counts, touched) = s.parts_mut();
        counts[3] = 2; // page 0
        touched[0] = 0b101; // pages 0 and 2 touched; page 2 holds nothing
        s.set_totals(10, None);
        assert_eq!(s.count(), 2);
        assert_eq!(s.max(), Some(s.layout.highest_equivalent_of_index(3)));
        assert_eq!(s.value_at_quantile(1.0), s.max());
    }

    /// A snapshot holding `values` (as a histogram records them).
    fn holding(values: &[u64]) -> Snapshot {
        let mut s = Snapshot::new(Layout::default());
        let layout = s.layout;
        let (counts, touched) = s.parts_mut();
        for &v in values {
            let i = layout.index_of(v);
            counts[i] += 1;
            let page = i / PAGE_LEN;
            touched[page / 64] |= 1 << (page % 64);
        }
        s.set_totals(values.iter().map(|&v| u128::from(v)).sum(), None);
        s
    }

    /// Two cumulative snapshots of one histogram, the earlier taken away:
    /// exactly the values recorded between them.
    #[test]
    fn subtracting_an_earlier_snapshot_leaves_what_came_between() {
        let earlier = holding(&[1_000, 2_000, 5_000_000]);
        let mut now = holding(&[1_000, 2_000, 5_000_000, 2_000, 9_000_000, 9_000_000]);
        assert!(now.subtract(&earlier));
        assert_eq!(now.count(), 3);
        assert_eq!(now.sum(), 18_002_000);
        assert_eq!(
            now.min(),
            Some(
                now.layout
                    .lowest_equivalent_of_index(now.layout.index_of(2_000))
            )
        );
        let bound = 9_000_000.0 * (1.0 + now.relative_error());
        assert!(
            now.max()
                .is_some_and(|m| m >= 9_000_000 && (m as f64) <= bound)
        );
        assert!(now.value_at_quantile(0.5).is_some_and(|m| m >= 9_000_000));
        // Not earlier: refused, nothing changed.
        let mut before = earlier.clone();
        assert!(!before.subtract(&now));
        assert_eq!(before.count(), earlier.count());
        assert_eq!(
            before.value_at_quantile(1.0),
            earlier.value_at_quantile(1.0)
        );
    }
}
