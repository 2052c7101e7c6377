//! RED metrics for outbound HTTP calls: a tower [`Layer`](tower::Layer)
//! for any client that is a `tower::Service<http::Request<B>>` (hyper-util's
//! `Client`, a `tower::ServiceBuilder` stack, tonic's channel…).
//!
//! ```
//! use tower::ServiceBuilder;
//! let monitor = tailwatch::Monitor::new();
//! # let client = tower::service_fn(|_: http::Request<String>| async {
//! #     Ok::<_, std::io::Error>(http::Response::new(String::new()))
//! # });
//! let client = ServiceBuilder::new()
//!     .layer(tailwatch::HttpClientMetricsLayer::new(&monitor))
//!     .service(client);
//! ```
//!
//! # What is recorded
//!
//! | metric | labels |
//! | --- | --- |
//! | `http_client_request_duration_seconds` (histogram) | `http_request_method`, `server_address`, `server_port`, `url_template` (only with [`HttpClientMetricsLayer::url_template`]), `http_response_status_code` (when a response came), `error_type` (only on errors) |
//! | `http_client_active_requests` (gauge) | `http_request_method`, `server_address`, `server_port` |
//!
//! * **Server:** the request URI's host and port (the scheme's default
//!   port when none is written), else the `Host` header. Hosts are capped
//!   ([`HttpClientMetricsLayer::max_hosts`], default 100 host:port pairs):
//!   past the cap, a new one is recorded as `__overflow__` (address and
//!   port), so a client calling arbitrary hosts keeps bounded series.
//! * **Path:** never the raw path (unbounded); a template only when given
//!   ([`HttpClientMetricsLayer::url_template`], e.g. `/users/{id}`).
//! * **When latency ends:** when the response head arrives (the body's
//!   download is the caller's work, and it may never be read).
//! * **Errors** (`error_type`): a 4xx or 5xx response → its code (a
//!   failed call for a client, as OpenTelemetry's HTTP client conventions
//!   say); no response → from the error and its sources: `timeout`
//!   (tower's `Elapsed`, an I/O timeout), `connection_refused`,
//!   `connection_reset`, else `_OTHER`; the call's future dropped before
//!   the response → `cancelled`. The service's error becomes a
//!   `tower::BoxError` (as tower's own timeout does), unchanged inside.
//! * **Exemplars:** the trace of the calling code
//!   ([`current_trace`](crate::measure::current_trace)).
//!
//! For reqwest, through `reqwest-middleware`: `ReqwestMetrics` (feature
//! `reqwest`) records the same series.
//!
//! Uses the measure piece (a [`Monitor`](crate::Monitor)), the registry and
//! the engine.

mod layer;
#[cfg(feature = "reqwest")]
mod reqwest;

pub use layer::{
    HTTP_CLIENT_ACTIVE, HTTP_CLIENT_DURATION, HttpClientMetrics, HttpClientMetricsLayer,
    ResponseFuture,
};
#[cfg(feature = "reqwest")]
pub use reqwest::ReqwestMetrics;
