//! [`Snapshot`]: a point-in-time copy of a histogram's counts.

use crate::layout::{Layout, PAGE_LEN};

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
        let last_page = touched_pages(&self.touched).last()?;
        let page = &self.counts[last_page * PAGE_LEN..(last_page + 1) * PAGE_LEN];
        let offset = page.iter().rposition(|&c| c > 0)?;
        Some(
            self.layout
                .highest_equivalent_of_index(last_page * PAGE_LEN + offset),
        )
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
        let mut walk = self.nonzero();
        let mut running = 0_u64;
        let mut at = None;
        let mut previous = f64::NEG_INFINITY;
        for (q, slot) in qs.iter().copied().zip(out.iter_mut()) {
            if !(0.0..=1.0).contains(&q) {
                continue;
            }
            if q < previous {
                // Out of order: walk again from the start for this one.
                walk = self.nonzero();
                running = 0;
                at = None;
            }
            previous = q;
            let rank = self.rank(q);
            while running < rank {
                let Some(i) = walk.next() else { break };
                running += self.counts[i];
                at = Some(i);
            }
            if let (Some(i), true) = (at, running >= rank) {
                *slot = Some(if q == 0.0 {
                    self.layout.lowest_equivalent_of_index(i)
                } else {
                    self.layout.highest_equivalent_of_index(i)
                });
            }
        }
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
        self.nonzero()
            .take_while(|&i| i <= last)
            .map(|i| self.counts[i])
            .sum()
    }

    /// Cumulative counts for ascending `bounds` (Prometheus `le` buckets;
    /// `+Inf` is [`count`](Self::count)), in one pass.
    pub fn cumulative_buckets(&self, bounds: &[u64], out: &mut Vec<u64>) {
        out.clear();
        let mut running = 0;
        let mut nonzero = self.nonzero().peekable();
        for &bound in bounds {
            let last = self
                .layout
                .index_of(bound.min(self.layout.highest_trackable()));
            while let Some(&i) = nonzero.peek() {
                if i > last {
                    break;
                }
                running += self.counts[i];
                nonzero.next();
            }
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
