//! [`GrpcResponseBody`]: the response stream, recording its call when the
//! trailers (or the end, or a drop) come.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::codes::{CANCELLED, UNKNOWN, parse_code};
use super::rpc::Rpc;

pin_project! {
    /// The response body of [`GrpcMetrics`](super::GrpcMetrics).
    pub struct GrpcResponseBody<B> {
        #[pin]
        inner: B,
        rpc: Option<Rpc>,
    }

    impl<B> PinnedDrop for GrpcResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: the client went away.
            if let Some(rpc) = this.project().rpc.take() {
                rpc.finish(CANCELLED, true);
            }
        }
    }
}

impl<B> GrpcResponseBody<B> {
    pub(super) fn measured(inner: B, rpc: Rpc) -> Self {
        Self {
            inner,
            rpc: Some(rpc),
        }
    }

    pub(super) fn unmeasured(inner: B) -> Self {
        Self { inner, rpc: None }
    }
}

impl<B> std::fmt::Debug for GrpcResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcResponseBody")
            .field("measured", &self.rpc.is_some())
            .finish()
    }
}

impl<B: Body> Body for GrpcResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(rpc) = this.rpc.take() {
                        let code = trailers.get("grpc-status").map_or(UNKNOWN, parse_code);
                        rpc.finish(code, false);
                    }
                }
            }
            // The stream ended without a status, or failed.
            Poll::Ready(None | Some(Err(_))) => {
                if let Some(rpc) = this.rpc.take() {
                    rpc.finish(UNKNOWN, false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
