//! [`Watched`]: a connection's socket that notes when bytes last moved each
//! way, so the server can tell an idle connection from a slow one.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When bytes last moved on a connection, in nanoseconds since it opened.
#[derive(Debug)]
pub(super) struct Activity {
    opened: Instant,
    last_read: AtomicU64,
    last_write: AtomicU64,
    /// A write is waiting for the client to read (its window is full).
    write_blocked: AtomicBool,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// How long no byte has moved either way.
    pub(super) fn idle_for(&self) -> Duration {
        let last = self
            .last_read
            .load(Ordering::Relaxed)
            .max(self.last_write.load(Ordering::Relaxed));
        Duration::from_nanos(self.now().saturating_sub(last))
    }

    /// Whether the client sent nothing since the agent last wrote, and
    /// nothing waits to be written (a kept-alive connection waiting for
    /// its next request), as opposed to a request begun and not finished
    /// or an answer the client does not read.
    pub(super) fn between_requests(&self) -> bool {
        let (read, write) = (
            self.last_read.load(Ordering::Relaxed),
            self.last_write.load(Ordering::Relaxed),
        );
        write > 0 && write >= read && !self.write_blocked.load(Ordering::Relaxed)
    }

    fn wrote(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.last_write.store(self.now(), Ordering::Relaxed);
                self.write_blocked.store(false, Ordering::Relaxed);
            }
            Poll::Pending => self.write_blocked.store(true, Ordering::Relaxed),
            _ => {}
        }
    }
}

/// A socket whose reads and writes update an [`Activity`].
#[derive(Debug)]
pub(super) struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(super) fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let now = self.activity.now();
            self.activity.last_read.store(now, Ordering::Relaxed);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
