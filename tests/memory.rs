//! Memory per busy series, measured by a counting global allocator: a
//! series written by two threads through a full window of rotations.
//! Prints tailwatch's figure next to the peers' measured the same way.
//!
//! Run with: `cargo test --release --test memory -- --nocapture`
//! (One test in this binary, so nothing else allocates meanwhile.)

use std::sync::{Arc, Barrier};
use std::time::Duration;

use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};
use tailwatch::{Histogram, ManualClock};

mod common;
use common::counting::live;

#[global_allocator]
static GLOBAL: common::counting::Counting = common::counting::Counting;

const PER_THREAD: usize = 300_000;
const HIGHEST_NS: u64 = 3_600_000_000_000;

fn latencies(seed: u64) -> Vec<u64> {
    let d = LogNormal::new(1e6_f64.ln(), 0.5).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..PER_THREAD).map(|_| d.sample(&mut rng) as u64).collect()
}

/// Two threads record into `record`'s target over 90 "seconds" of manual
/// time, the main thread rotating/reading every second.
fn two_writers(values: &[Vec<u64>; 2], record: impl Fn(usize, u64) + Sync, each_second: impl Fn()) {
    let seconds = 90;
    let chunk = PER_THREAD / seconds;
    // The same two threads write every "second" (new threads each time could
    // briefly hold extra writer slots while the old ones exit).
    let go = Barrier::new(3);
    let done = Barrier::new(3);
    std::thread::scope(|scope| {
        for (t, v) in values.iter().enumerate() {
            let (record, go, done) = (&record, &go, &done);
            scope.spawn(move || {
                for s in 0..seconds {
                    go.wait();
                    for &x in &v[s * chunk..(s + 1) * chunk] {
                        record(t, x);
                    }
                    done.wait();
                }
            });
        }
        for _ in 0..seconds {
            go.wait();
            done.wait();
            each_second();
        }
    });
}

fn busy_series(values: &[Vec<u64>; 2]) -> Histogram {
    let clock = ManualClock::new();
    let h = Histogram::builder()
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    two_writers(
        values,
        |_, v| h.record(v),
        || {
            clock.advance(Duration::from_secs(1));
            h.rotate();
        },
    );
    h
}

#[test]
fn memory_per_busy_series() {
    let values = [latencies(1), latencies(2)];

    // Warm up what is per process or per reading thread, not per series
    // (the rotation scratch buffer, thread-slot bookkeeping), then measure
    // one series written by two threads, its window rotated every second
    // for 90 s (more than the 60 s window + a slice).
    drop(busy_series(&values));
    let before = live();
    let h = busy_series(&values);
    let stats = h.stats();
    let tailwatch = live() - before;
    assert_eq!(stats.total_count, 2 * (PER_THREAD / 90 * 90) as u64);
    assert!(stats.count > 0 && stats.quantile(0.99).is_some());
    let accounted = h.heap_bytes() as isize;

    // hdrhistogram: one dense histogram of the same layout (single-threaded).
    let before = live();
    let mut single = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_NS, 2).unwrap();
    for v in values.iter().flatten() {
        single.record(*v).unwrap();
    }
    let hdr_single = live() - before;

    // hdrhistogram::sync: the shared histogram plus one recorder per writer.
    let before = live();
    let sync = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_NS, 2)
        .unwrap()
        .into_sync();
    let recorders: Vec<_> = (0..2)
        .map(|_| std::sync::Mutex::new(sync.recorder()))
        .collect();
    two_writers(
        &values,
        |t, v| recorders[t].lock().unwrap().record(v).unwrap(),
        || {},
    );
    let hdr_sync = live() - before;
    drop(recorders);

    // tailwatch's window after the writers are gone, and a second idle
    // series: what a series costs before it is busy.
    let before = live();
    let idle = Histogram::builder()
        .clock(Arc::new(ManualClock::new()))
        .build()
        .unwrap();
    idle.record(1_000_000);
    let idle_bytes = live() - before;

    println!("memory per series (bytes, measured by the global allocator):");
    println!(
        "  tailwatch, busy, 2 writers, full window : {tailwatch:>7} ({:.1} KiB; self-reported {accounted})",
        tailwatch as f64 / 1024.0
    );
    println!("  tailwatch, one value                    : {idle_bytes:>7}");
    println!("  hdrhistogram::Histogram, 1 copy          : {hdr_single:>7}");
    println!("  hdrhistogram::SyncHistogram + 2 recorders: {hdr_sync:>7} (no window)");

    // The target: 32 KiB including the window.
    assert!(tailwatch <= 32 * 1024, "busy series uses {tailwatch} bytes");
    // The self-report is within 10 % of the allocator's figure.
    assert!(
        (accounted - tailwatch).abs() * 10 <= tailwatch,
        "{accounted} vs {tailwatch}"
    );
    drop((h, single, sync, idle));
}
