//! The integration tests, in one binary: each links the whole dependency
//! tree, so one binary builds and links once (`cargo test --test it`;
//! one module: `cargo test --test it agent::`). Tests that need a process
//! of their own (a counting allocator, process-wide figures or a timing
//! that other tests would disturb) are `tests/memory.rs`,
//! `tests/http_alloc.rs`, `tests/facade_memory.rs`, `tests/process.rs`,
//! `tests/scrape_off_workers.rs` and `tests/slow_readers.rs`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/shapes.rs"]
mod shapes;

mod accuracy;
#[cfg(feature = "agent")]
mod agent;
#[cfg(feature = "agent")]
mod agent_attack;
#[cfg(feature = "tls")]
mod agent_auth;
#[cfg(feature = "agent")]
mod agent_limits;
mod architecture;
mod concurrency;
#[cfg(all(feature = "agent", feature = "process"))]
mod dashboards;
#[cfg(all(feature = "http", feature = "tracing"))]
mod exemplars;
#[cfg(feature = "agent")]
mod exemplars_prometheus;
#[cfg(feature = "metrics")]
mod exposition;
#[cfg(feature = "metrics")]
mod facade_limits;
#[cfg(feature = "http")]
mod grpc;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod http_client;
#[cfg(feature = "http")]
mod http_socket;
#[cfg(feature = "metrics")]
mod label_roundtrip;
mod layout_compat;
mod limits;
mod measure;
#[cfg(feature = "macros")]
mod measure_attribute;
#[cfg(feature = "metrics")]
mod metrics_facade;
#[cfg(feature = "agent")]
mod native_histograms;
mod objectives;
#[cfg(all(feature = "opentelemetry", feature = "http"))]
mod opentelemetry;
#[cfg(feature = "deadpool")]
mod postgres;
#[cfg(feature = "agent")]
mod prometheus;
mod proto_codegen;
#[cfg(feature = "metrics")]
mod protobuf;
#[cfg(feature = "agent")]
mod remote_write;
#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(feature = "agent")]
mod runtime;
#[cfg(feature = "agent")]
mod saturation;
#[cfg(feature = "tracing")]
mod slow_calls;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tracing")]
mod tracing_layer;
mod window;
