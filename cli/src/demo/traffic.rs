//! The traffic generator: `connections` keep-alive HTTP/1.1 connections
//! (hyper's client) sharing one schedule of `rps` requests per second.
//! A request whose turn came while its connection was busy goes as soon as
//! the connection is free (the rate holds as long as the connections keep up).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::time::Instant;

use super::random;

/// What the generator did.
#[derive(Debug, Default)]
pub(crate) struct ClientStats {
    /// Responses received (any status).
    pub(crate) answered: AtomicU64,
    /// Requests that got no response (connection refused or broken).
    pub(crate) failed: AtomicU64,
}

/// Sends traffic to `addr` until `stop` turns true.
pub(super) async fn generate(
    addr: SocketAddr,
    rps: u64,
    connections: u64,
    stop: watch::Receiver<bool>,
    stats: Arc<ClientStats>,
) {
    let schedule = Arc::new(Schedule {
        start: Instant::now(),
        rps: rps as f64,
        next: AtomicU64::new(0),
    });
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(connection(
                addr,
                schedule.clone(),
                stop.clone(),
                stats.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

struct Schedule {
    start: Instant,
    rps: f64,
    next: AtomicU64,
}

impl Schedule {
    /// The next request: its number and when it is due.
    fn take(&self) -> (u64, Instant) {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        (k, self.start + Duration::from_secs_f64(k as f64 / self.rps))
    }
}

/// Request `k` of the mix: 55 % users, 25 % orders, 19 % checkout, 1 % a
/// path no route matches.
fn request(k: u64, addr: SocketAddr) -> Request<Body> {
    let x = random::mix(k);
    let id = (x >> 32) % 10_000;
    let (method, path) = match x % 100 {
        0..55 => (Method::GET, format!("/users/{id}")),
        55..80 => (Method::GET, format!("/orders/{id}")),
        80..99 => (Method::POST, "/checkout".to_owned()),
        _ => (Method::GET, format!("/no/such/page/{id}")),
    };
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string())
        .body(Body::empty())
        .expect("a valid request")
}

async fn connect(
    addr: SocketAddr,
) -> Result<SendRequest<Body>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn connection(
    addr: SocketAddr,
    schedule: Arc<Schedule>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<ClientStats>,
) {
    while !*stop.borrow() {
        let mut sender = match connect(addr).await {
            Ok(s) => s,
            Err(_) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        loop {
            let (k, due) = schedule.take();
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => return,
            }
            let sent = async {
                sender.ready().await?;
                let response = sender.send_request(request(k, addr)).await?;
                response.into_body().collect().await?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            };
            if sent.await.is_ok() {
                stats.answered.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                break; // reconnect
            }
        }
    }
}
