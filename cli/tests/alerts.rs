//! An objective pages through real servers: the demo declares it (from a
//! file) and serves its agent; `tailwatch rules --agent` writes the rules;
//! Prometheus 2.42 (1 s scrapes and evaluations) loads them and sends to
//! Alertmanager 0.25, configured from `dashboards/alertmanager.yml` with
//! short group waits, which notifies a webhook receiver in this test.
//! The demo's fault switch fails a route: the page arrives, carrying the
//! objective, the route, the severity and the runbook; the fault stops:
//! the resolved notification arrives. (`TAILWATCH_REQUIRE_SERVERS=1`: the
//! servers must be installed.)

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "../../tests/common/mod.rs"]
mod common;
use common::prometheus::Prometheus;
use common::{available, free_port, installed, request, temp_dir};
#[path = "support/demo.rs"]
mod support;

/// Alertmanager in a temporary directory, killed on drop.
struct Alertmanager {
    child: Child,
    addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Alertmanager {
    /// dashboards/alertmanager.yml with its receivers at `webhook` and its
    /// waits cut to a second; returns once it is ready.
    async fn start(webhook: SocketAddr) -> Alertmanager {
        let example = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/alertmanager.yml"),
        )
        .unwrap();
        let mut config = example.replace("http://127.0.0.1:5001", &format!("http://{webhook}"));
        for wait in ["group_wait: 30s", "group_wait: 10s"] {
            config = config.replace(wait, "group_wait: 1s");
        }
        for interval in ["group_interval: 5m", "group_interval: 1m"] {
            config = config.replace(interval, "group_interval: 1s");
        }
        let dir = temp_dir("alertmanager");
        std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let addr = free_port();
        let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // No cluster: one instance, no gossip port.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus-alertmanager starts");
        let am = Alertmanager { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(addr).await.is_err()
            || request(addr, "GET", "/-/ready", None).await.0 != 200
        {
            assert!(
                Instant::now() < deadline,
                "alertmanager not ready; log:\n{}",
                std::fs::read_to_string(am.dir.join("alertmanager.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        am
    }
}

/// A webhook receiver: every notification's path and JSON body, with when
/// it arrived.
async fn receiver() -> (
    SocketAddr,
    mpsc::Receiver<(Instant, String, serde_json::Value)>,
) {
    use axum::routing::post;
    let (tx, rx) = mpsc::channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/{kind}",
        post(
            move |axum::extract::Path(kind): axum::extract::Path<String>, body: String| {
                let tx = tx.clone();
                async move {
                    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
                    let _ = tx.send((Instant::now(), kind, json));
                    ""
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

/// Waits for a notification to `path` with `status` for an alert named
/// `alert`; returns it and when it arrived.
fn wait_for(
    notifications: &mpsc::Receiver<(Instant, String, serde_json::Value)>,
    path: &str,
    status: &str,
    alert: &str,
    within: Duration,
) -> (Instant, serde_json::Value) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (at, kind, json) = notifications.recv_timeout(left).unwrap_or_else(|_| {
            panic!("no {status} {alert} notification to /{path} within {within:?}")
        });
        let matches = kind == path
            && json["status"] == status
            && json["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["labels"]["alertname"] == alert && a["status"] == status);
        if matches {
            return (at, json);
        }
    }
}

#[test]
fn an_objective_pages_through_prometheus_and_alertmanager_and_resolves() {
    let servers = installed("prometheus") && installed("prometheus-alertmanager");
    if !available(
        servers,
        "prometheus and prometheus-alertmanager",
        "apt-get install prometheus prometheus-alertmanager",
    ) {
        return;
    }
    // A 95 % objective: a 14.4× burn is 72 % of calls failing, so the page
    // fires once the fault dominates the route's short history and
    // resolves seconds after it stops (at 99.9 % the 5-minute window would
    // hold it for minutes; the promtool tests cover those targets).
    let dir = temp_dir("alerts");
    let objectives = dir.join("objectives.yml");
    std::fs::write(
        &objectives,
        "objectives:\n  - name: users-up\n    sli: availability\n    target: 0.95\n    http_route: /users/{id}\n    method: GET\n",
    )
    .unwrap();
    let demo = support::start(&["--rps", "200", "--objectives", objectives.to_str().unwrap()]);
    let rules = dir.join("objectives.rules.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args(["rules", "--agent", &format!("http://{}", demo.agent)])
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (webhook, notifications) = receiver().await;
        let am = Alertmanager::start(webhook).await;
        let config = format!(
            "rule_files:\n  - '{}'\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{}']\n",
            rules.display(),
            am.addr,
            demo.agent
        );
        let prometheus = Prometheus::start_raw(&config, &[], &[], |_| {}).await;
        // The SLI is computed before the fault (two scrapes of the route).
        let deadline = Instant::now() + Duration::from_secs(60);
        while prometheus
            .query("tailwatch_objective:requests:rate5m{objective=\"users-up\"} > 0")
            .await
            .is_empty()
        {
            assert!(
                Instant::now() < deadline,
                "no SLI after 60 s; prometheus log:\n{}",
                prometheus.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            request(demo.app, "PUT", "/admin/fault/users", None).await.0,
            200
        );
        let faulted = Instant::now();
        let (paged, page) = wait_for(
            &notifications,
            "page",
            "firing",
            "TailwatchObjectiveBurnFast",
            Duration::from_secs(90),
        );
        let alert = page["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "TailwatchObjectiveBurnFast")
            .unwrap()
            .clone();
        assert_eq!(alert["labels"]["objective"], "users-up");
        assert_eq!(alert["labels"]["severity"], "page");
        assert_eq!(alert["labels"]["http_route"], "/users/{id}");
        assert_eq!(alert["labels"]["http_request_method"], "GET");
        let runbook = alert["annotations"]["runbook_url"].as_str().unwrap();
        assert!(
            runbook.ends_with("/docs/runbooks.md#tailwatchobjectiveburnfast"),
            "{runbook}"
        );
        assert!(alert["annotations"]["dashboard_url"]
            .as_str()
            .unwrap()
            .contains("var-objective=users-up"));
        println!(
            "fault → page notification: {:.1} s",
            paged.duration_since(faulted).as_secs_f64()
        );
        assert_eq!(
            request(demo.app, "DELETE", "/admin/fault/users", None).await.0,
            200
        );
        let healed = Instant::now();
        let (resolved, _) = wait_for(
            &notifications,
            "page",
            "resolved",
            "TailwatchObjectiveBurnFast",
            Duration::from_secs(120),
        );
        println!(
            "fault stopped → resolved notification: {:.1} s",
            resolved.duration_since(healed).as_secs_f64()
        );
        drop(prometheus);
        drop(am);
    });
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example Alertmanager configuration is one amtool accepts.
#[test]
fn amtool_accepts_the_example_alertmanager_configuration() {
    if !available(
        installed("amtool"),
        "amtool",
        "apt-get install prometheus-alertmanager",
    ) {
        return;
    }
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/alertmanager.yml");
    common::run_ok(
        "amtool",
        &["check-config", file.to_str().unwrap()],
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
    );
}
