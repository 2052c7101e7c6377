//! TLS and basic auth from a Prometheus exporter web-config file: a real
//! Prometheus scraping over https with basic auth (and one with a wrong
//! password), plain HTTP to the TLS port refused, `/health` details only
//! for authenticated clients, client certificates, and bad files refused
//! with a clear error. Certificates are made by the test (rcgen).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tailwatch::{Monitor, agent::WebConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;
use common::prometheus::{Prometheus, eventually};
use common::{available, installed, temp_dir};

/// A CA, a server certificate for 127.0.0.1/localhost and a client
/// certificate, written as PEM files into `dir`.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
}

impl Pki {
    fn new(what: &str) -> Self {
        let dir = temp_dir(what);
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |names: Vec<String>, file: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            std::fs::write(dir.join(format!("{file}.crt")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        };
        leaf(vec!["127.0.0.1".into(), "localhost".into()], "server");
        leaf(vec!["scraper".into()], "client");
        std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
        Self {
            dir,
            ca_pem: ca_cert.pem(),
        }
    }

    /// A web-config file in the directory (paths relative to it).
    fn web_config(&self, name: &str, yaml: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, yaml).unwrap();
        p
    }

    /// A TLS client trusting the CA, presenting the client certificate
    /// when `client_cert`.
    fn connector(&self, client_cert: bool) -> tokio_rustls::TlsConnector {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if client_cert {
            let cert = CertificateDer::from_pem_file(self.dir.join("client.crt")).unwrap();
            let key = PrivateKeyDer::from_pem_file(self.dir.join("client.key")).unwrap();
            builder.with_client_auth_cert(vec![cert], key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// `GET path` over TLS with optional basic credentials `user:password`:
/// (status, body), or the error of the handshake.
async fn get_tls(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    path: &str,
    credentials: Option<&str>,
) -> Result<(u16, String), String> {
    use base64::Engine;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let auth = credentials.map_or(String::new(), |c| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(c)
        )
    });
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {raw:?}"))?;
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

/// An agent on loopback with the web-config file `file`.
async fn with_web_config(m: &Monitor, file: &std::path::Path) -> tailwatch::Agent {
    tailwatch::AgentBuilder::new(m)
        .listen("127.0.0.1:0".parse().unwrap())
        .web_config_file(file)
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// TLS with basic auth: right credentials 200, wrong or none 401 and
/// counted, `/health` without credentials gives its status only, plain
/// HTTP to the port is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_basic_auth() {
    let pki = Pki::new("tls-auth");
    let file = pki.web_config(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prom: '{}'\n",
            hash("s3cret")
        ),
    );
    let m = Monitor::new();
    let a = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .health_check("db", || Err("connection refused by 10.0.0.7".into()))
        .web_config_file(&file)
        .unwrap()
        .start()
        .await
        .unwrap();
    let addr = a.local_addr();
    let tls = pki.connector(false);

    let (status, body) = get_tls(addr, &tls, "/metrics", Some("prom:s3cret"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("tailwatch_agent_connections"), "{body}");
    for bad in [Some("prom:wrong"), Some("nobody:s3cret"), None] {
        let (status, body) = get_tls(addr, &tls, "/metrics", bad).await.unwrap();
        assert_eq!(status, 401, "{bad:?}: {body}");
        assert_eq!(get_tls(addr, &tls, "/stats", bad).await.unwrap().0, 401);
    }
    assert_eq!(
        m.registry()
            .counter(tailwatch::agent::AUTH_FAILURES, &[])
            .unwrap()
            .value(),
        6
    );
    // /health answers everyone; its details only the authenticated.
    let (status, body) = get_tls(addr, &tls, "/health", None).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(body, r#"{"status":"failing"}"#);
    let (status, body) = get_tls(addr, &tls, "/health", Some("prom:s3cret"))
        .await
        .unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("connection refused by 10.0.0.7"), "{body}");

    // Plain HTTP to the TLS port: no answer, connection closed, counted.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer))
        .await
        .expect("the agent closes a plain-HTTP connection");
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "{answer:?}"
    );
    assert!(common::closed_connections(&m, "tls_handshake") >= 1);
    a.stop().await;
}

/// `RequireAndVerifyClientCert`: a client without a certificate from the
/// CA cannot connect; one with it can.
#[tokio::test]
async fn client_certificates_are_required_and_verified() {
    let pki = Pki::new("tls-mtls");
    let file = pki.web_config(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    );
    let a = tailwatch::AgentBuilder::new(&Monitor::new())
        .listen("127.0.0.1:0".parse().unwrap())
        .web_config(WebConfig::from_file(&file).unwrap())
        .start()
        .await
        .unwrap();
    let with = get_tls(a.local_addr(), &pki.connector(true), "/metrics", None).await;
    assert_eq!(with.unwrap().0, 200);
    let without = get_tls(a.local_addr(), &pki.connector(false), "/metrics", None).await;
    assert!(without.is_err(), "{without:?}");
}

/// Files that cannot be used are refused when read, naming what is wrong.
#[test]
fn bad_web_config_files_are_clear_errors() {
    let pki = Pki::new("tls-bad");
    let cases = [
        (
            "tls_server_config:\n  cert_file: server.crt\n",
            "needs cert_file and key_file",
        ),
        (
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n",
            "nope.crt",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n",
            "do not go together",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
            "without verifying",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_allowed_sans: [a]\n",
            "client_allowed_sans",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n",
            "min_version",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCerts\n",
            "expected one of `NoClientCert`",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  max_version: TLS11\n",
            "max_version: TLS11 is not supported; use TLS12 or TLS13",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n  max_version: TLS12\n",
            "min_version is above max_version",
        ),
        (
            "basic_auth_users:\n  prom: plaintext\n",
            "not a bcrypt hash",
        ),
        (
            // A hash cut short (60 characters make one): every login would fail.
            "basic_auth_users:\n  prom: $2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lh\n",
            "basic_auth_users.prom is not a bcrypt hash",
        ),
        ("http_server_config:\n  http2: true\n", "HTTP/1.1 only"),
        ("tls_server_config: [", "web.yml"),
    ];
    for (yaml, says) in cases {
        let file = pki.web_config("web.yml", yaml);
        let e = WebConfig::from_file(&file).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains("web.yml"), "{yaml}: {e}");
    }
    let e = WebConfig::from_file(Path::new("/no/such/web.yml")).unwrap_err();
    assert!(e.to_string().contains("/no/such/web.yml"), "{e}");
    // An empty file: plain HTTP, no auth.
    let file = pki.web_config("empty.yml", "");
    let c = WebConfig::from_file(&file).unwrap();
    assert!(!c.tls() && !c.basic_auth());
}

/// A real Prometheus 2.42 scraping over https (`tls_config.ca_file`) with
/// basic auth: `up == 1`; a job with a wrong password: `up == 0`, its
/// scrape error 401. And a plain job through a tap: Prometheus is sent a
/// gzipped scrape and reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_over_tls_with_basic_auth() {
    if !available(
        installed("prometheus"),
        "prometheus",
        "apt-get install prometheus",
    ) {
        return;
    }
    let pki = Pki::new("tls-prometheus");
    let file = pki.web_config(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prom: '{}'\n",
            hash("s3cret")
        ),
    );
    let m = Monitor::new();
    m.operation("db.get_user")
        .record(Duration::from_millis(3), tailwatch::measure::Ended::Ok);
    let a = with_web_config(&m, &file).await;
    let target = a.local_addr();
    // A plain agent behind a proxy that notes the answers' encoding: does
    // Prometheus get (and read) a gzipped scrape?
    let plain = tailwatch::AgentBuilder::new(&m)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let (proxy, gzipped) = tap(plain.local_addr()).await;
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: ca.crt\n    \
             basic_auth:\n      username: prom\n      password: {password}\n    \
             static_configs:\n      - targets: ['{target}']\n"
        )
    };
    let scrape = job("right", "s3cret")
        + &job("wrong", "guess")
        + &format!("  - job_name: gzip\n    static_configs:\n      - targets: ['{proxy}']\n");
    let ca = pki.ca_pem.clone();
    let prom = Prometheus::start_config(&scrape, None, &[], move |dir| {
        std::fs::write(dir.join("ca.crt"), ca).unwrap();
    })
    .await;
    eventually(&prom, "up", |r| r.len() == 3).await;
    let targets = prom.api("/api/v1/targets").await;
    let up = prom.query("up").await;
    let of = |job: &str| {
        up.iter()
            .find(|(l, _)| l["job"] == job)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert_eq!(of("right"), 1.0, "{targets}");
    assert_eq!(of("wrong"), 0.0);
    assert_eq!(of("gzip"), 1.0);
    let counted = eventually(
        &prom,
        "operation_duration_seconds_count{job=\"gzip\",outcome=\"ok\"}",
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(counted[0].1, 1.0);
    assert!(
        gzipped.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "Prometheus was not sent a gzipped scrape"
    );
    let samples = eventually(
        &prom,
        "operation_duration_seconds_count{job=\"right\",outcome=\"ok\"}",
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(samples[0].1, 1.0);
    let wrong = targets["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == "wrong")
        .unwrap();
    assert!(
        wrong["lastError"].as_str().unwrap().contains("401"),
        "{wrong}"
    );
}

/// A TCP proxy to `upstream` on a free port, counting the answers whose
/// head says `Content-Encoding: gzip`.
async fn tap(upstream: SocketAddr) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gzipped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = gzipped.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut buf = vec![0_u8; 64 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                    if text.contains("content-encoding: gzip") {
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, gzipped)
}

/// A web-config with TLS and no users (and no client certificates
/// required) is said at start: TLS alone lets every client read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_without_users_is_warned_about() {
    let pki = Pki::new("tls-no-users");
    let file = pki.web_config(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let m = Monitor::new();
    let a = with_web_config(&m, &file).await;
    assert_eq!(a.warnings().len(), 1, "{:?}", a.warnings());
    assert!(
        a.warnings()[0].contains("no basic_auth_users"),
        "{:?}",
        a.warnings()
    );
    let with_users = pki.web_config(
        "users.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             basic_auth_users:\n  prom: '{}'\n",
            hash("s3cret")
        ),
    );
    let b = with_web_config(&m, &with_users).await;
    assert!(b.warnings().is_empty(), "{:?}", b.warnings());
}
