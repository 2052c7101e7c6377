//! [`AgentBuilder`]: the agent's settings (address, buckets, health
//! checks), and starting it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::error::AgentError;
use super::handle::{Agent, Running};
use super::health::{Check, CheckFuture, SyncCheck};
use super::limits::ServerLimits;
use super::routes::{self, AgentState};
use super::server;
use crate::export::Buckets;
use crate::measure::Monitor;

/// The default address of the agent.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// The environment variable that overrides the default address.
pub const LISTEN_ENV: &str = "TAILWATCH_LISTEN";

/// How long an async check may take before it counts as failed, unless
/// set with [`AgentBuilder::health_check_timeout`].
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a `/health` result is given again to callers who have not
/// authenticated, by default; set with
/// [`AgentBuilder::health_check_cache`].
pub const HEALTH_CHECK_CACHE: Duration = Duration::from_secs(1);

/// Settings of the agent; start it with [`start`](Self::start).
#[must_use = "the agent does nothing until started"]
pub struct AgentBuilder {
    monitor: Monitor,
    listen: Option<SocketAddr>,
    buckets: Buckets,
    checks: Vec<(String, Check)>,
    check_timeout: Duration,
    check_cache: Duration,
    limits: ServerLimits,
    process_metrics: bool,
    tokio_metrics: bool,
    own_thread: bool,
    #[cfg(feature = "tls")]
    web_config: Option<super::web_config::WebConfig>,
}

impl std::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("listen", &self.listen)
            .field("limits", &self.limits)
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl AgentBuilder {
    /// An agent for `monitor`, to configure and [`start`](Self::start).
    pub fn new(monitor: &Monitor) -> Self {
        Self {
            monitor: monitor.clone(),
            listen: None,
            buckets: Buckets::default(),
            checks: Vec::new(),
            check_timeout: HEALTH_CHECK_TIMEOUT,
            check_cache: HEALTH_CHECK_CACHE,
            limits: ServerLimits::default(),
            own_thread: false,
            process_metrics: true,
            tokio_metrics: true,
            #[cfg(feature = "tls")]
            web_config: None,
        }
    }

    /// Listens on `text`, as [`parse_listen`] reads it (`localhost:9464`,
    /// `:9464`, `9464`, `0.0.0.0:9464`, …).
    ///
    /// # Errors
    /// [`AgentError::InvalidAddress`] when it is not such an address.
    pub fn listen_on(self, text: &str) -> Result<Self, AgentError> {
        Ok(self.listen(parse_listen(text)?))
    }

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
    /// It runs on every `GET /health`, on tokio's blocking pool (never on
    /// an async worker: a check that blocks stalls neither the agent nor
    /// the application); one that panics or takes longer than the
    /// [timeout](Self::health_check_timeout) counts as failed.
    pub fn health_check(
        mut self,
        name: &str,
        check: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.checks.push((
            name.to_owned(),
            Check::Sync(Arc::new(SyncCheck::new(check))),
        ));
        self
    }

    /// Adds an async health check (a database ping, a downstream call).
    /// It runs on every `GET /health`, concurrently with the other async
    /// checks; one that panics or takes longer than the
    /// [timeout](Self::health_check_timeout) counts as failed.
    ///
    /// ```no_run
    /// # async fn ping() -> Result<(), std::io::Error> { Ok(()) }
    /// # async fn run() -> Result<(), tailwatch::agent::AgentError> {
    /// let monitor = tailwatch::Monitor::new();
    /// let agent = tailwatch::AgentBuilder::new(&monitor)
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

    /// How long a health check, closure or async, may take
    /// ([`HEALTH_CHECK_TIMEOUT`] by default) before it counts as failed.
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// How long a `/health` result is given again to callers who have not
    /// authenticated (everyone, when the agent has no users): 1 s by
    /// default, [`Duration::ZERO`] for a run per request. Requests that
    /// arrive while a run is going share it whatever this is, so a flood
    /// of probes runs the checks once per this time, not once per request;
    /// authenticated callers always get a run that ended after they asked.
    pub fn health_check_cache(mut self, cache: Duration) -> Self {
        self.check_cache = cache;
        self
    }

    /// How long a client may take to send a request's headers (10 s by
    /// default); a slower one is disconnected. See [`ServerLimits`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// How long a connection may move no byte either way in the middle of
    /// a request (a client that stops reading its answer, or stops sending
    /// its request) before it is closed (60 s by default).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How many connections may be open at once (256 by default); past
    /// it, new connections are closed as soon as accepted.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max;
        self
    }

    /// How many connections one peer address may have open at once (32 by
    /// default); past it, its new connections are closed as soon as
    /// accepted (`reason="peer_limit"`), so one client holding connections
    /// cannot take the slots Prometheus needs. Behind a proxy every client
    /// has the proxy's address: raise it there.
    pub fn max_connections_per_peer(mut self, max: usize) -> Self {
        self.limits.max_connections_per_peer = max;
        self
    }

    /// How many basic-auth credential checks (bcrypt) one peer address may
    /// have waiting or running (4 by default); past it, its requests with
    /// credentials not yet verified are answered 429 at once
    /// (`tailwatch_agent_auth_busy_total`), so that a password guesser
    /// queues only behind itself. Verified credentials never wait.
    pub fn auth_checks_per_peer(mut self, max: usize) -> Self {
        self.limits.auth_checks_per_peer = max;
        self
    }

    /// How many credential checks may wait or run in all (256 by default);
    /// past it, 503 at once. Two run at a time, peers taking turns.
    pub fn auth_checks(mut self, max: usize) -> Self {
        self.limits.auth_checks = max;
        self
    }

    /// How many `/metrics` and `/stats` answers may be rendered or sent at
    /// once (16 by default); past it they are answered 503 with
    /// `Retry-After: 1` at once and counted in
    /// `tailwatch_agent_scrapes_refused_total`. An answer counts until its
    /// last byte is handed to the connection, so clients that ask and never
    /// read hold at most this many scrapes in memory (and share one when
    /// they ask at the same time).
    pub fn max_scrapes(mut self, max: usize) -> Self {
        self.limits.max_scrapes = max;
        self
    }

    /// How many bytes a request's line and headers may take (16 KiB by
    /// default, at least [`MIN_HEADER_BYTES`](crate::agent::MIN_HEADER_BYTES));
    /// a larger head is answered 431 and its connection closed.
    pub fn max_header_bytes(mut self, max: usize) -> Self {
        self.limits.max_header_bytes = max;
        self
    }

    /// How long [`Agent::stop`] waits for the requests in progress before
    /// it closes their connections (5 s by default).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.limits.shutdown_timeout = timeout;
        self
    }

    /// Whether [`start`](Self::start) also samples the process figures
    /// Serves from a thread of its own (with its own single-threaded tokio
    /// runtime) instead of the application's runtime; off by default.
    ///
    /// On the application's runtime the agent shares its workers: a
    /// handler that blocks a worker (a synchronous database call, a long
    /// computation) delays scrapes as it delays every other task there,
    /// and the scrape shows the stall only late, if at all. On its own
    /// thread, scrapes are answered whatever the application's workers do
    /// (rendering and gzip still run on a blocking pool, the agent
    /// runtime's own). The cost: one more thread, idle between requests,
    /// and async health checks run on the agent's runtime (they may still
    /// use the application's clients: tokio's I/O is driven by the runtime
    /// that made it). Process and tokio figures are the application's
    /// either way.
    pub fn own_thread(mut self, on: bool) -> Self {
        self.own_thread = on;
        self
    }

    /// ([`Monitor::sample_process`]: CPU, memory, file descriptors,
    /// threads; Linux). On by default, so the dashboard's process row and
    /// the CPU, memory and fd alerts have data; `false` to opt out.
    pub fn process_metrics(mut self, on: bool) -> Self {
        self.process_metrics = on;
        self
    }

    /// Whether [`start`](Self::start) also samples the tokio runtime it is
    /// called on, as `runtime="main"` ([`Monitor::sample_tokio`]). On by
    /// default, unless the monitor already samples a runtime (registered
    /// by name with `tokio_metrics`); `false` to opt out.
    pub fn tokio_metrics(mut self, on: bool) -> Self {
        self.tokio_metrics = on;
        self
    }

    /// TLS and basic auth from a [`WebConfig`](crate::agent::WebConfig) (a
    /// Prometheus exporter web-config file).
    #[cfg(feature = "tls")]
    pub fn web_config(mut self, config: super::web_config::WebConfig) -> Self {
        self.web_config = Some(config);
        self
    }

    /// TLS and basic auth from the web-config file at `path` (the format of
    /// node_exporter's `--web.config.file`; see [`WebConfig`](crate::agent::WebConfig)).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tailwatch::agent::AgentError> {
    /// let monitor = tailwatch::Monitor::new();
    /// let _agent = tailwatch::AgentBuilder::new(&monitor)
    ///     .web_config_file("/etc/tailwatch/web.yml")?
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`AgentError::WebConfig`] naming the file and what is wrong with it.
    #[cfg(feature = "tls")]
    pub fn web_config_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, AgentError> {
        Ok(self.web_config(super::web_config::WebConfig::from_file(path)?))
    }

    /// The server limits set so far.
    pub fn limits(&self) -> ServerLimits {
        self.limits
    }

    fn address(&self) -> Result<SocketAddr, AgentError> {
        resolve_listen(self.listen, std::env::var(LISTEN_ENV).ok())
    }

    /// The agent's routes, to serve yourself (e.g. merged into your app).
    /// The server limits and TLS are not part of them: they are the
    /// server's, and apply only to [`start`](Self::start).
    pub fn router(self) -> Router {
        self.into_parts().0
    }

    fn into_parts(self) -> (Router, ServerLimits, Monitor) {
        let monitor = self.monitor.clone();
        let limits = self.limits;
        #[cfg(feature = "tls")]
        let web = self.web_config;
        let registry = monitor.registry();
        registry.describe(
            super::scrape::SCRAPES_REFUSED,
            "Scrapes of the tailwatch agent answered 503 because max_scrapes were in progress.",
        );
        let refused = registry
            .counter(super::scrape::SCRAPES_REFUSED, &[])
            .unwrap_or_default();
        let router = routes::router(AgentState {
            monitor: self.monitor,
            buckets: self.buckets,
            health: super::health::Health::new(self.checks, self.check_timeout, self.check_cache),
            scrapes: super::scrape::Scrapes::new(limits.max_scrapes, refused),
        });
        #[cfg(feature = "tls")]
        let router = match web {
            Some(w) if !w.users.is_empty() || !w.headers.is_empty() => {
                let metrics = super::auth::AuthMetrics::new(&monitor);
                let auth = super::auth::BasicAuth::new(w.users, w.headers, metrics, &limits);
                router.layer(axum::middleware::from_fn_with_state(
                    auth,
                    super::auth::middleware,
                ))
            }
            _ => router,
        };
        (router, limits, monitor)
    }

    /// Binds the address and serves in the background (needs a tokio
    /// runtime), within the [server limits](ServerLimits).
    ///
    /// # Errors
    /// [`AgentError`] when the address is invalid or cannot be bound, or a
    /// limit cannot be used.
    pub async fn start(self) -> Result<Agent, AgentError> {
        self.limits.check()?;
        let addr = self.address()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| AgentError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| AgentError::Bind { addr, source })?;
        if self.process_metrics {
            // Not Linux, or the `process` feature off: nothing to sample,
            // and the agent serves the rest.
            let _ = self.monitor.sample_process();
        }
        if self.tokio_metrics && !self.monitor.samples_a_runtime() {
            self.monitor
                .sample_tokio("main", &tokio::runtime::Handle::current());
        }
        #[cfg(feature = "tls")]
        let tls = self.web_config.as_ref().and_then(|w| w.tls.clone());
        let warnings = self.warnings(local);
        for w in &warnings {
            tracing::warn!(target: "tailwatch::agent", "{w}");
        }
        let own_thread = self.own_thread;
        let (router, limits, monitor) = self.into_parts();
        let shared = server::Shared {
            router,
            limits,
            metrics: server::ConnectionMetrics::new(&monitor),
            #[cfg(feature = "tls")]
            tls,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = if own_thread {
            own_runtime(listener, shared, stopped)?
        } else {
            Running::Task(tokio::spawn(server::serve(listener, shared, stopped)))
        };
        Ok(Agent {
            addr: local,
            stop,
            task: Some(task),
            warnings,
        })
    }

    /// What these settings leave open, for [`Agent::warnings`].
    fn warnings(&self, local: SocketAddr) -> Vec<String> {
        let mut out = Vec::new();
        #[cfg(feature = "tls")]
        let (users, tls, certs) = self.web_config.as_ref().map_or((false, false, false), |w| {
            (
                !w.users.is_empty(),
                w.tls.is_some(),
                w.client_certs_required,
            )
        });
        #[cfg(not(feature = "tls"))]
        let (users, tls, certs) = (false, false, false);
        if !local.ip().is_loopback() && !users && !certs {
            out.push(format!(
                "the tailwatch agent listens on {local}, beyond loopback, without basic auth or \
                 client certificates: anyone who can reach the port can read the metrics, /stats \
                 and /health's details; set basic_auth_users in a web-config file, or listen on \
                 127.0.0.1"
            ));
        } else if tls && !users && !certs {
            out.push(
                "the web-config has no basic_auth_users and does not require client \
                 certificates: TLS hides the metrics on the wire, but every client may read them"
                    .to_owned(),
            );
        }
        out
    }
}

/// Serves on a thread of its own with a single-threaded runtime.
fn own_runtime(
    listener: tokio::net::TcpListener,
    shared: server::Shared,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<Running, AgentError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("tailwatch-agent-blocking")
        .build()
        .map_err(AgentError::Thread)?;
    // Handed over as a std listener: a tokio one belongs to the runtime
    // that made it.
    let listener = listener.into_std().map_err(AgentError::Thread)?;
    let (done, finished) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tailwatch-agent".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    server::serve(listener, shared, stopped).await;
                }
            });
            let _ = done.send(());
        })
        .map_err(AgentError::Thread)?;
    Ok(Running::Thread(finished))
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
            parse_listen(&v).map_err(|_| AgentError::InvalidListen(v))
        }
        _ => Ok(SocketAddr::from(([127, 0, 0, 1], 9464))),
    }
}

/// A listen address as people write it: `127.0.0.1:9464`, `[::1]:9464`,
/// `0.0.0.0:9464`, a host name (`localhost:9464`, resolved now, IPv4
/// first), or only a port (`:9464`, `9464`), which means loopback
/// (`127.0.0.1`): metrics are not public unless an address says so.
///
/// ```
/// use tailwatch::agent::parse_listen;
/// assert_eq!(parse_listen("9464")?.to_string(), "127.0.0.1:9464");
/// assert_eq!(parse_listen(":9464")?.to_string(), "127.0.0.1:9464");
/// assert_eq!(parse_listen("localhost:9464")?.port(), 9464);
/// assert!(parse_listen("localhost").is_err());
/// # Ok::<(), tailwatch::agent::AgentError>(())
/// ```
///
/// # Errors
/// [`AgentError::InvalidAddress`] when it is none of these (no port, a
/// port out of range, a name that does not resolve).
pub fn parse_listen(text: &str) -> Result<SocketAddr, AgentError> {
    use std::net::ToSocketAddrs;
    let t = text.trim();
    let invalid = || AgentError::InvalidAddress(text.to_owned());
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port_only = t.strip_prefix(':').unwrap_or(t);
    if !port_only.is_empty() && port_only.bytes().all(|b| b.is_ascii_digit()) {
        let port: u16 = port_only.parse().map_err(|_| invalid())?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let (host, port) = t.rsplit_once(':').ok_or_else(invalid)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(invalid());
    }
    let found: Vec<SocketAddr> = t.to_socket_addrs().map_err(|_| invalid())?.collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| found.first())
        .copied()
        .ok_or_else(invalid)
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
        // Host names and bare ports, as people write them.
        for (text, want) in [
            ("9464", "127.0.0.1:9464"),
            (":9464", "127.0.0.1:9464"),
            (" 0.0.0.0:1 ", "0.0.0.0:1"),
            ("[::1]:9464", "[::1]:9464"),
        ] {
            assert_eq!(parse_listen(text).unwrap().to_string(), want, "{text}");
        }
        let local = resolve_listen(None, Some("localhost:9464".into())).unwrap();
        assert!(local.ip().is_loopback() && local.port() == 9464, "{local}");
        for bad in [
            "localhost",
            "99999",
            ":x",
            "host:",
            ":",
            "no.such.host.invalid:80",
        ] {
            let e = parse_listen(bad).unwrap_err();
            assert!(
                e.to_string().contains("is not a listen address"),
                "{bad}: {e}"
            );
        }
    }
}
