//! The sliding window: cumulative counts at slice boundaries, kept
//! compressed, so the recording path only ever increments.
//!
//! Time is cut into slices of `slice_ns` (aligned on the clock's origin).
//! `B(k)` is the cumulative histogram at the start of slice `k`. At time
//! `t` in slice `k`, the window is `C(t) − B(k − n)` for `n` slices per
//! window: it covers between `n` and `n + 1` slices, so a value stays in
//! the window for at least the window length and leaves it at most one
//! slice later.
//!
//! Stored: `B(k − n)` (the *base*) and the later bounds up to `B(k)`, each
//! as a run-length, LEB128 byte string (a few bytes per non-empty bucket).
//! Rotating to a new slice reads the counts once and encodes them as the
//! newest bound; the bound that leaves the window is dropped. Nothing is
//! decoded, so a rotation costs one pass over the touched pages (about
//! 2 µs for a busy latency series). A read of the window subtracts one
//! stream, the base. Storing bounds rather than slice deltas costs a few
//! bytes per bucket more (cumulative counts are larger numbers) and saves
//! decoding every delta at every rotation.
//!
//! Rotation happens when someone reads the window or calls
//! [`Histogram::rotate`](crate::Histogram::rotate) (the registry's upkeep
//! does every slice). If nobody did for a while, everything recorded since
//! the last rotation is attributed to the slice of that rotation: values
//! may leave the window early after a long silence, never late.

use std::collections::VecDeque;

use crate::engine::layout::PAGE_LEN;
use crate::engine::snapshot::touched_pages;

/// A bound of the window: counts as a byte string, with their sum.
#[derive(Clone, Debug, Default)]
pub(crate) struct Encoded {
    bytes: Box<[u8]>,
    pub(crate) sum: u128,
}

impl Encoded {
    /// Encodes the counts of the touched pages of `dense`: for each page
    /// with a count, the page number (LEB128, from the previous page's
    /// next), a 128-bit map of its non-zero counters, and those counts
    /// (LEB128). Written into the reading thread's scratch buffer, then
    /// copied into an exactly sized box (one allocation).
    pub(crate) fn encode(dense: &[u64], touched: &[u64], sum: u128) -> Self {
        let write = |buf: &mut Vec<u8>| {
            let mut at = 0;
            let mut next_page = 0;
            for p in touched_pages(touched) {
                let cells = &dense[p * PAGE_LEN..(p + 1) * PAGE_LEN];
                let mut bits = 0_u128;
                for (k, chunk) in cells.chunks(8).enumerate() {
                    let mut byte = 0_u8;
                    for (j, &c) in chunk.iter().enumerate() {
                        byte |= u8::from(c != 0) << j;
                    }
                    bits |= u128::from(byte) << (8 * k);
                }
                if bits == 0 {
                    continue;
                }
                if buf.len() < at + PAGE_MAX_BYTES {
                    buf.resize(at + PAGE_MAX_BYTES, 0);
                }
                at = put_u64(buf, at, (p - next_page) as u64);
                next_page = p + 1;
                buf[at..at + 16].copy_from_slice(&bits.to_le_bytes());
                at += 16;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    at = put_u64(buf, at, cells[i]);
                }
            }
            Encoded {
                bytes: buf[..at].into(),
                sum,
            }
        };
        ENCODE_SCRATCH
            .try_with(|cell| cell.try_borrow_mut().ok().map(|mut b| write(&mut b)))
            .ok()
            .flatten()
            .unwrap_or_else(|| write(&mut Vec::new()))
    }

    /// Calls `f(index, count)` for every non-zero count, ascending. Stops
    /// at a truncated stream.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, u64)) {
        let mut bytes = &self.bytes[..];
        let mut page = 0_usize;
        while let Some(skip) = take_u64(&mut bytes) {
            page = page.saturating_add(usize::try_from(skip).unwrap_or(usize::MAX));
            let Some((map, rest)) = bytes.split_first_chunk::<16>() else {
                return;
            };
            bytes = rest;
            let mut bits = u128::from_le_bytes(*map);
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let Some(count) = take_u64(&mut bytes) else {
                    return;
                };
                f(page.saturating_mul(PAGE_LEN).saturating_add(i), count);
            }
            page = page.saturating_add(1);
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

thread_local! {
    /// The encoder's working buffer, one per reading thread.
    static ENCODE_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most bytes one page can take: its number, its map, its counts.
const PAGE_MAX_BYTES: usize = 10 + 16 + PAGE_LEN * 10;

/// LEB128 of `v` into `buf` at `at` (which has room); returns the end.
/// Tokens of one and two bytes (nearly all) take no loop.
#[inline(always)]
fn put_u64(buf: &mut [u8], at: usize, v: u64) -> usize {
    if v < 0x80 {
        buf[at] = v as u8;
        return at + 1;
    }
    if v < 0x4000 {
        buf[at] = (v as u8) | 0x80;
        buf[at + 1] = (v >> 7) as u8;
        return at + 2;
    }
    if v < 0x20_0000 {
        buf[at] = (v as u8) | 0x80;
        buf[at + 1] = ((v >> 7) as u8) | 0x80;
        buf[at + 2] = (v >> 14) as u8;
        return at + 3;
    }
    let (mut v, mut at) = (v, at);
    while v >= 0x80 {
        buf[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    buf[at] = v as u8;
    at + 1
}

/// Reads a LEB128 u64; `None` at the end or on a truncated token.
#[inline(always)]
fn take_u64(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0_u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The window's state; lives behind the histogram's reader mutex.
#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) slice_ns: u64,
    pub(crate) slices: usize,
    /// Slice index of the last rotation.
    pub(crate) slice: u64,
    /// When the histogram was created.
    created_ns: u64,
    /// The cumulative counts at slice boundaries, oldest first: `(j, B)`
    /// means `B(i) = B` for `j ≤ i` up to the next entry's `j`. The front
    /// is the base of the window, `B(slice − slices)`.
    bounds: VecDeque<(u64, Encoded)>,
}

impl Window {
    pub(crate) fn new(slice_ns: u64, slices: usize, now_ns: u64) -> Self {
        let slice = now_ns / slice_ns;
        let mut bounds = VecDeque::with_capacity(slices + 2);
        bounds.push_back((slice, Encoded::default()));
        Self {
            slice_ns,
            slices,
            slice,
            created_ns: now_ns,
            bounds,
        }
    }

    /// Whether time `now_ns` is in a later slice than the last rotation.
    pub(crate) fn due(&self, now_ns: u64) -> bool {
        now_ns / self.slice_ns > self.slice
    }

    /// `B(slice − slices)`: what the window subtracts from the cumulative counts.
    pub(crate) fn base(&self) -> &Encoded {
        // Never empty: created with one bound, pruned down to one at least.
        &self.bounds[0].1
    }

    /// When the base was taken (the creation time until a full window has passed).
    pub(crate) fn base_ns(&self) -> u64 {
        let from = self.slice.saturating_sub(self.slices as u64);
        from.saturating_mul(self.slice_ns).max(self.created_ns)
    }

    /// Rotates to the slice of `now_ns`, given the cumulative counts `dense`
    /// (pages marked in `touched`) and sum read just now: they become the
    /// bound of every slice boundary since the last rotation (everything
    /// recorded since then counts in the slice of that rotation). One
    /// encoding of the counts; nothing decoded.
    pub(crate) fn rotate(&mut self, now_ns: u64, dense: &[u64], touched: &[u64], sum: u128) {
        let target = now_ns / self.slice_ns;
        if target <= self.slice {
            return;
        }
        self.bounds
            .push_back((self.slice + 1, Encoded::encode(dense, touched, sum)));
        self.slice = target;
        // Keep the latest bound at or before the window's start, and those after.
        let start = target.saturating_sub(self.slices as u64);
        while self.bounds.len() > 1 && self.bounds[1].0 <= start {
            self.bounds.pop_front();
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bounds.capacity() * size_of::<(u64, Encoded)>()
            + self
                .bounds
                .iter()
                .map(|(_, b)| b.heap_bytes())
                .sum::<usize>()
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
        // 17 bytes per page (number and map), then a few per non-empty bucket.
        assert_eq!(
            e.heap_bytes(),
            3 * 17 + (1 + 1 + 10 + 1 + 2),
            "{} bytes",
            e.heap_bytes()
        );
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
