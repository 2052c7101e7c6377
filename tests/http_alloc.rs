//! Heap allocations per request: the layer against the bare service, after
//! warm-up, counted by a global allocator. (One test in this binary, so
//! nothing else allocates meanwhile.)
//!
//! Run with: `cargo test --release --test http_alloc -- --nocapture`
#![allow(unsafe_code)] // the counting allocator

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use tailwatch::{HttpMetricsLayer, Monitor};
use tower::{Service, ServiceExt};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: u64 = 2_000;

/// Allocations per request through `service`, after warm-up.
async fn per_request<S, B>(mut service: S) -> f64
where
    S: Service<Request<Body>, Response = http::Response<B>, Error = std::convert::Infallible>,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = || {
        Request::builder()
            .uri("/users/7")
            .body(Body::empty())
            .unwrap()
    };
    let mut run = async |n: u64| {
        for _ in 0..n {
            let r = service
                .ready()
                .await
                .unwrap()
                .call(request())
                .await
                .unwrap();
            r.into_body().collect().await.unwrap();
        }
    };
    run(100).await;
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    run(N).await;
    (ALLOCATIONS.load(Ordering::SeqCst) - before) as f64 / N as f64
}

fn routes() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

/// A layer that does nothing: what axum's `Router::layer` costs by itself.
#[derive(Clone)]
struct Identity;

impl<S> tower::Layer<S> for Identity {
    type Service = S;
    fn layer(&self, inner: S) -> S {
        inner
    }
}

#[test]
fn the_layer_adds_no_allocation_per_request() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let m = Monitor::new();
    let bare = rt.block_on(per_request(routes()));
    let identity = rt.block_on(per_request(routes().layer(Identity)));
    let inside = rt.block_on(per_request(routes().layer(HttpMetricsLayer::new(&m))));
    let outside = rt.block_on(per_request(tower::Layer::layer(
        &HttpMetricsLayer::new(&m),
        routes(),
    )));
    println!(
        "allocations per request: bare router {bare:.2}; identity layer via Router::layer {identity:.2}; \
         HttpMetricsLayer via Router::layer {inside:.2}; HttpMetricsLayer around the router {outside:.2}"
    );
    // The layer's own code allocates nothing per request: around a service
    // it costs exactly the bare service's allocations.
    // (A one-off allocation in 2,000 requests, e.g. a map growing, is not
    // per request: allow below 0.01.)
    assert!(
        outside - bare < 0.01,
        "the layer allocated per request: bare {bare}, layered {outside}"
    );
    // Inside axum, `Router::layer` costs allocations for any layer (the
    // identity layer above), and axum boxes a response body whose type a
    // layer changed (ours wraps it to see its end): at most 2 more.
    assert!(
        inside - identity < 2.01,
        "identity {identity}, tailwatch {inside}"
    );
}
