//! Basic auth for the agent (`basic_auth_users` of a web-config file):
//! `/metrics` and `/stats` answer 401 without valid credentials; `/health`
//! answers everyone (load balancers probe it) but names no check and gives
//! no reason to a client that has not authenticated.
//!
//! bcrypt is slow on purpose (~250 ms at cost 12), so checks are a bounded
//! resource that a password guesser cannot queue Prometheus behind:
//!
//! * Credentials already verified are remembered (64 pairs) and never
//!   wait: a scrape every second costs one hash, not one per scrape.
//! * At most two checks run at once, on the blocking pool. The ones
//!   waiting are queued per peer address and taken from the peers in
//!   turn, so a new client waits for at most about one check per other
//!   peer, however many checks one peer has asked for.
//! * Each peer may have 4 checks waiting or running, and all peers 256
//!   (`AgentBuilder::auth_checks_per_peer`, `auth_checks`): past either,
//!   the request is answered at once (429
//!   or 503 with `Retry-After: 1`, counted in
//!   `tailwatch_agent_auth_busy_total`), never queued.
//! * The same credentials asked again while their check waits or runs
//!   share it; a check that started finishes and is remembered even when
//!   its client left (a timed-out scrape is not wasted), and one whose
//!   clients all left before it started is dropped.
//! * An unknown user is checked against a hash of the users' highest
//!   cost, and every answer waits until that cost's time has passed since
//!   its check began: the time taken says neither which user names exist
//!   nor which one has a slower hash.
//! * A password longer than 72 bytes is refused with that reason: bcrypt
//!   compares only the first 72 bytes.

use crate::engine::lock::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::sync::oneshot;

use super::health::{Anonymous, Authenticated};
use super::server::Peer;
use crate::engine::counter::Counter;

/// The self-metric counting requests refused for bad or missing credentials.
pub const AUTH_FAILURES: &str = "tailwatch_agent_auth_failures_total";
/// The self-metric counting requests answered at once because too many
/// credential checks were waiting (for their peer, or in all).
pub const AUTH_BUSY: &str = "tailwatch_agent_auth_busy_total";

/// The self-metric counting bcrypt checks run (`result`: `ok`, `wrong`).
pub const AUTH_CHECKS: &str = "tailwatch_agent_auth_checks_total";

/// How many verified (user, password) pairs are remembered.
const REMEMBERED: usize = 64;
/// How many checks run at once.
const WORKERS: usize = 2;
/// bcrypt compares only this many bytes of a password.
const BCRYPT_MAX_PASSWORD: usize = 72;

/// A check's result: whether the password is right, and when its check
/// began running.
type Verdict = (bool, Instant);

/// The credentials of a request.
type Pair = (String, String);

/// The checks waiting, per peer, and who waits for each.
#[derive(Default)]
struct Queue {
    /// Per peer, the pairs waiting to be checked, oldest first.
    by_peer: HashMap<IpAddr, VecDeque<Pair>>,
    /// The peers with pairs waiting, in the order they are served.
    turn: VecDeque<IpAddr>,
    /// For each pair waiting or running: its peer and who waits for it.
    waiting: HashMap<Pair, (IpAddr, Vec<oneshot::Sender<Verdict>>)>,
    /// Checks waiting or running, per peer.
    per_peer: HashMap<IpAddr, usize>,
    /// Checks running.
    running: usize,
}

impl Queue {
    /// The next pair to check, taking peers in turn; pairs nobody waits
    /// for any more are dropped.
    fn next(&mut self) -> Option<Pair> {
        while let Some(peer) = self.turn.pop_front() {
            let Some(pairs) = self.by_peer.get_mut(&peer) else {
                continue;
            };
            let pair = pairs.pop_front();
            if pairs.is_empty() {
                self.by_peer.remove(&peer);
            } else {
                self.turn.push_back(peer);
            }
            let Some(pair) = pair else { continue };
            let abandoned = self
                .waiting
                .get(&pair)
                .is_none_or(|(_, w)| w.iter().all(oneshot::Sender::is_closed));
            if abandoned {
                self.finished(&pair);
                continue;
            }
            return Some(pair);
        }
        None
    }

    /// `pair`'s check is over: who waited for it, no longer counted.
    fn finished(&mut self, pair: &Pair) -> Vec<oneshot::Sender<Verdict>> {
        let Some((peer, waiters)) = self.waiting.remove(pair) else {
            return Vec::new();
        };
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
        waiters
    }
}

/// Why a request got no verdict.
enum Refused {
    /// Its peer has `auth_checks_per_peer` checks waiting or running.
    Peer,
    /// `auth_checks` checks wait or run.
    Full,
    /// Its password is longer than bcrypt compares.
    TooLong,
    /// No `Basic` credentials.
    Missing,
}

/// The users and what the middleware needs to check them.
pub(super) struct BasicAuth {
    /// User → (bcrypt hash, its cost).
    users: BTreeMap<String, (String, u32)>,
    remembered: Mutex<HashSet<Pair>>,
    queue: Mutex<Queue>,
    /// The hash unknown users are checked against (the highest cost), and
    /// how long a check at that cost took: every answer takes at least it.
    dummy: OnceLock<(String, Duration)>,
    max_cost: u32,
    /// Checks one peer may have waiting or running.
    per_peer: usize,
    /// Checks that may wait or run in all.
    pending: usize,
    failures: Counter,
    busy: Counter,
    /// Checks run: right, wrong.
    checks: [Counter; 2],
    headers: Vec<(http::HeaderName, HeaderValue)>,
}

/// The auth self-metrics, resolved once.
pub(super) struct AuthMetrics {
    pub(super) failures: Counter,
    pub(super) busy: Counter,
    pub(super) checks: [Counter; 2],
}

impl AuthMetrics {
    pub(super) fn new(monitor: &crate::measure::Monitor) -> Self {
        let registry = monitor.registry();
        registry.describe(
            AUTH_FAILURES,
            "Requests to the tailwatch agent refused for missing or wrong credentials.",
        );
        registry.describe(
            AUTH_BUSY,
            "Requests to the tailwatch agent answered at once (429 or 503) because too many credential checks were waiting.",
        );
        registry.describe(
            AUTH_CHECKS,
            "bcrypt checks of credentials the tailwatch agent ran (result: ok, wrong); verified credentials are remembered and not checked again.",
        );
        // Fixed, valid names: these cannot fail; detached handles otherwise.
        let counter = |name: &str, labels: &[(&str, &str)]| {
            registry.counter(name, labels).unwrap_or_default()
        };
        Self {
            failures: counter(AUTH_FAILURES, &[]),
            busy: counter(AUTH_BUSY, &[]),
            checks: [
                counter(AUTH_CHECKS, &[("result", "ok")]),
                counter(AUTH_CHECKS, &[("result", "wrong")]),
            ],
        }
    }
}

impl BasicAuth {
    pub(super) fn new(
        users: BTreeMap<String, String>,
        headers: Vec<(http::HeaderName, HeaderValue)>,
        metrics: AuthMetrics,
        limits: &super::limits::ServerLimits,
    ) -> Arc<Self> {
        // The web-config parsed every hash when it was read.
        let users: BTreeMap<_, _> = users
            .into_iter()
            .map(|(user, hash)| {
                let cost = hash
                    .parse::<bcrypt::HashParts>()
                    .map_or(bcrypt::DEFAULT_COST, |p| p.get_cost());
                (user, (hash, cost))
            })
            .collect();
        let max_cost = users.values().map(|(_, c)| *c).max().unwrap_or(4);
        let auth = Arc::new(Self {
            users,
            remembered: Mutex::new(HashSet::new()),
            queue: Mutex::new(Queue::default()),
            dummy: OnceLock::new(),
            max_cost,
            per_peer: limits.auth_checks_per_peer,
            pending: limits.auth_checks,
            failures: metrics.failures,
            busy: metrics.busy,
            checks: metrics.checks,
            headers,
        });
        if !auth.users.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            // Made now, off the workers, so the first check need not.
            let a = auth.clone();
            drop(tokio::task::spawn_blocking(move || {
                a.dummy();
            }));
        }
        auth
    }

    /// The dummy hash and the time of a check at the highest cost.
    fn dummy(&self) -> &(String, Duration) {
        self.dummy.get_or_init(|| {
            let hash = bcrypt::hash("tailwatch: no such user", self.max_cost).unwrap_or_default();
            let started = Instant::now();
            let _ = bcrypt::verify("tailwatch: timing", &hash);
            (hash, started.elapsed())
        })
    }

    /// Whether the `Authorization` header holds a user's password; checks
    /// from `peer` wait behind at most its own.
    async fn check(
        self: &Arc<Self>,
        peer: Option<IpAddr>,
        authorization: Option<&HeaderValue>,
    ) -> Result<bool, Refused> {
        let Some(pair) = authorization.and_then(credentials) else {
            return Err(Refused::Missing);
        };
        if self.remembered.lock().contains(&pair) {
            return Ok(true);
        }
        if pair.1.len() > BCRYPT_MAX_PASSWORD {
            return Err(Refused::TooLong);
        }
        let peer = peer.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut q = self.queue.lock();
            if let Some((_, waiters)) = q.waiting.get_mut(&pair) {
                waiters.push(tx);
                false
            } else {
                if q.waiting.len() >= self.pending {
                    return Err(Refused::Full);
                }
                let n = q.per_peer.entry(peer).or_insert(0);
                if *n >= self.per_peer {
                    return Err(Refused::Peer);
                }
                *n += 1;
                q.waiting.insert(pair.clone(), (peer, vec![tx]));
                let pairs = q.by_peer.entry(peer).or_default();
                pairs.push_back(pair);
                if pairs.len() == 1 {
                    q.turn.push_back(peer);
                }
                let start = q.running < WORKERS;
                if start {
                    q.running += 1;
                }
                start
            }
        };
        if start {
            // Its own task: it runs the queue down even if this request
            // goes away.
            drop(tokio::spawn(self.clone().work()));
        }
        let Ok((ok, began)) = rx.await else {
            return Ok(false);
        };
        // Every answer takes at least a check at the highest cost.
        let floor = self.dummy.get().map_or(Duration::ZERO, |(_, t)| *t);
        tokio::time::sleep_until((began + floor).into()).await;
        Ok(ok)
    }

    /// Checks pairs from the queue until it is empty.
    async fn work(self: Arc<Self>) {
        loop {
            let Some(pair) = ({
                let mut q = self.queue.lock();
                let next = q.next();
                if next.is_none() {
                    q.running -= 1;
                }
                next
            }) else {
                return;
            };
            let began = Instant::now();
            let this = self.clone();
            let (user, password) = pair.clone();
            let ok = tokio::task::spawn_blocking(move || {
                let (hash, known) = match this.users.get(&user) {
                    Some((hash, _)) => (hash.as_str(), true),
                    None => (this.dummy().0.as_str(), false),
                };
                // Made (and timed) before the first answer is sent.
                let _ = this.dummy();
                bcrypt::verify(&password, hash).unwrap_or(false) && known
            })
            .await
            .unwrap_or(false);
            self.checks[usize::from(!ok)].increment();
            if ok {
                let mut remembered = self.remembered.lock();
                if remembered.len() >= REMEMBERED {
                    remembered.clear();
                }
                remembered.insert(pair.clone());
            }
            let waiters = self.queue.lock().finished(&pair);
            for w in waiters {
                let _ = w.send((ok, began));
            }
        }
    }
}

/// The user and password of a `Basic` authorization header.
fn credentials(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The middleware: 401 for `/metrics` and `/stats` without valid
/// credentials (429/503 at once when too many checks wait); `/health`
/// marked [`Anonymous`] instead; the configured headers on every answer.
pub(super) async fn middleware(
    State(auth): State<Arc<BasicAuth>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let checked = if auth.users.is_empty() {
        Ok(true)
    } else {
        auth.check(peer, req.headers().get(header::AUTHORIZATION))
            .await
    };
    let too_long = matches!(checked, Err(Refused::TooLong));
    let mut response = match checked {
        Ok(true) => {
            if !auth.users.is_empty() {
                req.extensions_mut().insert(Authenticated);
            }
            next.run(req).await
        }
        _ if req.uri().path() == "/health" => {
            req.extensions_mut().insert(Anonymous);
            next.run(req).await
        }
        Err(why @ (Refused::Peer | Refused::Full)) => {
            auth.busy.increment();
            let (status, text) = match why {
                Refused::Peer => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many credential checks from this address are waiting; retry\n",
                ),
                _ => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many credential checks are waiting; retry\n",
                ),
            };
            let mut r = (status, text).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Ok(false) | Err(Refused::TooLong | Refused::Missing) => {
            auth.failures.increment();
            let text = if too_long {
                "unauthorized: passwords longer than 72 bytes are refused (bcrypt compares only the first 72)\n"
            } else {
                "unauthorized: the tailwatch agent needs basic auth credentials\n"
            };
            let mut r = (StatusCode::UNAUTHORIZED, Body::from(text)).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tailwatch\", charset=\"UTF-8\""),
            );
            r
        }
    };
    for (name, value) in &auth.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

#[cfg(all(test, not(tailwatch_loom)))]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_a_basic_header() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        // "prom:se:cret" — a password may hold a colon.
        assert_eq!(
            credentials(&v("Basic cHJvbTpzZTpjcmV0")),
            Some(("prom".into(), "se:cret".into()))
        );
        assert_eq!(
            credentials(&v("basic  cHJvbTpzZTpjcmV0")),
            Some(("prom".into(), "se:cret".into()))
        );
        assert_eq!(credentials(&v("Bearer cHJvbTpzZTpjcmV0")), None);
        assert_eq!(credentials(&v("Basic !!!")), None);
        assert_eq!(credentials(&v("Basic cHJvbQ==")), None); // no colon
    }
}
