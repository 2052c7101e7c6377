//! A small axum server for load tests: the same route bare, with
//! tailwatch's layer, or with axum-prometheus's.
//!
//! Run with: `cargo run --release --example http_target -- tailwatch 127.0.0.1:3001`
//! (variants: `bare`, `tailwatch`, `axum-prometheus`). Used by
//! `scripts/wrk_compare.sh`.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "bare".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3001".into());
    // One worker: the load generator gets the other core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // `/users/{id}` answers 500 for a quarter of the ids (the mixed
        // workload of `scripts/wrk_compare.sh … mixed`); `/health` is static.
        let routes = Router::new()
            .route(
                "/users/{id}",
                get(|Path(id): Path<u64>| async move {
                    if id % 4 == 0 {
                        Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
                    } else {
                        Ok("user")
                    }
                }),
            )
            .route("/health", get(|| async { "ok" }));
        let monitor = tailwatch::Monitor::new();
        let app = match variant.as_str() {
            "bare" => routes,
            "tailwatch" => routes.layer(tailwatch::HttpMetricsLayer::new(&monitor)),
            "axum-prometheus" => {
                let (layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
                routes.layer(layer)
            }
            other => {
                return Err(format!(
                    "unknown variant {other:?}: use bare, tailwatch or axum-prometheus"
                )
                .into());
            }
        };
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        eprintln!("{variant} listening on {addr}");
        axum::serve(listener, app).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
