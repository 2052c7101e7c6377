//! A server for comparing load generators: `GET /work` takes 1 ms, except
//! that the whole server stalls once for a second; `GET /` answers at once
//! (for the generators' own cost). Prints its address.
//!
//! Run with: `cargo run --release -p tailwatch-cli --example stall_server -- [STALL_AT_SECONDS] [STALL_SECONDS]`
//! (defaults 10 and 1): the stall starts that long after the first request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let at: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let length: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let freeze = Arc::new(tokio::sync::Mutex::new(()));
    let started = Arc::new(std::sync::Once::new());
    let app = Router::new().route("/", get(|| async { "ok" })).route(
        "/work",
        get({
            let freeze = freeze.clone();
            move || {
                let freeze = freeze.clone();
                let started = started.clone();
                async move {
                    started.call_once(|| {
                        let freeze = freeze.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs_f64(at)).await;
                            let _held = freeze.lock().await;
                            eprintln!("stalled for {length} s");
                            tokio::time::sleep(Duration::from_secs_f64(length)).await;
                        });
                    });
                    drop(freeze.lock().await);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    "done"
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}
