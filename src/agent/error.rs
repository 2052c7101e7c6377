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
    /// `TAILWATCH_LISTEN` is not a listen address.
    #[error(
        "TAILWATCH_LISTEN={0:?} is not a listen address; use host:port \
         (127.0.0.1:9464, localhost:9464, 0.0.0.0:9464) or a port (9464, :9464)"
    )]
    InvalidListen(String),
    /// An address given in code ([`AgentBuilder::listen_on`](crate::AgentBuilder::listen_on),
    /// [`parse_listen`](crate::agent::parse_listen)) is not a listen address.
    #[error(
        "{0:?} is not a listen address; use host:port (127.0.0.1:9464, localhost:9464, \
         0.0.0.0:9464) or a port (9464, :9464)"
    )]
    InvalidAddress(String),
    /// A server limit that cannot work (a zero timeout, no connections,
    /// a header limit below hyper's minimum).
    #[error("the agent's {limit} cannot be used: {reason}; set another with AgentBuilder::{limit}")]
    InvalidLimit {
        /// The setter of the limit.
        limit: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The agent's own thread or runtime could not be made
    /// ([`AgentBuilder::own_thread`](crate::AgentBuilder::own_thread)).
    #[error("the tailwatch agent cannot start its own thread: {0}")]
    Thread(std::io::Error),
    /// A web-config file (TLS, basic auth) that cannot be used.
    #[cfg(feature = "tls")]
    #[error("the web-config file {path} cannot be used: {source}")]
    WebConfig {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        source: super::web_config::WebConfigError,
    },
}
