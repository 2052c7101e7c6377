//! Helpers shared by the integration tests: a minimal HTTP/1.1 client and
//! the rule for tests that need an installed server or tool.
#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub mod counting;
pub mod prometheus;

/// A minimal HTTP/1.1 request without a body: (status, head, body).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, String) {
    let (status, head, body) = request_bytes(addr, method, path, accept).await;
    (status, head, String::from_utf8(body).unwrap())
}

/// As [`request`], with the body as bytes (a binary format).
pub async fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{accept}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let body = &raw[end + 4..];
    let status = head[9..12].parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_vec()
    };
    (status, head, body)
}

/// The payload of a chunked body.
pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = std::str::from_utf8(&body[..line]).expect("ascii chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        let rest = &body[line + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// A GET that must answer 200; its body.
pub async fn get_ok(addr: SocketAddr, path: &str) -> String {
    let (status, head, body) = request(addr, "GET", path, None).await;
    assert_eq!(status, 200, "GET {path}: {head}\n{body}");
    body
}

/// Whether a test needing `what` should run: `true` when it is installed;
/// when not, prints one `SKIPPED:` line and returns `false`, unless
/// TAILWATCH_REQUIRE_SERVERS is set (CI), where it fails.
pub fn available(installed: bool, what: &str, install: &str) -> bool {
    if installed {
        return true;
    }
    assert!(
        std::env::var_os("TAILWATCH_REQUIRE_SERVERS").is_none(),
        "{what} is required (TAILWATCH_REQUIRE_SERVERS is set) but not installed: {install}"
    );
    println!("SKIPPED: {what} not installed ({install})");
    false
}

/// Runs `program args…` in `dir` and panics with its output unless it
/// succeeds (promtool, amtool).
pub fn run_ok(program: &str, args: &[&str], dir: &std::path::Path) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `program` can be started.
pub fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// `promtool check metrics` on `text`: `None` when promtool is not
/// installed (and not required), else its complaints (empty when clean).
pub fn promtool_check(text: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if !available(
        installed("promtool"),
        "promtool",
        "apt-get install prometheus",
    ) {
        return None;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && report.trim().is_empty() {
        return Some(format!("promtool failed with {}", out.status));
    }
    Some(report.trim().to_owned())
}

/// The sampled value `name` carrying `labels` (panics when nothing
/// sampled it: the series must exist, not be created here).
pub fn sampled(m: &tailwatch::Monitor, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.registry()
        .values()
        .into_iter()
        .find(|(id, _)| id.name() == name && labels.iter().all(|(k, v)| id.label(k) == Some(*v)))
        .map(|(_, v)| v.get())
        .unwrap_or_else(|| panic!("{name} not sampled"))
}

/// The window stats of `resource_wait_seconds{resource}`.
pub fn wait_stats(m: &tailwatch::Monitor, resource: &str) -> tailwatch::engine::Stats {
    m.all_stats()
        .into_iter()
        .find(|s| s.name == "resource_wait_seconds" && s.labels["resource"] == resource)
        .unwrap_or_else(|| panic!("no wait series for {resource}"))
}

/// A free loopback port (bound, then released for the caller's server).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A new empty directory `tailwatch-<what>-<pid>-<nanos>` under the
/// system's temporary directory (the caller removes it).
pub fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tailwatch-{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `f` to completion on a new current-thread runtime (time and I/O on).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The shipped `dashboards/` directory.
pub fn dashboards_dir() -> std::path::PathBuf {
    // The workspace root's: this package's, or the one above a member (cli/).
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("dashboards"))
        .find(|dir| dir.is_dir())
        .expect("dashboards/ at the workspace root")
}

/// The shipped Grafana dashboard, parsed.
pub fn dashboard() -> serde_json::Value {
    let path = dashboards_dir().join("grafana/tailwatch.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every PromQL query of a dashboard's panels: (panel title, expr).
pub fn dashboard_queries(d: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap().to_owned(),
                t["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// The value of the sample `series` (name and labels as written) in
/// Prometheus text, if present.
pub fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A monitor with 10,000 operations of one value each (a large scrape).
pub fn ten_thousand_series() -> tailwatch::Monitor {
    let m = tailwatch::Monitor::builder()
        .max_operations(20_000)
        .build()
        .unwrap();
    for i in 0..10_000_u64 {
        m.operation(&format!("op{i}")).record(
            std::time::Duration::from_micros(100 + i),
            tailwatch::measure::Ended::Ok,
        );
    }
    m
}

/// Connects to `addr` from the loopback address `from` (127.0.0.2 is
/// another peer than 127.0.0.1 on Linux).
pub async fn connect_from(
    from: std::net::IpAddr,
    addr: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// The counter `name` without labels, as `m` has it (0 if absent).
pub fn counter(m: &tailwatch::Monitor, name: &str) -> u64 {
    m.registry()
        .counters()
        .into_iter()
        .find(|(id, _)| id.name() == name && id.labels().next().is_none())
        .map_or(0, |(_, c)| c.value())
}

/// The counter `name{labels}` of `m` (exactly those labels), 0 if absent.
pub fn counter_with(m: &tailwatch::Monitor, name: &str, labels: &[(&str, &str)]) -> u64 {
    m.registry()
        .counters()
        .into_iter()
        .find(|(id, _)| id.name() == name && id.labels().eq(labels.iter().map(|(k, v)| (*k, *v))))
        .map_or(0, |(_, c)| c.value())
}

/// `tailwatch_agent_connections_closed_total{reason}` as `m` has it.
pub fn closed_connections(m: &tailwatch::Monitor, reason: &str) -> u64 {
    m.registry()
        .counters()
        .into_iter()
        .find(|(id, _)| {
            id.name() == tailwatch::agent::CONNECTIONS_CLOSED
                && id.labels().any(|(k, v)| k == "reason" && v == reason)
        })
        .map_or(0, |(_, c)| c.value())
}

/// The exemplars (`{trace_id=…,span_id=…} value ts`) on `family`'s bucket
/// lines whose labels contain `label`, in `monitor`'s OpenMetrics text.
pub fn exemplars_on(monitor: &tailwatch::Monitor, family: &str, label: &str) -> Vec<String> {
    use tailwatch::export::{Buckets, Format, render};
    let om = render(monitor, &Buckets::otel(), Format::OpenMetrics);
    om.lines()
        .filter(|l| l.starts_with(&format!("{family}_bucket{{")) && l.contains(label))
        .filter_map(|l| l.split_once(" # ").map(|(_, e)| e.to_owned()))
        .collect()
}

/// Every series of histogram `name` in `m`: its labels (sorted) and its
/// count since start, sorted.
pub fn histogram_counts(m: &tailwatch::Monitor, name: &str) -> Vec<(Vec<(String, String)>, u64)> {
    let mut out: Vec<_> = m
        .registry()
        .series()
        .into_iter()
        .filter(|(id, _)| id.name() == name)
        .map(|(id, h)| {
            let mut labels: Vec<(String, String)> = id
                .labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            labels.sort();
            (labels, h.stats().total_count)
        })
        .collect();
    out.sort();
    out
}

/// The count of the series of histogram `name` whose labels are exactly
/// `want` (0 if there is none).
pub fn count_exactly(m: &tailwatch::Monitor, name: &str, want: &[(&str, &str)]) -> u64 {
    let mut want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    want.sort();
    histogram_counts(m, name)
        .into_iter()
        .find(|(labels, _)| *labels == want)
        .map_or(0, |(_, n)| n)
}

/// The sum of gauge `name` over its series.
pub fn gauge_total(m: &tailwatch::Monitor, name: &str) -> i64 {
    m.registry()
        .gauges()
        .into_iter()
        .filter(|(id, _)| id.name() == name)
        .map(|(_, g)| g.value())
        .sum()
}

/// A local axum server for outbound-call tests: `/ok` (200),
/// `/unavailable` (503), `/slow` (answers after 10 s); anything else 404.
pub async fn outbound_target() -> SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/unavailable",
            get(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// An address on loopback where nothing listens.
pub fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The value of quantile `q` in a `/stats` series (its `quantiles` list).
pub fn stats_quantile(series: &serde_json::Value, q: f64) -> Option<f64> {
    series["quantiles"]
        .as_array()?
        .iter()
        .find(|v| v["quantile"].as_f64() == Some(q))?["value"]
        .as_f64()
}
