//! The slowest traced values of a series' window: what `/stats` lists and
//! the demo's table points at, so that "p99 went up" leads to a trace.
//!
//! One group of [`KEEP`] entries per slice of the window, plus the slice
//! being written (the groups are reused round-robin: a group whose slice
//! left the window is cleared by the first writer of its new slice). A
//! writer keeps its value if it is slower than the group's fastest kept
//! one; below that, it costs two loads. Each group is a seqlock over plain
//! atomics: the writer that holds it inserts, a writer that finds it held
//! spins briefly, then skips (its value is still counted in the
//! histogram; only its place in this list is lost). Readers never block
//! writers. Allocated with a series' first traced value.

use crate::engine::exemplar::{Cell, Exemplar};
use crate::engine::lazy::LazyBox;
use crate::engine::sync::{AtomicU64, Ordering};

/// How many traced values each slice of a window keeps, and how many
/// [`Histogram::slowest`](crate::Histogram::slowest) gives at most.
pub const KEEP: usize = 5;

/// How long a writer waits for a group another writer holds.
const SPINS: u32 = 64;

/// The slowest values of one slice, behind a sequence number (odd: held).
#[derive(Default)]
struct Group {
    seq: AtomicU64,
    /// The slice number + 1 these entries belong to; 0: never used.
    epoch: AtomicU64,
    /// A value must be above this to be kept (the fastest kept value once
    /// all entries are used, else 0).
    floor: AtomicU64,
    entries: [Cell; KEEP],
}

impl Group {
    fn offer(&self, epoch: u64, e: &Exemplar) {
        if self.epoch.load(Ordering::Relaxed) == epoch
            && e.value <= self.floor.load(Ordering::Relaxed)
        {
            return;
        }
        let Some(s) = self.lock() else { return };
        let held = self.epoch.load(Ordering::Relaxed);
        if held > epoch {
            // A late writer of a slice already replaced: its place is gone.
            self.seq.store(s + 2, Ordering::Release);
            return;
        }
        if held < epoch {
            self.entries.iter().for_each(Cell::clear);
            self.floor.store(0, Ordering::Relaxed);
            self.epoch.store(epoch, Ordering::Relaxed);
        }
        let kept: [Option<Exemplar>; KEEP] = std::array::from_fn(|i| self.entries[i].load());
        // The first empty entry, else the fastest if this value beats it.
        let at = kept.iter().position(Option::is_none).or_else(|| {
            let (i, fastest) = kept
                .iter()
                .enumerate()
                .filter_map(|(i, k)| k.map(|k| (i, k.value)))
                .min_by_key(|&(_, v)| v)?;
            (e.value > fastest).then_some(i)
        });
        if let Some(i) = at {
            self.entries[i].store(e);
            let full = kept.iter().enumerate().all(|(j, k)| j == i || k.is_some());
            let floor = if full {
                kept.iter()
                    .enumerate()
                    .map(|(j, k)| {
                        if j == i {
                            e.value
                        } else {
                            k.map_or(0, |k| k.value)
                        }
                    })
                    .min()
                    .unwrap_or(0)
            } else {
                0
            };
            self.floor.store(floor, Ordering::Relaxed);
        }
        self.seq.store(s + 2, Ordering::Release);
    }

    /// Takes the group (its sequence made odd), waiting a little for
    /// another writer; `None` if it stays held.
    fn lock(&self) -> Option<u64> {
        for _ in 0..SPINS {
            let s = self.seq.load(Ordering::Relaxed);
            if s & 1 == 0
                && self
                    .seq
                    .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                // The odd sequence is visible before any field changes.
                std::sync::atomic::fence(Ordering::Release);
                return Some(s);
            }
            std::hint::spin_loop();
        }
        None
    }

    /// Its epoch and entries, consistent, or `None` after a few tries.
    fn read(&self) -> Option<(u64, [Option<Exemplar>; KEEP])> {
        for _ in 0..16 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let epoch = self.epoch.load(Ordering::Relaxed);
            let entries = std::array::from_fn(|i| self.entries[i].load());
            std::sync::atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Some((epoch, entries));
            }
        }
        None
    }
}

/// The slowest traced values of a series, per slice of its window.
pub(crate) struct Slowest {
    slice_ns: u64,
    /// Slices in the window; one group more is kept for the current one.
    slices: u64,
    groups: LazyBox<Box<[Group]>>,
}

impl std::fmt::Debug for Slowest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slowest")
            .field("slice_ns", &self.slice_ns)
            .field("allocated", &self.groups.is_set())
            .finish()
    }
}

impl Slowest {
    /// For a window of `slices` slices of `slice_ns` each.
    pub(crate) fn new(slice_ns: u64, slices: u32) -> Self {
        Self {
            slice_ns: slice_ns.max(1),
            slices: u64::from(slices.max(1)),
            groups: LazyBox::default(),
        }
    }

    /// Keeps `e` if it is among the slowest of its slice so far. A zero
    /// trace id is not kept.
    #[inline]
    pub(crate) fn offer(&self, e: &Exemplar) {
        if e.trace.trace_id == 0 {
            return;
        }
        let n = self.slices + 1;
        let groups = self
            .groups
            .get_or_init(|| Box::new((0..n).map(|_| Group::default()).collect()));
        let slice = e.at_ns / self.slice_ns;
        groups[(slice % n) as usize].offer(slice + 1, e);
    }

    /// The [`KEEP`] slowest values of the window at `now_ns` (its slices
    /// and the current one), slowest first.
    pub(crate) fn read(&self, now_ns: u64) -> Vec<Exemplar> {
        let Some(groups) = self.groups.get() else {
            return Vec::new();
        };
        let current = now_ns / self.slice_ns;
        let oldest = current.saturating_sub(self.slices);
        let mut out: Vec<Exemplar> = groups
            .iter()
            .filter_map(Group::read)
            .filter(|(epoch, _)| (oldest + 1..=current + 1).contains(epoch))
            .flat_map(|(_, entries)| entries.into_iter().flatten())
            .collect();
        out.sort_by(|a, b| b.value.cmp(&a.value).then(b.at_ns.cmp(&a.at_ns)));
        out.truncate(KEEP);
        out
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.groups.get().map_or(0, |g| {
            g.len() * size_of::<Group>() + size_of::<Box<[Group]>>()
        })
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;
    use crate::engine::exemplar::TraceContext;

    fn at(value: u64, at_ns: u64, id: u128) -> Exemplar {
        Exemplar {
            value,
            at_ns,
            trace: TraceContext {
                trace_id: id,
                span_id: id as u64,
            },
        }
    }

    #[test]
    fn keeps_the_slowest_of_the_window_and_forgets_what_left_it() {
        // 6 slices of 10 s.
        let s = Slowest::new(10_000_000_000, 6);
        assert!(s.read(0).is_empty());
        assert_eq!(s.heap_bytes(), 0);
        // Slice 0: values 1..=20, trace id = value.
        for v in 1..=20_u64 {
            s.offer(&at(v * 1000, v, u128::from(v)));
        }
        let got: Vec<u64> = s.read(1_000).iter().map(|e| e.value).collect();
        assert_eq!(got, [20_000, 19_000, 18_000, 17_000, 16_000]);
        // Slice 3: one slower value, and many faster ones that are not kept.
        let t3 = 30_000_000_000;
        s.offer(&at(50_000, t3, 99));
        for v in 1..=100 {
            s.offer(&at(v, t3 + v, 1000 + u128::from(v)));
        }
        let got: Vec<u64> = s.read(t3).iter().map(|e| e.value).collect();
        assert_eq!(got, [50_000, 20_000, 19_000, 18_000, 17_000]);
        // The window is its 6 slices and the current one (as the
        // histogram's): at 69.9 s slice 0 is still in, at 70 s it is out.
        let got: Vec<u64> = s.read(69_900_000_000).iter().map(|e| e.value).collect();
        assert_eq!(got, [50_000, 20_000, 19_000, 18_000, 17_000]);
        let got: Vec<u64> = s.read(70_000_000_000).iter().map(|e| e.value).collect();
        assert_eq!(got, [50_000, 100, 99, 98, 97]);
        // Slice 7 reuses slice 0's group: the old values are cleared.
        let t7 = 70_000_000_000;
        s.offer(&at(7, t7, 7));
        let got: Vec<u64> = s.read(t7).iter().map(|e| e.value).collect();
        assert_eq!(got, [50_000, 100, 99, 98, 97]);
        let got: Vec<u64> = s.read(100_000_000_000).iter().map(|e| e.value).collect();
        assert_eq!(got, [7], "only slice 7 is left in the window at 100 s");
        // A late writer of slice 0 does not come back into slice 7's group.
        s.offer(&at(1_000_000, 5, 5));
        let got: Vec<u64> = s.read(t7).iter().map(|e| e.value).collect();
        assert_eq!(got[0], 50_000);
        // No trace, not kept.
        s.offer(&at(9_999_999, t7, 0));
        assert_eq!(s.read(t7)[0].value, 50_000);
        assert!(s.heap_bytes() > 0);
    }

    #[test]
    fn concurrent_writers_keep_the_true_slowest_and_never_tear() {
        // Four threads offer values 0..40_000 each (trace id = value,
        // span id = value): the five slowest of all are kept, and every
        // read is whole.
        let s = std::sync::Arc::new(Slowest::new(u64::MAX / 4, 2));
        let threads: Vec<_> = (0..4_u64)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..40_000_u64 {
                        let v = i * 4 + t;
                        s.offer(&at(v, 1, u128::from(v)));
                    }
                })
            })
            .collect();
        let mut reads = 0;
        while threads.iter().any(|t| !t.is_finished()) || reads == 0 {
            for e in s.read(2) {
                assert_eq!(u128::from(e.value), e.trace.trace_id, "torn: {e:?}");
                assert_eq!(e.value, e.trace.span_id, "torn: {e:?}");
            }
            reads += 1;
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        let got: Vec<u64> = s.read(2).iter().map(|e| e.value).collect();
        // A writer that finds the group held through 64 spins (its holder
        // preempted: 4 threads on 2 cores) skips, so the exact top five
        // may miss one; they are the slowest few, slowest first.
        assert_eq!(got.len(), KEEP, "{got:?}");
        assert!(got.windows(2).all(|w| w[0] > w[1]), "{got:?}");
        assert!(got[KEEP - 1] >= 159_900, "{got:?}");
    }
}
