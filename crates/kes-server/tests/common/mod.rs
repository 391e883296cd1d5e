//! Shared test harness: a small PKI (rcgen), an in-process server on
//! 127.0.0.1:0, a key store with failure injection, and an HTTPS test client
//! built on hyper + tokio-rustls that speaks HTTP/1.1 or HTTP/2.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError, ListPage, Status};
use kes_server::api::routes::RouteOverride;
use kes_server::auth::PolicySpec;
use kes_server::level::Level;
use kes_server::state::{Server, Settings};
use kes_server::tls::{CertSource, ClientAuth, TlsSettings};
use kes_types::KeyName;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

// ---------------------------------------------------------------- PKI

/// A certificate and its key.
pub struct Cert {
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
    pub pem: String,
    pub key_pem: String,
    /// Identity: hex SHA-256 of the SPKI.
    pub identity: String,
}

impl Clone for Cert {
    fn clone(&self) -> Self {
        Self {
            der: self.der.clone(),
            key: self.key.clone_key(),
            pem: self.pem.clone(),
            key_pem: self.key_pem.clone(),
            identity: self.identity.clone(),
        }
    }
}

pub fn identity_of_spki(spki: &[u8]) -> String {
    kes_types::Identity::of_spki(spki).into_string()
}

fn finish(cert: rcgen::Certificate, key: &KeyPair) -> Cert {
    use rcgen::PublicKeyData;
    Cert {
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        pem: cert.pem(),
        key_pem: key.serialize_pem(),
        identity: identity_of_spki(&key.subject_public_key_info()),
    }
}

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub cert: Cert,
}

impl Ca {
    pub fn new() -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kes test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let cert = finish(cert, &key);
        Self { params, key, cert }
    }

    pub fn server_cert(&self) -> Cert {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = Issuer::from_params(&self.params, &self.key);
        finish(params.signed_by(&key, &issuer).unwrap(), &key)
    }

    pub fn client_cert(&self, cn: &str) -> Cert {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = Issuer::from_params(&self.params, &self.key);
        finish(params.signed_by(&key, &issuer).unwrap(), &key)
    }
}

/// A self-signed Ed25519 client certificate (like an API-key certificate).
pub fn self_signed_client(cn: &str) -> Cert {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    finish(params.self_signed(&key).unwrap(), &key)
}

/// A self-signed client certificate that (wrongly) says CA:TRUE.
pub fn self_signed_ca_flagged(cn: &str) -> Cert {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    finish(params.self_signed(&key).unwrap(), &key)
}

// ---------------------------------------------------------------- key store

/// An in-memory key store whose status and operations can be made to fail.
#[derive(Debug, Default)]
pub struct TestStore {
    keys: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
    pub unreachable: AtomicBool,
    pub broken: AtomicBool,
    /// Milliseconds every status call sleeps.
    pub status_delay_ms: std::sync::atomic::AtomicU64,
}

impl TestStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn check(&self) -> Result<(), KeyStoreError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(KeyStoreError::new(
                ErrorKind::Unreachable,
                "connection refused",
            ));
        }
        if self.broken.load(Ordering::SeqCst) {
            return Err(KeyStoreError::backend("test", "internal failure"));
        }
        Ok(())
    }

    pub fn put_raw(&self, name: &str, value: &[u8]) {
        self.keys
            .lock()
            .unwrap()
            .insert(name.to_string(), Zeroizing::new(value.to_vec()));
    }
}

#[async_trait]
impl KeyStore for TestStore {
    fn description(&self) -> String {
        "Test store".into()
    }
    async fn status(&self) -> Result<Status, KeyStoreError> {
        let delay = self.status_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        self.check()?;
        Ok(Status {
            latency: Duration::from_micros(10),
        })
    }
    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        self.check()?;
        let mut keys = self.keys.lock().unwrap();
        if keys.contains_key(name.as_str()) {
            return Err(KeyStoreError::already_exists());
        }
        keys.insert(name.to_string(), Zeroizing::new(value.to_vec()));
        Ok(())
    }
    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        self.check()?;
        self.keys
            .lock()
            .unwrap()
            .get(name.as_str())
            .cloned()
            .ok_or_else(KeyStoreError::not_found)
    }
    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        self.check()?;
        self.keys
            .lock()
            .unwrap()
            .remove(name.as_str())
            .map(|_| ())
            .ok_or_else(KeyStoreError::not_found)
    }
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        self.check()?;
        let keys = self.keys.lock().unwrap();
        let limit = limit.min(kes_keystore::MAX_LIST);
        let mut names: Vec<String> = keys
            .keys()
            .filter(|k| k.starts_with(prefix) && k.as_str() >= start)
            .cloned()
            .collect();
        let next = (names.len() > limit).then(|| names[limit].clone());
        names.truncate(limit);
        Ok(ListPage { names, next })
    }
}

// ---------------------------------------------------------------- server

pub struct Pki {
    pub ca: Ca,
    pub server: Cert,
    pub admin: Cert,
    pub app: Cert,
    pub stranger: Cert,
}

impl Pki {
    pub fn new() -> Self {
        let ca = Ca::new();
        let server = ca.server_cert();
        Self {
            server,
            admin: self_signed_client("admin"),
            app: self_signed_client("app"),
            stranger: self_signed_client("stranger"),
            ca,
        }
    }
}

pub fn spec(allow: &[&str], deny: &[&str], ids: &[&str]) -> PolicySpec {
    PolicySpec {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: deny.iter().map(|s| s.to_string()).collect(),
        identities: ids.iter().map(|s| s.to_string()).collect(),
    }
}

/// The default test settings: admin = `pki.admin`, policy `app` for
/// `pki.app` allowing app keys and status.
pub fn settings(pki: &Pki, store: Arc<dyn KeyStore>) -> Settings {
    let mut policies = BTreeMap::new();
    policies.insert(
        "app".to_string(),
        spec(
            &[
                "/v1/key/create/app-*",
                "/v1/key/generate/app-*",
                "/v1/key/decrypt/app-*",
                "/v1/key/describe/app-*",
                "/v1/key/list/*",
                "/v1/status",
                "/v1/identity/describe/*",
            ],
            &["/v1/key/generate/app-secret*"],
            &[&pki.app.identity],
        ),
    );
    Settings {
        admin: pki.admin.identity.clone(),
        tls: TlsSettings {
            source: CertSource::Memory {
                chain: vec![pki.server.der.clone()],
                key: pki.server.key.clone_key(),
            },
            auth: ClientAuth::Off,
            optional_client_cert: false,
        },
        policies,
        api: BTreeMap::<String, RouteOverride>::new(),
        cache: Default::default(),
        error_level: Level::INFO,
        audit_level: Level::INFO,
        keys: vec![],
        rotations: vec![],
        store,
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Arc<Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(settings: Settings) -> Self {
        let server = Server::new(settings).await.expect("server state");
        Self::start_with(server).await
    }

    pub async fn start_with(server: Arc<Server>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kes_server::accept::serve(
            server.clone(),
            listener,
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        Self {
            addr,
            server,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

// ---------------------------------------------------------------- client

#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
    /// Asserts an API error, byte for byte.
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.content_type(), "application/json");
        let want = kes_types::api::ApiError::new(status, message).body();
        assert_eq!(self.text(), String::from_utf8(want).unwrap());
    }
    pub fn assert_empty_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        assert!(self.body.is_empty());
        assert_eq!(
            self.headers
                .get(http::header::CONTENT_LENGTH)
                .map(|v| v.to_str().unwrap()),
            Some("0")
        );
    }
}

pub enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One HTTPS connection to the test server.
pub struct Conn {
    sender: Sender,
    pub alpn: Option<Vec<u8>>,
    /// The server's leaf certificate (DER).
    pub server_cert: Option<Vec<u8>>,
}

pub struct ClientOpts {
    pub cert: Option<Cert>,
    /// Extra certificates after the leaf.
    pub extra_chain: Vec<CertificateDer<'static>>,
    pub h2: bool,
    pub tls12_only: bool,
}

pub fn client_config(opts: &ClientOpts) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if opts.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)));
    let mut config = match &opts.cert {
        Some(cert) => {
            let mut chain = vec![cert.der.clone()];
            chain.extend(opts.extra_chain.iter().cloned());
            builder
                .with_client_auth_cert(chain, cert.key.clone_key())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if opts.h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Arc::new(config)
}

/// What a TLS handshake with the test server negotiated.
#[derive(Debug)]
pub struct Negotiated {
    pub version: rustls::ProtocolVersion,
    pub suite: rustls::CipherSuite,
    pub kx_group: rustls::NamedGroup,
}

/// Opens a TLS connection to `addr` as `cert` with a client that offers
/// exactly what `provider` lists (in its order) over `versions`, and returns
/// what the server chose.
pub async fn negotiate(
    addr: SocketAddr,
    cert: &Cert,
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Negotiated {
    let provider = Arc::new(provider);
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        .with_client_auth_cert(vec![cert.der.clone()], cert.key.clone_key())
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let conn = tls.get_ref().1;
    Negotiated {
        version: conn.protocol_version().unwrap(),
        suite: conn.negotiated_cipher_suite().unwrap().suite(),
        kx_group: conn.negotiated_key_exchange_group().unwrap().name(),
    }
}

impl Conn {
    pub async fn open(addr: SocketAddr, opts: &ClientOpts) -> Result<Self, String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let connector = TlsConnector::from(client_config(opts));
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let alpn = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
        let server_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec());
        let io = TokioIo::new(tls);
        let sender = if alpn.as_deref() == Some(b"h2") {
            let (s, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Sender::H2(s)
        } else {
            let (s, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Sender::H1(s)
        };
        Ok(Self {
            sender,
            alpn,
            server_cert,
        })
    }

    pub async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await.map_err(|e| e.to_string())
            }
            Sender::H2(s) => {
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await.map_err(|e| e.to_string())
            }
        }
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Resp, String> {
        let mut b = Request::builder().method(method).uri(path);
        if matches!(self.sender, Sender::H1(_)) {
            b = b.header(http::header::HOST, "localhost");
        }
        if body.is_some() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = b
            .body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))
            .unwrap();
        let resp = self.send(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// A client that opens a connection per call (simple) with one certificate.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub cert: Option<Cert>,
    pub h2: bool,
    pub tls12_only: bool,
}

impl Client {
    pub fn new(addr: SocketAddr, cert: &Cert) -> Self {
        Self {
            addr,
            cert: Some(cert.clone()),
            h2: false,
            tls12_only: false,
        }
    }

    pub fn anonymous(addr: SocketAddr) -> Self {
        Self {
            addr,
            cert: None,
            h2: false,
            tls12_only: false,
        }
    }

    pub async fn conn(&self) -> Result<Conn, String> {
        Conn::open(
            self.addr,
            &ClientOpts {
                cert: self.cert.clone(),
                extra_chain: vec![],
                h2: self.h2,
                tls12_only: self.tls12_only,
            },
        )
        .await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&[u8]>) -> Resp {
        let mut conn = self.conn().await.expect("connect");
        conn.request(method, path, body).await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Resp {
        self.call(Method::POST, path, Some(body.as_bytes())).await
    }
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Opens a log stream (`GET path`) and checks its 200 and content type;
/// the connection must be kept for as long as the stream is read.
pub async fn open_stream(c: &Client, path: &str) -> (Conn, hyper::body::Incoming) {
    let mut conn = c.conn().await.unwrap();
    let mut b = Request::builder().method(Method::GET).uri(path);
    if matches!(conn.sender, Sender::H1(_)) {
        b = b.header(http::header::HOST, "localhost");
    }
    let resp = conn
        .send(b.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    (conn, resp.into_body())
}

/// Reads NDJSON lines from a stream until one satisfies `want` (10 s at
/// most).
pub async fn next_line_where(
    body: &mut hyper::body::Incoming,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buf = Vec::new();
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
            }
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
                if want(&v) {
                    return v;
                }
            }
        }
    })
    .await
    .expect("stream line within 10 s")
}
