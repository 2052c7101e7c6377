//! Protobuf scrape cost: 200 and 1,000 busy latency series, tailwatch's
//! protobuf exposition (classic and native buckets per histogram) next to
//! its text exposition and prometheus-client's protobuf encoder
//! (`prometheus_protobuf`, classic buckets only) and text encoder, in one
//! run; the same workload as `benches/scrape.rs`.
//!
//! Run with: `cargo bench -p tailwatch-bench-peers --bench protobuf`
//! (needs `protoc`, which prometheus-client's build uses). Report ratios.

use criterion::{Criterion, criterion_group, criterion_main};
use tailwatch::export::Format;

#[path = "../../benches/common/mod.rs"]
mod common;
use common::{PrometheusClient, Tailwatch, bench_peer, scrape_group, values_ns};

fn prometheus_client_protobuf(registry: &prometheus_client::registry::Registry) -> usize {
    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(registry)
        .unwrap()
        .len()
}

fn protobuf(c: &mut Criterion) {
    let ns = values_ns();
    for n in [200, 1_000] {
        let mut group = scrape_group(c, "protobuf_scrape", n);
        bench_peer(
            &mut group,
            "tailwatch_protobuf",
            n,
            Tailwatch::new(n, Format::Protobuf),
            &ns,
        );
        bench_peer(
            &mut group,
            "tailwatch_text",
            n,
            Tailwatch::new(n, Format::Prometheus),
            &ns,
        );
        bench_peer(
            &mut group,
            "prometheus_client_protobuf",
            n,
            PrometheusClient::new(n, prometheus_client_protobuf),
            &ns,
        );
        bench_peer(
            &mut group,
            "prometheus_client_text",
            n,
            PrometheusClient::new(n, common::prometheus_client_text),
            &ns,
        );
        group.finish();
    }
}

criterion_group!(benches, protobuf);
criterion_main!(benches);
