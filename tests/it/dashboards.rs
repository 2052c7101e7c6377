//! The files in `dashboards/`: the example Prometheus config and the rules
//! pass promtool and their unit tests; the Grafana dashboard is well formed;
//! every metric the dashboard and the rules name is one tailwatch exposes.
//! (`tests/demo.rs` runs them all against a real Prometheus scraping the
//! demo.)

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use tailwatch::export::{self, Buckets, Format};
use tailwatch::{HttpMetricsLayer, Monitor, saturation::Usage};
use tower::Layer;
use tower::ServiceExt;

use crate::common;
use common::{available, dashboard, dashboard_queries, dashboards_dir, installed};

/// Every expression of the rules file: (record or alert name, expr).
fn rule_exprs() -> Vec<(String, String)> {
    rule_exprs_of("tailwatch.rules.yml")
}

/// Every expression of `file` in dashboards/: (record or alert name, expr).
fn rule_exprs_of(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dashboards_dir().join(file)).unwrap();
    let mut out = Vec::new();
    let mut name = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if let Some(n) = t
            .strip_prefix("- record: ")
            .or_else(|| t.strip_prefix("- alert: "))
        {
            name = n.trim().to_owned();
        } else if let Some(e) = t.strip_prefix("expr: ") {
            let mut expr = e.trim().to_owned();
            if expr == "|" {
                // A block: the more indented lines that follow.
                let indent = line.len() - t.len();
                expr.clear();
                while let Some(next) = lines.peek() {
                    let nt = next.trim_start();
                    if nt.is_empty() || next.len() - nt.len() <= indent {
                        break;
                    }
                    expr.push_str(nt);
                    expr.push(' ');
                    lines.next();
                }
            }
            out.push((name.clone(), expr.trim().to_owned()));
        }
    }
    out
}

/// The metric names an expression reads: identifiers left once strings,
/// label matchers, `by`/`without` lists, ranges and functions are removed.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const WORDS: &[&str] = &[
        "sum",
        "rate",
        "increase",
        "histogram_quantile",
        "histogram_count",
        "histogram_sum",
        "min_over_time",
        "deriv",
        "by",
        "without",
        "and",
        "or",
        "unless",
        "on",
        "ignoring",
        "bool",
        "max",
        "min",
        "avg",
        "count",
        "group_left",
        "group_right",
    ];
    let mut cleaned = String::new();
    let (mut in_str, mut depth_brace, mut depth_bracket) = (false, 0, 0);
    for c in expr.chars() {
        match c {
            '"' => in_str = !in_str,
            _ if in_str => {}
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            _ => cleaned.push(c),
        }
    }
    // Drop `by (…)` / `without (…)` label lists.
    let mut without_lists = String::new();
    let mut rest = cleaned.as_str();
    while let Some(i) = rest.find(" by (").or_else(|| rest.find(" without (")) {
        without_lists.push_str(&rest[..i]);
        let close = rest[i..].find(')').unwrap() + i;
        rest = &rest[close + 1..];
    }
    without_lists.push_str(rest);
    without_lists
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| (w.contains('_') || *w == "up") && !w.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| !WORDS.contains(w))
        .map(str::to_owned)
        .collect()
}

/// A monitor with every kind of series tailwatch exposes, rendered.
async fn everything_exposed() -> String {
    let m = Monitor::new();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ok" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(HttpMetricsLayer::new(&m));
    for uri in ["/users/1", "/fail"] {
        let req = Request::get(uri).body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap();
    }
    m.measure("db.query", async { Ok::<_, ()>(()) })
        .await
        .unwrap();
    // An outbound call through the client layer.
    let dependency = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, std::io::Error>(axum::http::Response::new(Body::empty()))
    });
    let call = Request::get("http://payments.internal/v1/charges")
        .body(Body::empty())
        .unwrap();
    tailwatch::HttpClientMetricsLayer::new(&m)
        .layer(dependency)
        .oneshot(call)
        .await
        .unwrap();
    // A gRPC call through the server layer (a trailers-only UNAVAILABLE).
    let grpc = tower::service_fn(|_: Request<Body>| async {
        let mut r = axum::http::Response::new(Body::empty());
        r.headers_mut().insert("grpc-status", "14".parse().unwrap());
        Ok::<_, std::io::Error>(r)
    });
    let call = Request::post("/shop.Inventory/Reserve")
        .body(Body::empty())
        .unwrap();
    tailwatch::GrpcMetricsLayer::new(&m)
        .layer(grpc)
        .oneshot(call)
        .await
        .unwrap();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(2));
    let db = m.resource("db");
    db.set_capacity(2);
    drop(db.acquire(semaphore.acquire_owned()).await.unwrap());
    m.resource_sampled("pg", || Usage::new(1, 4).idle(2).waiting(0));
    m.queue("emails").push();
    m.cache("users").hit();
    m.sample_process().expect("process metrics on Linux");
    m.sample_tokio("main", &tokio::runtime::Handle::current());
    // The agent's own figures (connections, closes on a limit).
    let agent = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    // A value past the range: clamped and counted.
    let _ = m.registry().record("clamped_seconds", &[], u64::MAX);
    // A label value past the length limit: cut and counted.
    let long = "x".repeat(2_000);
    let _ = m.registry().record("cut_seconds", &[("key", &long)], 1_000);
    // A route past a layer's cap: folded and counted (the self-metric is
    // written once it is not zero).
    let capped = Router::new()
        .route("/a", get(|| async { "ok" }))
        .route("/b", get(|| async { "ok" }))
        .layer(HttpMetricsLayer::new(&m).max_routes(1));
    for uri in ["/a", "/b"] {
        let req = Request::get(uri).body(Body::empty()).unwrap();
        capped.clone().oneshot(req).await.unwrap();
    }
    // A second render also carries the first one's scrape duration.
    export::render(&m, &Buckets::default(), Format::Prometheus);
    let text = export::render(&m, &Buckets::default(), Format::Prometheus);
    agent.stop().await;
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_rules_read_is_exposed() {
    let text = everything_exposed().await;
    // Sample names, and histogram family names (a native histogram is
    // stored under the family's name).
    let exposed: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .chain(text.lines().filter_map(|l| {
            l.strip_prefix("# TYPE ")?
                .strip_suffix(" histogram")
                .map(str::to_owned)
        }))
        .collect();
    let rules = rule_exprs();
    assert!(rules.len() >= 20, "rules parsed: {rules:?}");
    // What the rules record, the objectives' generated rules included
    // (the dashboard's error-budget row reads them).
    let recorded: BTreeSet<String> = rules
        .iter()
        .chain(&rule_exprs_of("objectives.rules.yml"))
        .filter(|(name, _)| name.contains(':'))
        .map(|(name, _)| name.clone())
        .collect();
    let exprs: Vec<(String, String)> = dashboard_queries(&dashboard())
        .into_iter()
        .chain(rules)
        .collect();
    let mut read = BTreeSet::new();
    for (owner, expr) in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{owner}: no metric found in {expr}");
        for name in names {
            // Exposed only where a cgroup memory limit exists.
            let conditional = name == "process_memory_limit_bytes"
                && include_str!("../../src/saturation/process.rs")
                    .contains("\"process_memory_limit_bytes\"");
            assert!(
                exposed.contains(&name) || recorded.contains(&name) || name == "up" || conditional,
                "{owner} reads {name}, which tailwatch does not expose:\n{expr}"
            );
            read.insert(name);
        }
    }
    // The dashboards cover every signal family (not only the ones they happen to name).
    for family in [
        "http_server_request_duration_seconds_bucket",
        "http_server_request_duration_quantile_seconds",
        "http_server_active_requests",
        "operation_duration_seconds_bucket",
        "resource_in_use",
        "resource_idle",
        "resource_waiting",
        "resource_wait_seconds_bucket",
        "queue_depth",
        "cache_requests_total",
        "process_cpu_utilization_ratio",
        "process_resident_memory_bytes",
        "process_open_fds",
        "tokio_busy_ratio",
        "tailwatch_series_overflow_total",
    ] {
        assert!(read.contains(family), "nothing reads {family}");
    }
}

#[test]
fn metric_names_are_found_in_expressions() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (job, le) (rate(a_seconds_bucket{x="b_c", y=~"$y"}[$__rate_interval]))) / (c_total > 0) or on(job) up"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["a_seconds_bucket", "c_total", "up"]
    );
}

#[test]
fn grafana_dashboard_is_well_formed() {
    let d = dashboard();
    assert_eq!(d["uid"], "tailwatch-red");
    let vars: BTreeSet<String> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [i64; 4])> = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_owned();
        assert!(
            ids.insert(p["id"].as_i64().unwrap()),
            "{title}: id repeated"
        );
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap());
        assert!(x >= 0 && w > 0 && h > 0 && x + w <= 24, "{title}: {g}");
        for (other, [ox, oy, ow, oh]) in &boxes {
            let overlap = x < ox + ow && ox < &(x + w) && y < oy + oh && oy < &(y + h);
            assert!(!overlap, "{title} overlaps {other}");
        }
        boxes.push((title.clone(), [x, y, w, h]));
        if p["type"] == "row" || p["type"] == "text" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        assert!(
            p["description"].as_str().is_some_and(|s| s.len() > 20),
            "{title}: say what the panel shows"
        );
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds repeated");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            // Every $variable used is defined ($__rate_interval is Grafana's).
            for var in expr.split('$').skip(1) {
                let name: String = var
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    name == "__rate_interval" || vars.contains(&name),
                    "{title}: ${name} is not a dashboard variable"
                );
            }
            assert!(
                !expr.contains("avg(") || !expr.contains("quantile_seconds"),
                "{title}: averages per-instance quantiles"
            );
        }
    }
    // Per-instance quantile panels say they must not be averaged.
    let text = serde_json::to_string(&d).unwrap();
    assert!(text.contains("never average"), "the dashboard says so");
}

/// Grafana's dashboard linter rules: a data-source variable, `job` and
/// `instance` variables queried through it, `$__rate_interval` as every
/// range, a title, a description and a unit on every panel.
#[test]
fn grafana_dashboard_follows_the_dashboard_linter_rules() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for name in ["job", "instance"] {
        let v = var(name);
        assert_eq!(v["type"], "query", "${name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "${name}");
    }
    for p in d["panels"].as_array().unwrap() {
        if p["type"] == "row" || p["type"] == "text" {
            continue;
        }
        let title = p["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {p}");
        assert!(
            p["description"].as_str().is_some_and(|s| !s.is_empty()),
            "{title}: no description"
        );
        assert!(
            p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{title}: no unit"
        );
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for range in expr.split('[').skip(1) {
                let range = range.split(']').next().unwrap();
                assert_eq!(
                    range, "$__rate_interval",
                    "{title}: a fixed range in {expr}"
                );
            }
        }
    }
}

/// The latency panels (fleet quantiles of a histogram) ask Grafana for
/// exemplars, so their points link to traces; panels of other figures
/// (whose series carry none) do not.
#[test]
fn latency_panels_ask_for_exemplars() {
    let mut asking = 0;
    for p in dashboard()["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let quantile = t["expr"].as_str().unwrap().contains("histogram_quantile(");
            assert_eq!(
                t["exemplar"].as_bool().unwrap_or(false),
                quantile,
                "panel {}: exemplar should be {quantile}",
                p["title"]
            );
            asking += usize::from(quantile);
        }
    }
    assert!(asking >= 5, "{asking} panels ask for exemplars");
}

/// The Grafana provisioning example links exemplars by the label the
/// expositions write (`trace_id`).
#[test]
fn the_datasource_example_links_the_trace_id_label() {
    let path = common::dashboards_dir().join("grafana/datasource.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let ds = &yaml["datasources"][0];
    assert_eq!(ds["type"].as_str(), Some("prometheus"));
    let link = &ds["jsonData"]["exemplarTraceIdDestinations"][0];
    assert_eq!(link["name"].as_str(), Some("trace_id"));
    assert!(link["datasourceUid"].as_str().is_some());
    // The label the OpenMetrics text writes.
    let monitor = tailwatch::Monitor::new();
    monitor
        .registry()
        .histogram("x_seconds", &[])
        .unwrap()
        .record_with_trace(
            5,
            tailwatch::engine::TraceContext {
                trace_id: 1,
                span_id: 1,
            },
        );
    let om = tailwatch::export::render(
        &monitor,
        &tailwatch::export::Buckets::default(),
        tailwatch::export::Format::OpenMetrics,
    );
    assert!(om.contains(" # {trace_id=\""), "{om}");
}

/// Every fleet quantile and request count reads native histograms first
/// and classic series otherwise, in the dashboard and in the rules alike.
#[test]
fn fleet_queries_work_with_native_and_with_classic_histograms() {
    let exprs: Vec<(String, String)> = dashboard_queries(&dashboard())
        .into_iter()
        .chain(rule_exprs())
        .collect();
    let mut quantiles = 0;
    for (owner, expr) in &exprs {
        if expr.contains("histogram_quantile(") {
            quantiles += 1;
            assert!(
                expr.contains("_bucket") && expr.contains(" or histogram_quantile("),
                "{owner}: a quantile without both the native and the classic form: {expr}"
            );
            let native = expr.split(" or histogram_quantile(").next().unwrap();
            assert!(!native.contains("_bucket"), "{owner}: {expr}");
        }
        if expr.contains("_count{") || expr.contains("_count[") {
            assert!(
                expr.contains("histogram_count(rate("),
                "{owner}: reads `_count`, which a native-histogram server does not store: {expr}"
            );
        }
    }
    assert!(quantiles >= 10, "{quantiles} quantile queries");
}

fn promtool(args: &[&str], dir: &Path) {
    common::run_ok("promtool", args, dir);
}

#[test]
fn promtool_accepts_the_config_and_rules_and_their_unit_tests_pass() {
    if !available(
        installed("promtool"),
        "promtool",
        "apt-get install prometheus; dashboards/ not checked",
    ) {
        return;
    }
    let dir = dashboards_dir();
    // `check config` also checks the rule files it names.
    promtool(&["check", "config", "prometheus.yml"], &dir);
    promtool(&["check", "rules", "tailwatch.rules.yml"], &dir);
    promtool(&["check", "rules", "anomaly.rules.yml"], &dir);
    promtool(
        &["test", "rules", "tailwatch.rules.test.yml"],
        &dir.join("tests"),
    );
    // Anomaly warnings: silent on steady, seasonal, young and quiet series;
    // fire on a 5× p99 step, an error step, a traffic drop to 0.
    promtool(
        &["test", "rules", "anomaly.rules.test.yml"],
        &dir.join("tests"),
    );
}

/// The rows of the markdown table that follows `heading` in
/// dashboards/README.md, as their cells.
fn readme_table(heading: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dashboards_dir().join("README.md")).unwrap();
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in dashboards/README.md"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

/// A dashboard query as someone pastes it into Prometheus: the `$job`,
/// `$instance`, `$route`, `$operation` matchers left out (all of them),
/// `$__rate_interval` as 1 m.
fn plain(expr: &str) -> String {
    let mut out = expr.replace("$__rate_interval", "1m");
    for var in ["job", "instance", "route", "operation"] {
        for name in ["job", "instance", "http_route", "operation"] {
            out = out
                .replace(&format!("{name}=~\"${var}\", "), "")
                .replace(&format!(", {name}=~\"${var}\""), "")
                .replace(&format!("{name}=~\"${var}\""), "");
        }
    }
    out.replace("{}", "")
}

#[test]
fn the_readme_gives_the_main_panels_queries_in_plain_promql() {
    let d = dashboard();
    let queries = dashboard_queries(&d);
    let rows = readme_table("### The main panels in plain PromQL");
    assert!(rows.len() >= 8, "{rows:?}");
    for row in &rows {
        let (title, query) = (&row[0], &row[1]);
        assert!(
            !query.contains('$'),
            "{title}: a variable is left in {query}"
        );
        let panel = queries
            .iter()
            .find(|(t, _)| t == title)
            .unwrap_or_else(|| panic!("no dashboard panel named {title:?}"));
        assert_eq!(
            &plain(&panel.1),
            query,
            "{title}: not the dashboard's query"
        );
    }
}

#[test]
fn the_readme_lists_every_alert_of_the_rules() {
    let in_rules: BTreeSet<String> = rule_exprs()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !name.contains(':'))
        .collect();
    let in_readme: BTreeSet<String> = readme_table("## Alerts")
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert!(in_rules.len() >= 17, "{in_rules:?}");
    assert_eq!(
        in_readme, in_rules,
        "dashboards/README.md's alerts and the rules differ"
    );
}

#[test]
fn the_documented_prometheus_commands_turn_native_histograms_on() {
    let root = dashboards_dir().join("..");
    let mut seen = 0;
    for file in ["README.md", "dashboards/README.md", "docs/prometheus.md"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for line in text
            .lines()
            .filter(|l| l.contains("prometheus --config.file"))
        {
            seen += 1;
            assert!(
                line.contains("native-histograms"),
                "{file}: without native histograms, fleet quantiles are off by a bucket: {line}"
            );
        }
    }
    assert!(seen >= 3, "{seen} commands found");
}

/// Every alert of a rules file, with the text of its rule (to the next
/// rule).
fn alert_blocks(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dashboards_dir().join(file)).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("- record: ") || t.starts_with("- alert: ") || t.starts_with("- name: ") {
            out.extend(current.take());
            if let Some(name) = t.strip_prefix("- alert: ") {
                current = Some((name.trim().to_owned(), String::new()));
            }
        } else if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.extend(current);
    out
}

/// GitHub's anchor of a heading: lower case, spaces to `-`, punctuation
/// other than `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every alert, hand-written or generated, carries a severity, a summary,
/// a description, a dashboard_url and a runbook_url whose section exists
/// in docs/runbooks.md (and every section there is an alert's).
#[test]
fn every_alert_has_a_runbook_section_and_the_conventional_annotations() {
    let runbooks = std::fs::read_to_string(dashboards_dir().join("../docs/runbooks.md")).unwrap();
    let sections: BTreeSet<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let mut seen = BTreeSet::new();
    for file in [
        "tailwatch.rules.yml",
        "objectives.rules.yml",
        "anomaly.rules.yml",
    ] {
        let alerts = alert_blocks(file);
        assert!(alerts.len() >= 3, "{file}: {alerts:?}");
        for (alert, body) in alerts {
            for key in [
                "severity: ",
                "summary: ",
                "description: ",
                "dashboard_url: ",
            ] {
                assert!(body.contains(key), "{file}: {alert} has no {key}");
            }
            let url = body
                .lines()
                .find_map(|l| l.trim().strip_prefix("runbook_url: "))
                .unwrap_or_else(|| panic!("{file}: {alert} has no runbook_url"))
                .trim_matches('"');
            let (page, section) = url
                .split_once('#')
                .unwrap_or_else(|| panic!("{file}: {alert}: {url} has no section"));
            assert!(
                page.ends_with("/docs/runbooks.md"),
                "{file}: {alert}: {url}"
            );
            assert!(
                sections.contains(section),
                "{file}: {alert}: docs/runbooks.md has no section #{section}"
            );
            // Its own section, or its kind's (the anomaly warnings of the
            // four families share `#latencyanomaly` and the like).
            assert!(
                section == anchor(&alert) || anchor(&alert).ends_with(section),
                "{file}: {alert} links another alert's section #{section}"
            );
            seen.insert(section.to_owned());
        }
    }
    let unused: Vec<_> = sections.difference(&seen).collect();
    assert!(
        unused.is_empty(),
        "runbook sections no alert links: {unused:?}"
    );
}
