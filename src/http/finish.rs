//! [`Finish`]: what a request still has to record, once: at the end of the
//! response, or as cancelled if it is dropped before.

use std::sync::Arc;

use super::classify::{Classify, ErrorType};
use super::layer::{HEAD, RouteEntry};
use crate::engine::exemplar::TraceContext;

/// When a request started, by the layer's clock.
enum Start {
    Instant(quanta::Instant),
    Clock(u64),
}

/// A request being measured. Recording happens once: at the end of the
/// response (`done`), or, if it is dropped before that, as cancelled.
pub(crate) struct Finish {
    entry: Arc<RouteEntry>,
    start: Start,
    /// The status once the head is known (for a cancelled body).
    status: Option<u16>,
    error: Option<ErrorType>,
    /// The request's trace: the exemplar of its duration.
    trace: Option<TraceContext>,
    done: bool,
}

impl Finish {
    pub(crate) fn new(entry: Arc<RouteEntry>, trace: Option<TraceContext>) -> Self {
        entry.target.gauge.increment();
        let start = match &entry.settings.clock {
            None => Start::Instant(quanta::Instant::now()),
            Some(clock) => Start::Clock(clock.now_ns()),
        };
        Self {
            entry,
            start,
            status: None,
            error: None,
            trace,
            done: false,
        }
    }

    /// Whether the measurement ends with the response head: latency to
    /// headers was asked for, or the response has no body (the answer to a
    /// `HEAD`, a 1xx, 204 or 304), which the server drops without polling
    /// it (hyper does), and that is not a client going away.
    pub(crate) fn ends_at_head(&self) -> bool {
        self.entry.settings.to_headers
            || self.entry.method == HEAD
            || matches!(self.status, Some(100..=199 | 204 | 304))
    }

    /// The `Server-Timing` header value for the time so far, if the layer
    /// sends one.
    pub(crate) fn server_timing(&self) -> Option<http::HeaderValue> {
        if !self.entry.settings.server_timing {
            return None;
        }
        let ms = self.elapsed_nanos() as f64 / 1e6;
        http::HeaderValue::from_str(&format!("app;dur={ms:.3}")).ok()
    }

    fn elapsed_nanos(&self) -> u64 {
        match (&self.start, &self.entry.settings.clock) {
            (Start::Instant(at), _) => u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX),
            (Start::Clock(at), Some(clock)) => clock.now_ns().saturating_sub(*at),
            (Start::Clock(_), None) => 0,
        }
    }

    /// The rule that decides which responses are errors.
    pub(crate) fn classifier(&self) -> &dyn Classify {
        &*self.entry.settings.classifier
    }

    /// The response head is known.
    pub(crate) fn head(&mut self, status: u16, error: Option<ErrorType>) {
        self.status = Some(status);
        self.error = error;
    }

    /// Records with the head's status and error type.
    pub(crate) fn done(mut self) {
        self.record(None);
    }

    /// Records with this error type instead (a body that failed).
    pub(crate) fn failed(mut self, error: &'static str) {
        self.record(Some(error));
    }

    fn record(&mut self, error: Option<&str>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let nanos = self.elapsed_nanos();
        let entry = &self.entry;
        let status = self.status.unwrap_or(499);
        entry.record(status, error.or(self.error.as_deref()), nanos, self.trace);
        entry.target.gauge.decrement();
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        // Dropped before the end: the client went away (or the server gave up).
        self.record(Some("cancelled"));
    }
}
