//! A real socket: a client that disconnects mid-response is counted as
//! cancelled and the in-flight gauge comes back to 0.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http_body::Frame;
use tailwatch::http::{HTTP_ACTIVE, HTTP_DURATION};
use tailwatch::{HttpMetricsLayer, Monitor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A body that never ends: a chunk every 5 ms.
struct Endless(tokio::time::Interval);

impl http_body::Body for Endless {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Self::Error>>> {
        match self.0.poll_tick(cx) {
            Poll::Ready(_) => {
                Poll::Ready(Some(Ok(Frame::data(bytes::Bytes::from_static(b"tick\n")))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn active(m: &Monitor) -> i64 {
    m.registry()
        .gauges()
        .into_iter()
        .filter(|(id, _)| id.name() == HTTP_ACTIVE)
        .map(|(_, g)| g.value())
        .sum()
}

fn cancelled(m: &Monitor) -> u64 {
    m.registry()
        .series()
        .into_iter()
        .filter(|(id, _)| id.name() == HTTP_DURATION && id.label("error_type") == Some("cancelled"))
        .map(|(_, h)| h.stats().total_count)
        .sum()
}

/// Waits (polling, bounded) until `ready` holds.
async fn eventually(what: &str, ready: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An app in the middleware on a real socket: `/page` answers a short
/// body, `/stream` one that never ends.
async fn serve(
    m: &Monitor,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let app = Router::new()
        .route("/page", get(|| async { "hello" }))
        .route(
            "/stream",
            get(|| async { Body::new(Endless(tokio::time::interval(Duration::from_millis(5)))) }),
        )
        .layer(HttpMetricsLayer::new(m));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (
        addr,
        tokio::spawn(async move { axum::serve(listener, app).await }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_response_is_counted_as_cancelled() {
    let m = Monitor::new();
    let (addr, server) = serve(&m).await;

    for round in 1..=3_u64 {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        // Read the head and a few chunks: the response is under way.
        let mut seen = Vec::new();
        let mut buf = [0_u8; 1024];
        while seen.windows(5).filter(|w| w == b"tick\n").count() < 3 {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "server closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        assert!(
            seen.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&seen)
        );
        assert_eq!(active(&m), 1, "in flight while streaming");
        drop(client); // the client goes away mid-body

        eventually("the request to be recorded as cancelled", || {
            cancelled(&m) == round
        })
        .await;
        eventually("in-flight back to 0", || active(&m) == 0).await;
    }
    let series: Vec<_> = m
        .registry()
        .series()
        .into_iter()
        .filter(|(id, _)| id.name() == HTTP_DURATION)
        .collect();
    assert_eq!(series.len(), 1, "only the cancelled series");
    assert_eq!(series[0].0.label("http_response_status_code"), Some("200"));
    server.abort();
}

fn recorded(m: &Monitor, method: &str, status: &str) -> (u64, Option<String>) {
    m.registry()
        .series()
        .into_iter()
        .filter(|(id, _)| {
            id.name() == HTTP_DURATION
                && id.label("http_request_method") == Some(method)
                && id.label("http_response_status_code") == Some(status)
        })
        .map(|(id, h)| {
            (
                h.stats().total_count,
                id.label("error_type").map(str::to_owned),
            )
        })
        .fold((0, None), |(n, e), (c, err)| (n + c, e.or(err)))
}

/// The server drops a HEAD response's body unread (hyper does): that is a
/// complete response with its status and latency, not a cancellation, even
/// for a body that would never end. A real disconnect is still cancelled
/// (the test above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_responses_are_recorded_with_their_status_not_as_cancelled() {
    let m = Monitor::new();
    let (addr, server) = serve(&m).await;

    for (round, path) in [(1, "/page"), (2, "/stream"), (3, "/page")] {
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(
                format!("HEAD {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut head = Vec::new();
        client.read_to_end(&mut head).await.unwrap();
        assert!(
            head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        eventually("the HEAD to be recorded", || {
            recorded(&m, "HEAD", "200").0 == round
        })
        .await;
    }
    let (count, error) = recorded(&m, "HEAD", "200");
    assert_eq!((count, error), (3, None), "HEAD recorded as a success");
    assert_eq!(cancelled(&m), 0, "no HEAD counted as cancelled");
    eventually("in-flight back to 0", || active(&m) == 0).await;
    server.abort();
}
