//! Health checks: registered closures and async functions, run on every
//! `GET /health` (closures on the blocking pool); panics and timeouts are
//! failures, whichever kind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Marks a request from a client that has not authenticated while basic
/// auth is on: `/health` then gives its status only, no check names or
/// reasons (they can say what the service depends on and how it fails).
#[derive(Debug, Clone, Copy)]
pub(super) struct Anonymous;

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

/// Runs every check at once and answers `/health`: 200 when all pass,
/// 503 naming those that failed.
pub(super) async fn report(
    checks: &[(String, Check)],
    timeout: Duration,
    monitor: &crate::measure::Monitor,
    anonymous: bool,
) -> Response {
    // All checks at once: /health takes as long as the slowest, not the sum.
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
