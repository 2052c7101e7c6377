//! `tailwatch load` as a user runs it: the binary against a server in
//! this process.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

/// A server whose handler takes 1 ms, and can be frozen: while `freeze`
/// is held, every request waits for it. Serves on its own runtime thread.
fn server(freeze: Arc<tokio::sync::Mutex<()>>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = Router::new().route(
                "/work/{id}",
                get(move || {
                    let freeze = freeze.clone();
                    async move {
                        drop(freeze.lock().await);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        "done"
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
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
        &format!("http://{addr}/work/1"),
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
    // 4 connections, 1 ms per request: at most ~4,000 a second.
    let n = e["requests"].as_u64().unwrap();
    assert!(n > 100 && n < 8_000 * 2, "{n}\n{text}");
    assert_eq!(e["statuses"]["200"].as_u64(), Some(n));
    assert!(text.contains("closed model, 4 connections"), "{text}");
    assert!(
        text.contains("server timing: not sent by the target"),
        "{text}"
    );
}
