//! The agent's routes: `/metrics`, `/stats`, `/health`, and a 404 that
//! says what is served.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::health::{Anonymous, Authenticated, Health, report};
use super::scrape::{Kind, Scrapes, accepts_gzip};
use crate::engine::stats::Stats;
use crate::export::{self, Buckets, Format};
use crate::measure::Monitor;

pub(super) struct AgentState {
    pub(super) monitor: Monitor,
    pub(super) buckets: Buckets,
    pub(super) health: Health,
    pub(super) scrapes: Scrapes,
}

/// The agent's routes over `state`.
pub(super) fn router(state: AgentState) -> Router {
    let state = Arc::new(state);
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

/// `/metrics`, in the format the client asked for, gzipped when it
/// accepts gzip (Prometheus does: a text scrape shrinks ~10×).
async fn metrics(State(state): State<Arc<AgentState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let gzip = accepts_gzip(&headers);
    let render = {
        let state = state.clone();
        move || export::encode(&state.monitor, &state.buckets, format)
    };
    state
        .scrapes
        .answer(Kind::Metrics(format, gzip), format.content_type(), render)
        .await
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
    series: Vec<Stats>,
    gauges: Vec<GaugeValue>,
    resources: Vec<crate::saturation::ResourceStats>,
    queues: Vec<crate::saturation::QueueStats>,
    caches: Vec<crate::saturation::CacheStats>,
}

async fn stats(State(state): State<Arc<AgentState>>) -> Response {
    let render = {
        let state = state.clone();
        move || stats_body(&state.monitor)
    };
    state
        .scrapes
        .answer(Kind::Stats, "application/json", render)
        .await
}

/// The `/stats` JSON.
fn stats_body(m: &Monitor) -> Vec<u8> {
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
            name: crate::measure::OPERATION_ACTIVE.to_owned(),
            labels: [("operation".to_owned(), op)].into(),
            value: active as f64,
        });
    }
    #[cfg(feature = "metrics")]
    for g in m.facade().map(|f| f.gauges()).unwrap_or_default() {
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
    // Plain data: encoding cannot fail; should it, the JSON says so.
    serde_json::to_vec(&body).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot encode stats: {e}") })
            .to_string()
            .into_bytes()
    })
}

async fn health(
    State(state): State<Arc<AgentState>>,
    anonymous: Option<axum::Extension<Anonymous>>,
    authenticated: Option<axum::Extension<Authenticated>>,
) -> Response {
    report(
        &state.health,
        &state.monitor,
        anonymous.is_some(),
        authenticated.is_none(),
    )
    .await
}
