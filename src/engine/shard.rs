//! The hot path: a bounded set of stripes of lazily allocated HDR count pages.
//!
//! ```text
//! Counts ─ exclusive[0..16] ─ LazyBox<Stripe<u32 pages>> ─ sum, pages ─ LazyBox<Page> ─ 128 × AtomicU32
//!        └ shared[0..8]     ─ LazyBox<Stripe<u64 pages>> ─ sum, pages ─ LazyBox<Page> ─ 128 × AtomicU64
//!          (stripe i = the thread holding exclusive slot i; the rest spread over the shared ones)
//! ```
//!
//! * Recording: clamp, compute the HDR index, find the caller's stripe and
//!   page, add 1 to a counter and the value to the stripe's sum. Exclusive
//!   stripes use a relaxed load + store (one writer) on 32-bit counters; a
//!   counter that is full (2^32 − 1 values of one bucket from one slot)
//!   sends its further values to the first shared stripe, so nothing wraps
//!   and nothing is lost. Shared stripes use `fetch_add` on 64-bit
//!   counters. No lock, no wait on readers, no panic.
//! * Memory: stripes are bounded (at most 16 + 8 per series, 4 + 2 on a
//!   2-core machine; see `slot.rs`), whatever the number of threads. A
//!   stripe and each of its pages are allocated the first time a value
//!   lands in that page's range (512 bytes exclusive, 1 KiB shared). The
//!   stripe of a slot whose thread exited is folded into the first shared
//!   stripe and freed at the next rotation ([`Counts::reclaim`]).
//! * Reading: sum every stripe's pages into a dense array. Each counter
//!   only grows and a fold moves counts under the reader lock, so any read
//!   is a valid, monotonic snapshot.

use crate::engine::layout::{Layout, PAGE_BITS, PAGE_LEN, PAGE_MASK};
use crate::engine::lazy::LazyBox;
use crate::engine::slot::{self, MAX_EXCLUSIVE, MAX_SHARED};
use crate::engine::sync::{AtomicU32, AtomicU64, Ordering, add_exclusive, increment_exclusive};

/// A page of counters; aligned so that two stripes' pages never share a
/// cache line.
trait Page: Send + Sync {
    fn new() -> Box<Self>;
    /// Adds the counters into `dst` (one page long).
    fn add_to(&self, dst: &mut [u64]);
}

/// 128 counters of one exclusive writer: 512 bytes.
#[repr(align(128))]
struct ExclusivePage([AtomicU32; PAGE_LEN]);

/// 128 counters written with `fetch_add`: 1 KiB.
#[repr(align(128))]
struct SharedPage([AtomicU64; PAGE_LEN]);

impl Page for ExclusivePage {
    fn new() -> Box<Self> {
        Box::new(Self(std::array::from_fn(|_| AtomicU32::new(0))))
    }
    fn add_to(&self, dst: &mut [u64]) {
        for (d, c) in dst.iter_mut().zip(self.0.iter()) {
            *d = d.wrapping_add(u64::from(c.load(Ordering::Relaxed)));
        }
    }
}

impl Page for SharedPage {
    fn new() -> Box<Self> {
        Box::new(Self(std::array::from_fn(|_| AtomicU64::new(0))))
    }
    fn add_to(&self, dst: &mut [u64]) {
        for (d, c) in dst.iter_mut().zip(self.0.iter()) {
            *d = d.wrapping_add(c.load(Ordering::Relaxed));
        }
    }
}

/// One stripe's counts: a 128-bit sum and the pages.
#[repr(align(128))]
struct Stripe<P> {
    sum_lo: AtomicU64,
    sum_hi: AtomicU64,
    pages: Box<[LazyBox<P>]>,
}

impl<P: Page> Stripe<P> {
    fn new(pages: usize) -> Box<Self> {
        Box::new(Self {
            sum_lo: AtomicU64::new(0),
            sum_hi: AtomicU64::new(0),
            pages: (0..pages).map(|_| LazyBox::new()).collect(),
        })
    }

    #[inline(always)]
    fn page(&self, index: usize) -> &P {
        self.pages[index >> PAGE_BITS].get_or_init(P::new)
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

    /// Adds the counts into `dense`, marks the pages in `touched`, returns the sum.
    fn add_into(&self, dense: &mut [u64], touched: &mut [u64]) -> u128 {
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            touched[p / 64] |= 1 << (p % 64);
            page.add_to(&mut dense[p * PAGE_LEN..(p + 1) * PAGE_LEN]);
        }
        self.sum()
    }

    fn heap_bytes(&self) -> usize {
        size_of::<Self>()
            + self.pages.len() * size_of::<LazyBox<P>>()
            + self.pages.iter().filter(|p| p.get().is_some()).count() * size_of::<P>()
    }
}

impl Stripe<ExclusivePage> {
    #[inline(always)]
    fn add_sum(&self, value: u64) {
        let (lo, carry) = self.sum_lo.load(Ordering::Relaxed).overflowing_add(value);
        self.sum_lo.store(lo, Ordering::Release);
        if carry {
            add_exclusive(&self.sum_hi, 1);
        }
    }
}

impl Stripe<SharedPage> {
    #[inline(always)]
    fn add_sum(&self, value: u128) {
        let (lo, hi) = (value as u64, (value >> 64) as u64);
        let before = self.sum_lo.fetch_add(lo, Ordering::Release);
        let carry = u64::from(before.checked_add(lo).is_none());
        if hi | carry != 0 {
            self.sum_hi
                .fetch_add(hi.wrapping_add(carry), Ordering::Release);
        }
    }
}

/// The striped HDR counts of one series.
pub(crate) struct Counts {
    layout: Layout,
    exclusive: [LazyBox<Stripe<ExclusivePage>>; MAX_EXCLUSIVE],
    shared: [LazyBox<Stripe<SharedPage>>; MAX_SHARED],
    clamped: AtomicU64,
    rejected: AtomicU64,
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("layout", &self.layout)
            .field(
                "stripes",
                &(self.exclusive.iter().filter(|s| s.is_set()).count()
                    + self.shared.iter().filter(|s| s.get().is_some()).count()),
            )
            .finish_non_exhaustive()
    }
}

impl Counts {
    pub(crate) fn new(layout: Layout) -> Self {
        Self {
            layout,
            exclusive: std::array::from_fn(|_| LazyBox::new()),
            shared: std::array::from_fn(|_| LazyBox::new()),
            clamped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Records one value. Values above the highest trackable value are
    /// recorded as that value and counted in [`clamped`](Self::clamped).
    /// Returns the value recorded and its counter index.
    #[inline]
    pub(crate) fn record(&self, value: u64) -> (u64, usize) {
        self.record_in(slot::current(), value)
    }

    /// Records one value as the holder of `slot`; returns the value
    /// recorded and its counter index.
    #[inline(always)]
    pub(crate) fn record_in(&self, slot: usize, value: u64) -> (u64, usize) {
        let value = if value > self.layout.highest_trackable() {
            self.clamped.fetch_add(1, Ordering::Relaxed);
            self.layout.highest_trackable()
        } else {
            value
        };
        let index = self.layout.index_of(value);
        if let Some(stripe) = self.exclusive.get(slot) {
            let stripe = stripe.get_or_init(|| Stripe::new(self.layout.pages()));
            if !increment_exclusive(&stripe.page(index).0[index & PAGE_MASK]) {
                self.spill(index);
            }
            stripe.add_sum(value);
        } else {
            let stripe = self.shared_stripe(slot::shared_index());
            stripe.page(index).0[index & PAGE_MASK].fetch_add(1, Ordering::Relaxed);
            stripe.add_sum(u128::from(value));
        }
        (value, index)
    }

    /// A full 32-bit counter of an exclusive stripe: count the value in
    /// the first shared stripe instead.
    #[cold]
    fn spill(&self, index: usize) {
        self.shared_stripe(0).page(index).0[index & PAGE_MASK].fetch_add(1, Ordering::Relaxed);
    }

    fn shared_stripe(&self, i: usize) -> &Stripe<SharedPage> {
        self.shared[i.min(MAX_SHARED - 1)].get_or_init(|| Stripe::new(self.layout.pages()))
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

    /// Adds every stripe's counts into `dense` (length
    /// [`Layout::padded_len`]), marks the pages it touched in `touched`,
    /// and returns the sum of all recorded values. The caller holds the
    /// series' reader lock (a concurrent [`reclaim`](Self::reclaim) would
    /// free a stripe being read).
    pub(crate) fn add_into(&self, dense: &mut [u64], touched: &mut [u64]) -> u128 {
        let mut sum = 0_u128;
        for stripe in self.exclusive.iter().filter_map(LazyBox::get) {
            sum = sum.wrapping_add(stripe.add_into(dense, touched));
        }
        for stripe in self.shared.iter().filter_map(LazyBox::get) {
            sum = sum.wrapping_add(stripe.add_into(dense, touched));
        }
        sum
    }

    /// Folds the stripes of exclusive slots that no thread holds (their
    /// threads exited) into the first shared stripe and frees them; returns
    /// how many. Does nothing unless a slot was released since `seen`.
    /// The caller holds the series' reader lock.
    #[cfg(not(tailwatch_loom))]
    pub(crate) fn reclaim(&self, seen: &mut u64) -> usize {
        self.reclaim_with(&slot::STATES, &slot::RELEASES, seen)
    }

    /// [`reclaim`](Self::reclaim) against explicit slot states (the loom model).
    pub(crate) fn reclaim_with(
        &self,
        states: &[AtomicU32],
        releases: &AtomicU64,
        seen: &mut u64,
    ) -> usize {
        let now = releases.load(Ordering::Acquire);
        if now == *seen {
            return 0;
        }
        *seen = now;
        let mut freed = 0;
        for (i, (lazy, _)) in self.exclusive.iter().zip(states).enumerate() {
            if !lazy.is_set() || !slot::begin_fold(states, i) {
                continue;
            }
            // SAFETY: nobody can reach stripe `i` of this series: no thread
            // holds slot `i` and none can claim it before `end_fold` (the
            // slot protocol: a holder is the only writer of stripe `i`, and
            // a writer reaches it only while holding the slot), and readers
            // are excluded by the reader lock our caller holds.
            #[allow(unsafe_code)]
            let taken = unsafe { lazy.take() };
            if let Some(stripe) = taken {
                self.fold(&stripe);
                freed += 1;
            }
            slot::end_fold(states, i);
        }
        freed
    }

    /// Adds an exclusive stripe's counts and sum to the first shared stripe.
    fn fold(&self, from: &Stripe<ExclusivePage>) {
        let into = self.shared_stripe(0);
        for (p, page) in from.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            let mut dst: Option<&SharedPage> = None;
            for (i, c) in page.0.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n != 0 {
                    dst.get_or_insert_with(|| into.page(p << PAGE_BITS)).0[i]
                        .fetch_add(u64::from(n), Ordering::Relaxed);
                }
            }
        }
        into.add_sum(from.sum());
    }

    /// Heap bytes held by this series' counts (stripes and pages), for the
    /// memory report. The caller holds the reader lock.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.exclusive
            .iter()
            .filter_map(LazyBox::get)
            .map(Stripe::heap_bytes)
            .chain(
                self.shared
                    .iter()
                    .filter_map(LazyBox::get)
                    .map(Stripe::heap_bytes),
            )
            .sum()
    }

    /// Stripes allocated now: exclusive and shared.
    #[cfg(test)]
    pub(crate) fn stripes(&self) -> (usize, usize) {
        (
            self.exclusive.iter().filter(|s| s.is_set()).count(),
            self.shared.iter().filter(|s| s.get().is_some()).count(),
        )
    }

    /// Sets a counter of an exclusive stripe, to test what happens when it is full.
    #[cfg(all(test, not(tailwatch_loom)))]
    fn preset_exclusive(&self, slot: usize, value: u64, to: u32) {
        let index = self.layout.index_of(value);
        let stripe = self.exclusive[slot].get_or_init(|| Stripe::new(self.layout.pages()));
        stripe.page(index).0[index & PAGE_MASK].store(to, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;
    use crate::engine::slot::FIRST_SHARED;

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
        for slot in [0, FIRST_SHARED] {
            c.record_in(slot, u64::MAX);
            c.record_in(slot, u64::MAX);
            c.record_in(slot, 2);
        }
        let (_, sum) = read(&c);
        assert_eq!(sum, 4 * u128::from(u64::MAX) + 4);
    }

    #[test]
    fn a_full_exclusive_counter_spills_to_a_shared_stripe() {
        let c = Counts::new(Layout::default());
        c.preset_exclusive(1, 5_000, u32::MAX - 1);
        c.record_in(1, 5_000); // fills it
        c.record_in(1, 5_000); // spills
        c.record_in(1, 5_000);
        let (dense, _) = read(&c);
        let i = c.layout().index_of(5_000);
        assert_eq!(dense[i], u64::from(u32::MAX) + 2);
        assert_eq!(c.stripes(), (1, 1));
    }

    #[test]
    fn memory_grows_with_spread_not_volume() {
        let c = Counts::new(Layout::default());
        c.record_in(0, 1_000_000);
        let one = c.heap_bytes();
        for _ in 0..100_000 {
            c.record_in(0, 1_000_000);
        }
        assert_eq!(c.heap_bytes(), one);
        c.record_in(0, 1_000_000_000); // a new power-of-two range: one more page
        assert_eq!(c.heap_bytes(), one + size_of::<ExclusivePage>());
        assert_eq!(size_of::<ExclusivePage>(), 512);
    }

    #[test]
    fn stripes_stay_bounded_whatever_the_thread_count() {
        let c = std::sync::Arc::new(Counts::new(Layout::default()));
        let go = std::sync::Arc::new(std::sync::Barrier::new(40));
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let (c, go) = (c.clone(), go.clone());
                std::thread::spawn(move || {
                    go.wait();
                    (0..100).for_each(|v| {
                        c.record(1_000 + v);
                    });
                    go.wait();
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let (exclusive, shared) = c.stripes();
        assert!(exclusive <= slot::exclusive_slots(), "{exclusive}");
        assert!(shared <= slot::shared_stripes(), "{shared}");
        assert_eq!(read(&c).0.iter().sum::<u64>(), 4_000);
    }

    #[test]
    fn exited_threads_stripes_are_folded_and_freed_exactly() {
        // A slot table of our own, so other tests' threads cannot take the slots.
        let states: Vec<AtomicU32> = (0..4).map(|_| AtomicU32::new(0)).collect();
        let releases = AtomicU64::new(0);
        let c = Counts::new(Layout::default());
        let mut seen = 0;
        let (a, b) = (
            slot::claim(&states, 4).unwrap(),
            slot::claim(&states, 4).unwrap(),
        );
        for v in 0..1000 {
            c.record_in(a, v * 7);
            c.record_in(b, v * 11 + 1_000_000);
            c.record_in(FIRST_SHARED, v);
        }
        assert_eq!(
            c.reclaim_with(&states, &releases, &mut seen),
            0,
            "no release yet"
        );
        let before = read(&c);
        slot::release(&states, &releases, a);
        // `b` is still held: only `a`'s stripe goes.
        assert_eq!(c.reclaim_with(&states, &releases, &mut seen), 1);
        assert_eq!(read(&c), before, "the fold changed the counts");
        assert_eq!(c.stripes().0, 1);
        assert_eq!(
            c.reclaim_with(&states, &releases, &mut seen),
            0,
            "nothing released since"
        );
        // The slot's next owner starts a fresh stripe; nothing is lost.
        let again = slot::claim(&states, 4).unwrap();
        assert_eq!(again, a);
        c.record_in(again, 5);
        slot::release(&states, &releases, again);
        slot::release(&states, &releases, b);
        assert_eq!(c.reclaim_with(&states, &releases, &mut seen), 2);
        let (dense, sum) = read(&c);
        assert_eq!(dense.iter().sum::<u64>(), 3001);
        assert_eq!(sum, before.1 + 5);
        assert_eq!(c.stripes().0, 0);
    }
}

#[cfg(all(test, tailwatch_loom))]
mod loom_tests {
    //! The protocol, on a table of one exclusive slot: two writers that
    //! each claim (one gets the slot, the other shares, or takes it over
    //! after the first exits), record and exit, while a reader reads and
    //! folds released stripes under the reader lock. Every read is
    //! monotonic across a fold, and the end total is exact.
    use super::*;
    use crate::engine::slot::FIRST_SHARED;
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    struct World {
        counts: Counts,
        states: Vec<AtomicU32>,
        releases: AtomicU64,
        reader: Mutex<u64>,
    }

    fn total(c: &Counts) -> (u64, u128) {
        let mut dense = vec![0; c.layout().padded_len()];
        let mut touched = vec![0; c.layout().pages().div_ceil(64)];
        let sum = c.add_into(&mut dense, &mut touched);
        (dense.iter().sum(), sum)
    }

    #[test]
    fn loom_writers_exit_while_a_reader_folds_their_stripes() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(1);
        model.check(|| {
            let w = Arc::new(World {
                counts: Counts::new(Layout::new(1, 2, 1).unwrap()),
                states: vec![AtomicU32::new(0)],
                releases: AtomicU64::new(0),
                reader: Mutex::new(0),
            });
            let writers: Vec<_> = [1_u64, 2]
                .into_iter()
                .map(|v| {
                    let w = w.clone();
                    thread::spawn(move || {
                        let slot = slot::claim(&w.states, 1).unwrap_or(FIRST_SHARED);
                        w.counts.record_in(slot, v);
                        if slot < FIRST_SHARED {
                            slot::release(&w.states, &w.releases, slot);
                        }
                    })
                })
                .collect();
            let reader = {
                let w = w.clone();
                thread::spawn(move || {
                    let mut seen = w.reader.lock().unwrap();
                    let a = total(&w.counts);
                    w.counts.reclaim_with(&w.states, &w.releases, &mut seen);
                    let b = total(&w.counts);
                    assert!(
                        b.0 >= a.0 && b.1 >= a.1,
                        "a fold lost counts: {a:?} then {b:?}"
                    );
                    drop(seen);
                    let c = total(&w.counts);
                    assert!(c.0 >= b.0 && c.1 >= b.1, "went backwards: {b:?} then {c:?}");
                })
            };
            for t in writers {
                t.join().unwrap();
            }
            reader.join().unwrap();
            let mut seen = w.reader.lock().unwrap();
            w.counts.reclaim_with(&w.states, &w.releases, &mut seen);
            assert_eq!(total(&w.counts), (2, 3));
            assert_eq!(
                w.counts.stripes().0,
                0,
                "an exited writer's stripe was kept"
            );
            assert_eq!(w.states[0].load(Ordering::Relaxed), 0);
        });
    }
}
