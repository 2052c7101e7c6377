//! The agent over real sockets: endpoints, content negotiation, health,
//! errors, stopping, and scrapes racing writers.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common;
use common::{request, request_bytes};
use prost::Message;
use tailwatch::export::proto::MetricFamily;
use tailwatch::{Monitor, agent::AgentError, measure::Ended};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn metrics_stats_and_content_negotiation() {
    let m = Monitor::new();
    let op = m.operation("db.get_user");
    for ms in 1..=10 {
        op.record(Duration::from_millis(ms), Ended::Ok);
    }
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .start()
        .await
        .unwrap();

    let (status, head, body) = request(a.local_addr(), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        body.contains(
            "operation_duration_seconds_count{operation=\"db.get_user\",outcome=\"ok\"} 10\n"
        ),
        "{body}"
    );
    assert!(body.contains(
        "operation_duration_quantile_seconds{operation=\"db.get_user\",quantile=\"0.99\"}"
    ));

    let (status, head, body) = request(
        a.local_addr(),
        "GET",
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase().contains("application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"));

    let (status, _, body) = request(a.local_addr(), "GET", "/stats", None).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let series = json["series"].as_array().unwrap();
    let s = series
        .iter()
        .find(|s| s["labels"]["operation"] == "db.get_user")
        .unwrap();
    assert_eq!(s["count"], 10);
    assert!(common::stats_quantile(s, 0.99).unwrap() >= 0.010);
    assert!(
        json["gauges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "operation_active")
    );
    a.stop().await;
}

#[tokio::test]
async fn protobuf_when_prometheus_asks_for_it_by_q_value() {
    let m = Monitor::new();
    m.operation("db.get_user")
        .record(Duration::from_millis(2), Ended::Ok);
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .start()
        .await
        .unwrap();
    // What Prometheus 2.42 sends with --enable-feature=native-histograms.
    let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, head, body) = request_bytes(a.local_addr(), "GET", "/metrics", Some(accept)).await;
    assert_eq!(status, 200);
    assert!(
        head.to_lowercase().contains(
            "content-type: application/vnd.google.protobuf; proto=io.prometheus.client.metricfamily; encoding=delimited"
        ),
        "{head}"
    );
    let mut rest = &body[..];
    let mut names = Vec::new();
    while !rest.is_empty() {
        let f = MetricFamily::decode_length_delimited(&mut rest).expect("delimited messages");
        names.push(f.name().to_owned());
    }
    assert!(
        names.iter().any(|n| n == "operation_duration_seconds"),
        "{names:?}"
    );
    // A refused format (q=0) is not served.
    let (_, head, body) = request(
        a.local_addr(),
        "GET",
        "/metrics",
        Some("application/openmetrics-text;q=0, text/plain"),
    )
    .await;
    assert!(
        head.to_lowercase().contains("text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(!body.ends_with("# EOF\n"));
    a.stop().await;
}

#[tokio::test]
async fn health_reports_each_check() {
    let m = Monitor::new();
    let ok = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .health_check("db", || Ok(()))
        .start()
        .await
        .unwrap();
    let (status, _, body) = request(ok.local_addr(), "GET", "/health", None).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["checks"]["db"]["status"], "ok");

    let failing = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .health_check("db", || Ok(()))
        .health_check("queue", || Err("backlog 10000 > 5000".to_owned()))
        .health_check("cache", || panic!("boom"))
        .start()
        .await
        .unwrap();
    let (status, _, body) = request(failing.local_addr(), "GET", "/health", None).await;
    assert_eq!(status, 503);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["checks"]["db"]["status"], "ok");
    assert_eq!(json["checks"]["queue"]["reason"], "backlog 10000 > 5000");
    assert_eq!(json["checks"]["cache"]["reason"], "the check panicked");
    // The agent survived the panicking check.
    assert_eq!(
        request(failing.local_addr(), "GET", "/metrics", None)
            .await
            .0,
        200
    );
}

/// A closure check that blocks for good (a database ping without a
/// timeout), on a runtime with a single worker: the app and `/metrics`
/// keep answering, `/health` fails with a timeout reason, and a hung check
/// is not started again on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_sync_check_blocks_neither_the_app_nor_the_agent() {
    let m = Monitor::new();
    let (release, hung) = std::sync::mpsc::channel::<()>();
    let hung = std::sync::Mutex::new(hung);
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    // No cache: every request asks for a run (the shared runs and the
    // cache are tested in agent_attack.rs).
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .health_check_cache(Duration::ZERO)
        .health_check_timeout(Duration::from_millis(300))
        .health_check("db", move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = hung.lock().unwrap().recv(); // blocks until released
            Ok(())
        })
        .start()
        .await
        .unwrap();
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let health = tokio::spawn(request(a.local_addr(), "GET", "/health", None));
    // The check is running (and blocked) before the app is asked.
    while runs.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // While the check blocks: the app and /metrics answer within 1 s.
    let within = Duration::from_secs(1);
    let (status, _, body) = tokio::time::timeout(within, request(app_addr, "GET", "/ping", None))
        .await
        .expect("the app answers while a health check blocks");
    assert_eq!((status, body.as_str()), (200, "pong"));
    let (status, _, _) =
        tokio::time::timeout(within, request(a.local_addr(), "GET", "/metrics", None))
            .await
            .expect("/metrics answers while a health check blocks");
    assert_eq!(status, 200);
    let (status, _, body) = tokio::time::timeout(within, health)
        .await
        .expect("/health answers at the check's timeout")
        .unwrap();
    assert_eq!(status, 503);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reason = json["checks"]["db"]["reason"].as_str().unwrap();
    assert!(reason.contains("took longer than 300ms"), "{reason}");
    // Asked again while it still hangs: failing at once, not run again.
    let started = std::time::Instant::now();
    let (status, _, body) = request(a.local_addr(), "GET", "/health", None).await;
    assert_eq!(status, 503);
    assert!(body.contains("still running"), "{body}");
    assert!(started.elapsed() < Duration::from_millis(250));
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Once it returns, it runs again and passes.
    release.send(()).unwrap();
    drop(release);
    // "Still running" until the released check has returned (whenever its
    // thread runs); then the next request runs it again, and it passes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = request(a.local_addr(), "GET", "/health", None).await;
        if status == 200 {
            break;
        }
        assert!(body.contains("still running"), "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "the check never returned"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn async_health_checks_run_together_with_panics_and_timeouts_failing() {
    let m = Monitor::new();
    let healthy = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .health_check_async("db", || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(())
        })
        .health_check("disk", || Ok(()))
        .start()
        .await
        .unwrap();
    let (status, _, body) = request(healthy.local_addr(), "GET", "/health", None).await;
    assert_eq!(status, 200, "{body}");

    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .health_check_timeout(Duration::from_millis(500))
        .health_check_async("db", || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(())
        })
        .health_check_async("downstream", || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Err("503 from payments".to_owned())
        })
        .health_check_async("slow", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .health_check_async("exploding", || async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        })
        .start()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (status, _, body) = request(a.local_addr(), "GET", "/health", None).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["checks"]["db"]["status"], "ok");
    assert_eq!(json["checks"]["downstream"]["reason"], "503 from payments");
    assert_eq!(
        json["checks"]["slow"]["reason"],
        "the check took longer than 500ms"
    );
    assert_eq!(json["checks"]["exploding"]["reason"], "the check panicked");
    // Concurrently: about the timeout (500 ms), not the sum (1,300 ms).
    assert!(took < Duration::from_millis(1_100), "{took:?}");
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = tailwatch::AgentBuilder::new(&Monitor::new())
        .listen(addr)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Bind { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains(&addr.to_string()) && msg.contains("TAILWATCH_LISTEN"),
        "{msg}"
    );
}

#[tokio::test]
async fn bad_requests_get_a_reason() {
    let a = tailwatch::AgentBuilder::new(&Monitor::new())
        .listen(local())
        .start()
        .await
        .unwrap();
    let (status, _, body) = request(a.local_addr(), "GET", "/nope", None).await;
    assert_eq!(status, 404);
    assert!(body.contains("/metrics, /stats and /health"), "{body}");
    let (status, _, _) = request(a.local_addr(), "POST", "/metrics", None).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn stops_cleanly() {
    let a = tailwatch::AgentBuilder::new(&Monitor::new())
        .listen(local())
        .start()
        .await
        .unwrap();
    let addr = a.local_addr();
    assert_eq!(request(addr, "GET", "/health", None).await.0, 200);
    a.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_while_two_threads_record_are_monotonic_and_exact() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let m = Monitor::new();
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .start()
        .await
        .unwrap();
    let op = m.operation("hot");
    let stop = Arc::new(AtomicBool::new(false));
    // Writers record at full speed until the scraper has seen enough.
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (op, stop) = (op.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0_u64;
                while !stop.load(Ordering::Relaxed) {
                    op.record(Duration::from_nanos(1_000 + n % 100_000), Ended::Ok);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let count_of = |body: &str| -> u64 {
        body.lines()
            .find(|l| {
                l.starts_with("operation_duration_seconds_count{operation=\"hot\",outcome=\"ok\"}")
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
    };
    let mut seen = Vec::new();
    for _ in 0..30 {
        let (status, _, body) = request(a.local_addr(), "GET", "/metrics", None).await;
        assert_eq!(status, 200);
        let n = count_of(&body);
        assert!(
            n >= seen.last().copied().unwrap_or(0),
            "count went back: {seen:?} then {n}"
        );
        seen.push(n);
    }
    stop.store(true, Ordering::Relaxed);
    let recorded: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    // The count grew between scrapes: they ran while the writers recorded.
    seen.dedup();
    assert!(
        seen.iter().filter(|&&n| n > 0).count() >= 2,
        "no scrape overlapped the writers: {seen:?}"
    );
    let (_, _, body) = request(a.local_addr(), "GET", "/metrics", None).await;
    assert_eq!(count_of(&body), recorded);
}

/// gzip when asked (Prometheus asks), plain otherwise; the same text.
/// With the README's few lines, the process and runtime figures are there
/// (the dashboard's process row and the CPU/memory/fd alerts have data);
/// each can be turned off; a runtime the user named is not sampled twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_and_runtime_figures_are_on_by_default() {
    let m = Monitor::new();
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .start()
        .await
        .unwrap();
    let text = common::get_ok(a.local_addr(), "/metrics").await;
    if cfg!(target_os = "linux") {
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("\nprocess_open_fds "));
    }
    assert!(
        text.contains("\ntokio_workers{runtime=\"main\"} 2\n"),
        "{text}"
    );

    let m = Monitor::new();
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .process_metrics(false)
        .tokio_metrics(false)
        .start()
        .await
        .unwrap();
    let text = common::get_ok(a.local_addr(), "/metrics").await;
    assert!(!text.contains("process_resident_memory_bytes"), "{text}");
    assert!(!text.contains("tokio_workers"), "{text}");

    let m = Monitor::new();
    m.sample_tokio("app", &tokio::runtime::Handle::current());
    let a = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .start()
        .await
        .unwrap();
    let text = common::get_ok(a.local_addr(), "/metrics").await;
    assert!(text.contains("tokio_workers{runtime=\"app\"}"), "{text}");
    assert!(!text.contains("runtime=\"main\""), "{text}");
}
