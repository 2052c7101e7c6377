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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_response_is_counted_as_cancelled() {
    let m = Monitor::new();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async { Body::new(Endless(tokio::time::interval(Duration::from_millis(5)))) }),
        )
        .layer(HttpMetricsLayer::new(&m));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

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
