//! End to end with a real Prometheus (Debian's `prometheus`), started on
//! loopback with a generated config and a 1 s scrape interval: two agents
//! with known latencies, then what Prometheus stored and computes.
//!
//! Runs when `prometheus` is installed; required when
//! TAILWATCH_REQUIRE_SERVERS=1 (CI); otherwise one `SKIPPED:` line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tailwatch::{Monitor, measure::Ended};

use crate::common;
use common::prometheus::{Prometheus, eventually};
use common::{available, free_port, get_ok, installed};

/// Records `pattern` (latencies in ms) into `op` in batches until `stop`.
fn traffic(
    monitor: Monitor,
    pattern: Vec<(u64, u32)>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let op = monitor.operation("checkout");
        while !stop.load(Ordering::Relaxed) {
            for &(ms, times) in &pattern {
                for _ in 0..times {
                    op.record(Duration::from_millis(ms), Ended::Ok);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

fn one_value(r: &[(serde_json::Value, f64)]) -> f64 {
    assert_eq!(r.len(), 1, "{r:?}");
    r[0].1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_two_agents_and_computes_fleet_quantiles() {
    if !available(
        installed("prometheus"),
        "prometheus",
        "apt-get install prometheus; end-to-end test not run",
    ) {
        return;
    }
    // Instance A: 95 % at 20 ms, 5 % at 200 ms. Instance B: all at 400 ms.
    let (a, b) = (Monitor::new(), Monitor::new());
    let agent_a = tailwatch::AgentBuilder::new(&a)
        .listen(free_port())
        .start()
        .await
        .unwrap();
    let agent_b = tailwatch::AgentBuilder::new(&b)
        .listen(free_port())
        .start()
        .await
        .unwrap();
    let (addr_a, addr_b) = (agent_a.local_addr(), agent_b.local_addr());
    let stop = Arc::new(AtomicBool::new(false));
    let writers = [
        traffic(a.clone(), vec![(20, 95), (200, 5)], stop.clone()),
        traffic(b.clone(), vec![(400, 100)], stop.clone()),
    ];
    // A label value with everything the format escapes or could trip on.
    let odd = "a\"b\\c\nd\re\tf 😀 {x=\"y\"} # EOF";
    a.registry()
        .record("odd_seconds", &[("value", odd)], 1_000_000)
        .unwrap();
    let prom = Prometheus::start(&[addr_a, addr_b], None).await;

    // Both targets up.
    eventually(&prom, "up", |r| {
        r.len() == 2 && r.iter().all(|(_, v)| *v == 1.0)
    })
    .await;

    // The odd label value is stored as it was recorded.
    let stored = eventually(&prom, "odd_seconds_count", |r| r.len() == 1).await;
    assert_eq!(stored[0].0["value"], odd, "{stored:?}");
    assert_eq!(stored[0].1, 1.0);

    // Per instance, from A's buckets: p99 interpolated inside (0.1, 0.25].
    let rate = "rate(operation_duration_seconds_bucket[5s])";
    let per_a = format!(
        "histogram_quantile(0.99, sum by (le) ({}))",
        rate.replace("[5s]", &format!("{{instance=\"{addr_a}\"}}[5s]"))
    );
    let p99_a = one_value(&eventually(&prom, &per_a, |r| r.len() == 1 && r[0].1.is_finite()).await);
    assert!(
        p99_a > 0.1 && p99_a <= 0.25,
        "A's p99 from buckets: {p99_a}"
    );

    // Fleet-wide, from the summed buckets of both instances: p25 in A's
    // 20 ms bucket, p99 in B's 400 ms bucket. (Averaging the per-instance
    // quantile gauges could give neither.)
    let fleet = |q: f64| format!("histogram_quantile({q}, sum by (le) ({rate}))");
    let instances = eventually(
        &prom,
        &format!("count(count by (instance) ({rate}))"),
        |r| r.len() == 1 && r[0].1 == 2.0,
    )
    .await;
    assert_eq!(one_value(&instances), 2.0);
    let p25 =
        one_value(&eventually(&prom, &fleet(0.25), |r| r.len() == 1 && r[0].1.is_finite()).await);
    let p99 =
        one_value(&eventually(&prom, &fleet(0.99), |r| r.len() == 1 && r[0].1.is_finite()).await);
    assert!(p25 > 0.01 && p25 <= 0.025, "fleet p25: {p25}");
    assert!(p99 > 0.25 && p99 <= 0.5, "fleet p99: {p99}");

    // Stop the traffic: the windows stop moving, and the quantile and max
    // gauges Prometheus stores equal what each agent's /stats says.
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    for (addr, monitor) in [(addr_a, &a), (addr_b, &b)] {
        let stats: serde_json::Value = serde_json::from_str(&get_ok(addr, "/stats").await).unwrap();
        let s = stats["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["labels"]["operation"] == "checkout")
            .unwrap()
            .clone();
        assert_eq!(
            common::stats_quantile(&s, 0.99),
            monitor.stats("checkout").unwrap().p99(),
            "/stats is Monitor::stats"
        );
        for (field, name, quantile) in [
            (
                Some(0.5),
                "operation_duration_quantile_seconds",
                ",quantile=\"0.5\"",
            ),
            (
                Some(0.95),
                "operation_duration_quantile_seconds",
                ",quantile=\"0.95\"",
            ),
            (
                Some(0.99),
                "operation_duration_quantile_seconds",
                ",quantile=\"0.99\"",
            ),
            (None, "operation_duration_max_seconds", ""),
        ] {
            let want = match field {
                Some(q) => common::stats_quantile(&s, q).unwrap(),
                None => s["max"].as_f64().unwrap(),
            };
            let selector =
                format!("{name}{{instance=\"{addr}\",operation=\"checkout\"{quantile}}}");
            let stored = eventually(&prom, &selector, |r| r.len() == 1 && r[0].1 == want).await;
            assert_eq!(one_value(&stored), want, "{field:?} of {addr}");
        }
    }
    // The values themselves, within the HDR bound: A's p50 is 20 ms, B's 400 ms.
    let a_p50 = a.stats("checkout").unwrap().p50().unwrap();
    let b_p50 = b.stats("checkout").unwrap().p50().unwrap();
    assert!((a_p50 / 0.020 - 1.0).abs() <= 0.0079, "{a_p50}");
    assert!((b_p50 / 0.400 - 1.0).abs() <= 0.0079, "{b_p50}");
    agent_a.stop().await;
    agent_b.stop().await;
}
