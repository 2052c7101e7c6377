//! [`ResponseBody`]: ends the measurement when the body ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::finish::Finish;

pin_project! {
    /// The response body of [`HttpMetrics`](super::HttpMetrics): the inner
    /// body, unchanged, with the request's measurement finishing when the
    /// last frame has been polled (or the body reports its end). Dropped
    /// before that, the request is recorded as cancelled.
    pub struct ResponseBody<B> {
        #[pin]
        inner: Option<B>,
        finish: Option<Finish>,
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("measuring", &self.finish.is_some())
            .finish()
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn measured(inner: B, finish: Finish) -> Self {
        // Nothing more to wait for: an empty body, a response that has none
        // (HEAD, 204, 304, 1xx), or latency to headers.
        if finish.ends_at_head() || inner.is_end_stream() {
            finish.done();
            return Self::unmeasured(inner);
        }
        Self {
            inner: Some(inner),
            finish: Some(finish),
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn unmeasured(inner: B) -> Self {
        Self {
            inner: Some(inner),
            finish: None,
        }
    }

    /// An empty body (the answer to a panicking handler).
    pub(crate) fn empty() -> Self {
        Self {
            inner: None,
            finish: None,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let Some(mut inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(None);
        };
        let polled = inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(None) => {
                if let Some(f) = this.finish.take() {
                    f.done();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(f) = this.finish.take() {
                    f.failed("body");
                }
            }
            Poll::Ready(Some(Ok(_))) => {
                if inner.is_end_stream() {
                    if let Some(f) = this.finish.take() {
                        f.done();
                    }
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
