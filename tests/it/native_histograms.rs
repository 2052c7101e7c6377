//! Fleet-wide percentiles through a real Prometheus 2.42: three agents
//! with different latency shapes, scraped by one Prometheus with native
//! histograms (protobuf) and one without (classic `_bucket`s), compared
//! with the exact nearest-rank quantiles of the values those scrapes
//! covered.
//!
//! Runs when `prometheus` is installed; required when
//! TAILWATCH_REQUIRE_SERVERS=1 (CI); otherwise one `SKIPPED:` line.

use rand::{SeedableRng, rngs::StdRng};
use tailwatch::export::DEFAULT_BUCKETS;
use tailwatch::{Histogram, Monitor};

use crate::common;
use crate::shapes;
use common::prometheus::{Prometheus, eventually};
use common::{available, free_port, installed};
use shapes::{MS, bimodal, lognormal, pareto};

const N: usize = 100_000;
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];
/// The fleet goal through native histograms.
const NATIVE_TOLERANCE: f64 = 0.02;
/// The stated bound of the default classic ladder (one bucket ratio, 2.5).
const CLASSIC_BOUND: f64 = 1.5;

/// The exact nearest-rank quantile of the union of `parts`, the values of
/// part `i` weighing `weights[i]` each (all 1: the ⌈q·n⌉-th smallest), in
/// seconds.
fn weighted_exact(parts: &[Vec<u64>], weights: &[f64], q: f64) -> f64 {
    let mut all: Vec<(u64, f64)> = parts
        .iter()
        .zip(weights)
        .flat_map(|(p, &w)| p.iter().map(move |&v| (v, w)))
        .collect();
    all.sort_unstable_by_key(|&(v, _)| v);
    let total: f64 = all.iter().map(|(_, w)| w).sum();
    let mut running = 0.0;
    for (v, w) in &all {
        running += w;
        if running >= q * total * (1.0 - 1e-12) {
            return *v as f64 / 1e9;
        }
    }
    all.last().unwrap().0 as f64 / 1e9
}

/// Each part's weight in `promql`'s per-instance counts (its increase as
/// `rate` extrapolated it, per value recorded).
async fn weights(
    p: &Prometheus,
    promql: &str,
    at: f64,
    instances: &[String],
    parts: &[Vec<u64>],
) -> Vec<f64> {
    let r = p.query_at(promql, at).await;
    (0..parts.len())
        .map(|i| {
            let (_, rate) = r
                .iter()
                .find(|(m, _)| m["instance"] == instances[i].as_str())
                .unwrap_or_else(|| panic!("{promql}: no {}: {r:?}", instances[i]));
            rate / parts[i].len() as f64
        })
        .collect()
}

/// What Prometheus' `histogram_quantile` answers for classic buckets with
/// these cumulative counts (its linear interpolation, first bucket from 0).
fn classic_answer(bounds: &[f64], cumulative: &[f64], total: f64, q: f64) -> f64 {
    let rank = q * total;
    let b = cumulative
        .iter()
        .position(|&c| c >= rank)
        .unwrap_or(bounds.len());
    if b == bounds.len() {
        return bounds[bounds.len() - 1];
    }
    let (start, before) = if b == 0 {
        (0.0, 0.0)
    } else {
        (bounds[b - 1], cumulative[b - 1])
    };
    let count = cumulative[b] - before;
    start + (bounds[b] - start) * ((rank - before) / count)
}

fn one(r: &[(serde_json::Value, f64)]) -> f64 {
    assert_eq!(r.len(), 1, "{r:?}");
    r[0].1
}

fn all_equal(r: &[(serde_json::Value, f64)], n: usize, value: f64) -> bool {
    r.len() == n && r.iter().all(|(_, v)| *v == value)
}

struct Fleet {
    monitors: Vec<Monitor>,
    fleet: Vec<Histogram>,
    fast: Histogram,
    slow: Histogram,
}

fn fleet() -> Fleet {
    let monitors: Vec<Monitor> = (0..3).map(|_| Monitor::new()).collect();
    // Every series exists (at 0) before the values come: the scrapes
    // before them are the zero the rates start from.
    let fleet = monitors
        .iter()
        .map(|m| {
            m.registry()
                .histogram("fleet_latency_seconds", &[])
                .unwrap()
        })
        .collect();
    let fast = monitors[0]
        .registry()
        .histogram("fast_step_seconds", &[])
        .unwrap();
    let slow = monitors[0]
        .registry()
        .histogram("slow_job_seconds", &[])
        .unwrap();
    Fleet {
        monitors,
        fleet,
        fast,
        slow,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_quantiles_through_native_and_classic_histograms() {
    if !available(
        installed("prometheus"),
        "prometheus",
        "apt-get install prometheus; native-histogram end-to-end test not run",
    ) {
        return;
    }
    let f = fleet();
    let mut agents = Vec::new();
    for m in &f.monitors {
        agents.push(
            tailwatch::AgentBuilder::new(m)
                .listen(free_port())
                .start()
                .await
                .unwrap(),
        );
    }
    let targets: Vec<_> = agents.iter().map(|a| a.local_addr()).collect();
    let native = Prometheus::start_with(&targets, None, &["native-histograms"]).await;
    let classic = Prometheus::start(&targets, None).await;

    // Both have scraped the zero state of every series.
    eventually(&native, "histogram_count(fleet_latency_seconds)", |r| {
        all_equal(r, 3, 0.0)
    })
    .await;
    eventually(&native, "histogram_count(slow_job_seconds)", |r| {
        all_equal(r, 1, 0.0)
    })
    .await;
    eventually(&classic, "fleet_latency_seconds_count", |r| {
        all_equal(r, 3, 0.0)
    })
    .await;
    eventually(&classic, "slow_job_seconds_count", |r| all_equal(r, 1, 0.0)).await;

    let mut rng = StdRng::seed_from_u64(0x7461_696c);
    let shapes = [
        lognormal(&mut rng, MS, 0.5, N),
        bimodal(&mut rng, N),
        pareto(&mut rng, N),
    ];
    for (h, values) in f.fleet.iter().zip(&shapes) {
        for &v in values {
            h.record(v);
        }
    }
    let fast_values = lognormal(&mut rng, 2_000.0, 0.2, N / 10);
    let slow_values = lognormal(&mut rng, 5e9, 0.1, N / 10);
    for &v in &fast_values {
        f.fast.record(v);
    }
    for &v in &slow_values {
        f.slow.record(v);
    }
    let n = N as f64;
    eventually(&native, "histogram_count(fleet_latency_seconds)", |r| {
        all_equal(r, 3, n)
    })
    .await;
    eventually(&native, "histogram_count(slow_job_seconds)", |r| {
        all_equal(r, 1, n / 10.0)
    })
    .await;
    eventually(&classic, "fleet_latency_seconds_count", |r| {
        all_equal(r, 3, n)
    })
    .await;
    eventually(&classic, "slow_job_seconds_count", |r| {
        all_equal(r, 1, n / 10.0)
    })
    .await;

    // The native server stored native histograms, not classic buckets.
    let raw = native
        .api(&format!(
            "/api/v1/query?query={}",
            common::prometheus::encode("fleet_latency_seconds")
        ))
        .await;
    // An instant vector of native histograms: `[time, {count, sum, buckets}]`.
    let stored = &raw["data"]["result"][0]["histogram"][1];
    assert!(
        stored["buckets"].as_array().is_some_and(|b| !b.is_empty()),
        "not a native histogram: {:.300}",
        raw.to_string()
    );
    assert_eq!(stored["count"], "100000");
    assert!(
        native
            .query("fleet_latency_seconds_bucket")
            .await
            .is_empty()
    );

    // Every query sees the same window. `rate` extrapolates each
    // instance's increase by its own factor (its scrapes' timing within
    // the window), so the fleet Prometheus computes is the union with each
    // instance's values weighted by that factor: the oracle weighs them
    // alike, from the same query's per-instance counts.
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let instances: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    let cases: [(&str, Vec<Vec<u64>>); 3] = [
        ("fleet_latency_seconds", shapes.to_vec()),
        ("fast_step_seconds", vec![fast_values]),
        ("slow_job_seconds", vec![slow_values]),
    ];
    let mut report = Vec::new();
    for (metric, parts) in cases {
        let native_weights = weights(
            &native,
            &format!("histogram_count(rate({metric}[1m]))"),
            at,
            &instances,
            &parts,
        )
        .await;
        let classic_weights = weights(
            &classic,
            &format!("rate({metric}_count[1m])"),
            at,
            &instances,
            &parts,
        )
        .await;
        report.push(format!(
            "{metric}: weights per instance (rate extrapolation), native {native_weights:.3?}, classic {classic_weights:.3?}"
        ));
        // Classic counts of the same values, as the agents expose them.
        let raw: Vec<u64> = DEFAULT_BUCKETS
            .iter()
            .map(|b| (b * 1e9).round() as u64)
            .collect();
        let cumulative: Vec<Vec<u64>> = parts
            .iter()
            .map(|values| {
                let reference = Histogram::new();
                for &v in values {
                    reference.record(v);
                }
                let mut snap = tailwatch::engine::Snapshot::default();
                reference.cumulative(&mut snap);
                let mut out = Vec::new();
                snap.cumulative_buckets(&raw, &mut out);
                out
            })
            .collect();
        let weighted_cumulative: Vec<f64> = (0..raw.len())
            .map(|b| {
                cumulative
                    .iter()
                    .zip(&classic_weights)
                    .map(|(c, w)| c[b] as f64 * w)
                    .sum()
            })
            .collect();
        let classic_total: f64 = parts
            .iter()
            .zip(&classic_weights)
            .map(|(p, w)| p.len() as f64 * w)
            .sum();
        for q in QUANTILES {
            let want = weighted_exact(&parts, &native_weights, q);
            let unweighted = weighted_exact(&parts, &vec![1.0; parts.len()], q);
            let got = one(&native
                .query_at(
                    &format!("histogram_quantile({q}, sum(rate({metric}[1m])))"),
                    at,
                )
                .await);
            let native_error = (got - want).abs() / want;
            let classic_got = one(&classic
                .query_at(
                    &format!("histogram_quantile({q}, sum by (le) (rate({metric}_bucket[1m])))"),
                    at,
                )
                .await);
            let classic_want =
                classic_answer(&DEFAULT_BUCKETS, &weighted_cumulative, classic_total, q);
            let classic_exact = weighted_exact(&parts, &classic_weights, q);
            let classic_error = (classic_got - classic_exact).abs() / classic_exact;
            report.push(format!(
                "{metric} p{}: exact {want:.6e} (unweighted {unweighted:.6e}), native {got:.6e} ({:+.3} %), classic {classic_got:.6e} ({:+.1} %)",
                q * 100.0,
                (got - want) / want * 100.0,
                (classic_got - classic_exact) / classic_exact * 100.0
            ));
            assert!(
                native_error <= NATIVE_TOLERANCE,
                "{metric} q={q}: native {got} vs exact {want}\n{}",
                report.join("\n")
            );
            assert!(
                (classic_got - classic_want).abs() <= 1e-9 * classic_want.abs().max(1e-12),
                "{metric} q={q}: classic {classic_got}, Prometheus' interpolation of our buckets gives {classic_want}"
            );
            assert!(
                classic_error <= CLASSIC_BOUND,
                "{metric} q={q}: classic {classic_got} vs exact {classic_exact} past the stated bound"
            );
        }
    }
    println!("{}", report.join("\n"));
    for a in agents {
        a.stop().await;
    }
}
