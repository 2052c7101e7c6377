//! Past one Prometheus: a Prometheus 2.42 in agent mode scrapes the agent
//! and remote-writes (native histograms and exemplars) to a central
//! Prometheus with the remote-write receiver. The central's native
//! quantiles equal exactly those of a Prometheus scraping the agent
//! directly, and the recorded traces arrive as exemplars (the topology and
//! its settings: docs/prometheus.md, "Past one Prometheus").

use std::time::Duration;

use crate::common;
use common::prometheus::{Prometheus, eventually, served_histogram};
use common::{available, installed};
use tailwatch::engine::TraceContext;

const VALUES: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_mode_prometheus_remote_writes_the_same_quantiles_and_the_exemplars() {
    if !available(
        installed("prometheus"),
        "prometheus",
        "apt-get install prometheus; agent-mode remote-write test not run",
    ) {
        return;
    }
    let (_monitor, h, a) = served_histogram("job_duration_seconds", &[("queue", "mail")]).await;
    let central = Prometheus::start_raw(
        "",
        &["native-histograms", "exemplar-storage"],
        &["--web.enable-remote-write-receiver"],
        |_| {},
    )
    .await;
    let direct = Prometheus::start_with(
        &[a.local_addr()],
        None,
        &["native-histograms", "exemplar-storage"],
    )
    .await;
    let forwarding = Prometheus::start_raw(
        &format!(
            "scrape_configs:\n  - job_name: tailwatch\n    static_configs:\n      - targets: ['{}']\n\
             remote_write:\n  - url: 'http://{}/api/v1/write'\n    send_native_histograms: true\n    \
             send_exemplars: true\n    queue_config:\n      batch_send_deadline: 1s\n",
            a.local_addr(),
            central.addr
        ),
        &["agent", "native-histograms", "exemplar-storage"],
        &[],
        |_| {},
    )
    .await;

    // Latencies over four decades (10 µs to 100 ms, log-uniform), every
    // 1,000th with a trace.
    for i in 0..VALUES {
        let exp = -5.0 + 4.0 * ((i * 7919) % VALUES) as f64 / VALUES as f64;
        let nanos = (10f64.powf(exp) * 1e9) as u64;
        if i % 1_000 == 0 {
            let id = u128::from(i + 1);
            h.record_with_trace(
                nanos,
                TraceContext {
                    trace_id: id,
                    span_id: id as u64,
                },
            );
        } else {
            h.record(nanos);
        }
    }
    // Both have the final histogram once its count is all the values.
    let count = "histogram_count(job_duration_seconds{queue=\"mail\"})";
    for p in [&direct, &central] {
        eventually(p, count, |r| r.len() == 1 && r[0].1 == VALUES as f64).await;
    }
    for q in [0.5, 0.9, 0.99, 0.999] {
        let query = format!("histogram_quantile({q}, job_duration_seconds{{queue=\"mail\"}})");
        let d = direct.query(&query).await;
        let c = central.query(&query).await;
        assert_eq!(d.len(), 1, "{query}: {d:?}");
        assert_eq!(c.len(), 1, "{query}: {c:?}");
        println!("p{}: direct {} central {}", q * 100.0, d[0].1, c[0].1);
        assert_eq!(c[0].1, d[0].1, "{query}: central {c:?}, direct {d:?}");
    }
    // The traces reached the central store as exemplars.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let traces = central.exemplars("job_duration_seconds").await;
        let recorded = |t: &String| {
            u128::from_str_radix(t, 16).is_ok_and(|id| id >= 1 && id <= u128::from(VALUES))
        };
        if traces.iter().any(|(t, _)| recorded(t)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no recorded trace reached the central Prometheus: {traces:?}\nforwarding log:\n{}",
            forwarding.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    a.stop().await;
}
