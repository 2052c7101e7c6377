//! The example service: three routes with different latency and error
//! shapes, wrapped in the middleware.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use tailwatch::http::client::HttpClientMetrics;
use tailwatch::saturation::{Cache, Queue, Resource};
use tailwatch::{HttpClientMetricsLayer, HttpMetricsLayer, Monitor};
use tokio::sync::{Semaphore, mpsc};
use tower::{ServiceBuilder, ServiceExt};

use super::{random, traces};

/// Connections of the demo's "db" pool.
const DB_CONNECTIONS: usize = 8;
/// Receipts the email queue holds at most; a checkout past it sends none.
const EMAIL_QUEUE: usize = 10_000;

/// The client of the "payments" service: hyper-util's, measured as an
/// outbound dependency.
type PaymentsClient = HttpClientMetrics<Client<HttpConnector, Full<Bytes>>>;

/// What the handlers share.
#[derive(Clone)]
struct App {
    monitor: Monitor,
    /// The "payments" service's charge endpoint, and its client.
    payments_url: Arc<str>,
    payments: PaymentsClient,
    /// The "db" connection pool: a semaphore, wrapped as a resource so its
    /// use, capacity and acquire waits are measured.
    connections: Arc<Semaphore>,
    pool: Resource,
    /// A user cache in front of nothing (hits 90 %), counted.
    users: Cache,
    /// Receipts to email after a checkout, and the queue's depth.
    emails: mpsc::Sender<()>,
    email_queue: Queue,
    /// The fault switch: routes made to fail (`PUT /admin/fault/{route}`).
    faults: Faults,
}

/// The routes the fault switch can fail: every request answers 500 while
/// on. `PUT /admin/fault/users` turns it on for `GET /users/{id}`,
/// `DELETE` off (also `orders`, `checkout`); `GET /admin/fault` lists
/// them. The admin routes are not measured.
#[derive(Clone, Default)]
pub(super) struct Faults {
    on: Arc<[std::sync::atomic::AtomicBool; 3]>,
}

impl Faults {
    const ROUTES: [&'static str; 3] = ["users", "orders", "checkout"];

    fn slot(&self, route: &str) -> Option<&std::sync::atomic::AtomicBool> {
        Self::ROUTES
            .iter()
            .position(|r| *r == route)
            .map(|i| &self.on[i])
    }

    fn failing(&self, route: &str) -> bool {
        self.slot(route)
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }
}

async fn fault_on(State(app): State<App>, Path(route): Path<String>) -> (StatusCode, String) {
    set_fault(&app.faults, &route, true)
}

async fn fault_off(State(app): State<App>, Path(route): Path<String>) -> (StatusCode, String) {
    set_fault(&app.faults, &route, false)
}

fn set_fault(faults: &Faults, route: &str, on: bool) -> (StatusCode, String) {
    match faults.slot(route) {
        Some(f) => {
            f.store(on, std::sync::atomic::Ordering::Relaxed);
            let state = if on { "failing" } else { "healthy" };
            (StatusCode::OK, format!("{route}: {state}\n"))
        }
        None => (
            StatusCode::NOT_FOUND,
            format!(
                "no route {route:?} to fail: one of {}\n",
                Faults::ROUTES.join(", ")
            ),
        ),
    }
}

async fn faults_list(State(app): State<App>) -> String {
    Faults::ROUTES
        .iter()
        .map(|r| {
            let state = if app.faults.failing(r) {
                "failing"
            } else {
                "healthy"
            };
            format!("{r}: {state}\n")
        })
        .collect()
}

/// Answers 500 while the fault switch is on for the request's route.
async fn injected_faults(
    State(faults): State<Faults>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let route = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if faults.failing(route) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "fault injected\n").into_response();
    }
    next.run(request).await
}

/// The app, measured by `monitor`; checkouts charge through the
/// "payments" service at `payments` (see [`payments`]).
pub(super) fn router(monitor: &Monitor, payments: SocketAddr, faults: Faults) -> Router {
    let pool = monitor.resource("db");
    pool.set_capacity(DB_CONNECTIONS as i64);
    let email_queue = monitor.queue("emails");
    let (emails, outbox) = mpsc::channel(EMAIL_QUEUE);
    tokio::spawn(send_emails(outbox, email_queue.clone()));
    let client = Client::builder(TokioExecutor::new()).build_http();
    let state = App {
        monitor: monitor.clone(),
        payments_url: format!("http://{payments}/v1/charges").into(),
        payments: ServiceBuilder::new()
            .layer(HttpClientMetricsLayer::new(monitor))
            .service(client),
        connections: Arc::new(Semaphore::new(DB_CONNECTIONS)),
        pool,
        users: monitor.cache("users"),
        emails,
        email_queue,
        faults: faults.clone(),
    };
    Router::new()
        .route("/", get(index))
        .route("/users/{id}", get(user))
        .route("/orders/{id}", get(order))
        .route("/checkout", post(checkout))
        .route("/admin/fault", get(faults_list))
        .route(
            "/admin/fault/{route}",
            axum::routing::put(fault_on).delete(fault_off),
        )
        .with_state(state)
        // Inside the metrics layer: an injected failure is measured as
        // the route's own.
        .layer(axum::middleware::from_fn_with_state(
            faults,
            injected_faults,
        ))
        .layer(
            HttpMetricsLayer::new(monitor)
                .server_timing()
                .exclude("/admin/fault")
                .exclude("/admin/fault/{route}"),
        )
        // Outside the metrics layer: its span is current when the layer
        // starts measuring, so each request's trace is its exemplar.
        .layer(axum::middleware::from_fn(traces::per_request))
}

async fn index() -> &'static str {
    "tailwatch demo app: GET /users/{id} (fast), GET /orders/{id} (a slow \"db\" call), \
     POST /checkout (charges through a \"payments\" service that refuses 5 %)\n\
     Fault switch: PUT /admin/fault/users (or orders, checkout) fails every request of that \
     route with a 500, DELETE stops it, GET /admin/fault lists them\n"
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

/// The "payments" service, on its own loopback port: a charge takes ~2 ms
/// and is refused (503) 5 % of the time. Returns its address.
pub(super) async fn payments() -> std::io::Result<SocketAddr> {
    async fn charge_card() -> StatusCode {
        let ms = random::lognormal(2.0, 0.4);
        tokio::time::sleep(Duration::from_secs_f64(ms / 1e3)).await;
        if random::unit() < 0.05 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::CREATED
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = Router::new().route("/v1/charges", post(charge_card));
    tokio::spawn(async move { axum::serve(listener, service).await });
    Ok(addr)
}

/// The payment step of a checkout: a call to the "payments" service
/// through the measured client (`http_client_request_duration_seconds`),
/// and itself operation `checkout.charge` by the attribute (into the
/// global monitor, which the demo serves).
#[tailwatch::measure("checkout.charge")]
async fn charge(app: &App) -> Result<(), &'static str> {
    let request = Request::post(&*app.payments_url)
        .body(Full::new(Bytes::new()))
        .map_err(|_| "bad request")?;
    let response = app
        .payments
        .clone()
        .oneshot(request)
        .await
        .map_err(|_| "payments unreachable")?;
    if !response.status().is_success() {
        return Err("card declined");
    }
    Ok(())
}

/// The receipt of a checkout, rendered (CPU only, a few µs), measured as
/// operation `checkout.receipt`.
#[tailwatch::measure("checkout.receipt")]
fn receipt(items: u32) -> String {
    (1..=items).map(|i| format!("item {i}: 1.00\n")).collect()
}

/// Flaky: ~2 ms, 5 % answered 500; a success queues a receipt email.
async fn checkout(State(app): State<App>) -> StatusCode {
    if charge(&app).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let _ = receipt(3);
    // Counted before the send, so the worker never pops an uncounted one.
    app.email_queue.push();
    if app.emails.try_send(()).is_err() {
        app.email_queue.pop();
    }
    StatusCode::CREATED
}

/// The email worker: takes up to 32 receipts at a time, ~3 ms per batch,
/// so the queue's depth shows the checkouts of the last few milliseconds.
async fn send_emails(mut outbox: mpsc::Receiver<()>, queue: Queue) {
    let mut batch = Vec::with_capacity(32);
    while outbox.recv_many(&mut batch, 32).await > 0 {
        tokio::time::sleep(Duration::from_secs_f64(random::lognormal(3.0, 0.3) / 1e3)).await;
        for _ in batch.drain(..) {
            queue.pop();
        }
    }
}
