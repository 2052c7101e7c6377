//! A real Prometheus (Debian's `prometheus`) for end-to-end tests: started
//! on loopback in a temporary directory with a generated config (1 s
//! scrape and rule evaluation), queried through its HTTP API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, get_ok, request, temp_dir};

/// A Prometheus server in a temporary directory, killed and removed on drop.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (job `tailwatch`) every second,
    /// evaluating the rules of `rule_file` (if any) every second; returns
    /// once it is ready.
    pub async fn start(targets: &[SocketAddr], rule_file: Option<&Path>) -> Prometheus {
        Self::start_with(targets, rule_file, &[]).await
    }

    /// As [`start`](Self::start), with `--enable-feature=…` for each of
    /// `features` (e.g. `native-histograms`: Prometheus then asks for the
    /// protobuf format and stores native histograms).
    pub async fn start_with(
        targets: &[SocketAddr],
        rule_file: Option<&Path>,
        features: &[&str],
    ) -> Prometheus {
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let scrape = format!(
            "  - job_name: tailwatch\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        Self::start_config(&scrape, rule_file, features, |_| {}).await
    }

    /// As [`start_with`](Self::start_with), with several rule files.
    pub async fn start_with_rules(
        targets: &[SocketAddr],
        rule_files: &[&Path],
        features: &[&str],
    ) -> Prometheus {
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rules: String = rule_files
            .iter()
            .map(|f| format!("  - '{}'\n", f.display()))
            .collect();
        let config = format!(
            "rule_files:\n{rules}scrape_configs:\n  - job_name: tailwatch\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        );
        Self::start_raw(&config, features, &[], |_| {}).await
    }

    /// Prometheus with `scrape` as the body of its `scrape_configs:` list;
    /// `prepare` may write files into its directory first (certificates
    /// the config names, relative to it).
    pub async fn start_config(
        scrape: &str,
        rule_file: Option<&Path>,
        features: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Prometheus {
        let rules = rule_file.map_or(String::new(), |f| {
            format!("rule_files:\n  - '{}'\n", f.display())
        });
        Self::start_raw(
            &format!("{rules}scrape_configs:\n{scrape}"),
            features,
            &[],
            prepare,
        )
        .await
    }

    /// Prometheus with `config` after the global section (1 s scrape and
    /// evaluation), `--enable-feature=…` for each of `features`, and `args`
    /// (e.g. `--web.enable-remote-write-receiver`). In agent mode
    /// (`features` has `agent`) its storage is the agent's WAL.
    pub async fn start_raw(
        config: &str,
        features: &[&str],
        args: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Prometheus {
        let dir = temp_dir("prometheus");
        prepare(&dir);
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             {config}"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let addr = free_port();
        let storage = if features.contains(&"agent") {
            "--storage.agent.path"
        } else {
            "--storage.tsdb.path"
        };
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("{storage}={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(features.iter().map(|f| format!("--enable-feature={f}")))
            .args(args)
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
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` on the HTTP API, parsed; panics unless `"status": "success"`.
    pub async fn api(&self, path: &str) -> serde_json::Value {
        let body = get_ok(self.addr, path).await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "success", "{path}: {body}");
        json
    }

    /// An instant query: each result's labels and value.
    pub async fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        self.query_path(&format!("/api/v1/query?query={}", encode(promql)))
            .await
    }

    /// An instant query evaluated at `time` (Unix seconds), so that several
    /// queries see the same window.
    pub async fn query_at(&self, promql: &str, time: f64) -> Vec<(serde_json::Value, f64)> {
        self.query_path(&format!(
            "/api/v1/query?query={}&time={time:.3}",
            encode(promql)
        ))
        .await
    }

    /// (trace id, value) of every exemplar `query` selects in the last
    /// five minutes, sorted, without repeats.
    pub async fn exemplars(&self, query: &str) -> Vec<(String, f64)> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let json = self
            .api(&format!(
                "/api/v1/query_exemplars?query={}&start={:.3}&end={:.3}",
                encode(query),
                now - 300.0,
                now + 60.0
            ))
            .await;
        let mut out: Vec<(String, f64)> = json["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|series| series["exemplars"].as_array().unwrap().clone())
            .map(|e| {
                (
                    e["labels"]["trace_id"].as_str().unwrap_or("").to_owned(),
                    e["value"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup();
        out
    }

    async fn query_path(&self, path: &str) -> Vec<(serde_json::Value, f64)> {
        let json = self.api(path).await;
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
}

/// A monitor with one histogram `name{labels}`, served by an agent on a
/// free loopback port: what the end-to-end tests scrape.
pub async fn served_histogram(
    name: &str,
    labels: &[(&str, &str)],
) -> (tailwatch::Monitor, tailwatch::Histogram, tailwatch::Agent) {
    let monitor = tailwatch::Monitor::new();
    let h = monitor.registry().histogram(name, labels).unwrap();
    let agent = tailwatch::AgentBuilder::new(&monitor)
        .listen(free_port())
        .start()
        .await
        .unwrap();
    (monitor, h, agent)
}

/// Percent-encodes a query parameter.
pub fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `promql` until `done` accepts its results (or 30 s pass).
pub async fn eventually(
    p: &Prometheus,
    promql: &str,
    done: impl Fn(&[(serde_json::Value, f64)]) -> bool,
) -> Vec<(serde_json::Value, f64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = p.query(promql).await;
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{promql} never satisfied: {r:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
