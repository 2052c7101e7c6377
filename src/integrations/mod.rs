//! Integrations with the instrumentation people already use: a
//! `tracing-subscriber` layer that measures spans as operations
//! ([`MonitorLayer`], feature `tracing`) and a
//! `metrics` facade recorder that gives `histogram!` HDR quantiles
//! ([`MetricsRecorder`], feature `metrics`).
//! Both are built with `new(&monitor)` and record through that
//! [`Monitor`](crate::Monitor).
//!
//! Uses the measure piece and, below it, the registry and the engine.

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod facade;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod trace;

#[cfg(feature = "metrics")]
pub use facade::MetricsRecorder;
#[cfg(feature = "tracing")]
pub use trace::MonitorLayer;
