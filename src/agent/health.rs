//! Health checks: registered closures and async functions, run on every
//! `GET /health`; panics and timeouts are failures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(super) type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A registered health check.
#[derive(Clone)]
pub(super) enum Check {
    Sync(Arc<dyn Fn() -> Result<(), String> + Send + Sync>),
    Async(Arc<dyn Fn() -> CheckFuture + Send + Sync>),
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

/// Runs every check at once and answers `/health`: 200 when all pass,
/// 503 naming those that failed.
pub(super) async fn report(checks: &[(String, Check)], timeout: Duration) -> Response {
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
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "failing" },
        "checks": states,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
