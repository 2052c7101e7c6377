//! Basic auth for the agent (`basic_auth_users` of a web-config file):
//! `/metrics` and `/stats` answer 401 without valid credentials; `/health`
//! answers everyone (load balancers probe it) but names no check and gives
//! no reason to a client that has not authenticated.
//!
//! bcrypt is slow on purpose (~50 ms at cost 10): checks run on the
//! blocking pool, at most two at a time (a client guessing passwords
//! cannot take the CPU), and a verified pair is remembered so a scrape
//! every second costs one hash, not one per scrape. An unknown user is
//! checked against a dummy hash, so the time taken does not say which
//! user names exist.

use crate::engine::lock::Mutex;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::sync::Semaphore;

use super::health::{Anonymous, Authenticated};
use crate::engine::counter::Counter;

/// The self-metric counting requests refused for bad or missing credentials.
pub const AUTH_FAILURES: &str = "tailwatch_agent_auth_failures_total";

/// How many verified (user, password) pairs are remembered.
const REMEMBERED: usize = 64;

/// The users and what the middleware needs to check them.
pub(super) struct BasicAuth {
    users: BTreeMap<String, String>,
    remembered: Mutex<HashSet<(String, String)>>,
    hashing: Semaphore,
    failures: Counter,
    headers: Vec<(http::HeaderName, HeaderValue)>,
}

impl BasicAuth {
    pub(super) fn new(
        users: BTreeMap<String, String>,
        headers: Vec<(http::HeaderName, HeaderValue)>,
        failures: Counter,
    ) -> Arc<Self> {
        Arc::new(Self {
            users,
            remembered: Mutex::new(HashSet::new()),
            hashing: Semaphore::new(2),
            failures,
            headers,
        })
    }

    /// Whether the `Authorization` header holds a user's password.
    async fn check(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else {
            return false;
        };
        let pair = (user, password);
        if self.remembered.lock().contains(&pair) {
            return true;
        }
        let hash = match self.users.get(&pair.0) {
            Some(h) => h.clone(),
            None => dummy_hash().to_owned(),
        };
        let known = self.users.contains_key(&pair.0);
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let password = pair.1.clone();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
            && known;
        if ok {
            let mut remembered = self.remembered.lock();
            if remembered.len() >= REMEMBERED {
                remembered.clear();
            }
            remembered.insert(pair);
        }
        ok
    }
}

/// A hash to check unknown users against (made once).
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("tailwatch: no such user", 10).unwrap_or_default())
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
/// credentials; `/health` marked [`Anonymous`] instead; the configured
/// headers on every answer.
pub(super) async fn middleware(
    State(auth): State<Arc<BasicAuth>>,
    mut req: Request,
    next: Next,
) -> Response {
    let ok = auth.users.is_empty() || auth.check(req.headers().get(header::AUTHORIZATION)).await;
    let mut response = if ok {
        if !auth.users.is_empty() {
            req.extensions_mut().insert(Authenticated);
        }
        next.run(req).await
    } else if req.uri().path() == "/health" {
        req.extensions_mut().insert(Anonymous);
        next.run(req).await
    } else {
        auth.failures.increment();
        let mut r = (
            StatusCode::UNAUTHORIZED,
            Body::from("unauthorized: the tailwatch agent needs basic auth credentials\n"),
        )
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tailwatch\", charset=\"UTF-8\""),
        );
        r
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
