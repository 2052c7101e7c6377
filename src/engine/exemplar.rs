//! Exemplars: the trace of a recent value in each power-of-two range of a
//! series, so that a bucket of the exposition can point at a request.
//!
//! A series keeps one exemplar per page of its layout (a power-of-two
//! range of values, 36 for the default 1 ns–1 h), allocated the first time
//! a value is recorded with a trace context; a range takes a new exemplar
//! at most every 10 ms (Prometheus reads them every few seconds). Each is a seqlock over plain
//! atomics: a writer that finds the slot being written by another skips
//! (an exemplar is a sample; the value itself is always counted), a reader
//! retries a few times and otherwise skips the slot. No lock, no
//! allocation after the first, no wait.

use crate::engine::layout::{Layout, PAGE_BITS};
use crate::engine::lazy::LazyBox;
use crate::engine::sync::{AtomicU64, Ordering};

/// The trace a recorded value belongs to: OpenTelemetry's 16-byte trace id
/// and 8-byte span id, as integers (big-endian, as their hex texts read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace id; 0 is invalid in OpenTelemetry and is never stored.
    pub trace_id: u128,
    /// The span id.
    pub span_id: u64,
}

impl TraceContext {
    /// From the ids' bytes (as `opentelemetry::trace::TraceId::to_bytes`
    /// gives them).
    pub fn from_bytes(trace_id: [u8; 16], span_id: [u8; 8]) -> Self {
        Self {
            trace_id: u128::from_be_bytes(trace_id),
            span_id: u64::from_be_bytes(span_id),
        }
    }

    /// The trace id as 32 lowercase hex digits (the W3C and OpenTelemetry text).
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

/// A recorded value with its trace and when it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exemplar {
    /// The value, in the histogram's unit.
    pub value: u64,
    /// Its trace.
    pub trace: TraceContext,
    /// When, on the histogram's clock (nanoseconds).
    pub at_ns: u64,
}

/// The least time between two exemplars of one range: 10 ms.
pub(crate) const MIN_GAP_NS: u64 = 10_000_000;

/// The fields of one exemplar as plain atomics, for a seqlock to guard
/// (`Slot` here, the slowest values' groups in `slowest.rs`). A zero trace
/// id reads as empty.
#[derive(Default)]
pub(crate) struct Cell {
    value: AtomicU64,
    at_ns: AtomicU64,
    trace_hi: AtomicU64,
    trace_lo: AtomicU64,
    span: AtomicU64,
}

impl Cell {
    /// What it holds, `None` if empty; the caller checks its seqlock.
    pub(crate) fn load(&self) -> Option<Exemplar> {
        let trace_id = (u128::from(self.trace_hi.load(Ordering::Relaxed)) << 64)
            | u128::from(self.trace_lo.load(Ordering::Relaxed));
        (trace_id != 0).then(|| Exemplar {
            value: self.value.load(Ordering::Relaxed),
            at_ns: self.at_ns.load(Ordering::Relaxed),
            trace: TraceContext {
                trace_id,
                span_id: self.span.load(Ordering::Relaxed),
            },
        })
    }

    /// The time of what it holds.
    fn at_ns(&self) -> u64 {
        self.at_ns.load(Ordering::Relaxed)
    }

    /// Writes `e`; the caller holds its seqlock.
    pub(crate) fn store(&self, e: &Exemplar) {
        self.value.store(e.value, Ordering::Relaxed);
        self.at_ns.store(e.at_ns, Ordering::Relaxed);
        self.trace_hi
            .store((e.trace.trace_id >> 64) as u64, Ordering::Relaxed);
        self.trace_lo
            .store(e.trace.trace_id as u64, Ordering::Relaxed);
        self.span.store(e.trace.span_id, Ordering::Relaxed);
    }

    /// Empties it; the caller holds its seqlock.
    pub(crate) fn clear(&self) {
        self.trace_hi.store(0, Ordering::Relaxed);
        self.trace_lo.store(0, Ordering::Relaxed);
    }
}

/// One exemplar behind a sequence number (odd: being written).
#[repr(align(64))]
#[derive(Default)]
struct Slot {
    seq: AtomicU64,
    cell: Cell,
}

impl Slot {
    fn write(&self, e: &Exemplar) {
        let s = self.seq.load(Ordering::Relaxed);
        // A slot refreshed less than MIN_GAP_NS ago keeps its exemplar:
        // a busy range costs one load per value, not a write to a line
        // every recording core shares.
        if s != 0 && e.at_ns < self.cell.at_ns().saturating_add(MIN_GAP_NS) {
            return;
        }
        if s & 1 == 1
            || self
                .seq
                .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return; // another writer has it: skip this sample
        }
        // The odd sequence is visible before any field changes.
        std::sync::atomic::fence(Ordering::Release);
        self.cell.store(e);
        self.seq.store(s + 2, Ordering::Release);
    }

    fn read(&self) -> Option<Exemplar> {
        for _ in 0..8 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 == 0 {
                return None; // never written
            }
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let e = self.cell.load();
            std::sync::atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return e;
            }
        }
        None
    }
}

/// The exemplars of one series: one slot per page of its layout.
#[derive(Default)]
pub(crate) struct Exemplars {
    slots: LazyBox<Box<[Slot]>>,
}

impl std::fmt::Debug for Exemplars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exemplars")
            .field("allocated", &self.slots.is_set())
            .finish()
    }
}

impl Exemplars {
    /// Keeps `e` as the exemplar of its value's range (`index` is the
    /// value's counter index in `layout`). A zero trace id is not stored.
    #[inline]
    pub(crate) fn offer(&self, layout: &Layout, index: usize, e: &Exemplar) {
        if e.trace.trace_id == 0 {
            return;
        }
        let slots = self
            .slots
            .get_or_init(|| Box::new((0..layout.pages()).map(|_| Slot::default()).collect()));
        if let Some(slot) = slots.get(index >> PAGE_BITS) {
            slot.write(e);
        }
    }

    /// Every exemplar held, ascending by value.
    pub(crate) fn read(&self) -> Vec<Exemplar> {
        let Some(slots) = self.slots.get() else {
            return Vec::new();
        };
        let mut out: Vec<Exemplar> = slots.iter().filter_map(Slot::read).collect();
        out.sort_by_key(|e| e.value);
        out
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.get().map_or(0, |s| {
            s.len() * size_of::<Slot>() + size_of::<Box<[Slot]>>()
        })
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    fn ctx(n: u128) -> TraceContext {
        TraceContext {
            trace_id: n,
            span_id: n as u64 ^ 0xabcd,
        }
    }

    #[test]
    fn keeps_the_latest_exemplar_of_each_range() {
        let layout = Layout::default();
        let ex = Exemplars::default();
        assert!(ex.read().is_empty());
        assert_eq!(ex.heap_bytes(), 0, "allocated before the first exemplar");
        for (v, t) in [(1_000_u64, 1_u128), (1_010, 2), (5_000_000, 3)] {
            ex.offer(
                &layout,
                layout.index_of(v),
                &Exemplar {
                    value: v,
                    trace: ctx(t),
                    at_ns: t as u64 * MIN_GAP_NS,
                },
            );
        }
        // 1,000 and 1,010 share a power-of-two range: the later one stays.
        let got = ex.read();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].value, got[0].trace, got[0].at_ns),
            (1_010, ctx(2), 2 * MIN_GAP_NS)
        );
        // Within 10 ms of the last one, a range keeps what it has.
        ex.offer(
            &layout,
            layout.index_of(1_020),
            &Exemplar {
                value: 1_020,
                trace: ctx(4),
                at_ns: 3 * MIN_GAP_NS - 1,
            },
        );
        assert_eq!(ex.read()[0].value, 1_010);
        assert_eq!((got[1].value, got[1].trace), (5_000_000, ctx(3)));
        // No trace, no exemplar.
        ex.offer(
            &layout,
            layout.index_of(9),
            &Exemplar {
                value: 9,
                trace: ctx(0),
                at_ns: 9,
            },
        );
        assert_eq!(ex.read().len(), 2);
        assert_eq!(
            ctx(0x0123_4567_89ab_cdef_0011_2233_4455_6677).trace_id_hex(),
            "0123456789abcdef0011223344556677"
        );
        let c = TraceContext::from_bytes([1; 16], [2; 8]);
        assert_eq!(c.span_id_hex(), "0202020202020202");
    }

    #[test]
    fn concurrent_writers_never_tear_an_exemplar() {
        // Each writer's exemplar has trace id == span id == value: a torn
        // read would mix two writers' fields.
        let layout = Layout::default();
        let ex = std::sync::Arc::new(Exemplars::default());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (1..=3_u64)
            .map(|w| {
                let (ex, stop) = (ex.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        let v = 1_000_000 + (w << 16) + (i & 0xffff);
                        i += 1;
                        let e = Exemplar {
                            value: v,
                            trace: TraceContext {
                                trace_id: u128::from(v) << 64 | u128::from(v),
                                span_id: v,
                            },
                            // Each past the last by the gap, so every one is kept.
                            at_ns: i * MIN_GAP_NS + v,
                        };
                        ex.offer(&layout, layout.index_of(v), &e);
                    }
                })
            })
            .collect();
        // 20,000 reads, at least 1,000 of which saw exemplars (on a busy
        // machine the writers may start after the reader has read a lot).
        let (mut reads, mut seen) = (0, 0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while (reads < 20_000 || seen < 1_000) && std::time::Instant::now() < deadline {
            let held = ex.read();
            seen += usize::from(!held.is_empty());
            for e in held {
                let v = e.value;
                assert_eq!(e.trace.span_id, v, "torn: {e:?}");
                assert_eq!(
                    e.trace.trace_id,
                    u128::from(v) << 64 | u128::from(v),
                    "torn: {e:?}"
                );
                assert_eq!(e.at_ns % MIN_GAP_NS, v, "torn: {e:?}");
            }
            reads += 1;
        }
        stop.store(true, Ordering::Relaxed);
        writers.into_iter().for_each(|w| w.join().unwrap());
        let seqs: Vec<u64> = ex
            .slots
            .get()
            .unwrap()
            .iter()
            .map(|s| s.seq.load(Ordering::Relaxed))
            .filter(|&s| s != 0)
            .collect();
        assert!(!ex.read().is_empty(), "{seqs:?}");
    }
}
