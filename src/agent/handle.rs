//! [`Agent`]: the handle of a running agent.

use std::net::SocketAddr;

/// A running agent; [`stop`](Self::stop) it, or drop it to stop serving
/// (so keep it: `let _agent = …start().await?;` for the program's life).
#[derive(Debug)]
#[must_use = "dropping the agent stops it: keep it for as long as it should serve"]
pub struct Agent {
    pub(super) addr: SocketAddr,
    pub(super) stop: tokio::sync::watch::Sender<bool>,
    pub(super) task: Option<Running>,
    pub(super) warnings: Vec<String>,
}

/// Where the server runs: a task on the application's runtime, or its own
/// thread (which says when it is done).
#[derive(Debug)]
pub(super) enum Running {
    Task(tokio::task::JoinHandle<()>),
    Thread(tokio::sync::oneshot::Receiver<()>),
}

impl Agent {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the agent's settings leave open, said once at start (and
    /// logged with `tracing` at warn level): listening beyond loopback
    /// without basic auth, a web-config without users.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Stops accepting, lets the requests in progress finish for up to the
    /// [shutdown timeout](crate::AgentBuilder::shutdown_timeout), closes the
    /// connections still open then (a client that never finishes its
    /// request cannot hold it up), and returns.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(Running::Task(task)) => {
                let _ = task.await;
            }
            Some(Running::Thread(done)) => {
                let _ = done.await;
            }
            None => {}
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
