//! [`WebConfig`]: TLS and basic auth for the agent from a Prometheus
//! exporter web-config file (the exporter-toolkit format node_exporter and
//! the other exporters read), so operators reuse the files they have.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: agent.crt          # paths relative to this file
//!   key_file: agent.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: clients-ca.crt                 # with client auth
//!   min_version: TLS12            # optional: TLS12 (default) or TLS13
//!   max_version: TLS13            # optional
//! http_server_config:
//!   headers:                      # optional: added to every answer
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$...        # bcrypt hashes (htpasswd -nBC 10 "" …)
//! ```
//!
//! What tailwatch does not do, and refuses with an error naming the key
//! (rather than serve with a setting silently ignored): `client_auth_type`
//! `RequestClientCert` and `RequireAnyClientCert` (certificates not
//! verified), `client_allowed_sans`, `cipher_suites`, `curve_preferences`,
//! inline `cert`/`key`, and `http2: true` (the agent speaks HTTP/1.1, as
//! Prometheus scrapes). The files are read once, when the agent starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::error::AgentError;

/// TLS and basic-auth settings read from a web-config file; hand it to
/// [`AgentBuilder::web_config`](crate::AgentBuilder::web_config).
#[derive(Clone)]
pub struct WebConfig {
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
    /// User name → bcrypt hash.
    pub(super) users: BTreeMap<String, String>,
    pub(super) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    path: PathBuf,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl WebConfig {
    /// Reads `path` (YAML, the exporter-toolkit web-config format), its
    /// certificates and keys. An empty file means plain HTTP without auth.
    ///
    /// # Errors
    /// [`AgentError::WebConfig`], naming the file and what is wrong: not
    /// readable, not the format, a key tailwatch does not support, a
    /// certificate or key that cannot be loaded, a user without a bcrypt
    /// hash.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AgentError> {
        let path = path.as_ref();
        let fail = |reason: String| AgentError::WebConfig {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|e| fail(e.to_string()))?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = file
            .tls_server_config
            .map(|t| acceptor(&t, dir))
            .transpose()
            .map_err(fail)?;
        for (user, hash) in &file.basic_auth_users {
            if !hash.starts_with("$2") {
                return Err(fail(format!(
                    "basic_auth_users.{user} is not a bcrypt hash (make one with \
                     `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                )));
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = file.http_server_config {
            if h.http2 == Some(true) {
                return Err(fail(
                    "http_server_config.http2: the agent serves HTTP/1.1 only; remove it or set false"
                        .into(),
                ));
            }
            for (name, value) in h.headers {
                let n = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| fail(format!("{name:?} is not a header name")))?;
                let v = http::HeaderValue::from_str(&value)
                    .map_err(|_| fail(format!("{value:?} is not a header value")))?;
                headers.push((n, v));
            }
        }
        Ok(Self {
            tls,
            users: file.basic_auth_users,
            headers,
            path: path.to_owned(),
        })
    }

    /// Whether the agent serves TLS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether clients must authenticate (basic auth users are set).
    pub fn basic_auth(&self) -> bool {
        !self.users.is_empty()
    }
}

/// The TLS acceptor of a `tls_server_config`.
fn acceptor(t: &TlsFile, dir: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    let _ = t.prefer_server_cipher_suites; // rustls always prefers its own order
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err("tls_server_config needs cert_file and key_file".into());
    };
    let (cert, key) = (dir.join(cert), dir.join(key));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("cert_file {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "cert_file {}: no certificate in it",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| format!("key_file {}: {e}", key.display()))?;
    // TLS 1.2 is 0, TLS 1.3 is 1.
    let version = |v: &Option<String>, key: &str, none: usize| match v.as_deref() {
        None => Ok(none),
        Some("TLS12") => Ok(0),
        Some("TLS13") => Ok(1),
        Some(other) => Err(format!(
            "{key}: {other:?} is not supported; use TLS12 or TLS13"
        )),
    };
    let min = version(&t.min_version, "min_version", 0)?;
    let max = version(&t.max_version, "max_version", 1)?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| (min..=max).contains(i))
            .map(|(_, v)| v)
            .collect();
    if versions.is_empty() {
        return Err("min_version is above max_version".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(format!("client_auth_type {auth} needs client_ca_file"));
            };
            let ca = dir.join(ca);
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&ca)
                .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?
            {
                let c = c.map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider);
            let verifier = if auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "client_auth_type {auth} accepts certificates without verifying them, which \
                 tailwatch does not do; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ));
        }
        other => {
            return Err(format!(
                "client_auth_type {other:?} is not one of NoClientCert, \
                 VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("cert_file and key_file do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
