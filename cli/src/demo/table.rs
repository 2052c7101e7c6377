//! The live table: per route and per operation, from the monitor's stats.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tailwatch::http::client::{HTTP_CLIENT_ACTIVE, HTTP_CLIENT_DURATION};
use tailwatch::http::grpc::{GRPC_ACTIVE, GRPC_DURATION};
use tailwatch::http::{HTTP_ACTIVE, HTTP_DURATION};
use tailwatch::{Monitor, OPERATION_DURATION, SeriesStats};

use super::traffic::ClientStats;

/// A latency with a readable unit: `850 ns`, `12.4 µs`, `5.31 ms`, `1.20 s`.
fn human(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    let (value, unit) = if s >= 1.0 {
        (s, "s")
    } else if s >= 1e-3 {
        (s * 1e3, "ms")
    } else if s >= 1e-6 {
        (s * 1e6, "µs")
    } else {
        (s * 1e9, "ns")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

fn row(name: &str, s: &SeriesStats, active: i64) {
    // The trace of the slowest traced call of the window: the max, when
    // every call is traced (as here).
    let trace = s.slowest.first().map_or("-", |c| c.trace_id.as_str());
    println!(
        "  {:<22} {:>8.1} {:>7.2} {:>9} {:>9} {:>9} {:>9} {:>6}  {}",
        name,
        s.rate_per_second,
        s.error_ratio.unwrap_or(0.0) * 100.0,
        human(s.p50),
        human(s.p95),
        human(s.p99),
        human(s.max),
        active,
        trace,
    );
}

/// Prints one table.
pub(super) fn print(monitor: &Monitor, elapsed: Duration, client: &ClientStats) {
    let stats = monitor.all_stats();
    let gauges = monitor.registry().gauges();
    let active = |method: &str, route: &str| {
        gauges
            .iter()
            .find(|(id, _)| {
                id.name() == HTTP_ACTIVE
                    && id.label("http_request_method") == Some(method)
                    && id.label("http_route") == Some(route)
            })
            .map_or(0, |(_, g)| g.value())
    };
    println!(
        "\n{:>6.0} s {:<16} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>6}  trace of max",
        elapsed.as_secs_f64(),
        "route",
        "rate/s",
        "error%",
        "p50",
        "p95",
        "p99",
        "max",
        "active",
    );
    for s in stats.iter().filter(|s| s.name == HTTP_DURATION) {
        let (method, route) = (
            s.labels
                .get("http_request_method")
                .map_or("", String::as_str),
            s.labels.get("http_route").map_or("", String::as_str),
        );
        row(&format!("{method} {route}"), s, active(method, route));
    }
    // Outbound calls, per dependency (the "payments" service; one method).
    for s in stats.iter().filter(|s| s.name == HTTP_CLIENT_DURATION) {
        let label = |k: &str| s.labels.get(k).map_or("", String::as_str);
        let (host, port) = (label("server_address"), label("server_port"));
        let active = gauges
            .iter()
            .filter(|(id, _)| {
                id.name() == HTTP_CLIENT_ACTIVE
                    && id.label("server_address") == Some(host)
                    && id.label("server_port") == Some(port)
            })
            .map(|(_, g)| g.value())
            .sum();
        row(&format!("out {host}:{port}"), s, active);
    }
    // gRPC methods (the inventory service).
    for s in stats.iter().filter(|s| s.name == GRPC_DURATION) {
        let method = s.labels.get("rpc_method").map_or("", String::as_str);
        let active = gauges
            .iter()
            .filter(|(id, _)| id.name() == GRPC_ACTIVE && id.label("rpc_method") == Some(method))
            .map(|(_, g)| g.value())
            .sum();
        row(&format!("rpc {method}"), s, active);
    }
    let in_flight = monitor.operations_in_flight();
    for s in stats.iter().filter(|s| s.name == OPERATION_DURATION) {
        let op = s.labels.get("operation").map_or("", String::as_str);
        let active = in_flight
            .iter()
            .find(|(name, _)| name == op)
            .map_or(0, |(_, a)| *a);
        row(&format!("op {op}"), s, active);
    }
    let resources: Vec<String> = monitor
        .resource_stats()
        .iter()
        .map(|r| format!("{} {}/{} in use", r.resource, r.in_use, r.capacity))
        .chain(
            monitor
                .queue_stats()
                .iter()
                .map(|q| format!("queue {} {} waiting", q.queue, q.depth)),
        )
        .collect();
    let caches: Vec<String> = monitor
        .cache_stats()
        .iter()
        .map(|c| {
            format!(
                "cache {} {:.1} % hits",
                c.cache,
                c.hit_ratio.unwrap_or(0.0) * 100.0
            )
        })
        .collect();
    if let Some(wait) = stats.iter().find(|s| s.name == tailwatch::RESOURCE_WAIT) {
        row("wait db pool", wait, 0);
    }
    println!("  {}; {}", resources.join(", "), caches.join(", "));
    println!(
        "  (window: the last 60-70 s; quantiles and max within 0.78 %; client: {} answered, {} failed)",
        client.answered.load(Ordering::Relaxed),
        client.failed.load(Ordering::Relaxed)
    );
}
