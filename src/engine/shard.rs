//! The hot path: per-thread shards of lazily allocated HDR count pages.
//!
//! ```text
//! Counts ─ shards[0..=64] ─ OnceBox<Shard> ─ sum, pages[0..n] ─ OnceBox<Page> ─ 128 × AtomicU64
//!          (slot i = the thread holding exclusive slot i; 64 = shared)
//! ```
//!
//! * Recording: clamp, compute the HDR index, find the caller's shard and
//!   page, add 1 to a counter and the value to the shard's sum. Exclusive
//!   shards use a relaxed load + store (one writer), the shared shard uses
//!   `fetch_add`. No lock, no read-modify-write on a line another writer
//!   uses, no wait on readers, no panic.
//! * Memory: a shard and each of its pages are allocated the first time
//!   their thread records a value in that page's range (1 KiB, 128
//!   counters). A latency series touches a handful of pages per writing
//!   thread; memory grows with the spread of the values, never with their
//!   number or with how often anyone reads.
//! * Reading: sum every shard's pages into a dense array. Each counter only
//!   grows, so any read is a valid, monotonic snapshot.

use once_cell::race::OnceBox;

use crate::engine::layout::{Layout, PAGE_BITS, PAGE_LEN, PAGE_MASK};
use crate::engine::slot::{self, SHARDS, SHARED_SLOT};
use crate::engine::sync::{AtomicU64, Ordering, add_exclusive};

/// 128 counters; aligned so that two threads' pages never share a cache line.
#[repr(align(128))]
struct Page {
    counts: [AtomicU64; PAGE_LEN],
}

impl Page {
    fn new() -> Box<Self> {
        Box::new(Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        })
    }
}

/// One writer's counts: a 128-bit sum and the pages.
#[repr(align(128))]
struct Shard {
    sum_lo: AtomicU64,
    sum_hi: AtomicU64,
    pages: Box<[OnceBox<Page>]>,
}

impl Shard {
    fn new(pages: usize) -> Box<Self> {
        Box::new(Self {
            sum_lo: AtomicU64::new(0),
            sum_hi: AtomicU64::new(0),
            pages: (0..pages).map(|_| OnceBox::new()).collect(),
        })
    }

    /// Reads the 128-bit sum; retries if the high word moved meanwhile.
    fn sum(&self) -> u128 {
        loop {
            let hi = self.sum_hi.load(Ordering::Acquire);
            let lo = self.sum_lo.load(Ordering::Acquire);
            if self.sum_hi.load(Ordering::Acquire) == hi {
                return (u128::from(hi) << 64) | u128::from(lo);
            }
        }
    }
}

/// The sharded HDR counts of one series.
pub(crate) struct Counts {
    layout: Layout,
    shards: Box<[OnceBox<Shard>]>,
    clamped: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("layout", &self.layout)
            .field(
                "shards",
                &self.shards.iter().filter(|s| s.get().is_some()).count(),
            )
            .finish_non_exhaustive()
    }
}

impl Counts {
    pub(crate) fn new(layout: Layout) -> Self {
        Self {
            layout,
            shards: (0..SHARDS).map(|_| OnceBox::new()).collect(),
            clamped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Records one value. Values above the highest trackable value are
    /// recorded as that value and counted in [`clamped`](Self::clamped).
    #[inline]
    pub(crate) fn record(&self, value: u64) {
        let value = if value > self.layout.highest_trackable() {
            self.clamped.fetch_add(1, Ordering::Relaxed);
            self.layout.highest_trackable()
        } else {
            value
        };
        let index = self.layout.index_of(value);
        let slot = slot::current();
        let shard = self.shards[slot].get_or_init(|| Shard::new(self.layout.pages()));
        let page = shard.pages[index >> PAGE_BITS].get_or_init(Page::new);
        let counter = &page.counts[index & PAGE_MASK];
        if slot == SHARED_SLOT {
            counter.fetch_add(1, Ordering::Relaxed);
            let before = shard.sum_lo.fetch_add(value, Ordering::Release);
            if before.checked_add(value).is_none() {
                shard.sum_hi.fetch_add(1, Ordering::Release);
            }
        } else {
            add_exclusive(counter, 1);
            let (lo, carry) = shard.sum_lo.load(Ordering::Relaxed).overflowing_add(value);
            shard.sum_lo.store(lo, Ordering::Release);
            if carry {
                add_exclusive(&shard.sum_hi, 1);
            }
        }
    }

    /// Counts a value that was refused (NaN).
    pub(crate) fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a value that was clamped before it reached [`record`](Self::record)
    /// (e.g. a negative float).
    pub(crate) fn count_clamped(&self) {
        self.clamped.fetch_add(1, Ordering::Relaxed);
    }

    /// Values recorded at the edge of the range instead of their own value.
    pub(crate) fn clamped(&self) -> u64 {
        self.clamped.load(Ordering::Relaxed)
    }

    /// Values refused (NaN).
    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Adds every shard's counts into `dense` (length
    /// [`Layout::padded_len`]), marks the pages it touched in `touched`,
    /// and returns the sum of all recorded values.
    pub(crate) fn add_into(&self, dense: &mut [u64], touched: &mut [u64]) -> u128 {
        let mut sum = 0_u128;
        for shard in self.shards.iter().filter_map(OnceBox::get) {
            sum = sum.wrapping_add(shard.sum());
            for (p, page) in shard.pages.iter().enumerate() {
                let Some(page) = page.get() else { continue };
                touched[p / 64] |= 1 << (p % 64);
                let dst = &mut dense[p * PAGE_LEN..(p + 1) * PAGE_LEN];
                for (d, c) in dst.iter_mut().zip(page.counts.iter()) {
                    *d = d.wrapping_add(c.load(Ordering::Relaxed));
                }
            }
        }
        sum
    }

    /// Heap bytes held by this series' counts (shards and pages), for the
    /// memory report.
    pub(crate) fn heap_bytes(&self) -> usize {
        let mut bytes = self.shards.len() * size_of::<OnceBox<Shard>>();
        for shard in self.shards.iter().filter_map(OnceBox::get) {
            bytes += size_of::<Shard>() + shard.pages.len() * size_of::<OnceBox<Page>>();
            bytes += shard.pages.iter().filter(|p| p.get().is_some()).count() * size_of::<Page>();
        }
        bytes
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    fn read(c: &Counts) -> (Vec<u64>, u128) {
        let mut dense = vec![0; c.layout().padded_len()];
        let mut touched = vec![0; c.layout().pages().div_ceil(64)];
        let sum = c.add_into(&mut dense, &mut touched);
        (dense, sum)
    }

    #[test]
    fn counts_and_sums_across_threads() {
        let c = std::sync::Arc::new(Counts::new(Layout::default()));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for v in 0..1000_u64 {
                        c.record(v * 1000 + t);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let (dense, sum) = read(&c);
        assert_eq!(dense.iter().sum::<u64>(), 4000);
        let expected: u128 = (0..4_u128)
            .map(|t| (0..1000_u128).map(|v| v * 1000 + t).sum::<u128>())
            .sum();
        assert_eq!(sum, expected);
    }

    #[test]
    fn clamps_and_counts_values_above_range() {
        let layout = Layout::new(1, 1_000_000, 2).unwrap();
        let c = Counts::new(layout);
        c.record(u64::MAX);
        c.record(1_000_001);
        c.record(1_000_000);
        assert_eq!(c.clamped(), 2);
        let (dense, sum) = read(&c);
        assert_eq!(dense[layout.index_of(1_000_000)], 3);
        assert_eq!(sum, 3_000_000);
    }

    #[test]
    fn sum_carries_past_u64() {
        let c = Counts::new(Layout::new(1, u64::MAX, 2).unwrap());
        c.record(u64::MAX);
        c.record(u64::MAX);
        c.record(2);
        let (_, sum) = read(&c);
        assert_eq!(sum, 2 * u128::from(u64::MAX) + 2);
    }

    #[test]
    fn memory_grows_with_spread_not_volume() {
        let c = Counts::new(Layout::default());
        c.record(1_000_000);
        let one = c.heap_bytes();
        for _ in 0..100_000 {
            c.record(1_000_000);
        }
        assert_eq!(c.heap_bytes(), one);
        c.record(1_000_000_000); // a new power-of-two range: one more page
        assert_eq!(c.heap_bytes(), one + size_of::<Page>());
    }
}
