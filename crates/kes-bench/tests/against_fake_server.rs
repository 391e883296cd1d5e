//! Runs every workload of `kes-bench` against a tiny in-process hyper TLS
//! server that imitates the KES key endpoints (no crypto: its "ciphertext" is
//! `context|plaintext`). Checks counts, never timings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clap::Parser as _;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kes_bench::{Args, BenchConfig, Report};
use kes_crypto::ApiKey;
use kes_server::tls::verifier::AnyClientCert;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the fake server saw.
#[derive(Default)]
struct Seen {
    /// TLS connections whose client certificate holds the expected public key.
    good_certs: AtomicU64,
    /// TLS connections with any other certificate.
    other_certs: AtomicU64,
    /// Requests by "METHOD /v1/key/<op>".
    requests: Mutex<BTreeMap<String, u64>>,
    /// Contexts seen in generate requests.
    contexts: Mutex<Vec<String>>,
    /// Live keys (create adds, delete removes).
    keys: Mutex<std::collections::BTreeSet<String>>,
    counter: AtomicU64,
}

impl Seen {
    fn count(&self, what: &str) -> u64 {
        self.requests
            .lock()
            .unwrap()
            .get(what)
            .copied()
            .unwrap_or(0)
    }
}

struct FakeServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
    cert_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server(client_public_key: [u8; 32]) -> FakeServer {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = certified.cert.pem();
    let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(Arc::new(AnyClientCert::new(true, &provider)))
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let task = tokio::spawn({
        let seen = seen.clone();
        async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let good = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .is_some_and(|c| c.windows(32).any(|w| w == client_public_key));
                    let counter = if good {
                        &seen.good_certs
                    } else {
                        &seen.other_certs
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let service = service_fn(move |req| handle(seen.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        }
    });
    FakeServer {
        addr,
        seen,
        cert_pem,
        task,
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r
}

async fn handle(
    seen: Arc<Seen>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(4, '/').collect();
    if path == "/version" {
        *seen
            .requests
            .lock()
            .unwrap()
            .entry("GET /version".into())
            .or_default() += 1;
        return Ok(reply(StatusCode::OK, json!({"version": "fake"})));
    }
    let (op, name) = match parts.as_slice() {
        ["v1", "key", op, name] => (op.to_string(), name.to_string()),
        _ => {
            return Ok(reply(
                StatusCode::NOT_FOUND,
                json!({"message": "not found"}),
            ));
        }
    };
    *seen
        .requests
        .lock()
        .unwrap()
        .entry(format!("{method} {op}"))
        .or_default() += 1;
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let field = |f: &str| input[f].as_str().unwrap_or("").to_string();
    if name == "missing" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            json!({"message": "key does not exist"}),
        ));
    }
    let out = match (method, op.as_str()) {
        (Method::POST, "create") => {
            if seen.keys.lock().unwrap().insert(name) {
                reply(StatusCode::OK, Value::Null)
            } else {
                reply(
                    StatusCode::BAD_REQUEST,
                    json!({"message": "key already exists"}),
                )
            }
        }
        (Method::DELETE, "delete") => {
            seen.keys.lock().unwrap().remove(&name);
            reply(StatusCode::OK, Value::Null)
        }
        (Method::POST, "generate") => {
            let context = field("context");
            seen.contexts.lock().unwrap().push(context.clone());
            let n = seen.counter.fetch_add(1, Ordering::Relaxed);
            let mut dek = [0u8; 32];
            dek[..8].copy_from_slice(&n.to_be_bytes());
            let plaintext = B64.encode(dek);
            let ciphertext = B64.encode(format!("{context}|{plaintext}"));
            reply(
                StatusCode::OK,
                json!({"plaintext": plaintext, "ciphertext": ciphertext}),
            )
        }
        (Method::POST, "encrypt") => {
            let ciphertext = B64.encode(format!("{}|{}", field("context"), field("plaintext")));
            reply(StatusCode::OK, json!({"ciphertext": ciphertext}))
        }
        (Method::POST, "decrypt") => {
            let sealed = String::from_utf8(B64.decode(field("ciphertext")).unwrap()).unwrap();
            let (context, plaintext) = sealed.split_once('|').unwrap();
            if context == field("context") {
                reply(StatusCode::OK, json!({"plaintext": plaintext}))
            } else {
                reply(
                    StatusCode::BAD_REQUEST,
                    json!({"message": "decryption failed: ciphertext is not authentic"}),
                )
            }
        }
        _ => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"message": "bad method"}),
        ),
    };
    Ok(out)
}

async fn bench(server: &FakeServer, api_key: &ApiKey, extra: &[&str]) -> Report {
    let endpoint = format!("https://{}", server.addr);
    let encoded = api_key.encode();
    let mut argv = vec![
        "kes-bench",
        "--server",
        &endpoint,
        "--insecure",
        "--api-key",
        encoded.as_str(),
    ];
    argv.extend_from_slice(extra);
    let cfg = BenchConfig::try_from(Args::try_parse_from(argv).unwrap()).unwrap();
    kes_bench::run(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_over_http1_presents_the_api_key_certificate() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(&server, &key, &["-n", "200", "-c", "4", "--verify"]).await;
    assert_eq!(report.responses(), 200);
    assert_eq!(report.ok(), 200);
    assert_eq!(report.failed(), 0);
    assert_eq!(report.stats.verify_failures, 0);
    assert_eq!(report.http, "1.1");
    assert_eq!(server.seen.count("POST generate"), 200);
    assert_eq!(server.seen.count("POST create"), 1);
    // One setup connection plus four measured ones, all with our certificate.
    assert_eq!(server.seen.good_certs.load(Ordering::Relaxed), 5);
    assert_eq!(server.seen.other_certs.load(Ordering::Relaxed), 0);
    let json = report.to_json();
    assert_eq!(json["status"]["200"], 200);
    assert_eq!(json["workload"], "generate");

    // A second run finds the key already there: still fine.
    let again = bench(&server, &key, &["-n", "10", "-c", "1"]).await;
    assert_eq!(again.ok(), 10);
    assert_eq!(server.seen.count("POST create"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrypt_over_http2_multiplexes_streams() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(
        &server,
        &key,
        &[
            "-w",
            "decrypt",
            "--http2",
            "-c",
            "2",
            "-p",
            "4",
            "-n",
            "300",
            "--pool",
            "16",
            "--context",
            "{}",
            "--verify",
        ],
    )
    .await;
    assert_eq!(report.http, "2");
    assert_eq!(report.ok(), 300);
    assert_eq!(report.stats.verify_failures, 0);
    assert_eq!(server.seen.count("POST generate"), 16);
    assert_eq!(server.seen.count("POST decrypt"), 300);
    // Eight streams, but only one setup and two measured connections.
    assert_eq!(server.seen.good_certs.load(Ordering::Relaxed), 3);
    assert!(
        server
            .seen
            .contexts
            .lock()
            .unwrap()
            .iter()
            .all(|c| c == "e30=")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minio_mix_uses_per_object_contexts() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(
        &server,
        &key,
        &[
            "-w", "minio", "-n", "2000", "-c", "3", "--pool", "8", "--verify",
        ],
    )
    .await;
    assert_eq!(report.ok(), 2000);
    assert_eq!(report.stats.verify_failures, 0);
    let generates = server.seen.count("POST generate");
    let decrypts = server.seen.count("POST decrypt");
    assert_eq!(generates + decrypts, 2000 + 8);
    assert_eq!(decrypts, 1000);
    let contexts = server.seen.contexts.lock().unwrap();
    let decoded: std::collections::BTreeSet<String> = contexts
        .iter()
        .map(|c| String::from_utf8(B64.decode(c).unwrap()).unwrap())
        .collect();
    assert_eq!(decoded.len(), 8);
    assert!(decoded.contains(r#"{"bucket":"bucket/object-7"}"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_and_create_delete() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(
        &server,
        &key,
        &[
            "-w",
            "encrypt",
            "-n",
            "50",
            "--plaintext-size",
            "100",
            "--verify",
        ],
    )
    .await;
    assert_eq!(report.ok(), 50);
    assert_eq!(server.seen.count("POST encrypt"), 50);

    let report = bench(
        &server,
        &key,
        &["-w", "create-delete", "-n", "101", "-c", "3"],
    )
    .await;
    assert_eq!(report.ok(), 101);
    let creates = server.seen.count("POST create");
    let deletes = server.seen.count("DELETE delete");
    // The encrypt run created bench-key; the create-delete run alternates
    // create and delete per worker, so at least half its requests are creates.
    assert!(creates > 51, "{creates}");
    assert_eq!(creates - 1, deletes, "cleanup deletes every key it created");
    let keys = server.seen.keys.lock().unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_opens_a_connection_per_request() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(&server, &key, &["-w", "handshake", "-n", "20", "-c", "2"]).await;
    assert_eq!(report.ok(), 20);
    assert!(report.new_conn);
    assert_eq!(server.seen.count("GET /version"), 20);
    assert_eq!(server.seen.good_certs.load(Ordering::Relaxed), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_are_counted_and_durations_end() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(
        &server,
        &key,
        &[
            "--key-name",
            "missing",
            "--no-create",
            "-n",
            "30",
            "-c",
            "2",
        ],
    )
    .await;
    assert_eq!(report.responses(), 30);
    assert_eq!(report.ok(), 0);
    assert_eq!(report.stats.status.get(&404), Some(&30));
    assert!(report.to_text().contains("404: 30"));

    // A duration-bound run ends by itself; every answer is a 200.
    let report = bench(&server, &key, &["-z", "200ms", "-c", "2"]).await;
    assert_eq!(report.ok(), report.responses());
    assert_eq!(report.failed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_files_and_ca_verification() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let dir = tempfile::tempdir().unwrap();
    let encoded = key.encode();
    let export = [
        "kes-bench",
        "--api-key",
        encoded.as_str(),
        "--export-cert",
        dir.path().to_str().unwrap(),
    ];
    let export = BenchConfig::try_from(Args::try_parse_from(export).unwrap()).unwrap();
    kes_bench::tls::export_certificate(&export, dir.path()).unwrap();
    // Never overwrites.
    assert!(kes_bench::tls::export_certificate(&export, dir.path()).is_err());
    let cert = dir.path().join("client.crt");
    let private = dir.path().join("client.key");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let ca = dir.path().join("server.crt");
    std::fs::write(&ca, &server.cert_pem).unwrap();
    let endpoint = format!("https://{}", server.addr);
    let argv = [
        "kes-bench",
        "--server",
        &endpoint,
        "--server-name",
        "localhost",
        "--cacert",
        ca.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        private.to_str().unwrap(),
        "-n",
        "10",
        "-c",
        "1",
    ];
    let cfg = BenchConfig::try_from(Args::try_parse_from(argv).unwrap()).unwrap();
    let report = kes_bench::run(cfg).await.unwrap();
    assert_eq!(report.ok(), 10);
    assert_eq!(server.seen.good_certs.load(Ordering::Relaxed), 2);

    // Verification against the wrong name fails at setup, before any load.
    let argv = [
        "kes-bench",
        "--server",
        &endpoint,
        "--server-name",
        "example.org",
        "--cacert",
        ca.to_str().unwrap(),
        "-n",
        "10",
    ];
    let cfg = BenchConfig::try_from(Args::try_parse_from(argv).unwrap()).unwrap();
    let err = kes_bench::run(cfg).await.unwrap_err();
    assert!(err.to_string().contains("connecting to"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_fills_a_store_and_generate_spreads_over_it() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(
        &server,
        &key,
        &["-w", "create", "--key-name", "k", "-n", "20", "-c", "3"],
    )
    .await;
    assert_eq!(report.ok(), 20);
    {
        let keys = server.seen.keys.lock().unwrap();
        assert_eq!(keys.len(), 20);
        assert!(keys.contains("k-0") && keys.contains("k-19"));
    }
    let report = bench(
        &server,
        &key,
        &["--key-name", "k", "--keys", "20", "-n", "40", "--verify"],
    )
    .await;
    assert_eq!(report.ok(), 40);
    assert_eq!(report.stats.verify_failures, 0);
    // No setup create for spread keys.
    assert_eq!(server.seen.count("POST create"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suite_restriction() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    let report = bench(
        &server,
        &key,
        &[
            "-w",
            "handshake",
            "-n",
            "5",
            "--cipher-suite",
            "tls13_aes_128_gcm_sha256",
        ],
    )
    .await;
    assert_eq!(report.ok(), 5);

    let err = run_error(&server, &["--cipher-suite", "TLS13_NOPE"]).await;
    assert!(err.contains("TLS13_AES_128_GCM_SHA256"), "{err}");
}

/// The error of a one-request run against `server` with `extra` flags.
async fn run_error(server: &FakeServer, extra: &[&str]) -> String {
    let endpoint = format!("https://{}", server.addr);
    let mut argv = vec!["kes-bench", "--server", &endpoint, "-k", "-n", "1"];
    argv.extend_from_slice(extra);
    let cfg = BenchConfig::try_from(Args::try_parse_from(argv).unwrap()).unwrap();
    kes_bench::run(cfg).await.unwrap_err().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_exchange_group_choice() {
    let key = ApiKey::generate().unwrap();
    let server = start_server(key.public_key()).await;
    for group in ["x25519", "secp256r1", "X25519MLKEM768"] {
        let report = bench(
            &server,
            &key,
            &["-w", "handshake", "-n", "3", "--kx-group", group],
        )
        .await;
        assert_eq!(report.ok(), 3, "{group}");
    }

    let err = run_error(&server, &["--kx-group", "ffdhe2048"]).await;
    assert!(
        err.contains("--kx-group \"ffdhe2048\" is not one of") && err.contains("X25519MLKEM768"),
        "{err}"
    );
}
