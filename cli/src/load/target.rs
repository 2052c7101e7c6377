//! The URLs `tailwatch load` sends to: parsed and resolved once, each an
//! endpoint reported on its own (named by its URL as given, so `{id}`
//! paths are one endpoint).

use std::net::SocketAddr;

/// Ids a `{id}` in a path takes, uniformly.
const IDS: u64 = 1000;

/// One URL to load.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The URL as given: the endpoint's name in reports.
    pub(crate) name: String,
    /// Where to connect.
    pub(crate) addr: SocketAddr,
    /// The `Host` header.
    pub(crate) host: String,
    /// The path and query, `{id}` still in it.
    pub(crate) path: String,
    pub(crate) method: http::Method,
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub(crate) body: axum::body::Bytes,
    /// Its share of the requests.
    pub(crate) weight: u32,
}

impl Endpoint {
    /// The path of one request: each `{id}` replaced by an id in 1..=1000
    /// drawn from `random` (a uniform value in [0, 1)).
    pub(crate) fn path(&self, random: impl FnMut() -> f64) -> String {
        if !self.path.contains("{id}") {
            return self.path.clone();
        }
        let mut random = random;
        let mut out = String::with_capacity(self.path.len() + 4);
        let mut rest = self.path.as_str();
        while let Some(i) = rest.find("{id}") {
            out.push_str(&rest[..i]);
            let id = 1 + (random() * IDS as f64) as u64;
            out.push_str(&id.min(IDS).to_string());
            rest = &rest[i + 4..];
        }
        out.push_str(rest);
        out
    }
}

/// Parses and resolves `url`; a clear message when it cannot be loaded.
pub(crate) async fn endpoint(url: &str) -> Result<Endpoint, String> {
    // `{id}` is not valid in a URI: parse with a stand-in.
    let uri: http::Uri = url.replace("{id}", "0").parse().map_err(|e| {
        format!("{url:?} is not a URL ({e}); write e.g. http://127.0.0.1:8080/users/{{id}}")
    })?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url}: https is not supported yet; load the service over http (e.g. its port inside the network)"
            ));
        }
        _ => return Err(format!("{url:?}: the URL must start with http://")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url:?}: no host in the URL"))?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{url}: cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: {host} has no address"))?;
    let start = url
        .find("://")
        .map(|i| i + 3)
        .and_then(|s| url[s..].find('/').map(|p| s + p));
    let path = start.map_or("/".to_owned(), |p| url[p..].to_owned());
    Ok(Endpoint {
        name: url.to_owned(),
        addr,
        host: authority.as_str().to_owned(),
        path,
        method: http::Method::GET,
        headers: Vec::new(),
        body: axum::body::Bytes::new(),
        weight: 1,
    })
}

/// The endpoint of a plan's entry (named `METHOD URL` unless it is a GET).
pub(crate) async fn planned(p: super::plan::Planned) -> Result<Endpoint, String> {
    let mut e = endpoint(&p.url).await?;
    if p.method != http::Method::GET {
        e.name = format!("{} {}", p.method, p.url);
    }
    e.method = p.method;
    e.headers = p.headers;
    e.body = p.body.map(axum::body::Bytes::from).unwrap_or_default();
    e.weight = p.weight;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn urls_are_parsed_with_their_id_templates() {
        let e = block_on(endpoint("http://127.0.0.1:8080/users/{id}?x=1")).unwrap();
        assert_eq!(e.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(e.host, "127.0.0.1:8080");
        assert_eq!(e.path, "/users/{id}?x=1");
        let mut draws = [0.0, 0.999_999, 0.5].into_iter();
        assert_eq!(e.path(|| draws.next().unwrap()), "/users/1?x=1");
        assert_eq!(e.path(|| draws.next().unwrap()), "/users/1000?x=1");
        assert_eq!(e.path(|| draws.next().unwrap()), "/users/501?x=1");
        let root = block_on(endpoint("http://localhost:9")).unwrap();
        assert_eq!(root.path, "/");
        assert!(root.addr.ip().is_loopback());
        for bad in ["nowhere", "ftp://x/", "https://127.0.0.1/", "http:///x"] {
            assert!(block_on(endpoint(bad)).is_err(), "{bad}");
        }
    }
}
