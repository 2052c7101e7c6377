//! [`ResponseFuture`]: the response future of the middleware; a panicking
//! handler is answered with an empty 500.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::finish::Finish;

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
            Ok(mut response) => {
                if let Some(timing) = finish.server_timing() {
                    response.headers_mut().append("server-timing", timing);
                }
                let status = response.status();
                let error = finish.classifier().status(status);
                finish.head(status.as_u16(), error);
                Poll::Ready(Ok(response.map(|body| ResponseBody::measured(body, finish))))
            }
            Err(error) => {
                let kind = finish.classifier().service_error(&error);
                finish.head(500, Some(kind));
                finish.done();
                Poll::Ready(Err(error))
            }
        }
    }
}
