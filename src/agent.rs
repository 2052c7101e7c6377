//! The agent: an HTTP server on its own port serving `/metrics`, `/stats`
//! and `/health` from a [`Monitor`].
//!
//! ```no_run
//! # async fn run() -> Result<(), tailwatch::AgentError> {
//! let monitor = tailwatch::Monitor::new();
//! let agent = tailwatch::agent(&monitor)
//!     .health_check("db", || Ok(()))
//!     .start()
//!     .await?; // 127.0.0.1:9464, or TAILWATCH_LISTEN
//! println!("metrics at http://{}/metrics", agent.local_addr());
//! agent.stop().await;
//! # Ok(()) }
//! ```
//!
//! * `GET /metrics`: Prometheus text format 0.0.4, or OpenMetrics 1.0 when
//!   the `Accept` header names `application/openmetrics-text` (see
//!   [`expo`](crate::expo)).
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

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use thiserror::Error;

use crate::expo::{self, Buckets, Format};
use crate::monitor::Monitor;
use crate::stats::SeriesStats;

/// The default address of the agent.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// The environment variable that overrides the default address.
pub const LISTEN_ENV: &str = "TAILWATCH_LISTEN";

/// Why the agent could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The address could not be bound (in use, not local, no permission).
    #[error(
        "the tailwatch agent cannot listen on {addr}: {source}; choose another address \
         with TAILWATCH_LISTEN=host:port or AgentBuilder::listen"
    )]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `TAILWATCH_LISTEN` is not an address.
    #[error("TAILWATCH_LISTEN={0:?} is not a socket address; use host:port, e.g. 127.0.0.1:9464")]
    InvalidListen(String),
}

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A registered health check.
#[derive(Clone)]
enum Check {
    Sync(Arc<dyn Fn() -> Result<(), String> + Send + Sync>),
    Async(Arc<dyn Fn() -> CheckFuture + Send + Sync>),
}

/// How long an async check may take before it counts as failed, unless
/// set with [`AgentBuilder::health_check_timeout`].
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the agent; start it with [`start`](Self::start).
#[must_use = "the agent does nothing until started"]
pub struct AgentBuilder {
    monitor: Monitor,
    listen: Option<SocketAddr>,
    buckets: Buckets,
    checks: Vec<(String, Check)>,
    check_timeout: Duration,
}

impl std::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("listen", &self.listen)
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// An agent for `monitor`, to configure and [`start`](AgentBuilder::start).
pub fn agent(monitor: &Monitor) -> AgentBuilder {
    AgentBuilder {
        monitor: monitor.clone(),
        listen: None,
        buckets: Buckets::default(),
        checks: Vec::new(),
        check_timeout: HEALTH_CHECK_TIMEOUT,
    }
}

impl AgentBuilder {
    /// Listens on `addr` (port 0: any free port; see [`Agent::local_addr`]).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Histogram bucket boundaries for `/metrics`.
    pub fn buckets(mut self, buckets: Buckets) -> Self {
        self.buckets = buckets;
        self
    }

    /// Adds a health check: `Ok(())` when healthy, `Err(reason)` when not.
    /// It runs on every `GET /health`; a check that panics counts as failed.
    pub fn health_check(
        mut self,
        name: &str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.checks
            .push((name.to_owned(), Check::Sync(Arc::new(check))));
        self
    }

    /// Adds an async health check (a database ping, a downstream call).
    /// It runs on every `GET /health`, concurrently with the other async
    /// checks; one that panics or takes longer than the
    /// [timeout](Self::health_check_timeout) counts as failed.
    ///
    /// ```no_run
    /// # async fn ping() -> Result<(), std::io::Error> { Ok(()) }
    /// # async fn run() -> Result<(), tailwatch::AgentError> {
    /// let monitor = tailwatch::Monitor::new();
    /// let agent = tailwatch::agent(&monitor)
    ///     .health_check_async("db", || async { ping().await.map_err(|e| e.to_string()) })
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn health_check_async<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check = Arc::new(move || Box::pin(check()) as CheckFuture);
        self.checks.push((name.to_owned(), Check::Async(check)));
        self
    }

    /// How long an async health check may take ([`HEALTH_CHECK_TIMEOUT`]
    /// by default) before it counts as failed.
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    fn address(&self) -> Result<SocketAddr, AgentError> {
        resolve_listen(self.listen, std::env::var(LISTEN_ENV).ok())
    }

    /// The agent's routes, to serve yourself (e.g. merged into your app).
    pub fn router(self) -> Router {
        let state = Arc::new(AgentState {
            monitor: self.monitor,
            buckets: self.buckets,
            checks: self.checks,
            check_timeout: self.check_timeout,
        });
        Router::new()
            .route("/metrics", get(metrics))
            .route("/stats", get(stats))
            .route("/health", get(health))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    "not found: the tailwatch agent serves /metrics, /stats and /health\n",
                )
            })
            .with_state(state)
    }

    /// Binds the address and serves in the background (needs a tokio runtime).
    ///
    /// # Errors
    /// [`AgentError`] when the address is invalid or cannot be bound.
    pub async fn start(self) -> Result<Agent, AgentError> {
        let addr = self.address()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| AgentError::Bind { addr, source })?;
        let app = self.router();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Agent {
            addr: local,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// The address to listen on: explicit, else the environment's, else the default.
fn resolve_listen(
    explicit: Option<SocketAddr>,
    env: Option<String>,
) -> Result<SocketAddr, AgentError> {
    if let Some(addr) = explicit {
        return Ok(addr);
    }
    match env {
        Some(v) if !v.trim().is_empty() => {
            v.trim().parse().map_err(|_| AgentError::InvalidListen(v))
        }
        _ => Ok(SocketAddr::from(([127, 0, 0, 1], 9464))),
    }
}

/// A running agent; [`stop`](Self::stop) it, or drop it to stop serving.
#[derive(Debug)]
pub struct Agent {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes the requests in progress, and returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct AgentState {
    monitor: Monitor,
    buckets: Buckets,
    checks: Vec<(String, Check)>,
    check_timeout: Duration,
}

async fn metrics(State(state): State<Arc<AgentState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let body = expo::render(&state.monitor, &state.buckets, format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// A gauge in `/stats`.
#[derive(Debug, Serialize)]
struct GaugeValue {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Serialize)]
struct StatsBody {
    series: Vec<SeriesStats>,
    gauges: Vec<GaugeValue>,
    resources: Vec<crate::ResourceStats>,
    queues: Vec<crate::QueueStats>,
    caches: Vec<crate::CacheStats>,
}

async fn stats(State(state): State<Arc<AgentState>>) -> Response {
    let m = &state.monitor;
    let mut gauges: Vec<GaugeValue> = m
        .registry()
        .gauges()
        .into_iter()
        .map(|(id, g)| GaugeValue {
            name: id.name().to_owned(),
            labels: id
                .labels()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            value: g.value() as f64,
        })
        .collect();
    for (op, active) in m.operations_in_flight() {
        gauges.push(GaugeValue {
            name: crate::monitor::OPERATION_ACTIVE.to_owned(),
            labels: [("operation".to_owned(), op)].into(),
            value: active as f64,
        });
    }
    #[cfg(feature = "metrics")]
    for g in m.metrics_gauges() {
        gauges.push(GaugeValue {
            name: g.name,
            labels: g.labels.into_iter().collect(),
            value: g.value,
        });
    }
    gauges.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
    let body = StatsBody {
        series: m.all_stats(),
        gauges,
        resources: m.resource_stats(),
        queues: m.queue_stats(),
        caches: m.cache_stats(),
    };
    match serde_json::to_string(&body) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode stats: {e}\n"),
        )
            .into_response(),
    }
}

/// Runs one check to its result; panics and timeouts are failures.
async fn run_check(check: Check, timeout: Duration) -> Result<(), String> {
    match check {
        Check::Sync(f) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f()))
            .unwrap_or_else(|_| Err("the check panicked".to_owned())),
        Check::Async(f) => {
            // Its own task: a panic is caught by tokio, not the agent.
            let task = tokio::spawn(async move { f().await });
            let abort = task.abort_handle();
            match tokio::time::timeout(timeout, task).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err("the check panicked".to_owned()),
                Err(_) => {
                    abort.abort();
                    Err(format!("the check took longer than {timeout:?}"))
                }
            }
        }
    }
}

async fn health(State(state): State<Arc<AgentState>>) -> Response {
    // All checks at once: /health takes as long as the slowest, not the sum.
    let running: Vec<_> = state
        .checks
        .iter()
        .map(|(_, check)| tokio::spawn(run_check(check.clone(), state.check_timeout)))
        .collect();
    let mut checks = serde_json::Map::new();
    let mut healthy = true;
    for ((name, _), task) in state.checks.iter().zip(running) {
        let result = task
            .await
            .unwrap_or_else(|_| Err("the check panicked".to_owned()));
        let value = match result {
            Ok(()) => serde_json::json!({"status": "ok"}),
            Err(reason) => {
                healthy = false;
                serde_json::json!({"status": "failing", "reason": reason})
            }
        };
        checks.insert(name.clone(), value);
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "failing" },
        "checks": checks,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn listen_address_precedence_and_errors() {
        let explicit: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(
            resolve_listen(Some(explicit), Some("0.0.0.0:1".into())).unwrap(),
            explicit
        );
        assert_eq!(
            resolve_listen(None, Some(" 127.0.0.1:9999 ".into()))
                .unwrap()
                .port(),
            9999
        );
        assert_eq!(
            resolve_listen(None, None).unwrap().to_string(),
            DEFAULT_LISTEN
        );
        assert_eq!(
            resolve_listen(None, Some(String::new()))
                .unwrap()
                .to_string(),
            DEFAULT_LISTEN
        );
        let e = resolve_listen(None, Some("localhost".into())).unwrap_err();
        assert!(
            e.to_string().contains("TAILWATCH_LISTEN=\"localhost\""),
            "{e}"
        );
    }
}
