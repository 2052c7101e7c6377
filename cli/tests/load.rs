//! `tailwatch load` as a user runs it: the binary against a server in
//! this process.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

/// A server whose `/work/{id}` takes 1 ms and can be frozen (while
/// `freeze` is held, every request waits for it), and whose `/limited`
/// takes 20 ms holding one of 9 permits (a capacity of about 450 a
/// second). Serves on its own runtime thread.
fn server(freeze: Arc<tokio::sync::Mutex<()>>) -> SocketAddr {
    let permits = Arc::new(tokio::sync::Semaphore::new(9));
    let mixed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new()
                .route(
                    "/mix",
                    get(move || {
                        let n = mixed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        // Every 50th request 200 ms, the others 5 ms (2 %).
                        let delay = if n % 50 == 49 { 200 } else { 5 };
                        async move {
                            // What was injected is what the handler took:
                            // with every core busy a sleep can end late.
                            let started = Instant::now();
                            let answer = precisely(Duration::from_millis(delay)).await;
                            MIX_TAKEN.lock().unwrap().push(started.elapsed());
                            answer
                        }
                    }),
                )
                .route("/nothing", get(|| async { "" }))
                .route(
                    "/counted",
                    get(|| async {
                        COUNTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        ""
                    }),
                )
                .route(
                    "/work/{id}",
                    get(move || {
                        let freeze = freeze.clone();
                        async move {
                            drop(freeze.lock().await);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            "done"
                        }
                    }),
                )
                .route(
                    "/echo",
                    axum::routing::post(|headers: http::HeaderMap, body: String| async move {
                        let kind = headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        if kind == "application/json" && body == "{\"items\": 1}" {
                            http::StatusCode::CREATED
                        } else {
                            http::StatusCode::BAD_REQUEST
                        }
                    }),
                )
                .route(
                    "/limited",
                    get(move || {
                        let permits = permits.clone();
                        async move {
                            let _permit = permits.acquire().await.unwrap();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            "done"
                        }
                    }),
                );
            // Every route but `/plain` answers with `Server-Timing`.
            let app = app
                .layer(tailwatch::HttpMetricsLayer::new(&tailwatch::Monitor::new()).server_timing())
                .route("/plain", get(|| async { "plain" }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// Held by the tests that time things: each runs the generator flat out
/// on this 2-core machine, and two at once would measure each other.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Requests to `/counted` (only the Ctrl-C test uses it).
/// How long each `/mix` request's handler took.
static MIX_TAKEN: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());

static COUNTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Waits exactly `d` (sleeps to 3 ms before, then spins): a delay the
/// test knows to a few microseconds.
async fn precisely(d: Duration) -> &'static str {
    let deadline = Instant::now() + d;
    tokio::time::sleep(d.saturating_sub(Duration::from_millis(3))).await;
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
    "done"
}

fn load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .arg("load")
        .args(args)
        .output()
        .expect("tailwatch load runs")
}

fn report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tailwatch-load-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("report.json")
}

/// The server is frozen once for 1 s during a 30 s run at 1,000 req/s
/// (50 connections at most, so the requests due during the stall wait to
/// be sent): the reported p99 and p99.9 are within 5 % of the truth from
/// the schedule (every request due during the stall waited until its
/// end), while the uncorrected p99, from the moment each request was
/// written, misses the stall.
#[test]
fn latency_counts_from_the_scheduled_time_through_a_one_second_stall() {
    let _serial = serial();
    let freeze = Arc::new(tokio::sync::Mutex::new(()));
    let addr = server(freeze.clone());
    let stalled = Arc::new(Mutex::new(None));
    {
        let (freeze, stalled) = (freeze.clone(), stalled.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            let guard = freeze.blocking_lock();
            let held = Instant::now();
            std::thread::sleep(Duration::from_secs(1));
            drop(guard);
            *stalled.lock().unwrap() = Some(held.elapsed());
        });
    }
    let out = temp("stall");
    let run = load(&[
        &format!("http://{addr}/work/{{id}}"),
        "--rate",
        "1000",
        "--duration",
        "30s",
        "--max-connections",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stall = stalled
        .lock()
        .unwrap()
        .expect("the server was frozen")
        .as_secs_f64();
    let r = report(&out);
    let e = &r["endpoints"][0];
    let n = e["requests"].as_f64().unwrap();
    let base = e["latency"]["p50"].as_f64().unwrap();
    // Every request due during the stall waited until its end, then for
    // its turn on the 50 connections (50 answers every `base` seconds):
    // the j-th due after the stall began waited stall − j / rate for the
    // stall and (j / 50 + 1) · base after it. The k-th slowest is j = k.
    let truth = |q: f64| {
        let k = (1.0 - q) * n;
        stall + base - k * (1.0 / 1000.0 - base / 50.0)
    };
    for (key, q) in [("p99", 0.99), ("p99.9", 0.999)] {
        let got = e["latency"][key].as_f64().unwrap();
        let want = truth(q);
        println!(
            "{key}: reported {got:.4} s, truth {want:.4} s; uncorrected {:?}",
            e["uncorrected"][key]
        );
        assert!(
            (got - want).abs() <= 0.05 * want,
            "{key}: {got} s reported, {want} s true\n{text}"
        );
    }
    // Uncorrected, only the 50 requests on the connections when the stall
    // began (0.17 %) show it: its p99 misses the stall altogether.
    let uncorrected = e["uncorrected"]["p99"].as_f64().unwrap();
    assert!(uncorrected < 0.05, "uncorrected p99 {uncorrected}\n{text}");
    assert_eq!(r["valid"], true, "{text}");
    assert_eq!(e["errors"], 0, "{text}");
    assert!((29_700.0..=30_000.0).contains(&n), "{n} requests\n{text}");
}

/// A bad URL, a rate of 0, an absurd duration, an unreachable target: a
/// clear error on stderr and exit code 2, before any load is sent.
#[test]
fn bad_options_and_unreachable_targets_are_clear_errors() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for (args, says) in [
        (vec!["nowhere"], "http://"),
        (vec!["https://127.0.0.1:1/"], "https is not supported"),
        (vec!["http://127.0.0.1:9/", "--rate", "0"], "above 0"),
        (
            vec!["http://127.0.0.1:9/", "--duration", "9000h"],
            "longer than 7 days",
        ),
        (
            vec!["http://127.0.0.1:9/", "--duration", "10x"],
            "not a duration",
        ),
    ] {
        let run = load(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let run = load(&[&format!("http://{closed}/x")]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot connect to"), "{stderr}");
}

/// The closed model: as fast as 4 connections allow; every request
/// answered, counted, and reported as the closed model.
#[test]
fn the_closed_model_sends_as_fast_as_its_connections_allow() {
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let out = temp("closed");
    let run = load(&[
        &format!("http://{addr}/plain"),
        "--connections",
        "4",
        "--duration",
        "2s",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{text}");
    let r = report(&out);
    assert_eq!(r["model"], "closed");
    let e = &r["endpoints"][0];
    let n = e["requests"].as_u64().unwrap();
    assert!(n > 100, "{n}\n{text}");
    assert_eq!(e["statuses"]["200"].as_u64(), Some(n));
    assert!(text.contains("closed model, 4 connections"), "{text}");
    assert!(
        text.contains("server timing: not sent by the target"),
        "{text}"
    );
}

/// Runs `load` with `args` and `--out`; its exit code, text and report.
fn run(name: &str, args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let out = temp(name);
    let mut all: Vec<&str> = args.to_vec();
    let path = out.to_str().unwrap().to_owned();
    all.extend(["--out", &path]);
    let run = load(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let report = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    (run.status.code(), text, report)
}

/// Each profile's stages send at the rates of its shape (short runs):
/// every stage's achieved rate within 3 % of its target (a ramp: half its
/// end rate on average).
#[test]
fn each_profile_sends_its_shape() {
    let _serial = serial();
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let url = format!("http://{addr}/work/{{id}}");
    for (profile, seconds, want) in [
        ("load", "4s", vec![100.0, 200.0]),
        ("stress", "5s", vec![200.0, 300.0, 400.0, 500.0, 600.0]),
        ("spike", "5s", vec![200.0, 1000.0, 200.0]),
        ("soak", "3s", vec![200.0]),
    ] {
        let (code, text, r) = run(
            profile,
            &[
                &url,
                "--rate",
                "200",
                "--duration",
                seconds,
                "--profile",
                profile,
            ],
        );
        assert_eq!(code, Some(0), "{profile}: {text}");
        let stages = r["stages"].as_array().unwrap();
        let got: Vec<f64> = stages
            .iter()
            .map(|s| s["achieved_rate"].as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len(), "{profile}: {got:?}\n{text}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 0.03 * w,
                "{profile}: {got:?} vs {want:?}\n{text}"
            );
        }
        assert_eq!(r["profile"], profile);
    }
}

/// Breakpoint against a server that can take about 450 requests a
/// second: steps of 100/s until p99 passes 100 ms; the knee is the same
/// step in three runs (400/s).
#[test]
fn breakpoint_finds_the_same_knee_three_times() {
    let _serial = serial();
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let url = format!("http://{addr}/limited");
    let mut knees = Vec::new();
    for k in 0..3 {
        let (code, text, r) = run(
            &format!("knee{k}"),
            &[
                &url,
                "--rate",
                "100",
                "--profile",
                "breakpoint",
                "--step",
                "2s",
                "--duration",
                "20s",
                "--threshold",
                "p99<100ms",
            ],
        );
        assert_eq!(code, Some(99), "a step failed: {text}");
        knees.push(r["knee"].as_f64());
        assert!(text.contains("knee:"), "{text}");
    }
    println!("knees: {knees:?}");
    assert!(knees.iter().all(|k| *k == Some(400.0)), "{knees:?}");
}

/// One bad window fails a run whose whole-run p99 holds: 400 req/s for
/// 10 s, the server frozen for 80 ms once; `p99<50ms` fails over the
/// window with the stall (exit 99, saying which), not over the whole
/// run. Without the stall, the run passes (exit 0).
#[test]
fn a_threshold_fails_over_one_bad_window_though_the_whole_run_holds() {
    let _serial = serial();
    let freeze = Arc::new(tokio::sync::Mutex::new(()));
    let addr = server(freeze.clone());
    let url = format!("http://{addr}/work/{{id}}");
    let args = [
        url.as_str(),
        "--rate",
        "400",
        "--duration",
        "10s",
        "--window",
        "2s",
        "--threshold",
        "p99<50ms",
    ];
    let (code, text, r) = run("pass", &args);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(r["thresholds"]["passed"], true, "{text}");
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(4_500));
        let guard = freeze.blocking_lock();
        std::thread::sleep(Duration::from_millis(80));
        drop(guard);
    });
    let (code, text, r) = run("window", &args);
    assert_eq!(code, Some(99), "{text}");
    let failed = r["thresholds"]["failed"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .any(|f| f["over"].as_str().unwrap().starts_with("window")),
        "{text}"
    );
    assert!(
        !failed.iter().any(|f| f["over"] == "the whole run"),
        "the whole run held: {text}"
    );
    assert!(text.contains("p99<50ms failed over window"), "{text}");
}

/// A bad threshold is a clear error (exit 2); breakpoint without one too.
#[test]
fn bad_thresholds_are_clear_errors() {
    for (args, says) in [
        (
            vec!["http://127.0.0.1:9/", "--threshold", "p99>5ms"],
            "no '<'",
        ),
        (
            vec!["http://127.0.0.1:9/", "--threshold", "errors<5"],
            "percentage",
        ),
        (
            vec!["http://127.0.0.1:9/", "--profile", "sideways"],
            "invalid value",
        ),
    ] {
        let run = load(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let url = format!("http://{addr}/work/1");
    for (args, says) in [
        (
            vec![url.as_str(), "--profile", "breakpoint"],
            "needs a --threshold",
        ),
        (
            vec![url.as_str(), "--threshold", "http://elsewhere:1/ p99<5ms"],
            "not one of the URLs",
        ),
    ] {
        let run = load(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

/// Against the demo app (its layer sends `Server-Timing`): the report
/// joins the server's duration to the client's, per URL, and the
/// difference; against a server without the header it says so.
#[test]
fn server_timing_is_joined_against_the_demo() {
    use std::io::{BufRead, BufReader};
    let mut demo = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args([
            "demo",
            "--no-traffic",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
            "--duration",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let app = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.trim_start().starts_with("app "))
        .and_then(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(|u| u.trim_end_matches('/').to_owned())
        })
        .expect("the demo's banner names its app");
    // Keep reading what it prints (a closed pipe would fail its writes).
    std::thread::spawn(move || lines.for_each(drop));
    let (code, text, r) = run(
        "timing",
        &[
            &format!("{app}/users/{{id}}"),
            "--rate",
            "200",
            "--duration",
            "2s",
        ],
    );
    let _ = demo.kill();
    let _ = demo.wait();
    assert_eq!(code, Some(0), "{text}");
    let e = &r["endpoints"][0];
    assert_eq!(e["server_timing_sent"], true, "{text}");
    let server = e["server"]["p50"].as_f64().unwrap();
    let client = e["uncorrected"]["p50"].as_f64().unwrap();
    assert!(
        server > 0.0 && server <= client,
        "{server} vs {client}\n{text}"
    );
    assert!(
        e["client_minus_server"]["p50"].as_f64().unwrap() > 0.0,
        "{text}"
    );
    assert!(text.contains("client−server"), "{text}");
}

/// `--agent-listen`: the client side is served as tailwatch's metrics
/// (`http_client_request_duration_seconds` per URL template) while the
/// run goes, for Prometheus to scrape next to the server's.
#[test]
fn the_client_side_is_served_to_prometheus_with_agent_listen() {
    use std::io::{BufRead, BufReader, Read, Write};
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args([
            "load",
            &format!("http://{addr}/work/{{id}}"),
            "--rate",
            "200",
            "--duration",
            "4s",
            "--agent-listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let agent = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .and_then(|u| u.strip_prefix("http://")?.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    std::thread::spawn(move || lines.for_each(drop));
    let series = "http_client_request_duration_seconds_count{http_request_method=\"GET\",\
                  http_response_status_code=\"200\",server_address=\"127.0.0.1\",";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = std::net::TcpStream::connect(&agent).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        if text.contains(series) && text.contains("url_template=\"/work/{id}\"") {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(child.wait().unwrap().success());
}

/// A plan file: a GET of weight 3 and a POST with a header and a body;
/// the requests split 3:1 and the POST arrives as written (201). A bad
/// line is an error naming the file and the line (exit 2).
#[test]
fn a_plan_file_sends_its_endpoints_by_weight_with_their_bodies() {
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let plan = temp("plan").with_file_name("plan.txt");
    std::fs::write(
        &plan,
        format!(
            "# two endpoints\nendpoint GET http://{addr}/work/{{id}}\n  weight 3\n\
             endpoint POST http://{addr}/echo\n  header content-type: application/json\n  \
             body {{\"items\": 1}}\n"
        ),
    )
    .unwrap();
    let (code, text, r) = run(
        "planned",
        &[
            "--plan",
            plan.to_str().unwrap(),
            "--rate",
            "400",
            "--duration",
            "2s",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let e = r["endpoints"].as_array().unwrap();
    assert_eq!(e[0]["requests"].as_u64(), Some(600), "{text}");
    assert_eq!(e[1]["requests"].as_u64(), Some(200), "{text}");
    assert_eq!(e[1]["name"], format!("POST http://{addr}/echo"));
    assert_eq!(e[1]["statuses"]["201"].as_u64(), Some(200), "{text}");
    std::fs::write(&plan, "endpoint GET http://127.0.0.1:9/\n  wieght 2\n").unwrap();
    let run = load(&["--plan", plan.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("plan.txt:2: unknown key \"wieght\""),
        "{stderr}"
    );
}

/// A server injecting a known mix (98 % 5 ms, 2 % 200 ms) at a low rate:
/// the client's p50/p99/p99.9 are the injected delays plus the measured
/// round trip (of an empty endpoint) within max(1 %, 0.5 ms) plus the
/// generator's own schedule lag p99 (which it reports), and the
/// server's own figures, joined from `Server-Timing`, within 1 % of the
/// injected delays. The injected delays are what the handlers took, each
/// timed by the server (the exact nearest-rank quantiles of that list):
/// with every core busy a 200 ms delay can take 205.
#[test]
fn latencies_match_a_known_delay_mix() {
    let _serial = serial();
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let (code, text, base) = run(
        "base",
        &[
            &format!("http://{addr}/nothing"),
            "--rate",
            "100",
            "--duration",
            "3s",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let round_trip = base["endpoints"][0]["latency"]["p50"].as_f64().unwrap();
    let (code, text, r) = run(
        "mix",
        &[
            &format!("http://{addr}/mix"),
            "--rate",
            "100",
            "--duration",
            "10s",
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    let e = &r["endpoints"][0];
    // The generator's own lag (scheduled → sent) is part of every latency
    // it reports, and it reports it: on a quiet machine its p99 is a few
    // hundred microseconds; with every core busy, milliseconds. The bound
    // allows for it.
    let lag = r["schedule_lag"]["p99"].as_f64().unwrap();
    let mut taken = MIX_TAKEN.lock().unwrap().clone();
    taken.sort();
    assert_eq!(taken.len(), 1000, "every /mix request answered once");
    let truth = |q: f64| taken[((q * taken.len() as f64).ceil() as usize).max(1) - 1].as_secs_f64();
    for (key, q) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
        let injected = truth(q);
        let client = e["latency"][key].as_f64().unwrap();
        let want = injected + round_trip;
        let bound = (0.01 * want).max(0.0005) + lag;
        println!("{key}: client {client:.6} s, injected + round trip {want:.6} s");
        assert!(
            (client - want).abs() <= bound,
            "{key}: {client} vs {want}\n{text}"
        );
        let server = e["server"][key].as_f64().unwrap();
        println!("{key}: server {server:.6} s, injected {injected:.6} s");
        assert!(
            (server - injected).abs() <= 0.01 * injected,
            "{key}: server {server} vs {injected}\n{text}"
        );
    }
}

/// Ctrl-C (SIGINT) stops sending, and the report of what ran is printed,
/// marked interrupted, well before the run's end.
#[test]
fn ctrl_c_stops_and_reports_what_ran() {
    let addr = server(Arc::new(tokio::sync::Mutex::new(())));
    let out = temp("interrupted");
    let child = Command::new(env!("CARGO_BIN_EXE_tailwatch"))
        .args([
            "load",
            &format!("http://{addr}/counted"),
            "--rate",
            "200",
            "--duration",
            "60s",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once requests arrive (its Ctrl-C handler is installed before it
    // sends the first).
    let deadline = Instant::now() + Duration::from_secs(30);
    while COUNTED.load(std::sync::atomic::Ordering::Relaxed) < 20 {
        assert!(Instant::now() < deadline, "no request arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let done = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(started.elapsed() < Duration::from_secs(15), "{text}");
    assert_eq!(done.status.code(), Some(0), "{text}");
    assert!(text.contains("(interrupted)"), "{text}");
    let r = report(&out);
    assert_eq!(r["interrupted"], true);
    let sent = r["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent < 200 * 30, "{sent}");
}
