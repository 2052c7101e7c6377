//! RED metrics for gRPC servers (tonic, or any tower service speaking
//! gRPC over HTTP/2): a tower [`Layer`](tower::Layer) that reads each
//! call's `grpc-status` wherever it arrives.
//!
//! ```
//! let monitor = tailwatch::Monitor::new();
//! let layer = tailwatch::GrpcMetricsLayer::new(&monitor);
//! // tonic::transport::Server::builder().layer(layer).add_service(…)
//! # let _ = layer;
//! ```
//!
//! # What is recorded
//!
//! | metric | labels |
//! | --- | --- |
//! | `rpc_server_duration_seconds` (histogram) | `rpc_system="grpc"`, `rpc_service`, `rpc_method`, `rpc_grpc_status_code` (`"0"` … `"16"`), `error_type` (only on errors) |
//! | `rpc_server_active_requests` (gauge) | `rpc_system`, `rpc_service`, `rpc_method` |
//!
//! * **Method:** from the request path `/package.Service/Method`; a path
//!   that is not one is `_OTHER`. Methods are capped
//!   ([`GrpcMetricsLayer::max_methods`], default 1000), then `__overflow__`.
//! * **Status:** tonic answers every call with HTTP 200 and puts the
//!   outcome in `grpc-status`: in the response headers when the call
//!   failed before any message (a "trailers-only" response), else in the
//!   trailers after the last message. The layer reads the headers, then
//!   the trailers at the end of the stream; an HTTP status other than 200
//!   is mapped to a gRPC code as the gRPC specification says (404 →
//!   UNIMPLEMENTED, 503 → UNAVAILABLE, …); a stream that ends without a
//!   status is UNKNOWN.
//! * **When latency ends:** at the end of the response stream (the
//!   trailers), so server-streaming calls are timed to their last message;
//!   at the head for a trailers-only answer.
//! * **Errors** (`error_type`): the code's name (`"UNAVAILABLE"`) when the
//!   code is a server error: by default UNKNOWN, DEADLINE_EXCEEDED,
//!   UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS
//!   ([`default_server_error`]); the caller's own mistakes
//!   (INVALID_ARGUMENT, NOT_FOUND, …) are not server errors. The rule is
//!   pluggable ([`GrpcMetricsLayer::server_errors`]).
//! * **Cancellation:** a client that goes away before the end of the
//!   stream (the response future or body dropped) is recorded with code 1
//!   (CANCELLED) and `error_type="cancelled"`, as for HTTP.
//! * **Deadlines:** a call cancelled after the caller's `grpc-timeout`
//!   passed is recorded as DEADLINE_EXCEEDED (4), a server error by
//!   default: tonic's server answers such a call with CANCELLED ("Timeout
//!   expired"), and a client whose deadline passes resets the stream. The
//!   caller's clock starts before the request reaches the server, so its
//!   reset arrives a little before the deadline by the server's clock: a
//!   cancel in the last tenth of the `grpc-timeout` counts as past it.
//! * **Exemplars:** the trace of the code serving the call, else a sampled
//!   `traceparent` header.
//!
//! Uses the measure piece, the registry and the engine.

mod body;
mod codes;
mod layer;
mod rpc;

pub use body::GrpcResponseBody;
pub use codes::{CODE_NAMES, default_server_error};
pub use layer::{GrpcMetrics, GrpcMetricsLayer, GrpcResponseFuture};
pub use rpc::{GRPC_ACTIVE, GRPC_DURATION};
