//! The agent against a hostile client, on real sockets (issue 23): a
//! client that half-closes after its request, one that holds hundreds of
//! connections, scrapes past the concurrent-scrape cap, gzip negotiated,
//! `/health` floods.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tailwatch::{Agent, Monitor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use common::connect_from;

async fn start(
    m: &Monitor,
    f: impl FnOnce(tailwatch::AgentBuilder) -> tailwatch::AgentBuilder,
) -> Agent {
    f(tailwatch::AgentBuilder::new(m).listen("127.0.0.1:0".parse().unwrap()))
        .start()
        .await
        .unwrap()
}

/// Polls `done` every 10 ms until it holds, failing after 10 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

/// A client that shuts its sending side down once its request is sent
/// still gets its answer, on every path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_half_closes_after_its_request_is_answered() {
    let m = Monitor::new();
    let a = start(&m, |b| b.health_check("db", || Ok(()))).await;
    for path in ["/metrics", "/health", "/stats", "/nothing"] {
        for _ in 0..10 {
            let mut s = TcpStream::connect(a.local_addr()).await.unwrap();
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            s.shutdown().await.unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
                .await
                .expect("answered within 10 s")
                .unwrap();
            let answer = String::from_utf8_lossy(&answer);
            let want = if path == "/nothing" { "404" } else { "200" };
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {want}")),
                "{path}: {answer:?}"
            );
        }
    }
}

/// One peer holding 300 silent connections (and reconnecting as they are
/// closed) takes its per-peer share, not every slot: scrapes from another
/// address are answered throughout, and the refusals are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_holding_connections_cannot_starve_the_scraper() {
    let m = Monitor::new();
    let a = start(&m, |b| b.header_read_timeout(Duration::from_secs(30))).await;
    let addr = a.local_addr();
    let per_peer = a_limit().max_connections_per_peer();
    let hog: IpAddr = "127.0.0.2".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..300 {
        // The server may close one before this side notices: it still
        // counts as an attempt.
        if let Ok(s) = connect_from(hog, addr).await {
            held.push(s);
        }
    }
    until("the hog's extra connections refused", || {
        common::closed_connections(&m, "peer_limit") >= (300 - per_peer) as u64
    })
    .await;
    for _ in 0..20 {
        let (status, _, _) = common::request(addr, "GET", "/metrics", None).await;
        assert_eq!(status, 200);
        // The hog reconnects.
        let _ = connect_from(hog, addr).await.map(|s| held.push(s));
    }
    assert_eq!(common::closed_connections(&m, "limit"), 0);
    drop(held);
}

fn a_limit() -> tailwatch::agent::ServerLimits {
    tailwatch::AgentBuilder::new(&Monitor::new()).limits()
}

/// Past `max_scrapes` answers in progress, a scrape is answered 503 at
/// once with `Retry-After`, counted; when the slow client goes, its slot
/// is free again. The slot is held until the answer's last byte is handed
/// over, so a client that does not read keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_past_the_cap_are_refused_at_once_and_counted() {
    let m = Monitor::builder().max_operations(20_000).build().unwrap();
    // Enough series that an answer does not fit the socket buffers.
    for i in 0..5_000_u64 {
        m.operation(&format!("operation_number_{i}")).record(
            Duration::from_micros(100 + i),
            tailwatch::measure::Ended::Ok,
        );
    }
    let a = start(&m, |b| b.max_scrapes(1)).await;
    let addr = a.local_addr();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0_u8; 12];
    slow.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    for path in ["/metrics", "/stats"] {
        let (status, head, body) = common::request(addr, "GET", path, None).await;
        assert_eq!(status, 503, "{path}");
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 1"),
            "{head}"
        );
        assert!(body.contains("max_scrapes"), "{body}");
    }
    assert_eq!(common::counter(&m, tailwatch::agent::SCRAPES_REFUSED), 2);
    // /health is not a scrape.
    assert_eq!(common::request(addr, "GET", "/health", None).await.0, 200);
    drop(slow);
    for tries in 0.. {
        if common::request(addr, "GET", "/stats", None).await.0 == 200 {
            break;
        }
        assert!(tries < 1000, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// gzip when asked (by name or `*`), identity otherwise; the gzipped
/// answer is the same scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_is_negotiated_and_decodes_to_the_scrape() {
    use std::io::Read;
    let m = Monitor::new();
    m.operation("checkout")
        .record(Duration::from_millis(3), tailwatch::measure::Ended::Ok);
    let a = start(&m, |b| b).await;
    for (encoding, gzip) in [
        ("gzip", true),
        ("br, *;q=0.5", true),
        ("gzip;q=0", false),
        ("identity", false),
    ] {
        let mut s = TcpStream::connect(a.local_addr()).await.unwrap();
        let req = format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {encoding}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        assert_eq!(
            head.contains("content-encoding: gzip"),
            gzip,
            "{encoding}: {head}"
        );
        assert!(head.contains("vary: accept-encoding"), "{head}");
        let mut body = raw[end + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = common::dechunk(&body);
        }
        let text = if gzip {
            let mut t = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut t)
                .unwrap();
            t
        } else {
            String::from_utf8(body).unwrap()
        };
        assert!(
            text.contains(
                "operation_duration_seconds_count{operation=\"checkout\",outcome=\"ok\"} 1"
            ),
            "{encoding}: {text}"
        );
    }
}

/// A check that counts its runs and takes 200 ms.
fn counted_check(
    runs: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl Fn() -> Result<(), String> + Send + Sync + 'static {
    let runs = runs.clone();
    move || {
        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }
}

/// 3,000 `/health` requests, 100 at a time: every one answered 200, the
/// checks run about once per cache time (1 s), not once per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_flood_runs_the_checks_once_per_cache_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let m = Monitor::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let a = start(&m, |b| {
        b.health_check("db", counted_check(&runs))
            .max_connections_per_peer(200)
    })
    .await;
    let addr = a.local_addr();
    let started = std::time::Instant::now();
    for _ in 0..30 {
        let wave: Vec<_> = (0..100)
            .map(|_| tokio::spawn(common::request(addr, "GET", "/health", None)))
            .collect();
        for r in wave {
            assert_eq!(r.await.unwrap().0, 200);
        }
    }
    let took = started.elapsed();
    let runs = runs.load(Ordering::SeqCst);
    // One run per second of the flood, plus the first.
    let most = took.as_secs() as usize + 2;
    assert!(runs <= most, "{runs} runs in {took:?}");
}

/// With no cache, requests that arrive while a run is going share it: 100
/// at once start a few runs, not 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_health_requests_share_the_run_going() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let m = Monitor::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let a = start(&m, |b| {
        b.health_check("db", counted_check(&runs))
            .health_check_cache(Duration::ZERO)
            .max_connections_per_peer(200)
    })
    .await;
    let addr = a.local_addr();
    let wave: Vec<_> = (0..100)
        .map(|_| tokio::spawn(common::request(addr, "GET", "/health", None)))
        .collect();
    for r in wave {
        assert_eq!(r.await.unwrap().0, 200);
    }
    let runs = runs.load(Ordering::SeqCst);
    // Each run takes 200 ms; the 100 requests arrive over a few of them.
    assert!(runs < 20, "{runs} runs for 100 requests at once");
}

/// One scrape over a blocking std socket (no runtime needed): its status
/// and how long it took.
fn timed_scrape(addr: SocketAddr) -> (u16, Duration) {
    use std::io::{Read, Write};
    let started = std::time::Instant::now();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let status = std::str::from_utf8(&answer[9..12])
        .unwrap()
        .parse()
        .unwrap();
    (status, started.elapsed())
}

/// A handler that blocks the application's only worker for 3 s: with the
/// agent on the application's runtime a scrape waits for it; on its own
/// thread it is answered at once.
#[test]
fn on_its_own_thread_the_agent_answers_while_the_apps_worker_is_blocked() {
    for own in [false, true] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let m = Monitor::new();
        let a = rt
            .block_on(
                tailwatch::AgentBuilder::new(&m)
                    .listen("127.0.0.1:0".parse().unwrap())
                    .own_thread(own)
                    .start(),
            )
            .unwrap();
        let addr = a.local_addr();
        assert_eq!(timed_scrape(addr).0, 200);
        // The application's task takes its only worker for 3 s.
        let (blocking, blocked) = std::sync::mpsc::channel();
        rt.spawn(async move {
            blocking.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        blocked.recv().unwrap();
        let (status, took) = timed_scrape(addr);
        assert_eq!(status, 200);
        if own {
            assert!(took < Duration::from_secs(1), "own thread: {took:?}");
        } else {
            // The agent's tasks wait for the worker (tokio's behaviour).
            assert!(took > Duration::from_secs(1), "shared runtime: {took:?}");
        }
        rt.block_on(a.stop());
    }
}

/// Listening beyond loopback without auth is said at start; on loopback
/// nothing is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_loopback_without_auth_is_warned_about() {
    let m = Monitor::new();
    let open = tailwatch::AgentBuilder::new(&m)
        .listen("0.0.0.0:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    assert_eq!(open.warnings().len(), 1, "{:?}", open.warnings());
    assert!(
        open.warnings()[0].contains("beyond loopback"),
        "{:?}",
        open.warnings()
    );
    let local = start(&m, |b| b).await;
    assert!(local.warnings().is_empty(), "{:?}", local.warnings());
}
