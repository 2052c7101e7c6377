//! [`ResponseFuture`], and [`Finish`]: what a request still has to record.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::classify::ErrorType;
use super::layer::RouteEntry;

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
    done: bool,
}

impl Finish {
    pub(crate) fn new(entry: Arc<RouteEntry>) -> Self {
        entry.gauge.increment();
        let start = match &entry.settings.clock {
            None => Start::Instant(quanta::Instant::now()),
            Some(clock) => Start::Clock(clock.now_ns()),
        };
        Self {
            entry,
            start,
            status: None,
            error: None,
            done: false,
        }
    }

    pub(crate) fn to_headers(&self) -> bool {
        self.entry.settings.to_headers
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
        let entry = &self.entry;
        let nanos = match (&self.start, &entry.settings.clock) {
            (Start::Instant(at), _) => u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX),
            (Start::Clock(at), Some(clock)) => clock.now_ns().saturating_sub(*at),
            (Start::Clock(_), None) => 0,
        };
        let status = self.status.unwrap_or(499);
        entry.record(status, error.or(self.error.as_deref()), nanos);
        entry.gauge.decrement();
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        // Dropped before the end: the client went away (or the server gave up).
        self.record(Some("cancelled"));
    }
}

pin_project! {
    /// The response future of [`HttpMetrics`](super::HttpMetrics).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        finish: Option<Finish>,
        panicked: bool,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("measured", &self.finish.is_some())
            .finish()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn measured(inner: F, finish: Finish) -> Self {
        Self {
            inner: Some(inner),
            finish: Some(finish),
            panicked: false,
        }
    }

    pub(crate) fn unmeasured(inner: F) -> Self {
        Self {
            inner: Some(inner),
            finish: None,
            panicked: false,
        }
    }

    pub(crate) fn panicked(finish: Finish) -> Self {
        Self {
            inner: None,
            finish: Some(finish),
            panicked: true,
        }
    }
}

/// The answer to a panicking handler: an empty 500.
fn panic_response<B>(finish: Option<Finish>) -> http::Response<ResponseBody<B>> {
    if let Some(mut f) = finish {
        f.head(500, Some("panic".into()));
        f.done();
    }
    let mut response = http::Response::new(ResponseBody::empty());
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: http_body::Body,
    E: 'static,
{
    type Output = Result<http::Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if *this.panicked {
            return Poll::Ready(Ok(panic_response(this.finish.take())));
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            // Polled after completion: behave like an empty 500 rather than panic.
            return Poll::Ready(Ok(panic_response(None)));
        };
        let polled = catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result,
            Err(_) => {
                // Drop the broken future now; a second panic in its drop
                // is contained too.
                let _ = catch_unwind(AssertUnwindSafe(|| this.inner.set(None)));
                *this.panicked = true;
                return Poll::Ready(Ok(panic_response(this.finish.take())));
            }
        };
        let Some(mut finish) = this.finish.take() else {
            return Poll::Ready(result.map(|r| r.map(ResponseBody::unmeasured)));
        };
        match result {
            Ok(response) => {
                let status = response.status();
                let error = finish.entry.settings.classifier.status(status);
                finish.head(status.as_u16(), error);
                Poll::Ready(Ok(response.map(|body| ResponseBody::measured(body, finish))))
            }
            Err(error) => {
                let kind = finish.entry.settings.classifier.service_error(&error);
                finish.head(500, Some(kind));
                finish.done();
                Poll::Ready(Err(error))
            }
        }
    }
}
