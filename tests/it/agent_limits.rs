//! The agent's server against slow, idle and hostile clients, on real
//! sockets: slowloris, connection floods, oversized headers, clients that
//! stop reading, and a stop with a request still half sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tailwatch::{Agent, Monitor, measure::Ended};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use common::request;

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Waits until the server closes `s` (a read returns end of file or an
/// error), reading and dropping whatever it answers; the time it took.
async fn closed_by_server(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0_u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

async fn start(
    m: &Monitor,
    f: impl FnOnce(tailwatch::AgentBuilder) -> tailwatch::AgentBuilder,
) -> Agent {
    f(tailwatch::AgentBuilder::new(m).listen(local()))
        .start()
        .await
        .unwrap()
}

/// 120 clients each sending a request's head one byte every 200 ms: the
/// agent closes every one at its header-read timeout, counted, while a
/// normal scrape answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_at_the_header_timeout() {
    let m = Monitor::new();
    // All from 127.0.0.1: the per-peer limit is raised to let them in.
    let a = start(&m, |b| {
        b.header_read_timeout(Duration::from_secs(1))
            .max_connections_per_peer(200)
    })
    .await;
    let addr = a.local_addr();
    let clients: Vec<_> = (0..120)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let opened = Instant::now();
                let head = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
                for b in head {
                    if s.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // The server closed it (a write failed) or will now.
                closed_by_server(&mut s, Duration::from_secs(5))
                    .await
                    .map(|_| opened.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A normal scrape while they trickle.
    let started = Instant::now();
    let (status, _, _) = request(addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    for c in clients {
        let lived = c
            .await
            .unwrap()
            .expect("the agent closed the slow connection");
        // Closed at the header timeout (1 s), not when the client gave up
        // (after ~18 s of trickling).
        assert!(lived < Duration::from_millis(2_500), "{lived:?}");
    }
    assert!(
        common::closed_connections(&m, "header_timeout") >= 120,
        "{}",
        common::closed_connections(&m, "header_timeout")
    );
}

/// Past the connection limit, new connections are closed at once and
/// counted; the application (another server in the same process) is not
/// affected, and the agent serves again once connections are freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused_and_the_app_is_unaffected() {
    let m = Monitor::new();
    let a = start(&m, |b| {
        b.max_connections(20)
            .header_read_timeout(Duration::from_secs(30))
    })
    .await;
    let addr = a.local_addr();
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept all twenty.
    until(Duration::from_secs(5), "20 connections open", || {
        open_connections(&m) == 20
    })
    .await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let took = closed_by_server(&mut extra, Duration::from_secs(2))
        .await
        .expect("a connection past the limit is closed");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(common::closed_connections(&m, "limit"), 1);
    assert_eq!(request(app_addr, "GET", "/ping", None).await.0, 200);
    // Connections freed: the agent serves again.
    idle.truncate(10);
    until(Duration::from_secs(5), "10 connections open", || {
        open_connections(&m) == 10
    })
    .await;
    assert_eq!(request(addr, "GET", "/metrics", None).await.0, 200);
}

/// Polls `done` every 20 ms until it holds, failing after `within`.
async fn until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn open_connections(m: &Monitor) -> i64 {
    m.registry()
        .gauges()
        .into_iter()
        .find(|(id, _)| id.name() == tailwatch::agent::CONNECTIONS_OPEN)
        .map_or(0, |(_, g)| g.value())
}

/// A request head over the limit: 431, connection closed, counted; the
/// server keeps no more than the limit per connection.
#[tokio::test]
async fn an_oversized_head_is_refused_with_431() {
    let m = Monitor::new();
    let a = start(&m, |b| b.max_header_bytes(16 * 1024)).await;
    let mut s = TcpStream::connect(a.local_addr()).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let req = format!("GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(common::closed_connections(&m, "header_too_large"), 1);
    // A bad limit is a clear error at start.
    let e = tailwatch::AgentBuilder::new(&m)
        .listen(local())
        .max_header_bytes(100)
        .start()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("max_header_bytes"), "{e}");
}

/// A client that asks for a large `/metrics` and never reads it: once no
/// byte has moved for the idle timeout, the connection is closed, counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_at_the_idle_timeout() {
    let m = Monitor::new();
    // A scrape of several megabytes: more than the socket buffers hold.
    for i in 0..6_000 {
        m.operation(&format!("op{i}"))
            .record(Duration::from_millis(1 + i % 50), Ended::Ok);
    }
    let a = start(&m, |b| b.idle_timeout(Duration::from_millis(700))).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(a.local_addr()).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    until(Duration::from_secs(10), "an idle timeout", || {
        common::closed_connections(&m, "idle_timeout") == 1
    })
    .await;
    // The connection is gone: reading drains what was sent, then ends.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection stayed open");
}

/// `stop()` with a request half sent (the client never finishes it):
/// returns within the shutdown timeout, closing it; a request in progress
/// within the deadline finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_returns_within_its_deadline_with_a_half_sent_request_open() {
    let m = Monitor::new();
    let a = start(&m, |b| {
        b.header_read_timeout(Duration::from_secs(60))
            .shutdown_timeout(Duration::from_millis(300))
    })
    .await;
    let addr = a.local_addr();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    until(Duration::from_secs(5), "the connection open", || {
        open_connections(&m) == 1
    })
    .await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(2), a.stop())
        .await
        .expect("stop() returns within its deadline");
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_000), "{took:?}");
    assert!(
        closed_by_server(&mut half, Duration::from_secs(1))
            .await
            .is_some()
    );
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    assert_eq!(open_connections(&m), 0);
}
