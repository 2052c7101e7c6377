//! The agent: an HTTP server on its own port serving `/metrics`, `/stats`
//! and `/health` from a [`Monitor`](crate::Monitor).
//!
//! ```no_run
//! # async fn run() -> Result<(), tailwatch::agent::AgentError> {
//! let monitor = tailwatch::Monitor::new();
//! let agent = tailwatch::AgentBuilder::new(&monitor)
//!     .health_check("db", || Ok(()))
//!     .start()
//!     .await?; // 127.0.0.1:9464, or TAILWATCH_LISTEN
//! println!("metrics at http://{}/metrics", agent.local_addr());
//! agent.stop().await;
//! # Ok(()) }
//! ```
//!
//! * `GET /metrics`: the format the `Accept` header prefers by q-value
//!   (see [`Format::from_accept`](crate::export::Format::from_accept)):
//!   the Prometheus protobuf format with native histograms, OpenMetrics
//!   1.0, else text 0.0.4 (see [`export`](crate::export)).
//! * `GET /stats`: JSON: `{"series": [SeriesStats…], "gauges": […],
//!   "resources": [ResourceStats…], "queues": [QueueStats…],
//!   "caches": [CacheStats…]}`.
//! * `GET /health`: runs the registered checks (closures or async
//!   functions, all at once): 200 with each check's state when all pass,
//!   503 naming the ones that failed (a panic or, for an async check, a
//!   timeout is a failure).
//! * Anything else: 404 (or 405 for another method) with a reason.
//!
//! The address: [`AgentBuilder::listen`] if given, else `TAILWATCH_LISTEN`,
//! else `127.0.0.1:9464` (loopback: metrics are not public unless asked).
//! A port already in use is an [`AgentError`] returned to the caller; the
//! application keeps running.
//!
//! Hostile and broken clients: the server has a header-read timeout, an
//! idle timeout, a connection limit overall and per peer address, a header
//! size limit and a cap on scrapes in progress, and [`Agent::stop`] closes
//! what is still open after a deadline (see [`ServerLimits`]); each close
//! on a limit is counted in
//! `tailwatch_agent_connections_closed_total{reason}`. Rendering and gzip
//! run on tokio's blocking pool, never on an async worker.
//!
//! Uses every piece below it: export for `/metrics`, the measure piece and
//! saturation for `/stats`.

#[cfg(feature = "tls")]
mod auth;
mod builder;
mod error;
mod handle;
mod health;
mod limits;
mod routes;
mod scrape;
mod server;
mod watched;
#[cfg(feature = "tls")]
mod web_config;

pub use builder::{
    AgentBuilder, DEFAULT_LISTEN, HEALTH_CHECK_CACHE, HEALTH_CHECK_TIMEOUT, LISTEN_ENV,
    parse_listen,
};
pub use error::AgentError;
pub use handle::Agent;
pub use limits::{MIN_HEADER_BYTES, ServerLimits};
pub use scrape::SCRAPES_REFUSED;
pub use server::{CONNECTIONS_CLOSED, CONNECTIONS_OPEN};
#[cfg(feature = "tls")]
pub use {
    auth::{AUTH_BUSY, AUTH_CHECKS, AUTH_FAILURES},
    web_config::{ClientAuth, TlsVersion, WebConfig, WebConfigError},
};
