//! [`Measured`]: the future adapter behind
//! [`Operation::measure`](crate::Operation::measure) and
//! [`Monitor::measure`](crate::Monitor::measure).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::operation::{Operation, Timer};
use super::outcome::Outcome;
use crate::registry::group::Ended;

/// How a [`Measured`] future's output is classified.
pub trait ClassifyOutput<T> {
    /// The outcome of a finished future.
    fn classify(output: &T) -> Ended;
}

/// Classifies by [`Outcome`] (`Err` is an error).
#[derive(Debug, Clone, Copy)]
pub struct ByOutcome;

impl<T: Outcome> ClassifyOutput<T> for ByOutcome {
    fn classify(output: &T) -> Ended {
        if output.is_error() {
            Ended::Error
        } else {
            Ended::Ok
        }
    }
}

/// Every finished future is a success.
#[derive(Debug, Clone, Copy)]
pub struct AlwaysOk;

impl<T> ClassifyOutput<T> for AlwaysOk {
    fn classify(_: &T) -> Ended {
        Ended::Ok
    }
}

/// Where a measured future is in its life, for the drop guard.
struct Guard {
    timer: Timer,
    /// True while the inner future is being polled: if we are dropped in
    /// that state, its `poll` panicked.
    in_poll: bool,
    finished: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.finished {
            // Panicked inside poll → error; dropped between polls (also
            // while some other code unwinds) → cancelled.
            self.timer.end(if self.in_poll {
                Ended::Error
            } else {
                Ended::Cancelled
            });
        }
    }
}

pin_project! {
    /// A future timed into an [`Operation`](crate::Operation): from creation
    /// to `Ready` (`ok`/`error` by `C`), or to drop (`cancelled`), or to a
    /// panic in its `poll` (`error`, the panic propagates). Composes like
    /// any future (`join`, `select`, `timeout`, spawning).
    #[must_use = "futures do nothing unless polled"]
    pub struct Measured<F, C = ByOutcome> {
        #[pin]
        future: F,
        guard: Guard,
        classify: PhantomData<fn() -> C>,
    }
}

impl<F, C> Measured<F, C> {
    pub(crate) fn new(future: F, timer: Timer) -> Self {
        Self {
            future,
            guard: Guard {
                timer,
                in_poll: false,
                finished: false,
            },
            classify: PhantomData,
        }
    }
}

impl<F: std::fmt::Debug, C> std::fmt::Debug for Measured<F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Measured")
            .field("future", &self.future)
            .field("timer", &self.guard.timer)
            .finish()
    }
}

impl<F: Future, C: ClassifyOutput<F::Output>> Future for Measured<F, C> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.guard.in_poll = true;
        let poll = this.future.poll(cx);
        this.guard.in_poll = false;
        if let Poll::Ready(output) = &poll {
            if !this.guard.finished {
                this.guard.finished = true;
                this.guard.timer.end(C::classify(output));
            }
        }
        poll
    }
}

impl Operation {
    /// Times `future`; its output decides the outcome ([`Outcome`]).
    ///
    /// ```
    /// # async fn load() -> Result<u32, std::io::Error> { Ok(1) }
    /// # tokio_test_block_on(async {
    /// let monitor = tailwatch::Monitor::new();
    /// let get_user = monitor.operation("db.get_user");
    /// for _ in 0..3 {
    ///     let user = get_user.measure(load()).await?;
    /// }
    /// assert_eq!(monitor.stats("db.get_user").unwrap().count, 3);
    /// # Ok::<(), std::io::Error>(())
    /// # });
    /// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub fn measure<F>(&self, future: F) -> Measured<F, ByOutcome>
    where
        F: Future,
        F::Output: Outcome,
    {
        Measured::new(future, self.start())
    }

    /// Times `future`, whatever it returns: `ok` unless it is cancelled or
    /// panics.
    pub fn time<F: Future>(&self, future: F) -> Measured<F, AlwaysOk> {
        Measured::new(future, self.start())
    }
}
