//! [`ServerLimits`]: what the agent's server grants a client (time to send
//! its headers, idle time, connections, header bytes) and how long `stop`
//! waits for the requests in progress.

use std::time::Duration;

use super::error::AgentError;

/// The smallest header limit hyper accepts (its minimum read buffer).
pub const MIN_HEADER_BYTES: usize = 8 * 1024;

/// Limits of the agent's HTTP server against slow, idle and hostile
/// clients. The defaults suit a Prometheus scraping every few seconds to
/// minutes; set them with the [`AgentBuilder`](crate::AgentBuilder)'s
/// setters.
///
/// | limit | default | past it |
/// | --- | --- | --- |
/// | header-read timeout | 10 s | the connection is closed (`reason="header_timeout"`) |
/// | idle timeout | 60 s | no byte either way for this long mid-request: closed (`reason="idle_timeout"`) |
/// | connections | 256 | a new connection is closed at once (`reason="limit"`) |
/// | connections per peer | 32 | a new connection from an address that has this many open is closed at once (`reason="peer_limit"`) |
/// | credential checks per peer | 4 | a request whose basic-auth credentials are not verified yet is answered 429 at once (`tailwatch_agent_auth_busy_total`) |
/// | credential checks | 256 | the same, 503 |
/// | scrapes | 16 | `/metrics` and `/stats` answers being rendered or sent at once; past it 503 at once (`tailwatch_agent_scrapes_refused_total`) |
/// | header bytes | 16 KiB | the request is answered 431 and the connection closed (`reason="header_too_large"`) |
/// | shutdown timeout | 5 s | [`Agent::stop`](crate::Agent::stop) closes what is still open (`reason="shutdown"`) |
///
/// Every close for one of these reasons is counted in
/// `tailwatch_agent_connections_closed_total{reason}`; the connections
/// open now are `tailwatch_agent_connections`.
///
/// The header-read clock also runs while a kept-alive connection waits for
/// its next request (hyper starts it when it starts reading a request), so
/// a kept-alive connection without a new request is closed after the
/// header-read timeout too; that close is normal and not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_peer: usize,
    pub(crate) max_scrapes: usize,
    pub(crate) auth_checks_per_peer: usize,
    pub(crate) auth_checks: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
            max_connections_per_peer: 32,
            max_scrapes: 16,
            auth_checks_per_peer: 4,
            auth_checks: 256,
            max_header_bytes: 16 * 1024,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl ServerLimits {
    /// How long a client may take to send a request's headers.
    pub fn header_read_timeout(&self) -> Duration {
        self.header_read_timeout
    }
    /// How long a connection may move no byte, either way, mid-request.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
    /// How many connections may be open at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }
    /// How many connections one peer address may have open at once.
    pub fn max_connections_per_peer(&self) -> usize {
        self.max_connections_per_peer
    }
    /// How many `/metrics` and `/stats` answers may be rendered or sent at
    /// once.
    pub fn max_scrapes(&self) -> usize {
        self.max_scrapes
    }
    /// How many credential checks one peer may have waiting or running.
    pub fn auth_checks_per_peer(&self) -> usize {
        self.auth_checks_per_peer
    }
    /// How many credential checks may wait or run in all.
    pub fn auth_checks(&self) -> usize {
        self.auth_checks
    }
    /// How many bytes a request's head (request line and headers) may have.
    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }
    /// How long [`Agent::stop`](crate::Agent::stop) waits for requests in
    /// progress before closing their connections.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Checks the limits, naming the setter of one that cannot work.
    pub(crate) fn check(&self) -> Result<(), AgentError> {
        let bad = |what: &str, why: &str| {
            Err(AgentError::InvalidLimit {
                limit: what.to_owned(),
                reason: why.to_owned(),
            })
        };
        if self.header_read_timeout.is_zero() {
            return bad("header_read_timeout", "it must be more than zero");
        }
        if self.idle_timeout.is_zero() {
            return bad("idle_timeout", "it must be more than zero");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "at least one connection is needed");
        }
        if self.max_connections_per_peer == 0 {
            return bad(
                "max_connections_per_peer",
                "at least one connection per peer is needed",
            );
        }
        if self.auth_checks_per_peer == 0 || self.auth_checks == 0 {
            return bad(
                if self.auth_checks == 0 {
                    "auth_checks"
                } else {
                    "auth_checks_per_peer"
                },
                "at least one credential check must be allowed to wait",
            );
        }
        if self.max_scrapes == 0 {
            return bad("max_scrapes", "at least one scrape at a time is needed");
        }
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return bad(
                "max_header_bytes",
                "hyper needs at least 8192 bytes (MIN_HEADER_BYTES)",
            );
        }
        Ok(())
    }
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_limits_name_their_setter() {
        assert!(ServerLimits::default().check().is_ok());
        let cases = [
            (
                ServerLimits {
                    max_header_bytes: 100,
                    ..Default::default()
                },
                "max_header_bytes",
            ),
            (
                ServerLimits {
                    max_connections: 0,
                    ..Default::default()
                },
                "max_connections",
            ),
            (
                ServerLimits {
                    max_connections_per_peer: 0,
                    ..Default::default()
                },
                "max_connections_per_peer",
            ),
            (
                ServerLimits {
                    max_scrapes: 0,
                    ..Default::default()
                },
                "max_scrapes",
            ),
            (
                ServerLimits {
                    header_read_timeout: Duration::ZERO,
                    ..Default::default()
                },
                "header_read_timeout",
            ),
            (
                ServerLimits {
                    idle_timeout: Duration::ZERO,
                    ..Default::default()
                },
                "idle_timeout",
            ),
        ];
        for (limits, name) in cases {
            let e = limits.check().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
