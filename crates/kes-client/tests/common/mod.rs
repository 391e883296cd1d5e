//! A small in-process HTTPS test server with canned responses: it records
//! every request (method, path, body, content type, HTTP version and the
//! identity of the client certificate) and answers via a handler closure.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kes_server::tls::verifier::AnyClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The API key of §6.4 (`root.key`) and its identity.
pub const ROOT_API_KEY: &str = "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc";
/// Identity of [`ROOT_API_KEY`].
pub const ROOT_IDENTITY: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub version: http::Version,
    pub identity: String,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A canned answer.
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub chunks: Vec<Vec<u8>>,
}

pub fn json(status: u16, v: serde_json::Value) -> Canned {
    let mut body = serde_json::to_vec(&v).unwrap();
    body.push(b'\n');
    Canned {
        status,
        headers: vec![("content-type", "application/json".into())],
        chunks: vec![body],
    }
}

pub fn ok_empty() -> Canned {
    Canned {
        status: 200,
        headers: vec![],
        chunks: vec![],
    }
}

/// An error exactly as Go KES writes it.
pub fn api_error(status: u16, message: &str) -> Canned {
    Canned {
        status,
        headers: vec![("content-type", "application/json".into())],
        chunks: vec![kes_types::api::ApiError::new(status, message).body()],
    }
}

pub fn text(status: u16, body: &str) -> Canned {
    Canned {
        status,
        headers: vec![("content-type", "text/plain; charset=utf-8".into())],
        chunks: vec![body.as_bytes().to_vec()],
    }
}

pub fn redirect(location: &str) -> Canned {
    Canned {
        status: 301,
        headers: vec![("location", location.into())],
        chunks: vec![],
    }
}

type Handler = dyn Fn(&Recorded) -> Canned + Send + Sync;

/// The test PKI: a CA and a server certificate for 127.0.0.1 and localhost.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    server_cert: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Pki {
    pub fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kes test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Self {
            dir,
            ca_file,
            server_cert: cert.der().clone(),
            server_key: key.serialize_der(),
        }
    }
}

/// A running test server; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub pki: Arc<Pki>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(handler: impl Fn(&Recorded) -> Canned + Send + Sync + 'static) -> Self {
        Self::start_with_pki(Arc::new(Pki::new()), handler).await
    }

    pub async fn start_with_pki(
        pki: Arc<Pki>,
        handler: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
    ) -> Self {
        Self::start_full(pki, &[b"h2", b"http/1.1"], handler).await
    }

    /// A server that only speaks HTTP/1.1 (ALPN).
    pub async fn start_http1(
        handler: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
    ) -> Self {
        Self::start_full(Arc::new(Pki::new()), &[b"http/1.1"], handler).await
    }

    async fn start_full(
        pki: Arc<Pki>,
        alpn: &[&[u8]],
        handler: impl Fn(&Recorded) -> Canned + Send + Sync + 'static,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(Arc::new(AnyClientCert::new(true, &provider)))
            .with_single_cert(
                vec![pki.server_cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone())),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recs = requests.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let conns = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                conns.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let handler = handler.clone();
                let recs = recs.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let identity = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| identity_of(c))
                        .unwrap_or_default();
                    let svc = hyper::service::service_fn(move |req| {
                        let handler = handler.clone();
                        let recs = recs.clone();
                        let identity = identity.clone();
                        async move { serve(req, identity, handler, recs).await }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            pki,
            requests,
            connections,
            task,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// A client builder trusting this server's CA, with the root API key
    /// and fast retries.
    pub fn client(&self) -> kes_client::ClientBuilder {
        kes_client::Client::builder()
            .endpoint(self.endpoint())
            .api_key_str(ROOT_API_KEY)
            .ca(&self.pki.ca_file)
            .retries(
                2,
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(5),
            )
    }
}

async fn serve(
    req: http::Request<Incoming>,
    identity: String,
    handler: Arc<Handler>,
    recs: Arc<Mutex<Vec<Recorded>>>,
) -> Result<http::Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, accept) = (header("content-type"), header("accept"));
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let version = req.version();
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    let rec = Recorded {
        method,
        path,
        body,
        content_type,
        accept,
        version,
        identity,
    };
    let canned = handler(&rec);
    recs.lock().unwrap().push(rec);
    let mut resp = http::Response::builder().status(canned.status);
    for (k, v) in &canned.headers {
        resp = resp.header(*k, v);
    }
    let body = if canned.chunks.len() <= 1 {
        Full::new(Bytes::from(canned.chunks.concat())).boxed()
    } else {
        let frames = canned
            .chunks
            .into_iter()
            .map(|c| Ok::<_, Infallible>(Frame::data(Bytes::from(c))));
        StreamBody::new(futures_util::stream::iter(frames)).boxed()
    };
    Ok(resp.body(body).unwrap())
}

/// Hex SHA-256 of the certificate's SubjectPublicKeyInfo (spec §4.1).
pub fn identity_of(cert: &[u8]) -> String {
    kes_types::Identity::of_certificate(cert)
        .unwrap()
        .into_string()
}

/// A 127.0.0.1 port nobody listens on (connection refused).
pub fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr.to_string()
}
