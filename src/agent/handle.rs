//! [`Agent`]: the handle of a running agent.

use std::net::SocketAddr;

/// A running agent; [`stop`](Self::stop) it, or drop it to stop serving
/// (so keep it: `let _agent = …start().await?;` for the program's life).
#[derive(Debug)]
#[must_use = "dropping the agent stops it: keep it for as long as it should serve"]
pub struct Agent {
    pub(super) addr: SocketAddr,
    pub(super) stop: tokio::sync::watch::Sender<bool>,
    pub(super) task: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets the requests in progress finish for up to the
    /// [shutdown timeout](crate::AgentBuilder::shutdown_timeout), closes the
    /// connections still open then (a client that never finishes its
    /// request cannot hold it up), and returns.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Stops accepting; the requests in progress finish in the
        // background, within the shutdown timeout.
        let _ = self.stop.send(true);
    }
}
