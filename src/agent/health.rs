//! Health checks: registered closures and async functions (closures on
//! the blocking pool); panics and timeouts are failures, whichever kind.
//!
//! A `GET /health` never starts a run while one is going: requests that
//! arrive during a run share its result. A caller who has not
//! authenticated (anyone, when the agent has no users) may also get the
//! result of a run that ended less than the
//! [cache time](crate::AgentBuilder::health_check_cache) ago, so a flood of
//! probes costs one run of the checks (one database ping) per cache time,
//! not one per request. Authenticated callers always get a run that ended
//! after they asked.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use crate::engine::lock::Mutex;

/// Marks a request from a client that has not authenticated while basic
/// auth is on: `/health` then gives its status only, no check names or
/// reasons (they can say what the service depends on and how it fails).
#[derive(Debug, Clone, Copy)]
pub(super) struct Anonymous;

/// Marks a request with valid credentials: `/health` then always runs the
/// checks (or shares a run going), never gives a cached result.
#[derive(Debug, Clone, Copy)]
pub(super) struct Authenticated;

pub(super) type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A registered health check.
#[derive(Clone)]
pub(super) enum Check {
    Sync(Arc<SyncCheck>),
    Async(Arc<dyn Fn() -> CheckFuture + Send + Sync>),
}

/// A closure check, and whether a run of it is still going.
pub(super) struct SyncCheck {
    check: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    running: AtomicBool,
}

impl SyncCheck {
    pub(super) fn new(check: impl Fn() -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self {
            check: Box::new(check),
            running: AtomicBool::new(false),
        }
    }
}

/// Runs one check to its result; panics and timeouts are failures.
///
/// A closure runs on tokio's blocking pool, never on an async worker, so a
/// check that blocks (a database ping without a timeout) cannot stall the
/// agent or the application; past the timeout it fails. While a run is
/// still going, later requests do not start another one (a hung check
/// holds one blocking thread, not one per `/health`): they fail at once,
/// saying so.
async fn run_check(check: Check, timeout: Duration) -> Result<(), String> {
    match check {
        Check::Sync(c) => {
            if c.running.swap(true, Ordering::AcqRel) {
                return Err(format!(
                    "the check took longer than {timeout:?} and is still running"
                ));
            }
            let waiting = c.clone();
            let task = tokio::task::spawn_blocking(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (c.check)()))
                    .unwrap_or_else(|_| Err("the check panicked".to_owned()));
                c.running.store(false, Ordering::Release);
                result
            });
            match tokio::time::timeout(timeout, task).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => {
                    waiting.running.store(false, Ordering::Release);
                    Err("the check panicked".to_owned())
                }
                Err(_) => Err(format!("the check took longer than {timeout:?}")),
            }
        }
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

/// One run of every check: whether all passed, and each one's state.
struct Ran {
    healthy: bool,
    states: serde_json::Map<String, serde_json::Value>,
    ended: std::time::Instant,
}

/// The registered checks and their runs: the one going (shared by the
/// requests that arrive meanwhile) and the last that ended.
pub(super) struct Health {
    checks: Arc<[(String, Check)]>,
    timeout: Duration,
    cache: Duration,
    running: Mutex<Option<Arc<OnceCell<Arc<Ran>>>>>,
    last: Mutex<Option<Arc<Ran>>>,
}

impl Health {
    pub(super) fn new(checks: Vec<(String, Check)>, timeout: Duration, cache: Duration) -> Self {
        Self {
            checks: checks.into(),
            timeout,
            cache,
            running: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    /// A run for a caller: the last one if it is recent enough and the
    /// caller may have it (`cached`), else the one going, else a new one.
    async fn result(&self, cached: bool) -> Arc<Ran> {
        if cached {
            if let Some(last) = self.last.lock().as_ref() {
                if last.ended.elapsed() < self.cache {
                    return last.clone();
                }
            }
        }
        let cell = self.running.lock().get_or_insert_with(Arc::default).clone();
        let checks = self.checks.clone();
        let timeout = self.timeout;
        let ran = cell
            .get_or_init(|| async move {
                // Its own task: a run finishes (and is remembered) even if
                // every caller waiting for it goes away.
                tokio::spawn(async move { Arc::new(run_all(&checks, timeout).await) })
                    .await
                    .unwrap_or_else(|_| {
                        Arc::new(Ran {
                            healthy: false,
                            states: serde_json::Map::new(),
                            ended: std::time::Instant::now(),
                        })
                    })
            })
            .await
            .clone();
        {
            // The next request starts a new run.
            let mut running = self.running.lock();
            if running.as_ref().is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                *running = None;
            }
        }
        let mut last = self.last.lock();
        if last.as_ref().is_none_or(|l| l.ended < ran.ended) {
            *last = Some(ran.clone());
        }
        ran
    }
}

/// Runs every check at once (`/health` takes as long as the slowest, not
/// the sum).
async fn run_all(checks: &[(String, Check)], timeout: Duration) -> Ran {
    let running: Vec<_> = checks
        .iter()
        .map(|(_, check)| tokio::spawn(run_check(check.clone(), timeout)))
        .collect();
    let mut states = serde_json::Map::new();
    let mut healthy = true;
    for ((name, _), task) in checks.iter().zip(running) {
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
        states.insert(name.clone(), value);
    }
    Ran {
        healthy,
        states,
        ended: std::time::Instant::now(),
    }
}

/// Answers `/health`: 200 when all checks pass, 503 naming those that
/// failed (unless `anonymous`); a recent result will do when `cached`.
pub(super) async fn report(
    health: &Health,
    monitor: &crate::measure::Monitor,
    anonymous: bool,
    cached: bool,
) -> Response {
    let ran = health.result(cached).await;
    let healthy = ran.healthy;
    let states = ran.states.clone();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status_text = if healthy { "ok" } else { "failing" };
    let body = if anonymous {
        serde_json::json!({ "status": status_text })
    } else {
        // Samplers past their deadline: their gauges are stale. Detail,
        // not health: the application may be fine.
        let stalled: Vec<_> = monitor
            .samplers_stalled()
            .into_iter()
            .map(|(name, took)| {
                serde_json::json!({
                    "sampler": name,
                    "running_seconds": took.as_secs_f64(),
                    "reason": format!("has not returned for {took:.1?}; its values are stale"),
                })
            })
            .collect();
        serde_json::json!({
            "status": status_text,
            "checks": states,
            "samplers_stalled": stalled,
        })
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
