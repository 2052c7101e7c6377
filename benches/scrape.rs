//! Scrape cost: rendering 200 and 1,000 busy latency series as Prometheus
//! text, tailwatch against metrics-exporter-prometheus (its default
//! summaries, and histograms with the same 14 buckets) and
//! prometheus-client (histograms, same buckets), in one run.
//!
//! Run with: `cargo bench --bench scrape`. Report ratios.
//!
//! Every series starts with 10,000 lognormal latencies (median 1 ms, sigma
//! 0.5) and receives 100 more before each scrape (untimed): the exporters
//! that queue raw samples until a scrape pay for them at render time, as
//! they do in production. tailwatch renders more per series than the
//! peers: cumulative buckets, `_sum`/`_count`, and the window's p50/p95/p99
//! and max (rendered from the same HDR data).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metrics::Recorder as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};
use tailwatch::export::{self, Buckets, Format, OTEL_BUCKETS};
use tailwatch::{Histogram, Monitor, Registry};

const NAME: &str = "http_server_request_duration_seconds";
const PREFILL: usize = 10_000;
const PER_SCRAPE: usize = 100;
const VALUES: usize = 4096;

fn values_ns() -> Vec<u64> {
    let d = LogNormal::new(1e6_f64.ln(), 0.5).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    (0..VALUES).map(|_| d.sample(&mut rng) as u64).collect()
}

fn route(i: usize) -> String {
    format!("/api/v1/resource{i}/{{id}}")
}

/// The labels every peer uses for series `i`.
fn labels(i: usize) -> [(&'static str, String); 3] {
    [
        ("http_request_method", "GET".to_owned()),
        ("http_response_status_code", "200".to_owned()),
        ("http_route", route(i)),
    ]
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcLabels {
    http_request_method: String,
    http_response_status_code: String,
    http_route: String,
}

/// One exporter under test: record a batch (untimed), render (timed).
trait Peer {
    fn record(&mut self, round: usize, ns: &[u64]);
    fn render(&mut self) -> usize;
}

struct Tailwatch {
    monitor: Monitor,
    series: Vec<Histogram>,
    buckets: Buckets,
}

impl Tailwatch {
    fn new(n: usize) -> Self {
        let monitor = Monitor::builder()
            .registry(Registry::builder().series_cap(n + 1))
            .build()
            .unwrap();
        let series = (0..n)
            .map(|i| {
                let l = labels(i);
                let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
                monitor.registry().histogram(NAME, &pairs).unwrap()
            })
            .collect();
        Self {
            monitor,
            series,
            buckets: Buckets::default(),
        }
    }
}

impl Peer for Tailwatch {
    fn record(&mut self, round: usize, ns: &[u64]) {
        for (i, h) in self.series.iter().enumerate() {
            for j in 0..PER_SCRAPE {
                h.record(ns[(round * 31 + i * 7 + j) % VALUES]);
            }
        }
    }
    fn render(&mut self) -> usize {
        export::render(&self.monitor, &self.buckets, Format::Prometheus).len()
    }
}

struct Mep {
    recorder: metrics_exporter_prometheus::PrometheusRecorder,
    series: Vec<metrics::Histogram>,
}

impl Mep {
    fn new(n: usize, buckets: bool) -> Self {
        static META: metrics::Metadata<'static> =
            metrics::Metadata::new("bench", metrics::Level::INFO, None);
        let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        if buckets {
            builder = builder.set_buckets(&OTEL_BUCKETS).unwrap();
        }
        let recorder = builder.build_recorder();
        let series = (0..n)
            .map(|i| {
                let l: Vec<metrics::Label> = labels(i)
                    .into_iter()
                    .map(|(k, v)| metrics::Label::new(k, v))
                    .collect();
                recorder.register_histogram(&metrics::Key::from_parts(NAME, l), &META)
            })
            .collect();
        Self { recorder, series }
    }
}

impl Peer for Mep {
    fn record(&mut self, round: usize, ns: &[u64]) {
        for (i, h) in self.series.iter().enumerate() {
            for j in 0..PER_SCRAPE {
                h.record(ns[(round * 31 + i * 7 + j) % VALUES] as f64 / 1e9);
            }
        }
    }
    fn render(&mut self) -> usize {
        self.recorder.handle().render().len()
    }
}

struct PrometheusClient {
    registry: prometheus_client::registry::Registry,
    series: Vec<prometheus_client::metrics::histogram::Histogram>,
}

impl PrometheusClient {
    fn new(n: usize) -> Self {
        let family = Family::<PcLabels, prometheus_client::metrics::histogram::Histogram>::new_with_constructor(
            || prometheus_client::metrics::histogram::Histogram::new(OTEL_BUCKETS),
        );
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register(
            "http_server_request_duration",
            "Duration of HTTP server requests",
            family.clone(),
        );
        let series = (0..n)
            .map(|i| {
                family
                    .get_or_create(&PcLabels {
                        http_request_method: "GET".into(),
                        http_response_status_code: "200".into(),
                        http_route: route(i),
                    })
                    .clone()
            })
            .collect();
        Self { registry, series }
    }
}

impl Peer for PrometheusClient {
    fn record(&mut self, round: usize, ns: &[u64]) {
        for (i, h) in self.series.iter().enumerate() {
            for j in 0..PER_SCRAPE {
                h.observe(ns[(round * 31 + i * 7 + j) % VALUES] as f64 / 1e9);
            }
        }
    }
    fn render(&mut self) -> usize {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).unwrap();
        out.len()
    }
}

/// Prefills, then times only the renders, each after a fresh batch.
fn bench_peer(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    mut peer: impl Peer,
    ns: &[u64],
) {
    for round in 0..PREFILL / PER_SCRAPE {
        peer.record(round, ns);
    }
    peer.render();
    let mut round = PREFILL / PER_SCRAPE;
    group.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                peer.record(round, ns);
                round += 1;
                let start = Instant::now();
                black_box(peer.render());
                total += start.elapsed();
            }
            total
        })
    });
}

fn scrape(c: &mut Criterion) {
    let ns = values_ns();
    for n in [200, 1_000] {
        let mut group = c.benchmark_group(format!("scrape_{n}_series"));
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        bench_peer(&mut group, "tailwatch", n, Tailwatch::new(n), &ns);
        bench_peer(
            &mut group,
            "prometheus_client",
            n,
            PrometheusClient::new(n),
            &ns,
        );
        bench_peer(
            &mut group,
            "metrics_exporter_prometheus_histogram",
            n,
            Mep::new(n, true),
            &ns,
        );
        bench_peer(
            &mut group,
            "metrics_exporter_prometheus_summary",
            n,
            Mep::new(n, false),
            &ns,
        );
        group.finish();
    }
}

criterion_group!(benches, scrape);
criterion_main!(benches);
