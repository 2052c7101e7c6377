//! The load generator's HTTP/1.1 client: per target address a pool of
//! keep-alive connections (hyper's), opened as requests find none free, up
//! to a maximum; past it a request waits for one (its latency, counted
//! from its scheduled time, includes the wait).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::record::Failure;

/// Connections to one address.
pub(crate) struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
    slots: Arc<Semaphore>,
    /// Woken when a connection is put back or closed.
    freed: Arc<Notify>,
}

/// One open connection and its slot in the pool.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
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
    pub(crate) fn new(addr: SocketAddr, max: usize) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
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
            while let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
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
            _slot: slot,
            freed: self.freed.clone(),
        })
    }

    fn put(&self, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        self.freed.notify_one();
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
