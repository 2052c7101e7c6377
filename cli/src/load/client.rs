//! The load generator's HTTP/1.1 client: per target address a pool of
//! keep-alive connections (hyper's), opened as requests find none free, up
//! to a maximum; past it a request waits for one (its latency, counted
//! from its scheduled time, includes the wait).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::record::Failure;

/// How long a connection may stay idle before it is closed: connections
/// opened for a burst (a spike, a stall) do not stay open, and their
/// buffers allocated, for the rest of a soak.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to one address.
pub(crate) struct Pool {
    addr: SocketAddr,
    /// Idle connections, the most recently used last (taken first: the
    /// others stay idle and time out).
    idle: Mutex<VecDeque<Conn>>,
    slots: Arc<Semaphore>,
    #[cfg(test)]
    max: usize,
    idle_timeout: Duration,
    /// Woken when a connection is put back or closed.
    freed: Arc<Notify>,
}

/// One open connection and its slot in the pool.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// When it was last put back.
    idle_since: Instant,
    _slot: OwnedSemaphorePermit,
    freed: Arc<Notify>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Its slot is free: a request waiting may open a connection.
        self.freed.notify_one();
    }
}

/// An answer: its status, when the request was written, and the server's
/// own duration if it sent one (`Server-Timing`).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) sent: Instant,
    pub(crate) server: Option<Duration>,
}

impl Pool {
    /// A pool of at most `max` connections, closed after `idle_timeout`
    /// idle.
    pub(crate) fn new(addr: SocketAddr, max: usize, idle_timeout: Duration) -> Self {
        Self {
            addr,
            #[cfg(test)]
            max,
            idle_timeout,
            idle: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(max)),
            freed: Arc::new(Notify::new()),
        }
    }

    /// An idle connection, else a new one while under the maximum, else
    /// the next one put back.
    async fn get(&self) -> Result<Conn, Failure> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            while let Some(conn) = self
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_back()
            {
                if !conn.sender.is_closed() {
                    return Ok(conn);
                }
            }
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return self.connect(slot).await;
            }
            freed.await;
        }
    }

    async fn connect(&self, slot: OwnedSemaphorePermit) -> Result<Conn, Failure> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Failure::Refused,
                std::io::ErrorKind::ConnectionReset => Failure::Reset,
                _ => Failure::Other,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Failure::Reset)?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            idle_since: Instant::now(),
            _slot: slot,
            freed: self.freed.clone(),
        })
    }

    fn put(&self, mut conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        conn.idle_since = Instant::now();
        let stale = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push_back(conn);
            // The least recently used, if it timed out (one per answer:
            // enough, answers outnumber connections).
            let old = idle
                .front()
                .is_some_and(|c| c.idle_since.elapsed() > self.idle_timeout);
            if old { idle.pop_front() } else { None }
        };
        // Closed outside the lock.
        drop(stale);
        self.freed.notify_one();
    }

    /// Connections open (idle or in use).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Sends `endpoint`'s request for `path` and reads the whole answer.
    pub(crate) async fn send(
        &self,
        endpoint: &super::target::Endpoint,
        path: &str,
    ) -> Result<Answer, Failure> {
        let mut conn = self.get().await?;
        conn.sender.ready().await.map_err(|_| Failure::Reset)?;
        let mut request = http::Request::builder()
            .method(endpoint.method.clone())
            .uri(path)
            .header(http::header::HOST, &endpoint.host);
        for (name, value) in &endpoint.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(endpoint.body.clone()))
            .map_err(|_| Failure::Other)?;
        let sent = Instant::now();
        let response = conn
            .sender
            .send_request(request)
            .await
            .map_err(|_| Failure::Reset)?;
        let status = response.status().as_u16();
        let server = response
            .headers()
            .get_all("server-timing")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(server_duration);
        response
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Reset)?;
        self.put(conn);
        Ok(Answer {
            status,
            sent,
            server,
        })
    }
}

/// The duration of a `Server-Timing` header's first metric that has one
/// (`app;dur=12.5` is 12.5 ms, as the W3C spec says).
pub(crate) fn server_duration(header: &str) -> Option<Duration> {
    header.split(',').find_map(|metric| {
        metric.split(';').skip(1).find_map(|param| {
            let (k, v) = param.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("dur") {
                return None;
            }
            let ms: f64 = v.trim().trim_matches('"').parse().ok()?;
            (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1e3))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections opened for a burst are closed once idle past the
    /// timeout, as answers come back on the others.
    #[tokio::test]
    async fn connections_idle_past_the_timeout_are_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ""
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let endpoint = super::super::target::endpoint(&format!("http://{addr}/"))
            .await
            .unwrap();
        let pool = Arc::new(Pool::new(addr, 8, Duration::from_millis(200)));
        // A burst: four at once open four connections.
        let burst: Vec<_> = (0..4)
            .map(|_| {
                let (pool, endpoint) = (pool.clone(), endpoint.clone());
                tokio::spawn(async move { pool.send(&endpoint, "/").await.map(|a| a.status) })
            })
            .collect();
        for answer in burst {
            assert!(matches!(answer.await, Ok(Ok(200))));
        }
        assert_eq!(pool.open(), 4);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // One at a time: each answer closes one that timed out.
        for _ in 0..4 {
            assert_eq!(pool.send(&endpoint, "/").await.unwrap().status, 200);
        }
        assert_eq!(pool.open(), 1);
    }

    #[test]
    fn server_timing_durations_are_read_as_the_spec_says() {
        let ms = |s: &str| server_duration(s).map(|d| d.as_secs_f64() * 1e3);
        assert_eq!(ms("app;dur=12.5"), Some(12.5));
        assert_eq!(ms("cache;desc=\"hit\", app;dur=3"), Some(3.0));
        assert_eq!(ms("app;desc=x;DUR=\"0.25\""), Some(0.25));
        assert_eq!(ms("app"), None);
        assert_eq!(ms("app;dur=-1"), None);
        assert_eq!(ms("app;dur=abc"), None);
    }
}
