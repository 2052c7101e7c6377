//! Exemplars in a real Prometheus 2.42 (`--enable-feature=exemplar-storage`,
//! and with `native-histograms` too): scraping an agent, it stores the
//! trace ids the test recorded, with their values, and
//! `/api/v1/query_exemplars` returns them, for classic buckets (the
//! OpenMetrics text) and for native histograms (protobuf).
//!
//! Prometheus 2.42 reads one exemplar per native histogram per scrape
//! (the first classic bucket's; tailwatch puts its newest there), so the
//! test records one traced value per scrape, as a service does many.

use crate::common;

use std::time::Duration;

use common::prometheus::{Prometheus, eventually, served_histogram};
use common::{available, installed};
use tailwatch::engine::TraceContext;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_the_recorded_trace_ids_for_classic_and_native_histograms() {
    if !available(
        installed("prometheus"),
        "prometheus",
        "apt-get install prometheus; exemplar storage end-to-end test not run",
    ) {
        return;
    }
    let (_monitor, h, a) = served_histogram("checkout_seconds", &[("route", "/checkout")]).await;
    let classic = Prometheus::start_with(&[a.local_addr()], None, &["exemplar-storage"]).await;
    let native = Prometheus::start_with(
        &[a.local_addr()],
        None,
        &["exemplar-storage", "native-histograms"],
    )
    .await;
    eventually(&classic, "up", |r| r.len() == 1 && r[0].1 == 1.0).await;
    eventually(&native, "up", |r| r.len() == 1 && r[0].1 == 1.0).await;
    // Three traced values in three buckets, fastest first (so that the
    // first bucket holding an exemplar is not the newest one's), each
    // stored by both servers before the next is recorded.
    let recorded = [(0xa1_u128, 0.000_2_f64), (0xb2, 0.007), (0xc3, 3.0)];
    for (id, seconds) in recorded {
        h.record_with_trace(
            (seconds * 1e9) as u64,
            TraceContext {
                trace_id: id,
                span_id: id as u64,
            },
        );
        // Both servers have stored it before the next one replaces it in
        // the classic buckets: wait for that, not for a number of scrapes.
        let trace = format!("{id:032x}");
        for (p, query, what) in [
            (&classic, "checkout_seconds_bucket", "classic"),
            (&native, "checkout_seconds", "native"),
        ] {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !p.exemplars(query).await.iter().any(|(t, _)| *t == trace) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{what}: Prometheus never stored {trace}; log:\n{}",
                    p.log()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    let mut want: Vec<(String, f64)> = recorded
        .iter()
        .map(|&(id, v)| (format!("{id:032x}"), v))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, query, what) in [
        (&classic, "checkout_seconds_bucket", "classic"),
        (&native, "checkout_seconds", "native"),
    ] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = p.exemplars(query).await;
            if got == want {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: Prometheus has {got:?}, the test recorded {want:?}; log:\n{}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    a.stop().await;
}
