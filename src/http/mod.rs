//! RED metrics for HTTP servers: a tower [`Layer`](tower::Layer) for any
//! `http::Request` → `http::Response` service, first-class with axum 0.8.
//!
//! ```
//! use axum::{Router, routing::get};
//! let monitor = tailwatch::Monitor::new();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(tailwatch::HttpMetricsLayer::new(&monitor));
//! ```
//!
//! # What is recorded
//!
//! | metric | labels |
//! | --- | --- |
//! | `http_server_request_duration_seconds` (histogram) | `http_request_method`, `http_route`, `http_response_status_code`, `error_type` (only on errors) |
//! | `http_server_active_requests` (gauge) | `http_request_method`, `http_route` |
//!
//! * **Route:** the matched route template (`/users/{id}`, from axum's
//!   `MatchedPath`, which `Router::layer` makes available), never the raw
//!   path; a request no route matched is `unmatched`. Outside axum, give a
//!   route function ([`HttpMetricsLayer::route_fn`]). Routes are capped
//!   ([`HttpMetricsLayer::max_routes`], default 1000); past the cap a route
//!   is recorded as `__overflow__`.
//! * **Method:** the nine standard methods; anything else is `_OTHER`.
//! * **When latency ends:** by default when the response body has been
//!   sent to the end (the last frame polled, or the body reporting its end),
//!   so a streaming body is included; with
//!   [`HttpMetricsLayer::latency_to_headers`], when the response head is
//!   ready. It starts when the layer's service is called.
//! * **Errors** (`error_type`, by the [`Classify`] rule, pluggable):
//!   a 5xx status → its code (`"500"`, …); 408 → `"timeout"` (what
//!   tower-http's timeout layer answers); an inner service error → `"timeout"`
//!   for tower's `Elapsed`, else `"_OTHER"`; a panic in the handler →
//!   `"panic"`, answered with an empty 500 (the connection keeps serving);
//!   a body that fails mid-stream → `"body"`. A 4xx is not a server error.
//! * **Cancellation:** a client that goes away before the response ended
//!   (the response future or body dropped) is recorded with
//!   `error_type="cancelled"` and the status already sent, or `499` if none
//!   was. Dashboards count it apart from server errors. A response that
//!   has no body (the answer to a `HEAD`, a 1xx, 204 or 304) is complete
//!   with its head: the server dropping its body unread is not a
//!   cancellation, and its latency ends at the head.
//! * **In flight:** `http_server_active_requests` is up from the call to the
//!   end of the response (or its drop).
//! * **Excluded paths** ([`HttpMetricsLayer::exclude`]) pass through
//!   unmeasured.
//! * **Cost:** after a (method, route, status) has been seen once, the
//!   layer allocates nothing per request (series are looked up by borrowed
//!   keys under read locks; the response future and body wrappers live
//!   inline). Inside an axum `Router`, axum itself adds allocations for any
//!   layer given to `Router::layer` and boxes a wrapped response body; see
//!   docs/performance.md.
//!
//! Outbound calls: [`client`] ([`HttpClientMetricsLayer`](client::HttpClientMetricsLayer)).
//! gRPC servers: [`grpc`] ([`GrpcMetricsLayer`](grpc::GrpcMetricsLayer)).
//!
//! Uses the measure piece (a [`Monitor`](crate::Monitor)), the registry and
//! the engine.

mod body;
mod classify;
pub mod client;
mod finish;
mod future;
pub mod grpc;
mod layer;
mod series_cache;
mod service;

pub use body::ResponseBody;
pub use classify::{Classify, DefaultClassifier, ErrorType};
pub use future::ResponseFuture;
pub use layer::{HTTP_ACTIVE, HTTP_DURATION, HttpMetricsLayer};
pub use service::HttpMetrics;
