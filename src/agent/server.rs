//! The agent's HTTP server: an accept loop with a connection limit, hyper's
//! HTTP/1 connections with a header-read timeout and a header size limit,
//! an idle watchdog per connection, and a stop that waits for requests in
//! progress up to a deadline and then closes what remains.
//!
//! `axum::serve` has none of these limits: a client that sends one byte a
//! second, or opens connections and sends nothing, would hold them for
//! good (and `stop` would wait for it forever).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::limits::ServerLimits;
use super::watched::{Activity, Watched};
use crate::engine::counter::{Counter, Gauge};
use crate::measure::Monitor;

/// The self-metric counting connections the server closed on a limit.
pub const CONNECTIONS_CLOSED: &str = "tailwatch_agent_connections_closed_total";
/// The self-metric of the connections open now.
pub const CONNECTIONS_OPEN: &str = "tailwatch_agent_connections";

/// Why the server closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    /// Over the connection limit: closed as soon as accepted.
    Limit,
    /// Over the per-peer connection limit: closed as soon as accepted.
    PeerLimit,
    /// Its request's headers did not arrive within the header-read timeout.
    HeaderTimeout,
    /// No byte moved either way for the idle timeout, mid-request.
    IdleTimeout,
    /// Its request's head was larger than the header limit (answered 431).
    HeaderTooLarge,
    /// Still open at the stop deadline.
    Shutdown,
    /// The TLS handshake failed or did not finish in time.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Handshake,
}

impl Closed {
    const ALL: [Closed; 7] = [
        Closed::Limit,
        Closed::PeerLimit,
        Closed::HeaderTimeout,
        Closed::IdleTimeout,
        Closed::HeaderTooLarge,
        Closed::Shutdown,
        Closed::Handshake,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::Limit => "limit",
            Closed::PeerLimit => "peer_limit",
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::HeaderTooLarge => "header_too_large",
            Closed::Shutdown => "shutdown",
            Closed::Handshake => "tls_handshake",
        }
    }
}

/// The server's self-metrics, resolved once.
#[derive(Clone)]
pub(super) struct ConnectionMetrics {
    open: Gauge,
    closed: Arc<[Counter; 7]>,
}

impl ConnectionMetrics {
    pub(super) fn new(monitor: &Monitor) -> Self {
        let registry = monitor.registry();
        // Fixed, valid names and labels: these cannot fail; should the
        // registry refuse them anyway, detached handles count nowhere.
        registry.describe(CONNECTIONS_OPEN, "Connections open to the tailwatch agent.");
        registry.describe(
            CONNECTIONS_CLOSED,
            "Connections the tailwatch agent closed on a limit (reason: limit, peer_limit, header_timeout, idle_timeout, header_too_large, shutdown, tls_handshake).",
        );
        let open = registry.gauge(CONNECTIONS_OPEN, &[]).unwrap_or_default();
        let closed = Closed::ALL.map(|c| {
            registry
                .counter(CONNECTIONS_CLOSED, &[("reason", c.label())])
                .unwrap_or_default()
        });
        Self {
            open,
            closed: Arc::new(closed),
        }
    }

    pub(super) fn closed(&self, why: Closed) {
        self.closed[why as usize].increment();
    }
}

/// The address of the peer a request came from (a request extension).
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] pub(super) std::net::IpAddr,
);

/// What a connection needs from the server.
#[derive(Clone)]
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) limits: ServerLimits,
    pub(super) metrics: ConnectionMetrics,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves `listener` until `stop` turns true, then lets the requests in
/// progress finish for up to the shutdown timeout and closes the rest.
pub(super) async fn serve(listener: TcpListener, shared: Shared, stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(shared.limits.max_connections));
    let peers = Peers::new(shared.limits.max_connections_per_peer);
    let mut connections = JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            () = stopped(&mut stopping) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                // The peer's share first: a client over its own limit does
                // not take a slot from the others, even for a moment.
                let Some(share) = peers.admit(peer.ip()) else {
                    shared.metrics.closed(Closed::PeerLimit);
                    drop(stream);
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    shared.metrics.closed(Closed::Limit);
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (shared, stop) = (shared.clone(), stop.clone());
                connections.spawn(async move {
                    let mut open = Open::new(&shared.metrics);
                    connection(stream, Peer(peer.ip()), &shared, stop).await;
                    open.finished = true;
                    drop((permit, share));
                });
            }
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(shared.limits.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { return },
            () = &mut deadline => break,
        }
    }
    // Past the deadline: the connections still open are closed (each
    // counted by its `Open` guard as it is dropped).
    connections.shutdown().await;
}

/// Connections open per peer address, each at most the per-peer limit.
#[derive(Clone)]
struct Peers {
    open: Arc<crate::engine::lock::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    max: usize,
}

impl Peers {
    fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max,
        }
    }

    /// A share for one more connection from `ip`, unless it has the most
    /// it may have.
    fn admit(&self, ip: std::net::IpAddr) -> Option<PeerShare> {
        let mut open = self.open.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PeerShare {
            peers: self.clone(),
            ip,
        })
    }
}

/// One connection's part of its peer's count, given back when dropped.
struct PeerShare {
    peers: Peers,
    ip: std::net::IpAddr,
}

impl Drop for PeerShare {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A connection open: counted in the gauge while it lives; dropped before
/// it finished (aborted at the stop deadline), counted as closed by the
/// shutdown.
struct Open<'a> {
    metrics: &'a ConnectionMetrics,
    finished: bool,
}

impl<'a> Open<'a> {
    fn new(metrics: &'a ConnectionMetrics) -> Self {
        metrics.open.increment();
        Self {
            metrics,
            finished: false,
        }
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.metrics.open.decrement();
        if !self.finished {
            self.metrics.closed(Closed::Shutdown);
        }
    }
}

/// Waits until `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// One connection, TLS first when configured.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: Peer,
    shared: &Shared,
    stop: watch::Receiver<bool>,
) {
    let activity = Activity::new();
    let io = Watched::new(stream, activity.clone());
    #[cfg(feature = "tls")]
    if let Some(tls) = &shared.tls {
        let handshake = tokio::time::timeout(shared.limits.header_read_timeout, tls.accept(io));
        match handshake.await {
            Ok(Ok(io)) => http(io, peer, &activity, shared, stop).await,
            _ => shared.metrics.closed(Closed::Handshake),
        }
        return;
    }
    http(io, peer, &activity, shared, stop).await;
}

/// Serves HTTP/1 on `io` until the client or the server closes it.
async fn http<I>(
    io: I,
    peer: Peer,
    activity: &Activity,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let router = shared.router.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            req.extensions_mut().insert(peer);
            async move {
                use tower::ServiceExt;
                router.oneshot(req.map(axum::body::Body::new)).await
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        // A client may shut its side down once its request is sent
        // (`curl`-like tools, some proxies): it still gets the answer.
        .half_close(true)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let idle_left = limits.idle_timeout.saturating_sub(activity.idle_for());
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    if e.is_timeout() && !activity.between_requests() {
                        shared.metrics.closed(Closed::HeaderTimeout);
                    } else if e.is_parse_too_large() {
                        shared.metrics.closed(Closed::HeaderTooLarge);
                    }
                }
                return;
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(idle_left) => {
                if activity.idle_for() >= limits.idle_timeout {
                    // Between two requests, closing is only housekeeping.
                    if !activity.between_requests() {
                        shared.metrics.closed(Closed::IdleTimeout);
                    }
                    return;
                }
            }
        }
    }
}
