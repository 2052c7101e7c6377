//! Scrape cost: rendering 200, 1,000 and 10,000 busy latency series as Prometheus
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
//! and max (rendered from the same HDR data). At 10,000 series, tailwatch
//! also with every series written by 16 threads (each series then holds
//! all the stripes this machine gives it).

use criterion::{Criterion, criterion_group, criterion_main};
use metrics::Recorder as _;
use tailwatch::export::{Format, OTEL_BUCKETS};

mod common;
use common::{
    NAME, PER_SCRAPE, Peer, PrometheusClient, Tailwatch, bench_peer, labels, scrape_group,
    values_ns,
};

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
                h.record(ns[(round * 31 + i * 7 + j) % common::VALUES] as f64 / 1e9);
            }
        }
    }
    fn render(&mut self) -> usize {
        self.recorder.handle().render().len()
    }
}

fn scrape(c: &mut Criterion) {
    let ns = values_ns();
    for n in [200, 1_000, 10_000] {
        let mut group = scrape_group(c, "scrape", n);
        bench_peer(
            &mut group,
            "tailwatch",
            n,
            Tailwatch::new(n, Format::Prometheus),
            &ns,
        );
        if n == 10_000 {
            bench_peer(
                &mut group,
                "tailwatch_16_writers",
                n,
                Tailwatch::new(n, Format::Prometheus).writers(16),
                &ns,
            );
        }
        bench_peer(
            &mut group,
            "prometheus_client",
            n,
            PrometheusClient::new(n, common::prometheus_client_text),
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
