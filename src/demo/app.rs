//! The example service: three routes with different latency and error
//! shapes, wrapped in the middleware.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tailwatch::{Cache, HttpMetricsLayer, Monitor, Resource};
use tokio::sync::Semaphore;

use super::random;

/// Connections of the demo's "db" pool.
const DB_CONNECTIONS: usize = 8;

/// What the handlers share.
#[derive(Clone)]
struct App {
    monitor: Monitor,
    /// The "db" connection pool: a semaphore, wrapped as a resource so its
    /// use, capacity and acquire waits are measured.
    connections: Arc<Semaphore>,
    pool: Resource,
    /// A user cache in front of nothing (hits 90 %), counted.
    users: Cache,
}

/// The app, measured by `monitor`.
pub(super) fn router(monitor: &Monitor) -> Router {
    let pool = monitor.resource("db");
    pool.set_capacity(DB_CONNECTIONS as i64);
    let state = App {
        monitor: monitor.clone(),
        connections: Arc::new(Semaphore::new(DB_CONNECTIONS)),
        pool,
        users: monitor.cache("users"),
    };
    Router::new()
        .route("/", get(index))
        .route("/users/{id}", get(user))
        .route("/orders/{id}", get(order))
        .route("/checkout", post(checkout))
        .with_state(state)
        .layer(HttpMetricsLayer::new(monitor))
}

async fn index() -> &'static str {
    "tailwatch demo app: GET /users/{id} (fast), GET /orders/{id} (a slow \"db\" call), \
     POST /checkout (fails 5 % of the time)\n"
}

/// Fast: no I/O, a cache that hits 90 % of the time.
async fn user(State(app): State<App>, Path(id): Path<u64>) -> String {
    app.users.lookup(random::unit() < 0.9);
    format!("{{\"id\":{id},\"name\":\"user-{id}\"}}\n")
}

/// A database call the app cannot do without.
#[derive(Debug)]
struct DbError;

/// A query with a long tail: ~4 ms median, 1 % ten times slower, 0.5 % failing.
async fn query(id: u64) -> Result<String, DbError> {
    let mut ms = random::lognormal(4.0, 0.5);
    if random::unit() < 0.01 {
        ms *= 10.0;
    }
    tokio::time::sleep(Duration::from_secs_f64(ms / 1e3)).await;
    if random::unit() < 0.005 {
        return Err(DbError);
    }
    Ok(format!("{{\"order\":{id},\"items\":3}}\n"))
}

/// Slow: takes one of the pool's connections (waiting when all 8 are
/// busy), then the "db" call, measured as operation `db.query`.
async fn order(State(app): State<App>, Path(id): Path<u64>) -> Result<String, StatusCode> {
    let _connection = app
        .pool
        .acquire(app.connections.clone().acquire_owned())
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    app.monitor
        .measure("db.query", query(id))
        .await
        .map_err(|DbError| StatusCode::SERVICE_UNAVAILABLE)
}

/// Flaky: ~2 ms, 5 % answered 500.
async fn checkout() -> StatusCode {
    let ms = random::lognormal(2.0, 0.4);
    tokio::time::sleep(Duration::from_secs_f64(ms / 1e3)).await;
    if random::unit() < 0.05 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::CREATED
    }
}
