//! Memory per busy series, measured by a counting global allocator, by the
//! number of writer threads and the shape of the values; a 16-writer server
//! with 1,000 busy series; what 1,000 exited threads leave behind. Every
//! series is written through a full window of manual-clock time (70 "seconds":
//! the 60 s window and its last slice), rotated every second.
//!
//! Run with: `cargo test --release --test memory -- --nocapture`
//! (One test in this binary, so nothing else allocates meanwhile.)

use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use rand::{RngExt, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal, Pareto};
use tailwatch::{Histogram, engine::ManualClock};

mod common;
use common::counting::live;

#[global_allocator]
static GLOBAL: common::counting::Counting = common::counting::Counting;

const HIGHEST_NS: u64 = 3_600_000_000_000;
const SECONDS: usize = 70;
const KIB: isize = 1024;

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Median 1 ms, σ 0.5.
    LogNormal,
    /// xm 1 ms, α 1.5: a heavy tail.
    Pareto,
    /// Log-uniform over the whole range, 1 ns to 1 hour.
    FullRange,
}

fn values(shape: Shape, n: usize, seed: u64) -> Vec<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    match shape {
        Shape::LogNormal => {
            let d = LogNormal::new(1e6_f64.ln(), 0.5).unwrap();
            (0..n).map(|_| d.sample(&mut rng) as u64).collect()
        }
        Shape::Pareto => {
            let d = Pareto::new(1e6, 1.5).unwrap();
            (0..n)
                .map(|_| (d.sample(&mut rng) as u64).min(HIGHEST_NS))
                .collect()
        }
        Shape::FullRange => {
            let top = (HIGHEST_NS as f64).ln();
            (0..n)
                .map(|_| rng.random_range(0.0..top).exp() as u64)
                .collect()
        }
    }
}

/// `threads` long-lived writers record `values[t]` into every series of
/// `series` over [`SECONDS`] seconds of manual time, the main thread
/// rotating every series every second. Returns the heap bytes the series
/// hold at the end (the writers still alive), and the series.
///
/// The threads are started and parked before the count begins, so their
/// own bookkeeping is not counted; the series are built inside it.
fn busy(
    threads: usize,
    series: usize,
    values: &[Vec<u64>],
) -> (isize, Vec<Histogram>, ManualClock) {
    let clock = ManualClock::new();
    let cell: OnceLock<Vec<Histogram>> = OnceLock::new();
    let ready = Barrier::new(threads + 1);
    let tick = Barrier::new(threads + 1);
    let mut measured = 0;
    std::thread::scope(|scope| {
        for v in values.iter().take(threads) {
            let (cell, ready, tick) = (&cell, &ready, &tick);
            scope.spawn(move || {
                ready.wait();
                let all = cell.get().unwrap();
                let chunk = v.len() / SECONDS;
                for s in 0..SECONDS {
                    for h in all {
                        for &x in &v[s * chunk..(s + 1) * chunk] {
                            h.record(x);
                        }
                    }
                    tick.wait(); // this second's values are in
                    tick.wait(); // the main thread rotated
                }
                ready.wait(); // measured: the writers may go
            });
        }
        // The previous call's writers are joined, but a joined thread may
        // still be running its thread-local destructors (freeing memory
        // that would be counted here): wait until the process has exactly
        // its own threads and these writers, however late the scheduler
        // runs them.
        wait_for_threads(threads);
        let before = live();
        let made: Vec<Histogram> = (0..series)
            .map(|_| {
                Histogram::builder()
                    .clock(Arc::new(clock.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        cell.set(made).unwrap();
        ready.wait();
        for _ in 0..SECONDS {
            tick.wait();
            clock.advance(Duration::from_secs(1));
            for h in cell.get().unwrap() {
                h.rotate();
            }
            tick.wait();
        }
        measured = live() - before;
        ready.wait();
    });
    (measured, cell.into_inner().unwrap(), clock)
}

/// Threads of this process now (`/proc/self/status`): a thread counts until
/// it has fully exited, its thread-local destructors included.
/// `None` where there is no `/proc` (then nothing is waited for).
fn threads_now() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The threads of this process before any writer started (the harness's).
fn base_threads() -> Option<usize> {
    static BASE: OnceLock<Option<usize>> = OnceLock::new();
    *BASE.get_or_init(threads_now)
}

/// Waits until the process has `extra` threads besides the harness's:
/// joined threads are gone, destructors and all.
fn wait_for_threads(extra: usize) {
    let Some(base) = base_threads() else { return };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while threads_now() != Some(base + extra) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} threads, want {}",
            threads_now(),
            base + extra
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn memory_is_bounded_whatever_the_writer_threads() {
    base_threads(); // before any writer starts
    // Warm what is per process or per reading thread, not per series (the
    // rotation scratch buffer, slot bookkeeping).
    let warm = vec![values(Shape::LogNormal, 7_000, 0); 2];
    drop(busy(2, 1, &warm));

    const PER_THREAD: usize = 21_000; // 300 a second
    let thread_counts = [1, 2, 4, 8, 16, 32, 64, 80];
    let mut failures = Vec::new();
    println!("memory per busy series, window included (bytes, counting allocator):");
    println!(
        "  {:<10} {}",
        "writers",
        thread_counts.map(|t| format!("{t:>8}")).join("")
    );
    for shape in [Shape::LogNormal, Shape::Pareto, Shape::FullRange] {
        let per_thread: Vec<Vec<u64>> = (0..80).map(|t| values(shape, PER_THREAD, t + 1)).collect();
        let mut row = String::new();
        for &threads in &thread_counts {
            let (bytes, series, _) = busy(threads, 1, &per_thread);
            let stats = series[0].stats();
            assert_eq!(
                stats.total_count,
                (threads * PER_THREAD) as u64,
                "{shape:?} × {threads}: values lost"
            );
            let accounted = series[0].heap_bytes() as isize;
            assert!(
                (accounted - bytes).abs() * 10 <= bytes,
                "self-report {accounted} vs measured {bytes}"
            );
            row += &format!("{bytes:>8}");
            let limit = match (shape, threads) {
                (Shape::LogNormal, 16) => Some(48 * KIB),
                (Shape::LogNormal, 64) => Some(64 * KIB),
                (Shape::Pareto, 16) => Some(72 * KIB),
                (Shape::Pareto, 64) => Some(96 * KIB),
                (Shape::FullRange, 16) => Some(256 * KIB),
                _ => None,
            };
            if let Some(limit) = limit.filter(|&l| bytes > l) {
                failures.push(format!("{shape:?}, {threads} writers: {bytes} > {limit}"));
            }
        }
        println!("  {:<10} {row}", format!("{shape:?}"));
    }

    // The peers, measured the same way: one dense array per copy.
    let before = live();
    let sync = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_NS, 2)
        .unwrap()
        .into_sync();
    let recorders: Vec<_> = (0..16).map(|_| sync.recorder()).collect();
    let hdr_sync_16 = live() - before;
    drop((recorders, sync));
    println!(
        "  hdrhistogram::SyncHistogram + 16 recorders (no window): {hdr_sync_16} ({} KiB)",
        hdr_sync_16 / KIB
    );

    // A 16-worker server with 1,000 busy series.
    let per_thread: Vec<Vec<u64>> = (0..16)
        .map(|t| values(Shape::LogNormal, 7_000, t + 100))
        .collect();
    let (bytes, series, clock) = busy(16, 1_000, &per_thread);
    let counted_series = live();
    let total: u64 = series.iter().map(|h| h.stats().total_count).sum();
    assert_eq!(total, 1_000 * 16 * 7_000);
    println!(
        "  1,000 series × 16 writers, lognormal: {bytes} ({:.1} MiB)",
        bytes as f64 / (1024.0 * 1024.0)
    );
    if bytes > 48 * KIB * KIB {
        failures.push(format!("1,000 series × 16 writers: {bytes} > 48 MiB"));
    }

    // 1,000 short-lived threads, 16 at a time, each writing every series;
    // at the next rotation (one slice later) their stripes, and those of
    // the 16 writers above, are folded into the shared ones and freed.
    let rss_before = rss_kib();
    for batch in 0..63 {
        std::thread::scope(|scope| {
            for v in &per_thread {
                let series = &series;
                scope.spawn(move || {
                    for h in series {
                        for &x in &v[batch * 10..batch * 10 + 10] {
                            h.record(x);
                        }
                    }
                });
            }
        });
    }
    // Every writer is gone, its slot released (thread-local destructors
    // included), before the rotation that folds their stripes.
    wait_for_threads(0);
    let with_exited = live() - counted_series + bytes;
    let rss_exited = rss_kib();
    clock.advance(Duration::from_secs(10)); // one slice
    for h in &series {
        h.rotate();
    }
    let given_back = live() - counted_series + bytes;
    println!(
        "  1,008 threads wrote the 1,000 series and exited: {with_exited} bytes; \
         after one slice: {given_back} ({:.1} MiB); RSS {rss_before:?} → {rss_exited:?} → {:?} KiB",
        given_back as f64 / (1024.0 * 1024.0),
        rss_kib()
    );
    assert_eq!(
        series.iter().map(|h| h.stats().total_count).sum::<u64>(),
        1_000 * 16 * (7_000 + 630),
        "values lost in the fold"
    );
    if given_back * 4 > with_exited * 3 {
        failures.push(format!(
            "exited threads' stripes not given back: {with_exited} → {given_back}"
        ));
    }
    drop(series);

    assert!(failures.is_empty(), "over the targets: {failures:#?}");
}
