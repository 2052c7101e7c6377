//! Exclusive writer slots: each recording thread owns one shard of every
//! series.
//!
//! A thread claims a slot index the first time it records and gives it back
//! when it exits. While it holds slot `i`, it is the only writer of shard
//! `i` of every series, so recording is a plain relaxed load and store
//! ([`add_exclusive`](super::sync::add_exclusive)): no locked instruction,
//! and no cache line shared with another writer. The claim (`Acquire`) and
//! the release (`Release`) order one owner's writes before the next
//! owner's, so a slot handed from an exited thread to a new one loses
//! nothing.
//!
//! Threads beyond [`EXCLUSIVE_SLOTS`] (and threads whose thread-locals are
//! already torn down) use the [`SHARED_SLOT`], whose counters take
//! `fetch_add`: still exact, just contended.

use crate::engine::sync::{AtomicBool, Ordering};

/// Number of exclusive writer slots (and of exclusive shards per series).
pub(crate) const EXCLUSIVE_SLOTS: usize = 64;
/// The slot shared, with atomic read-modify-writes, by every other thread.
pub(crate) const SHARED_SLOT: usize = EXCLUSIVE_SLOTS;
/// Shards per series: the exclusive ones and the shared one.
pub(crate) const SHARDS: usize = EXCLUSIVE_SLOTS + 1;

/// Claims the lowest free slot of `taken`, or [`SHARED_SLOT`] when all are taken.
pub(crate) fn claim(taken: &[AtomicBool]) -> usize {
    for (i, flag) in taken.iter().enumerate() {
        if !flag.load(Ordering::Relaxed)
            && flag
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return i;
        }
    }
    SHARED_SLOT
}

/// Gives slot `i` back (no-op for the shared slot).
pub(crate) fn release(taken: &[AtomicBool], i: usize) {
    if let Some(flag) = taken.get(i) {
        flag.store(false, Ordering::Release);
    }
}

#[cfg(not(tailwatch_loom))]
mod global {
    use super::*;

    static TAKEN: [AtomicBool; EXCLUSIVE_SLOTS] =
        [const { AtomicBool::new(false) }; EXCLUSIVE_SLOTS];

    struct Guard(usize);

    impl Drop for Guard {
        fn drop(&mut self) {
            release(&TAKEN, self.0);
        }
    }

    thread_local! {
        static SLOT: Guard = Guard(claim(&TAKEN));
    }

    /// The calling thread's slot; claims one on first use.
    #[inline(always)]
    pub(crate) fn current() -> usize {
        SLOT.try_with(|g| g.0).unwrap_or(SHARED_SLOT)
    }

    /// How many exclusive slots are held right now (for tests and self-metrics).
    #[cfg(test)]
    pub(crate) fn held() -> usize {
        TAKEN.iter().filter(|f| f.load(Ordering::Relaxed)).count()
    }
}

#[cfg(not(tailwatch_loom))]
pub(crate) use global::current;

/// Under loom the protocol is checked on explicit tables (see `loom_tests`);
/// everything else takes the shared slot.
#[cfg(tailwatch_loom)]
pub(crate) fn current() -> usize {
    SHARED_SLOT
}
#[cfg(all(test, not(tailwatch_loom)))]
pub(crate) use global::held;

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_slot_and_gives_it_back() {
        let (mine, again) = std::thread::spawn(|| (current(), current()))
            .join()
            .unwrap();
        assert_eq!(mine, again);
        assert!(mine < EXCLUSIVE_SLOTS);
        // Concurrent threads hold distinct slots.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let s = current();
                    b.wait();
                    s
                })
            })
            .collect();
        let mut slots: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(
            slots.len(),
            4,
            "concurrent threads shared a slot: {slots:?}"
        );
        assert!(held() < EXCLUSIVE_SLOTS);
    }

    #[test]
    fn claim_falls_back_to_shared_when_full() {
        let taken: Vec<AtomicBool> = (0..2).map(|_| AtomicBool::new(false)).collect();
        assert_eq!(claim(&taken), 0);
        assert_eq!(claim(&taken), 1);
        assert_eq!(claim(&taken), SHARED_SLOT);
        release(&taken, 0);
        assert_eq!(claim(&taken), 0);
        release(&taken, SHARED_SLOT); // no-op, no panic
    }
}

#[cfg(all(test, tailwatch_loom))]
mod loom_tests {
    //! The protocol: exclusive writers use load + store, the shared slot
    //! uses `fetch_add`, slots are handed over through claim/release, and a
    //! concurrent reader sees monotonic counts and, at the end, the exact total.
    use super::*;
    use crate::engine::sync::{AtomicU64, add_exclusive};
    use loom::sync::Arc;
    use loom::thread;

    struct Shards {
        taken: Vec<AtomicBool>,
        counters: Vec<AtomicU64>, // one per exclusive slot, then the shared one
    }

    fn record(s: &Shards, slot: usize) {
        if slot < s.taken.len() {
            add_exclusive(&s.counters[slot], 1);
        } else {
            s.counters[s.taken.len()].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn total(s: &Shards) -> u64 {
        s.counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    #[test]
    fn loom_handover_and_shared_fallback_lose_nothing() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(|| {
            // One exclusive slot for three writers: two contend, one waits
            // for the handover.
            let s = Arc::new(Shards {
                taken: vec![AtomicBool::new(false)],
                counters: (0..2).map(|_| AtomicU64::new(0)).collect(),
            });
            let writers: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    thread::spawn(move || {
                        let slot = claim(&s.taken);
                        record(&s, slot);
                        release(&s.taken, slot);
                    })
                })
                .collect();
            let reader = {
                let s = s.clone();
                thread::spawn(move || {
                    let a = total(&s);
                    let b = total(&s);
                    assert!(b >= a, "count went backwards: {a} then {b}");
                })
            };
            for w in writers {
                w.join().unwrap();
            }
            reader.join().unwrap();
            // A late thread that takes over the released slot continues the count.
            let slot = claim(&s.taken);
            record(&s, slot);
            assert_eq!(total(&s), 3);
        });
    }
}
