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
    /// Whether clients must present a certificate the CA signed.
    pub(super) client_certs_required: bool,
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
    #[serde(default)]
    client_auth_type: ClientAuth,
    client_ca_file: Option<PathBuf>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
}

/// `client_auth_type`: exporter-toolkit's names (Go's `tls.ClientAuthType`).
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate asked for (the default).
    #[default]
    NoClientCert,
    /// Asked for, not verified: refused by tailwatch.
    RequestClientCert,
    /// Required, not verified: refused by tailwatch.
    RequireAnyClientCert,
    /// Verified against `client_ca_file` when given.
    VerifyClientCertIfGiven,
    /// Required and verified against `client_ca_file`.
    RequireAndVerifyClientCert,
}

/// `min_version` / `max_version`: exporter-toolkit's names.
#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.0: refused (rustls has no TLS below 1.2).
    TLS10,
    /// TLS 1.1: refused likewise.
    TLS11,
    /// TLS 1.2 (the default minimum).
    TLS12,
    /// TLS 1.3.
    TLS13,
}

/// What is wrong with a web-config file (inside [`AgentError::WebConfig`],
/// which names the file). Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebConfigError {
    /// The file cannot be read.
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    /// Not the web-config format (YAML), or a key tailwatch does not
    /// support (each is named: `client_allowed_sans`, `cipher_suites`,
    /// `curve_preferences`, inline `cert`/`key`, …).
    #[error("{0}")]
    Format(#[source] serde_yaml_ng::Error),
    /// `tls_server_config` without both files.
    #[error("tls_server_config needs cert_file and key_file")]
    MissingCertOrKey,
    /// A certificate, key or CA file that cannot be loaded.
    #[error("{key} {path}: {reason}")]
    Pem {
        /// `cert_file`, `key_file` or `client_ca_file`.
        key: &'static str,
        /// The file, resolved against the web-config file's folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The certificate and the key do not belong together.
    #[error("cert_file and key_file do not go together: {0}")]
    KeyMismatch(#[source] rustls::Error),
    /// Client certificates verified without a CA to verify them with.
    #[error("client_auth_type {0:?} needs client_ca_file")]
    MissingClientCa(ClientAuth),
    /// Client certificates accepted without verification.
    #[error(
        "client_auth_type {0:?} accepts certificates without verifying them, which tailwatch \
         does not do; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
    )]
    UnverifiedClients(ClientAuth),
    /// A TLS version rustls does not speak.
    #[error("{key}: {version:?} is not supported; use TLS12 or TLS13")]
    UnsupportedVersion {
        /// `min_version` or `max_version`.
        key: &'static str,
        /// The version asked for.
        version: TlsVersion,
    },
    /// `min_version` above `max_version`.
    #[error("min_version is above max_version")]
    EmptyVersionRange,
    /// A TLS setting rustls refused.
    #[error("TLS settings refused: {0}")]
    Tls(String),
    /// A `basic_auth_users` entry that is not a whole bcrypt hash
    /// (truncated, or another format): every login would fail.
    #[error(
        "basic_auth_users.{user} is not a bcrypt hash ({reason}); make one with \
         `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
    )]
    NotBcrypt {
        /// The user.
        user: String,
        /// What the bcrypt parser said.
        reason: String,
    },
    /// `http2: true`.
    #[error("http_server_config.http2: the agent serves HTTP/1.1 only; remove it or set false")]
    Http2,
    /// A header name or value in `http_server_config.headers` HTTP does not allow.
    #[error("http_server_config.headers: {0:?} is not a valid header name or value")]
    Header(String),
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
    /// [`AgentError::WebConfig`], naming the file and, as a [`WebConfigError`], what is wrong: not
    /// readable, not the format, a key tailwatch does not support, a
    /// certificate or key that cannot be loaded, a user without a bcrypt
    /// hash.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AgentError> {
        let path = path.as_ref();
        Self::read(path).map_err(|source| AgentError::WebConfig {
            path: path.to_owned(),
            source,
        })
    }

    fn read(path: &Path) -> Result<Self, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(WebConfigError::Read)?;
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(WebConfigError::Format)?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let client_certs_required = file
            .tls_server_config
            .as_ref()
            .is_some_and(|t| t.client_auth_type == ClientAuth::RequireAndVerifyClientCert);
        let tls = file
            .tls_server_config
            .map(|t| acceptor(&t, dir))
            .transpose()?;
        // A hash that cannot be parsed (truncated, pasted with a newline,
        // not bcrypt) would make every login fail: refused now, by name.
        for (user, hash) in &file.basic_auth_users {
            if let Err(e) = hash.parse::<bcrypt::HashParts>() {
                return Err(WebConfigError::NotBcrypt {
                    user: user.clone(),
                    reason: e.to_string(),
                });
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = file.http_server_config {
            if h.http2 == Some(true) {
                return Err(WebConfigError::Http2);
            }
            for (name, value) in h.headers {
                let n = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| WebConfigError::Header(name.clone()))?;
                let v = http::HeaderValue::from_str(&value)
                    .map_err(|_| WebConfigError::Header(value.clone()))?;
                headers.push((n, v));
            }
        }
        Ok(Self {
            tls,
            users: file.basic_auth_users,
            headers,
            client_certs_required,
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
fn acceptor(t: &TlsFile, dir: &Path) -> Result<tokio_rustls::TlsAcceptor, WebConfigError> {
    let _ = t.prefer_server_cipher_suites; // rustls always prefers its own order
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err(WebConfigError::MissingCertOrKey);
    };
    let pem = |key: &'static str, path: &Path| {
        let path = path.to_owned();
        move |e: rustls::pki_types::pem::Error| WebConfigError::Pem {
            key,
            path,
            reason: e.to_string(),
        }
    };
    let (cert, key) = (dir.join(cert), dir.join(key));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(pem("cert_file", &cert))?;
    if certs.is_empty() {
        return Err(WebConfigError::Pem {
            key: "cert_file",
            path: cert,
            reason: "no certificate in it".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(&key).map_err(pem("key_file", &key))?;
    let supported = |key: &'static str, version: TlsVersion| match version {
        TlsVersion::TLS12 | TlsVersion::TLS13 => Ok(version),
        version => Err(WebConfigError::UnsupportedVersion { key, version }),
    };
    let min = supported("min_version", t.min_version.unwrap_or(TlsVersion::TLS12))?;
    let max = supported("max_version", t.max_version.unwrap_or(TlsVersion::TLS13))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, v)| v)
    .collect();
    if versions.is_empty() {
        return Err(WebConfigError::EmptyVersionRange);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| WebConfigError::Tls(e.to_string()))?;
    let auth = t.client_auth_type;
    let builder = match auth {
        ClientAuth::NoClientCert => builder.with_no_client_auth(),
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let Some(ca) = &t.client_ca_file else {
                return Err(WebConfigError::MissingClientCa(auth));
            };
            let ca = dir.join(ca);
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&ca).map_err(pem("client_ca_file", &ca))? {
                let c = c.map_err(pem("client_ca_file", &ca))?;
                roots.add(c).map_err(|e| WebConfigError::Pem {
                    key: "client_ca_file",
                    path: ca.clone(),
                    reason: e.to_string(),
                })?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider);
            let verifier = if auth == ClientAuth::VerifyClientCertIfGiven {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| WebConfigError::Tls(e.to_string()))?,
            )
        }
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            return Err(WebConfigError::UnverifiedClients(auth));
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(WebConfigError::KeyMismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
