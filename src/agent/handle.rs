//! [`Agent`]: the handle of a running agent.

use std::net::SocketAddr;

/// A running agent; [`stop`](Self::stop) it, or drop it to stop serving
/// (so keep it: `let _agent = …start().await?;` for the program's life).
#[derive(Debug)]
#[must_use = "dropping the agent stops it: keep it for as long as it should serve"]
pub struct Agent {
    pub(super) addr: SocketAddr,
    pub(super) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(super) task: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes the requests in progress, and returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
