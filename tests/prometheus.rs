//! End to end with a real Prometheus (Debian's `prometheus`), started on
//! loopback with a generated config and a 1 s scrape interval: two agents
//! with known latencies, then what Prometheus stored and computes.
//!
//! Runs when `prometheus` is installed; required when
//! TAILWATCH_REQUIRE_SERVERS=1 (CI); otherwise one `SKIPPED:` line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tailwatch::{Ended, Monitor, agent};

mod common;
use common::{available, free_port, get_ok, installed, request, temp_dir};

/// A Prometheus server in a temporary directory, killed and removed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_prometheus(targets: &[SocketAddr]) -> Prometheus {
    let dir = temp_dir("prometheus");
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: tailwatch\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let addr = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    let p = Prometheus { child, dir, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && request(addr, "GET", "/-/ready", None).await.0 == 200
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready after 60 s; log:\n{}",
            std::fs::read_to_string(p.dir.join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Percent-encodes a query parameter.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query: each result's labels and value.
async fn query(p: &Prometheus, promql: &str) -> Vec<(serde_json::Value, f64)> {
    let body = get_ok(p.addr, &format!("/api/v1/query?query={}", encode(promql))).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "success", "{promql}: {body}");
    json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            (r["metric"].clone(), v)
        })
        .collect()
}

/// Polls `promql` until `done` accepts its results (or 30 s pass).
async fn eventually(
    p: &Prometheus,
    promql: &str,
    done: impl Fn(&[(serde_json::Value, f64)]) -> bool,
) -> Vec<(serde_json::Value, f64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = query(p, promql).await;
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{promql} never satisfied: {r:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

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
    let agent_a = agent(&a).listen(free_port()).start().await.unwrap();
    let agent_b = agent(&b).listen(free_port()).start().await.unwrap();
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
    let prom = start_prometheus(&[addr_a, addr_b]).await;

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
            s["p99"].as_f64(),
            monitor.stats("checkout").unwrap().p99,
            "/stats is Monitor::stats"
        );
        for (field, name, quantile) in [
            (
                "p50",
                "operation_duration_quantile_seconds",
                ",quantile=\"0.5\"",
            ),
            (
                "p95",
                "operation_duration_quantile_seconds",
                ",quantile=\"0.95\"",
            ),
            (
                "p99",
                "operation_duration_quantile_seconds",
                ",quantile=\"0.99\"",
            ),
            ("max", "operation_duration_max_seconds", ""),
        ] {
            let want = s[field].as_f64().unwrap();
            let selector =
                format!("{name}{{instance=\"{addr}\",operation=\"checkout\"{quantile}}}");
            let stored = eventually(&prom, &selector, |r| r.len() == 1 && r[0].1 == want).await;
            assert_eq!(one_value(&stored), want, "{field} of {addr}");
        }
    }
    // The values themselves, within the HDR bound: A's p50 is 20 ms, B's 400 ms.
    let a_p50 = a.stats("checkout").unwrap().p50.unwrap();
    let b_p50 = b.stats("checkout").unwrap().p50.unwrap();
    assert!((a_p50 / 0.020 - 1.0).abs() <= 0.0079, "{a_p50}");
    assert!((b_p50 / 0.400 - 1.0).abs() <= 0.0079, "{b_p50}");
    agent_a.stop().await;
    agent_b.stop().await;
}
