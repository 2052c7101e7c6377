//! What the scrape benchmarks share (`benches/scrape.rs` and
//! `bench-peers/benches/protobuf.rs`): the workload, tailwatch and
//! prometheus-client set up alike, and the timing loop.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod threads;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::BenchmarkId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};
use tailwatch::export::{self, Buckets, Format, OTEL_BUCKETS};
use tailwatch::{Histogram, Monitor, Registry};

pub const NAME: &str = "http_server_request_duration_seconds";
pub const PREFILL: usize = 10_000;
pub const PER_SCRAPE: usize = 100;
pub const VALUES: usize = 4096;

pub fn values_ns() -> Vec<u64> {
    let d = LogNormal::new(1e6_f64.ln(), 0.5).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    (0..VALUES).map(|_| d.sample(&mut rng) as u64).collect()
}

pub fn route(i: usize) -> String {
    format!("/api/v1/resource{i}/{{id}}")
}

/// The labels every peer uses for series `i`.
pub fn labels(i: usize) -> [(&'static str, String); 3] {
    [
        ("http_request_method", "GET".to_owned()),
        ("http_response_status_code", "200".to_owned()),
        ("http_route", route(i)),
    ]
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PcLabels {
    pub http_request_method: String,
    pub http_response_status_code: String,
    pub http_route: String,
}

/// One exporter under test: record a batch (untimed), render (timed).
pub trait Peer {
    fn record(&mut self, round: usize, ns: &[u64]);
    fn render(&mut self) -> usize;
}

pub struct Tailwatch {
    monitor: Monitor,
    series: Vec<Histogram>,
    buckets: Buckets,
    format: Format,
    writers: usize,
}

impl Tailwatch {
    /// `n` series rendered in `format` with OpenTelemetry's 14 boundaries
    /// (the peers' buckets).
    pub fn new(n: usize, format: Format) -> Self {
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
            buckets: Buckets::otel(),
            format,
            writers: 1,
        }
    }

    /// Each batch recorded by `writers` threads, every one writing every
    /// series (as a server's workers do): each series holds as many
    /// stripes as that many writers get.
    #[allow(dead_code)] // used by the scrape bench only
    pub fn writers(mut self, writers: usize) -> Self {
        self.writers = writers;
        self
    }
}

impl Peer for Tailwatch {
    fn record(&mut self, round: usize, ns: &[u64]) {
        let (series, writers) = (&self.series, self.writers);
        let part = |w: usize| {
            for (i, h) in series.iter().enumerate() {
                for j in (w..PER_SCRAPE).step_by(writers) {
                    h.record(ns[(round * 31 + i * 7 + j) % VALUES]);
                }
            }
        };
        if writers == 1 {
            part(0);
        } else {
            std::thread::scope(|scope| {
                for w in 0..writers {
                    scope.spawn(move || part(w));
                }
            });
        }
    }
    fn render(&mut self) -> usize {
        export::encode(&self.monitor, &self.buckets, self.format).len()
    }
}

pub struct PrometheusClient {
    registry: prometheus_client::registry::Registry,
    series: Vec<prometheus_client::metrics::histogram::Histogram>,
    render: fn(&prometheus_client::registry::Registry) -> usize,
}

/// prometheus-client's text encoder.
pub fn prometheus_client_text(registry: &prometheus_client::registry::Registry) -> usize {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out.len()
}

impl PrometheusClient {
    /// `n` series with OpenTelemetry's 14 boundaries, rendered by `render`.
    pub fn new(n: usize, render: fn(&prometheus_client::registry::Registry) -> usize) -> Self {
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
        Self {
            registry,
            series,
            render,
        }
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
        (self.render)(&self.registry)
    }
}

/// A benchmark group for `n` series: throughput per series, few samples
/// (each a whole scrape).
pub fn scrape_group<'a>(
    c: &'a mut criterion::Criterion,
    name: &str,
    n: usize,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(format!("{name}_{n}_series"));
    group.throughput(criterion::Throughput::Elements(n as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group
}

/// Prefills, then times only the renders, each after a fresh batch.
pub fn bench_peer(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    mut peer: impl Peer,
    ns: &[u64],
) {
    for round in 0..PREFILL / PER_SCRAPE {
        peer.record(round, ns);
        if round % 10 == 9 {
            // Exporters that queue raw samples drain them at a render.
            black_box(peer.render());
        }
    }
    eprintln!("{name}/{n}: {} bytes per scrape", peer.render());
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
