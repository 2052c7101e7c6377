//! The README's example: an axum app measured by tailwatch, and the agent.
//!
//! Run with: `cargo run --example axum_app`, then
//! `curl localhost:8080/users/7` and `curl localhost:9464/stats`.

use axum::{Router, routing::get};
use tailwatch::{AgentBuilder, HttpMetricsLayer, Monitor, measure};

#[measure("db.get_user")] // into Monitor::global(), like the layer below
async fn get_user(id: u64) -> Result<String, std::io::Error> {
    Ok(format!("user {id}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let monitor = Monitor::global(); // one monitor: the attribute, the layer, the agent
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|| async { get_user(7).await.unwrap_or_default() }),
        )
        .layer(HttpMetricsLayer::new(monitor)); // RED metrics per route template
    let _agent = AgentBuilder::new(monitor).start().await?; // /metrics /stats /health on :9464
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
