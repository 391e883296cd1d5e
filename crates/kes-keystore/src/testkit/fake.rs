//! The shared plumbing of the in-process FAKES of vendor REST APIs, for
//! tests only (feature `testkit`): HTTPS servers on `127.0.0.1:0` that
//! implement exactly the calls, bodies, status codes and error bodies the
//! appliance key stores use, with tokens that expire, failure injection and
//! counters. Each fake lives beside its back end:
//!
//! - [`crate::entrust::fake::FakeKeyControl`]: Entrust KeyControl Secrets Vault.
//! - [`crate::gemalto::fake::FakeCipherTrust`]: Thales CipherTrust Manager (KeySecure).
//! - [`crate::azure::fake::FakeKeyVault`]: Azure Key Vault and its token endpoints.
//! - [`crate::fortanix::fake::FakeFortanix`]: Fortanix DSM (SDKMS).
//! - [`crate::gcp::fake::FakeGoogle`]: Google's OAuth token endpoint (the
//!   Secret Manager API itself is tested against drongo).
//!
//! This module owns what they share: a throw-away PKI ([`FakePki`], an
//! rcgen CA and a server certificate for `127.0.0.1`/`localhost`, with the CA
//! written to a PEM file for the stores' `ca` option), the HTTPS server loop
//! and `FakeAppliance` (PKI, server and the locked state a vendor's handler
//! mutates). Servers stop when their fake is dropped. Nothing here is used by
//! the stores themselves.
//!
//! A build with some back ends compiled out (cargo features) leaves parts of
//! this module unused; the build with every back end, which CI lints, keeps
//! the dead-code check meaningful.
#![cfg_attr(
    not(all(
        feature = "entrust",
        feature = "gemalto",
        feature = "azure",
        feature = "gcp",
        feature = "fortanix"
    )),
    allow(dead_code, unused_imports)
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A request as the fakes see it: the body is read completely.
#[derive(Debug)]
pub struct FakeRequest {
    /// The method.
    pub method: Method,
    /// The path, without query.
    pub path: String,
    /// The query string, without `?` (empty if none).
    pub query: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl FakeRequest {
    /// The value of query parameter `key`, if present.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

/// The answer of a fake handler.
pub type FakeResponse = http::Response<Full<Bytes>>;

/// A synchronous request handler.
type Handler = Arc<dyn Fn(FakeRequest) -> FakeResponse + Send + Sync>;

/// An answer with status, content type and body.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> FakeResponse {
    let mut resp = http::Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> FakeResponse {
    respond(status, "application/json", value.to_string())
}

/// A percent-encoded query value or form field decoded (`+` is a space,
/// as in `application/x-www-form-urlencoded`); `None` if malformed.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A random lowercase hex string of `bytes` random bytes.
pub(crate) fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A throw-away PKI: a CA, a server certificate for `127.0.0.1` and
/// `localhost` signed by it, and the CA certificate as a PEM file (removed
/// on drop).
pub struct FakePki {
    ca_pem: String,
    ca_file: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for FakePki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakePki")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl FakePki {
    /// Generates a fresh CA and server certificate.
    pub fn generate() -> std::io::Result<Self> {
        let err = |e: rcgen::Error| std::io::Error::other(format!("fake PKI: {e}"));
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            DnType::CommonName,
            format!("KES test fake CA {}", random_hex(4)),
        );
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "KES test fake appliance");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &issuer).map_err(err)?;

        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(std::io::Error::other)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let ca_file = std::env::temp_dir().join(format!(
            "kes-fake-ca-{}-{}-{}.pem",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            random_hex(4)
        ));
        let ca_pem = ca_cert.pem();
        std::fs::write(&ca_file, &ca_pem)?;
        Ok(Self {
            ca_pem,
            ca_file,
            server: Arc::new(server),
        })
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The file holding the CA certificate (PEM).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }
}

impl Drop for FakePki {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// A running HTTPS (or plain HTTP) server; stops (with all its
/// connections) on drop.
pub(crate) struct FakeServer {
    addr: SocketAddr,
    tls: bool,
    task: JoinHandle<()>,
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves `handler` over TLS with `pki`.
    pub(crate) async fn start(pki: &FakePki, handler: Handler) -> std::io::Result<Self> {
        Self::bind(
            Some(tokio_rustls::TlsAcceptor::from(Arc::clone(&pki.server))),
            handler,
        )
        .await
    }

    /// Binds `127.0.0.1:0` and serves `handler` over plain HTTP (for a
    /// fake a store reaches by a URL of its own, such as GCP's token
    /// endpoint, which no `ca` option covers).
    pub(crate) async fn start_plain(handler: Handler) -> std::io::Result<Self> {
        Self::bind(None, handler).await
    }

    async fn bind(
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        handler: Handler,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tls = acceptor.is_some();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let tcp = match listener.accept().await {
                    Ok((tcp, _)) => tcp,
                    Err(_) => {
                        // E.g. too many open files: back off instead of spinning.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let handler = Arc::clone(&handler);
                conns.spawn(async move {
                    match acceptor {
                        // Handshake failures (untrusted CA tests) just close.
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(TokioIo::new(tls), handler).await;
                            }
                        }
                        None => serve(TokioIo::new(tcp), handler).await,
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self { addr, tls, task })
    }

    /// `https://127.0.0.1:<port>` (`http://` for a plain server).
    pub(crate) fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

/// Serves one connection with `handler`.
async fn serve<I>(io: TokioIo<I>, handler: Handler)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: http::Request<Incoming>| {
        let handler = Arc::clone(&handler);
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map(|c| c.to_bytes());
            let resp = match body {
                Ok(body) => handler(FakeRequest {
                    method: parts.method,
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or("").to_owned(),
                    headers: parts.headers,
                    body,
                }),
                Err(e) => respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("cannot read body: {e}"),
                ),
            };
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running fake appliance: its PKI, its HTTPS server and the state its
/// handler serves requests from; stops on drop.
pub(crate) struct FakeAppliance<S> {
    state: Arc<Mutex<S>>,
    server: FakeServer,
    pki: FakePki,
}

impl<S: Send + 'static> FakeAppliance<S> {
    /// Starts a fake with its own PKI on `127.0.0.1:0`, answering every
    /// request with `handle` on the locked `state`.
    pub(crate) async fn start(
        state: S,
        handle: fn(&mut S, FakeRequest) -> FakeResponse,
    ) -> std::io::Result<Self> {
        let pki = FakePki::generate()?;
        let state = Arc::new(Mutex::new(state));
        let handler_state = Arc::clone(&state);
        let server = FakeServer::start(
            &pki,
            Arc::new(move |req| handle(&mut lock(&handler_state), req)),
        )
        .await?;
        Ok(Self { state, server, pki })
    }

    /// `https://127.0.0.1:<port>`.
    pub(crate) fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// The PKI whose CA signed the fake's certificate.
    pub(crate) fn pki(&self) -> &FakePki {
        &self.pki
    }

    /// The state, locked (a panicked handler does not poison it).
    pub(crate) fn state(&self) -> MutexGuard<'_, S> {
        lock(&self.state)
    }
}

fn lock<S>(state: &Mutex<S>) -> MutexGuard<'_, S> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_is_decoded() {
        assert_eq!(percent_decode("a%2Bb+c%3a").as_deref(), Some("a+b c:"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn query_params_are_found() {
        let req = FakeRequest {
            method: Method::GET,
            path: "/".into(),
            query: "limit=200&skip=0&flag".into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        assert_eq!(req.query_param("skip"), Some("0"));
        assert_eq!(req.query_param("flag"), Some(""));
        assert_eq!(req.query_param("x"), None);
    }

    #[test]
    fn pki_writes_and_removes_the_ca_file() {
        let pki = FakePki::generate().unwrap();
        let path = pki.ca_file().to_path_buf();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        drop(pki);
        assert!(!path.exists());
    }
}
