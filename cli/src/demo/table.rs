//! The live table: per route and per operation, from the monitor's stats.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tailwatch::Monitor;
use tailwatch::http::client::{HTTP_CLIENT_ACTIVE, HTTP_CLIENT_DURATION};
use tailwatch::http::grpc::{GRPC_ACTIVE, GRPC_DURATION};
use tailwatch::http::{HTTP_ACTIVE, HTTP_DURATION};
use tailwatch::measure::{OPERATION_DURATION, Stats};

use super::traffic::ClientStats;

/// A latency with a readable unit: `850 ns`, `12.4 µs`, `5.31 ms`, `1.20 s`.
pub(crate) fn human(seconds: Option<f64>) -> String {
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

/// The width the table keeps to (DESIGN: the demo's table fits 80 columns).
pub(crate) const WIDTH: usize = 80;

/// A column header for quantile `q`: `p50`, `p99`, `p99.9`.
fn quantile_header(q: f64) -> String {
    let p = q * 100.0;
    let text = format!("{p:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("p{text}")
}

/// Cuts `text` to `width` characters (a `…` at the cut).
pub(crate) fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The live table of the demo: drawn in place on a terminal (the previous
/// frame erased and written again), appended as plain blocks otherwise.
#[derive(Debug)]
pub(crate) struct Screen {
    quantiles: Vec<f64>,
    /// Redraw in place (stdout is a terminal, and `TERM` is not `dumb`).
    in_place: bool,
    /// Lines of the frame on screen, to move back over.
    drawn: usize,
}

impl Screen {
    pub(crate) fn new(quantiles: Vec<f64>) -> Self {
        use std::io::IsTerminal;
        let in_place =
            std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Self {
            quantiles,
            in_place,
            drawn: 0,
        }
    }

    /// Draws the current frame.
    pub(crate) fn draw(&mut self, monitor: &Monitor, elapsed: Duration, client: &ClientStats) {
        let frame = frame(monitor, &self.quantiles, elapsed, client);
        let mut out = String::new();
        if self.in_place && self.drawn > 0 {
            // Back to the first line of the previous frame, erase to the end.
            out.push_str(&format!("\x1b[{}F\x1b[J", self.drawn));
        } else if !self.in_place {
            out.push('\n');
        }
        out.push_str(&frame);
        self.drawn = frame.lines().count();
        print!("{out}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }

    /// Draws the last frame, which stays on screen.
    pub(crate) fn finish(&mut self, monitor: &Monitor, elapsed: Duration, client: &ClientStats) {
        self.draw(monitor, elapsed, client);
        self.drawn = 0;
    }
}

/// The columns: name, rate, error %, one per quantile, max, active.
struct Columns {
    name: usize,
    quantiles: Vec<f64>,
}

impl Columns {
    fn new(quantiles: &[f64]) -> Self {
        // 2 (indent) + name + 8 (rate) + 7 (error%) + 8 per quantile and
        // the max + 5 (active) = 80.
        let fixed = 2 + 8 + 7 + 8 * (quantiles.len() + 1) + 5;
        Self {
            name: WIDTH.saturating_sub(fixed).max(12),
            quantiles: quantiles.to_vec(),
        }
    }

    fn header(&self, elapsed: Duration) -> String {
        let mut line = format!(
            "{:<w$}",
            fit(&format!("{:>4.0} s", elapsed.as_secs_f64()), self.name + 2),
            w = self.name + 2
        );
        line.push_str(&format!("{:>8}{:>7}", "rate/s", "err%"));
        for &q in &self.quantiles {
            line.push_str(&format!("{:>8}", quantile_header(q)));
        }
        line.push_str(&format!("{:>8}{:>5}", "max", "act"));
        line
    }

    fn row(&self, name: &str, s: &Stats, active: i64) -> String {
        let mut line = format!(
            "  {:<w$}{:>8.1}{:>7.2}",
            fit(name, self.name),
            s.rate_per_second,
            s.error_ratio.unwrap_or(0.0) * 100.0,
            w = self.name
        );
        for &q in &self.quantiles {
            line.push_str(&format!("{:>8}", human(s.quantile(q))));
        }
        line.push_str(&format!("{:>8}{:>5}", human(s.max), active));
        line
    }
}

/// One frame of the table, every line at most [`WIDTH`] characters.
pub(crate) fn frame(
    monitor: &Monitor,
    quantiles: &[f64],
    elapsed: Duration,
    client: &ClientStats,
) -> String {
    let mut out = Vec::new();
    let columns = Columns::new(quantiles);
    let mut row = |name: &str, s: &Stats, active: i64| out.push(columns.row(name, s, active));
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
        let template = label("url_template");
        let active = gauges
            .iter()
            .filter(|(id, _)| {
                id.name() == HTTP_CLIENT_ACTIVE
                    && id.label("server_address") == Some(host)
                    && id.label("server_port") == Some(port)
            })
            .map(|(_, g)| g.value())
            .sum();
        row(&format!("out {host}:{port}{template}"), s, active);
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
    if let Some(wait) = stats
        .iter()
        .find(|s| s.name == tailwatch::saturation::RESOURCE_WAIT)
    {
        row("wait db pool", wait, 0);
    }
    let mut lines = vec![columns.header(elapsed)];
    lines.append(&mut out);
    if !(resources.is_empty() && caches.is_empty()) {
        lines.push(fit(
            &format!("  {}; {}", resources.join(", "), caches.join(", ")),
            WIDTH,
        ));
    }
    // The slowest traced call of the window, with its whole trace id:
    // where to look when the tail moves.
    let slowest = stats
        .iter()
        .filter_map(|s| s.slowest.first().map(|c| (s, c)))
        .max_by(|a, b| a.1.value.total_cmp(&b.1.value));
    if let Some((s, call)) = slowest {
        let what = s
            .labels
            .values()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        lines.push(fit(
            &format!(
                "  slowest {} trace {} ({})",
                human(Some(call.value)),
                call.trace_id,
                what
            ),
            WIDTH,
        ));
    }
    lines.push(fit(
        &format!(
            "  window 60-70 s, quantiles within 0.78 %; client {} answered, {} failed",
            client.answered.load(Ordering::Relaxed),
            client.failed.load(Ordering::Relaxed)
        ),
        WIDTH,
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailwatch::measure::Ended;

    /// Every line of a frame, with long names, a fourth quantile, slow
    /// values and traces, within [`WIDTH`] characters.
    #[test]
    fn a_frame_fits_80_columns() {
        let monitor = Monitor::builder()
            .quantiles(&[0.5, 0.9, 0.99, 0.999])
            .build()
            .unwrap();
        let long = "an.operation.with.a.very.long.name.that.goes.on.and.on";
        let op = monitor.operation(long);
        for ms in [1, 20, 300, 4_000, 50_000] {
            op.record(Duration::from_millis(ms), Ended::Ok);
        }
        let _ = monitor.run("short", || Err::<(), _>("failed"));
        let client = ClientStats::default();
        client.answered.store(u64::MAX, Ordering::Relaxed);
        client.failed.store(u64::MAX, Ordering::Relaxed);
        for quantiles in [&[0.5, 0.95, 0.99][..], &[0.5, 0.9, 0.99, 0.999][..]] {
            let text = frame(
                &monitor,
                quantiles,
                Duration::from_secs(86_400 * 365),
                &client,
            );
            assert!(text.contains("op an.operation"), "{text}");
            for q in quantiles {
                assert!(text.contains(&quantile_header(*q)), "{q} not in {text}");
            }
            for line in text.lines() {
                assert!(
                    line.chars().count() <= WIDTH,
                    "{} columns: {line}",
                    line.chars().count()
                );
            }
        }
        assert_eq!(quantile_header(0.999), "p99.9");
        assert_eq!(quantile_header(0.5), "p50");
    }
}
