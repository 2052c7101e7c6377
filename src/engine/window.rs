//! The sliding window: cumulative counts at slice boundaries, kept as
//! compressed deltas, so the recording path only ever increments.
//!
//! Time is cut into slices of `slice_ns` (aligned on the clock's origin).
//! `B(k)` is the cumulative histogram at the start of slice `k`. At time
//! `t` in slice `k`, the window is `C(t) − B(k − n)` for `n` slices per
//! window: it covers between `n` and `n + 1` slices, so a value stays in
//! the window for at least the window length and leaves it at most one
//! slice later.
//!
//! Stored: `B(k − n)` (the *base*) and the `n` slice deltas
//! `D(j) = B(j + 1) − B(j)`, each as a run-length, LEB128 byte string (a
//! few bytes per non-empty bucket). Rotating to a new slice reads the
//! counts once, appends the delta of the slice that ended, and folds the
//! oldest delta into the base by merging the two streams (no dense
//! buffer).
//!
//! Rotation happens when someone reads the window or calls
//! [`Histogram::rotate`](crate::Histogram::rotate) (the registry's upkeep
//! does every slice). If nobody did for a while, everything recorded since
//! the last rotation is attributed to the slice of that rotation: values
//! may leave the window early after a long silence, never late.

use std::collections::VecDeque;

use crate::engine::layout::PAGE_LEN;
use crate::engine::snapshot::touched_pages;

/// A slice delta or base: counts as a byte string, with its totals.
#[derive(Clone, Debug, Default)]
pub(crate) struct Encoded {
    bytes: Box<[u8]>,
    pub(crate) sum: u128,
}

impl Encoded {
    /// Encodes the counts of the touched pages of `dense`.
    pub(crate) fn encode(dense: &[u64], touched: &[u64], sum: u128) -> Self {
        let mut w = Writer::default();
        for p in touched_pages(touched) {
            let base = p * PAGE_LEN;
            for (i, &c) in dense[base..base + PAGE_LEN].iter().enumerate() {
                w.push(base + i, c);
            }
        }
        w.finish(sum)
    }

    /// `self + other`, count by count, without a dense buffer: the two
    /// streams are merged as they are read.
    pub(crate) fn merged(&self, other: &Encoded) -> Self {
        let (mut a, mut b) = (self.iter(), other.iter());
        let (mut x, mut y) = (a.next(), b.next());
        let mut w = Writer::default();
        loop {
            match (x, y) {
                (Some((i, c)), Some((j, d))) if i == j => {
                    w.push(i, c.wrapping_add(d));
                    (x, y) = (a.next(), b.next());
                }
                (Some((i, c)), Some((j, _))) if i < j => {
                    w.push(i, c);
                    x = a.next();
                }
                (Some((i, c)), None) => {
                    w.push(i, c);
                    x = a.next();
                }
                (_, Some((j, d))) => {
                    w.push(j, d);
                    y = b.next();
                }
                (None, None) => return w.finish(self.sum.wrapping_add(other.sum)),
            }
        }
    }

    /// The non-zero counts, ascending: `(index, count)`.
    fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let mut at = 0_usize;
        let mut bytes = &self.bytes[..];
        std::iter::from_fn(move || {
            loop {
                let token = take_varint(&mut bytes)?;
                if token & 1 == 1 {
                    at = at.saturating_add(usize::try_from(token >> 1).unwrap_or(usize::MAX));
                } else {
                    let item = (at, u64::try_from(token >> 1).unwrap_or(u64::MAX));
                    at += 1;
                    return Some(item);
                }
            }
        })
    }

    /// Calls `f(index, count)` for every non-zero count, ascending.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, u64)) {
        for (i, c) in self.iter() {
            f(i, c);
        }
    }

    /// Subtracts these counts from `dense`, marking touched pages.
    pub(crate) fn subtract_from(&self, dense: &mut [u64]) {
        self.for_each(|i, c| {
            if let Some(d) = dense.get_mut(i) {
                *d = d.saturating_sub(c);
            }
        });
    }

    /// Adds these counts to `dense`, marking touched pages.
    #[cfg(test)]
    pub(crate) fn add_to(&self, dense: &mut [u64], touched: &mut [u64]) {
        self.for_each(|i, c| {
            if let Some(d) = dense.get_mut(i) {
                *d = d.wrapping_add(c);
                let p = i / PAGE_LEN;
                touched[p / 64] |= 1 << (p % 64);
            }
        });
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// Writes non-zero counts in ascending index order as zero runs and counts.
#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
    /// The first index not yet accounted for.
    next: usize,
}

impl Writer {
    fn push(&mut self, index: usize, count: u64) {
        if count == 0 {
            return;
        }
        let zeros = index - self.next;
        if zeros > 0 {
            put_varint(&mut self.bytes, ((zeros as u128) << 1) | 1);
        }
        put_varint(&mut self.bytes, u128::from(count) << 1);
        self.next = index + 1;
    }

    fn finish(self, sum: u128) -> Encoded {
        Encoded {
            bytes: self.bytes.into_boxed_slice(),
            sum,
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn take_varint(bytes: &mut &[u8]) -> Option<u128> {
    // Nearly every token fits in 63 bits (9 bytes): decode those in a u64.
    let mut v = 0_u64;
    for shift in (0..63).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(u128::from(v));
        }
    }
    let mut v = u128::from(v);
    let mut shift = 63;
    loop {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        if shift < 128 {
            v |= u128::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

/// The window's state; lives behind the histogram's reader mutex.
#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) slice_ns: u64,
    pub(crate) slices: usize,
    /// Slice index of the last rotation.
    pub(crate) slice: u64,
    /// `B(slice − deltas.len())`.
    pub(crate) base: Encoded,
    /// When the base was taken (the creation time until the first fold).
    pub(crate) base_ns: u64,
    /// `D(j)` for the slices between the base and the current slice.
    pub(crate) deltas: VecDeque<Encoded>,
}

impl Window {
    pub(crate) fn new(slice_ns: u64, slices: usize, now_ns: u64) -> Self {
        Self {
            slice_ns,
            slices,
            slice: now_ns / slice_ns,
            base: Encoded::default(),
            base_ns: now_ns,
            deltas: VecDeque::with_capacity(slices + 1),
        }
    }

    /// Whether time `now_ns` is in a later slice than the last rotation.
    pub(crate) fn due(&self, now_ns: u64) -> bool {
        now_ns / self.slice_ns > self.slice
    }

    /// Rotates to the slice of `now_ns`, given the cumulative counts `dense`
    /// (pages marked in `touched`) and sum read just now. Leaves `dense`
    /// holding the delta of the slice that ended.
    pub(crate) fn rotate(
        &mut self,
        now_ns: u64,
        dense: &mut [u64],
        touched: &mut [u64],
        sum: u128,
    ) {
        let target = now_ns / self.slice_ns;
        if target <= self.slice {
            return;
        }
        // D(slice) = C(now) − B(slice) = C(now) − base − Σ deltas.
        let mut delta_sum = sum.wrapping_sub(self.base.sum);
        self.base.subtract_from(dense);
        for d in &self.deltas {
            d.subtract_from(dense);
            delta_sum = delta_sum.wrapping_sub(d.sum);
        }
        self.deltas
            .push_back(Encoded::encode(dense, touched, delta_sum));
        // Slices skipped without a rotation are empty.
        let skipped = (target - self.slice - 1).min(self.slices as u64 + 1);
        for _ in 0..skipped {
            self.deltas.push_back(Encoded::default());
        }
        self.slice = target;
        // The oldest deltas fold into the base, stream by stream.
        while self.deltas.len() > self.slices {
            if let Some(d) = self.deltas.pop_front() {
                self.base = self.base.merged(&d);
            }
        }
        self.base_ns = (self.slice - self.deltas.len() as u64) * self.slice_ns;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.base.heap_bytes()
            + self.deltas.capacity() * size_of::<Encoded>()
            + self.deltas.iter().map(Encoded::heap_bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let mut dense = vec![0_u64; 4 * PAGE_LEN];
        let mut touched = vec![0_u64; 1];
        for (i, c) in [
            (0, 1),
            (1, 5),
            (130, u64::MAX),
            (131, 7),
            (3 * PAGE_LEN + 9, 300),
        ] {
            dense[i] = c;
            touched[0] |= 1 << (i / PAGE_LEN);
        }
        let e = Encoded::encode(&dense, &touched, 42);
        assert_eq!(e.sum, 42);
        let mut back = vec![0_u64; 4 * PAGE_LEN];
        let mut back_touched = vec![0_u64; 1];
        e.add_to(&mut back, &mut back_touched);
        assert_eq!(back, dense);
        assert_eq!(back_touched, touched);
        e.subtract_from(&mut back);
        assert!(back.iter().all(|&c| c == 0));
        // A few bytes per non-empty bucket.
        assert!(e.heap_bytes() < 24, "{} bytes", e.heap_bytes());
    }

    #[test]
    fn merging_two_streams_adds_them_count_by_count() {
        let len = 4 * PAGE_LEN;
        let pages = |idx: &[(usize, u64)]| {
            let mut dense = vec![0_u64; len];
            let mut touched = vec![0_u64; 1];
            for &(i, c) in idx {
                dense[i] = c;
                touched[0] |= 1 << (i / PAGE_LEN);
            }
            (dense, touched)
        };
        let (a, at) = pages(&[(0, 1), (5, 2), (200, u64::MAX - 1), (300, 4)]);
        let (b, bt) = pages(&[(5, 3), (6, 1), (200, 1), (3 * PAGE_LEN + 1, 9)]);
        let m = Encoded::encode(&a, &at, 10).merged(&Encoded::encode(&b, &bt, 5));
        assert_eq!(m.sum, 15);
        let got: Vec<(usize, u64)> = m.iter().collect();
        assert_eq!(
            got,
            vec![
                (0, 1),
                (5, 5),
                (6, 1),
                (200, u64::MAX),
                (300, 4),
                (3 * PAGE_LEN + 1, 9)
            ]
        );
        // Merging with an empty stream changes nothing.
        let e = Encoded::encode(&a, &at, 10);
        assert_eq!(e.merged(&Encoded::default()).bytes, e.bytes);
        assert_eq!(Encoded::default().merged(&e).bytes, e.bytes);
    }

    #[test]
    fn truncated_input_does_not_panic() {
        let e = Encoded {
            bytes: vec![0xff, 0xff, 0x80].into_boxed_slice(),
            sum: 0,
        };
        let mut seen = 0;
        e.for_each(|_, _| seen += 1);
        assert_eq!(seen, 0);
    }
}
