//! Recording and reading cost of tailwatch against its peers, in one run.
//!
//! Run with: `cargo bench --bench record`
//! (`-- record_1_thread` etc. for one group). Report ratios: the machines
//! are shared and noisy, the ratios within one run are what holds.
//!
//! Every peer records the same pre-generated lognormal latencies (median
//! 1 ms, sigma 0.5): integer nanoseconds for HDR-based recorders, f64
//! seconds for the Prometheus clients.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

mod common;
use common::threads;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metrics::Recorder as _;
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};
use tailwatch::{Histogram, Registry, engine::Snapshot};

const VALUES: usize = 4096; // power of two: index with a mask
const HIGHEST_NS: u64 = 3_600_000_000_000;

fn values_ns() -> Vec<u64> {
    let d = LogNormal::new(1e6_f64.ln(), 0.5).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    (0..VALUES).map(|_| d.sample(&mut rng) as u64).collect()
}

fn values_s(ns: &[u64]) -> Vec<f64> {
    ns.iter().map(|&v| v as f64 / 1e9).collect()
}

/// OpenTelemetry's default boundaries, in seconds, for the bucketed peers.
const OTEL_BUCKETS: [f64; 14] = [
    0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
];

fn prometheus_histogram() -> prometheus::Histogram {
    prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_seconds", "bench").buckets(OTEL_BUCKETS.to_vec()),
    )
    .unwrap()
}

fn prometheus_client_histogram() -> prometheus_client::metrics::histogram::Histogram {
    prometheus_client::metrics::histogram::Histogram::new(OTEL_BUCKETS)
}

fn mep_recorder() -> metrics_exporter_prometheus::PrometheusRecorder {
    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
}

fn mep_histogram(recorder: &metrics_exporter_prometheus::PrometheusRecorder) -> metrics::Histogram {
    static META: metrics::Metadata<'static> =
        metrics::Metadata::new("bench", metrics::Level::INFO, None);
    recorder.register_histogram(&metrics::Key::from_static_name("bench_seconds"), &META)
}

/// A recorder for one thread: what each peer hands a recording thread.
enum Peer {
    Tailwatch(Histogram),
    HdrSingle(hdrhistogram::Histogram<u64>),
    HdrSync(hdrhistogram::sync::Recorder<u64>),
    Mep(metrics::Histogram),
    Prometheus(prometheus::Histogram),
    PrometheusClient(prometheus_client::metrics::histogram::Histogram),
    Atomic(Arc<AtomicU64>),
}

impl Peer {
    #[inline]
    fn record(&mut self, i: usize, ns: &[u64], s: &[f64]) {
        let k = i & (VALUES - 1);
        match self {
            Peer::Tailwatch(h) => h.record(ns[k]),
            Peer::HdrSingle(h) => h.record(ns[k]).unwrap(),
            Peer::HdrSync(r) => r.record(ns[k]).unwrap(),
            Peer::Mep(h) => h.record(s[k]),
            Peer::Prometheus(h) => h.observe(s[k]),
            Peer::PrometheusClient(h) => h.observe(s[k]),
            Peer::Atomic(a) => {
                a.fetch_add(ns[k], Ordering::Relaxed);
            }
        }
    }
}

/// One shared series per peer, from which each thread gets its recorder.
struct Shared {
    name: &'static str,
    make: Box<dyn Fn() -> Peer + Send + Sync>,
    /// Drains what the peer buffers (outside the timed region).
    drain: Box<dyn Fn() + Send + Sync>,
}

fn peers(threads: usize) -> Vec<Shared> {
    let tw = Histogram::new();
    let mep = mep_recorder();
    let mep_handle = mep.handle();
    let mep_h = mep_histogram(&mep);
    let prom = prometheus_histogram();
    let pc = prometheus_client_histogram();
    let atomic = Arc::new(AtomicU64::new(0));
    let hdr_sync = Arc::new(std::sync::Mutex::new(
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_NS, 2)
            .unwrap()
            .into_sync(),
    ));
    let mut v: Vec<Shared> = vec![
        Shared {
            name: "tailwatch",
            make: Box::new(move || Peer::Tailwatch(tw.clone())),
            drain: Box::new(|| {}),
        },
        Shared {
            name: "hdrhistogram_sync_recorder",
            make: {
                let s = hdr_sync.clone();
                Box::new(move || Peer::HdrSync(s.lock().unwrap().recorder()))
            },
            drain: {
                let s = hdr_sync.clone();
                Box::new(move || {
                    s.lock()
                        .unwrap()
                        .refresh_timeout(Duration::from_millis(100));
                })
            },
        },
        Shared {
            name: "metrics_exporter_prometheus",
            make: Box::new(move || Peer::Mep(mep_h.clone())),
            // Its histograms queue raw samples until upkeep; drain them so
            // the bench's memory stays flat.
            drain: Box::new(move || mep_handle.run_upkeep()),
        },
        Shared {
            name: "prometheus",
            make: Box::new(move || Peer::Prometheus(prom.clone())),
            drain: Box::new(|| {}),
        },
        Shared {
            name: "prometheus_client",
            make: Box::new(move || Peer::PrometheusClient(pc.clone())),
            drain: Box::new(|| {}),
        },
        Shared {
            name: "atomic_u64_fetch_add",
            make: Box::new(move || Peer::Atomic(atomic.clone())),
            drain: Box::new(|| {}),
        },
    ];
    if threads == 1 {
        v.insert(
            1,
            Shared {
                name: "hdrhistogram_single_thread",
                make: Box::new(|| {
                    Peer::HdrSingle(
                        hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_NS, 2).unwrap(),
                    )
                }),
                drain: Box::new(|| {}),
            },
        );
    }
    v
}

/// `threads` threads record `iters` values each into the same series;
/// returns the wall time from the first thread's start to the last one's
/// finish, each read by the threads themselves (with more threads than
/// cores, a thread's own elapsed time would miss the time it waits for a
/// core, and the main thread's clock the time before it is scheduled).
fn run(
    shared: &Shared,
    threads: usize,
    iters: u64,
    ns: &Arc<Vec<u64>>,
    s: &Arc<Vec<f64>>,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mut peer = (shared.make)();
            let (barrier, ns, s) = (barrier.clone(), ns.clone(), s.clone());
            std::thread::spawn(move || {
                // Warm this thread's state (slot, pages) before the clock starts.
                for i in 0..VALUES {
                    peer.record(i, &ns, &s);
                }
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters as usize {
                    peer.record(i.wrapping_mul(31).wrapping_add(t), &ns, &s);
                }
                let end = Instant::now();
                drop(peer); // an hdrhistogram sync recorder must go before refresh
                (start, end)
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    (shared.drain)();
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    last - first
}

fn record_threads(c: &mut Criterion, threads: usize) {
    let ns = Arc::new(values_ns());
    let s = Arc::new(values_s(&ns));
    let mut group = c.benchmark_group(format!(
        "record_{threads}_thread{}",
        if threads > 1 { "s_same_series" } else { "" }
    ));
    group.throughput(Throughput::Elements(threads as u64));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for shared in peers(threads) {
        group.bench_function(shared.name, |b| {
            b.iter_custom(|iters| run(&shared, threads, iters, &ns, &s));
        });
    }
    group.finish();
}

fn record_1_thread(c: &mut Criterion) {
    record_threads(c, 1);
}

fn record_2_threads(c: &mut Criterion) {
    record_threads(c, 2);
}

/// Many threads (more than this machine's cores, and more than the
/// exclusive writer slots) on one series: aggregate values per second. The
/// figure to read is 80 and 128 threads against 64.
fn record_many_threads(c: &mut Criterion) {
    let ns = Arc::new(values_ns());
    let s = Arc::new(values_s(&ns));
    let mut group = c.benchmark_group("record_many_threads_same_series");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    for threads in [2, 16, 64, 80, 128] {
        group.throughput(Throughput::Elements(threads as u64));
        for shared in peers(threads)
            .into_iter()
            .filter(|p| matches!(p.name, "tailwatch" | "hdrhistogram_sync_recorder"))
        {
            group.bench_with_input(BenchmarkId::new(shared.name, threads), &threads, |b, &t| {
                b.iter_custom(|iters| run(&shared, t, iters, &ns, &s));
            });
        }
    }
    group.finish();
}

/// Record through a handle with a trace context (keeping the exemplar of
/// the value's range) against without, 1 and 2 threads on one series.
fn record_with_trace(c: &mut Criterion) {
    let ns = values_ns();
    let mut group = c.benchmark_group("record_with_trace");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let h = Histogram::new();
    let trace = tailwatch::engine::TraceContext {
        trace_id: 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        span_id: 0x00f0_67aa_0ba9_02b7,
    };
    let mut k = 0_usize;
    group.throughput(Throughput::Elements(1));
    group.bench_function("without_1_thread", |b| {
        b.iter(|| {
            k = (k + 1) & (VALUES - 1);
            h.record(ns[k]);
        })
    });
    group.bench_function("with_1_thread", |b| {
        b.iter(|| {
            k = (k + 1) & (VALUES - 1);
            h.record_with_trace(ns[k], trace);
        })
    });
    group.throughput(Throughput::Elements(2));
    group.bench_function("without_2_threads", |b| {
        b.iter_custom(|iters| threads::two(iters, VALUES, |i| h.record(ns[i & (VALUES - 1)])))
    });
    group.bench_function("with_2_threads", |b| {
        b.iter_custom(|iters| {
            threads::two(iters, VALUES, |i| {
                h.record_with_trace(ns[i & (VALUES - 1)], trace);
            })
        })
    });
    group.finish();
}

/// Record with a name and two labels resolved on every call.
fn record_by_name(c: &mut Criterion) {
    let ns = values_ns();
    let s = values_s(&ns);
    let mut group = c.benchmark_group("record_by_name");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let mut i = 0_usize;
    let mut next = || {
        i = (i + 1) & (VALUES - 1);
        i
    };

    let registry = Registry::new();
    group.bench_function("tailwatch", |b| {
        b.iter(|| {
            let k = next();
            registry
                .record(
                    black_box("db_query_duration_seconds"),
                    &[("table", black_box("users")), ("op", "select")],
                    ns[k],
                )
                .unwrap()
        })
    });

    // The macro people write, through a recorder set for this thread.
    let macro_loop = |recorder: &dyn metrics::Recorder, iters: u64| {
        metrics::with_local_recorder(recorder, || {
            let start = Instant::now();
            for i in 0..iters as usize {
                metrics::histogram!("db_query_duration_seconds", "table" => black_box("users"), "op" => "select")
                    .record(s[i & (VALUES - 1)]);
            }
            start.elapsed()
        })
    };
    let mep = mep_recorder();
    let mep_handle = mep.handle();
    group.bench_function("metrics_exporter_prometheus", |b| {
        b.iter_custom(|iters| {
            let took = macro_loop(&mep, iters);
            mep_handle.run_upkeep();
            took
        })
    });
    let tw = tailwatch::MetricsRecorder::new(&tailwatch::Monitor::new());
    group.bench_function("tailwatch_metrics_macro", |b| {
        b.iter_custom(|iters| macro_loop(&tw, iters))
    });

    let prom = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("db_query_duration_seconds", "bench")
            .buckets(OTEL_BUCKETS.to_vec()),
        &["table", "op"],
    )
    .unwrap();
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            let k = next();
            prom.with_label_values(&[black_box("users"), "select"])
                .observe(s[k])
        })
    });

    type Labels = Vec<(String, String)>;
    type PcHistogram = prometheus_client::metrics::histogram::Histogram;
    let family = prometheus_client::metrics::family::Family::<
        Labels,
        PcHistogram,
        fn() -> PcHistogram,
    >::new_with_constructor(prometheus_client_histogram);
    group.bench_function("prometheus_client", |b| {
        b.iter(|| {
            let k = next();
            // Its API needs an owned label set to look up.
            let labels = vec![
                ("table".to_owned(), black_box("users").to_owned()),
                ("op".to_owned(), "select".to_owned()),
            ];
            family.get_or_create(&labels).observe(s[k])
        })
    });
    group.finish();
}

/// Two threads recording by name into the same series.
fn record_by_name_2_threads(c: &mut Criterion) {
    let ns = Arc::new(values_ns());
    let s = Arc::new(values_s(&ns));
    let mut group = c.benchmark_group("record_by_name_2_threads");
    group.throughput(Throughput::Elements(2));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let macro_call = |i: usize| {
        metrics::histogram!("db_query_duration_seconds", "table" => black_box("users"), "op" => "select")
            .record(s[i & (VALUES - 1)]);
    };
    let tw = tailwatch::MetricsRecorder::new(&tailwatch::Monitor::new());
    group.bench_function("tailwatch_metrics_macro", |b| {
        b.iter_custom(|iters| {
            threads::two_in(
                iters,
                VALUES,
                |run| metrics::with_local_recorder(&tw, run),
                macro_call,
            )
        })
    });
    let mep = mep_recorder();
    let mep_handle = mep.handle();
    group.bench_function("metrics_exporter_prometheus", |b| {
        b.iter_custom(|iters| {
            let took = threads::two_in(
                iters,
                VALUES,
                |run| metrics::with_local_recorder(&mep, run),
                macro_call,
            );
            mep_handle.run_upkeep();
            took
        })
    });
    let registry = Registry::new();
    group.bench_function("tailwatch", |b| {
        b.iter_custom(|iters| {
            threads::two(iters, VALUES, |i| {
                registry
                    .record(
                        "db_query_duration_seconds",
                        &[("table", black_box("users")), ("op", "select")],
                        ns[i & (VALUES - 1)],
                    )
                    .unwrap()
            })
        })
    });
    let prom = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("db_query_duration_seconds", "bench")
            .buckets(OTEL_BUCKETS.to_vec()),
        &["table", "op"],
    )
    .unwrap();
    group.bench_function("prometheus", |b| {
        b.iter_custom(|iters| {
            threads::two(iters, VALUES, |i| {
                prom.with_label_values(&[black_box("users"), "select"])
                    .observe(s[i & (VALUES - 1)])
            })
        })
    });
    group.finish();
}

/// Snapshot + p50/p95/p99 of 200 busy series.
fn snapshot_200(c: &mut Criterion) {
    const SERIES: usize = 200;
    let ns = values_ns();
    let mut group = c.benchmark_group("snapshot_quantiles_200_series");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    // Each series written by 2 threads, 20,000 values each.
    let series: Vec<Histogram> = (0..SERIES).map(|_| Histogram::new()).collect();
    std::thread::scope(|scope| {
        for t in 0..2 {
            let (series, ns) = (&series, &ns);
            scope.spawn(move || {
                for h in series {
                    for i in 0..20_000 {
                        h.record(ns[(i * 7 + t) & (VALUES - 1)]);
                    }
                }
            });
        }
    });
    let mut snap = Snapshot::default();
    group.bench_function(
        BenchmarkId::new("tailwatch", "stats_window_and_cumulative"),
        |b| {
            b.iter(|| {
                for h in &series {
                    black_box(h.stats_with(&mut snap));
                }
            })
        },
    );
    group.bench_function(
        BenchmarkId::new("tailwatch", "window_snapshot_3_quantiles"),
        |b| {
            let mut out = [None; 3];
            b.iter(|| {
                for h in &series {
                    h.window(&mut snap);
                    snap.quantiles_into(&[0.5, 0.95, 0.99], &mut out);
                    black_box(out);
                }
            })
        },
    );

    let hdr: Vec<hdrhistogram::Histogram<u64>> = (0..SERIES)
        .map(|_| {
            let mut h = hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_NS, 2).unwrap();
            for i in 0..40_000 {
                h.record(ns[(i * 7) & (VALUES - 1)]).unwrap();
            }
            h
        })
        .collect();
    group.bench_function(
        BenchmarkId::new("hdrhistogram", "3_quantiles_no_copy"),
        |b| {
            b.iter(|| {
                for h in &hdr {
                    black_box([
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.95),
                        h.value_at_quantile(0.99),
                    ]);
                }
            })
        },
    );
    let mut sync: Vec<hdrhistogram::sync::SyncHistogram<u64>> =
        hdr.iter().map(|h| h.clone().into_sync()).collect();
    group.bench_function(
        BenchmarkId::new("hdrhistogram_sync", "refresh_3_quantiles"),
        |b| {
            b.iter(|| {
                for h in &mut sync {
                    h.refresh();
                    black_box([
                        h.value_at_quantile(0.5),
                        h.value_at_quantile(0.95),
                        h.value_at_quantile(0.99),
                    ]);
                }
            })
        },
    );
    group.finish();
}

/// One window rotation of a busy series (a manual clock moved one slice),
/// with 64 new values recorded in each slice by 2 threads' shards.
fn rotate(c: &mut Criterion) {
    let ns = values_ns();
    let mut group = c.benchmark_group("rotate");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let clock = Arc::new(tailwatch::engine::ManualClock::new());
    let h = Histogram::builder().clock(clock.clone()).build().unwrap();
    // Two threads' shards, with the values' spread.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| ns.iter().for_each(|&v| h.record(v)));
        }
    });
    let mut k = 0_usize;
    group.bench_function("one_series_one_slice_64_values", |b| {
        b.iter(|| {
            for _ in 0..64 {
                k = (k + 1) & (VALUES - 1);
                h.record(ns[k]);
            }
            clock.advance(Duration::from_secs(10));
            h.rotate();
        })
    });
    group.bench_function("record_64_values_alone", |b| {
        b.iter(|| {
            for _ in 0..64 {
                k = (k + 1) & (VALUES - 1);
                h.record(ns[k]);
            }
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    rotate,
    record_1_thread,
    record_2_threads,
    record_many_threads,
    record_with_trace,
    record_by_name,
    record_by_name_2_threads,
    snapshot_200
);
criterion_main!(benches);
