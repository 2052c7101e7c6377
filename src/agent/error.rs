//! [`AgentError`]: why the agent could not start.

use std::net::SocketAddr;

use thiserror::Error;

/// Why the agent could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The address could not be bound (in use, not local, no permission).
    #[error(
        "the tailwatch agent cannot listen on {addr}: {source}; choose another address \
         with TAILWATCH_LISTEN=host:port or AgentBuilder::listen"
    )]
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `TAILWATCH_LISTEN` is not an address.
    #[error("TAILWATCH_LISTEN={0:?} is not a socket address; use host:port, e.g. 127.0.0.1:9464")]
    InvalidListen(String),
}
