//! Error mapping, failover, retries, credentials and TLS options against the
//! canned test server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use kes_client::{Client, ConfigError, Error, TransportKind};
use kes_types::api::errors;
use serde_json::json;

#[tokio::test]
async fn every_error_kind() {
    let srv = TestServer::start(|r| {
        let name = r.path.rsplit('/').next().unwrap();
        match name {
            "key-not-found" => api_error(errors::KEY_NOT_FOUND.0, errors::KEY_NOT_FOUND.1),
            "key-exists" => api_error(errors::KEY_EXISTS.0, errors::KEY_EXISTS.1),
            "legacy-exists" => api_error(400, "key does already exist"),
            "not-allowed" => api_error(errors::NOT_ALLOWED.0, errors::NOT_ALLOWED.1),
            "legacy-not-allowed" => api_error(403, "prohibited by policy"),
            "decrypt" => api_error(errors::DECRYPT.0, errors::DECRYPT.1),
            "policy" => api_error(errors::POLICY_NOT_FOUND.0, errors::POLICY_NOT_FOUND.1),
            "identity" => api_error(errors::IDENTITY_NOT_FOUND.0, errors::IDENTITY_NOT_FOUND.1),
            "hmac" => api_error(409, "key does not support HMAC"),
            "error-field" => json(
                400,
                json!({"message":"ignored","error":"key already exists"}),
            ),
            "plain" => text(404, "404 page not found\n"),
            "json-text" => text(404, "{\"message\":\"key does not exist\"}"),
            "method" => api_error(405, "received method 'POST' expected 'PUT'"),
            _ => api_error(400, "unexpected"),
        }
    })
    .await;
    let c = srv.client().build().unwrap();

    assert!(matches!(
        c.describe_key("key-not-found").await,
        Err(Error::KeyNotFound)
    ));
    assert!(matches!(
        c.create_key("key-exists").await,
        Err(Error::KeyExists)
    ));
    assert!(matches!(
        c.create_key("legacy-exists").await,
        Err(Error::KeyExists)
    ));
    assert!(matches!(
        c.create_key("not-allowed").await,
        Err(Error::NotAllowed)
    ));
    assert!(matches!(
        c.create_key("legacy-not-allowed").await,
        Err(Error::NotAllowed)
    ));
    assert!(matches!(
        c.decrypt("decrypt", b"x", b"").await,
        Err(Error::DecryptFailed)
    ));
    assert!(matches!(
        c.read_policy("policy").await,
        Err(Error::PolicyNotFound)
    ));
    assert!(matches!(
        c.describe_identity("identity").await,
        Err(Error::IdentityNotFound)
    ));
    assert!(matches!(
        c.create_key("error-field").await,
        Err(Error::KeyExists)
    ));
    match c.hmac("hmac", b"m").await {
        Err(Error::Api { status, message }) => {
            assert_eq!(
                (status, message.as_str()),
                (409, "key does not support HMAC")
            );
        }
        other => panic!("{other:?}"),
    }
    match c.create_key("plain").await {
        Err(Error::Api { status, message }) => {
            assert_eq!((status, message.as_str()), (404, "404 page not found"));
        }
        other => panic!("{other:?}"),
    }
    // Not JSON by content type: the raw text is the message, not a canonical error.
    match c.describe_key("json-text").await {
        Err(Error::Api {
            status: 404,
            message,
        }) => {
            assert_eq!(message, "{\"message\":\"key does not exist\"}")
        }
        other => panic!("{other:?}"),
    }
    let e = c.create_key("method").await.unwrap_err();
    assert_eq!(e.status(), Some(405));
    assert_eq!(
        e.to_string(),
        "server error 405: received method 'POST' expected 'PUT'"
    );
}

#[tokio::test]
async fn dead_endpoint_fails_over_to_live_one() {
    let srv = TestServer::start(|_| json(200, json!({"version":"v1"}))).await;
    let dead = dead_endpoint();
    let c = srv
        .client()
        .endpoint(format!("https://{dead}"))
        .build()
        .unwrap();
    // Both are local; the dead one is second in configuration order, so put it
    // first explicitly by building a second client with the order reversed.
    let c2 = Client::builder()
        .endpoints([dead.clone(), srv.endpoint()])
        .api_key_str(ROOT_API_KEY)
        .ca(&srv.pki.ca_file)
        .retries(2, Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .unwrap();
    assert_eq!(c2.endpoints()[0], format!("https://{dead}"));
    assert_eq!(c2.version().await.unwrap().version, "v1");
    assert_eq!(c2.version().await.unwrap().version, "v1");
    assert_eq!(c.version().await.unwrap().version, "v1");
    assert_eq!(srv.count(), 3);
}

#[tokio::test]
async fn all_endpoints_dead_is_a_transport_error() {
    let c = Client::builder()
        .endpoints([dead_endpoint(), dead_endpoint()])
        .api_key_str(ROOT_API_KEY)
        .insecure(true)
        .retries(1, Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .unwrap();
    match c.version().await {
        Err(Error::Transport(t)) => {
            assert_eq!(t.kind, TransportKind::Connect);
            assert!(t.to_string().contains("127.0.0.1"), "{t}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_errors_quarantine_the_endpoint() {
    let bad = TestServer::start(|_| api_error(502, "failed to read key")).await;
    let good =
        TestServer::start_with_pki(bad.pki.clone(), |_| json(200, json!({"version":"good"}))).await;
    let c = Client::builder()
        .endpoints([bad.endpoint(), good.endpoint()])
        .api_key_str(ROOT_API_KEY)
        .ca(&bad.pki.ca_file)
        .build()
        .unwrap();
    // Both are local: the order rotates, so some request meets the bad one
    // first. 502 is not retried in place, the request moves on (a GET is
    // idempotent), and the endpoint is set aside for 30 s.
    for _ in 0..20 {
        assert_eq!(c.version().await.unwrap().version, "good");
    }
    assert!(bad.count() <= 1, "{}", bad.count());
    assert_eq!(good.count(), 20);
}

#[tokio::test]
async fn last_server_error_is_returned_when_all_fail() {
    let srv = TestServer::start(|_| api_error(502, "failed to read key")).await;
    let c = srv.client().build().unwrap();
    match c.describe_key("k").await {
        Err(Error::Api { status, message }) => {
            assert_eq!((status, message.as_str()), (502, "failed to read key"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn service_unavailable_is_retried_in_place() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let srv = TestServer::start(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            api_error(503, "try again")
        } else {
            json(200, json!({"version":"v1"}))
        }
    })
    .await;
    let c = srv.client().build().unwrap();
    assert_eq!(c.version().await.unwrap().version, "v1");
    assert_eq!(srv.count(), 2);
}

#[tokio::test]
async fn persistent_503_gives_up_after_two_retries_then_fails_over() {
    let busy = TestServer::start(|_| api_error(503, "busy")).await;
    let good =
        TestServer::start_with_pki(busy.pki.clone(), |_| json(200, json!({"version":"ok"}))).await;
    // A fresh client each time (no endpoint set aside); the order rotates,
    // so the busy node comes first now and then.
    for _ in 0..64 {
        if busy.count() > 0 {
            break;
        }
        let c = Client::builder()
            .endpoints([busy.endpoint(), good.endpoint()])
            .api_key_str(ROOT_API_KEY)
            .ca(&busy.pki.ca_file)
            .retries(2, Duration::from_millis(1), Duration::from_millis(2))
            .build()
            .unwrap();
        let before = busy.count();
        assert_eq!(c.version().await.unwrap().version, "ok");
        assert!(matches!(busy.count() - before, 0 | 3), "{}", busy.count());
    }
    assert!(busy.count() > 0, "the busy node never came first");

    let only_busy = busy.client().build().unwrap();
    let before = busy.count();
    match only_busy.version().await {
        Err(Error::Api {
            status: 503,
            message,
        }) => assert_eq!(message, "busy"),
        other => panic!("{other:?}"),
    }
    assert_eq!(busy.count() - before, 3);
}

#[tokio::test]
async fn client_errors_and_501_return_at_once() {
    let answer = |r: &Recorded| {
        if r.path.ends_with("missing") {
            api_error(404, "key does not exist")
        } else if r.path.ends_with("denied") {
            api_error(403, "not authorized: insufficient permissions")
        } else if r.path.starts_with("/v1/key/create/") {
            api_error(400, "key already exists")
        } else {
            text(501, "not implemented")
        }
    };
    let first = TestServer::start(answer).await;
    let second = TestServer::start_with_pki(first.pki.clone(), answer).await;
    let c = Client::builder()
        .endpoints([first.endpoint(), second.endpoint()])
        .api_key_str(ROOT_API_KEY)
        .ca(&first.pki.ca_file)
        .build()
        .unwrap();
    // Whichever node is asked first answers; its answer is final.
    for _ in 0..5 {
        assert!(matches!(
            c.describe_key("missing").await,
            Err(Error::KeyNotFound)
        ));
        assert!(matches!(
            c.generate_key("denied", b"").await,
            Err(Error::NotAllowed)
        ));
        assert!(matches!(c.create_key("k").await, Err(Error::KeyExists)));
        match c.version().await {
            Err(Error::Api {
                status: 501,
                message,
            }) => assert_eq!(message, "not implemented"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(first.count() + second.count(), 20);
}

#[tokio::test]
async fn api_key_certificate_is_presented_over_http2() {
    let srv = TestServer::start(|_| ok_empty()).await;
    let c = srv.client().build().unwrap();
    c.ready().await.unwrap();
    c.ready().await.unwrap();
    let r = &srv.requests()[0];
    assert_eq!(r.identity, ROOT_IDENTITY);
    assert_eq!(c.identity().unwrap().as_str(), ROOT_IDENTITY);
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(srv.connections(), 1, "connection was not reused");
}

#[tokio::test]
async fn http1_servers_work_with_keep_alive() {
    let srv = TestServer::start_http1(|_| json(200, json!({"version":"v1"}))).await;
    let c = srv.client().build().unwrap();
    for _ in 0..3 {
        c.version().await.unwrap();
    }
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.version == http::Version::HTTP_11));
    assert!(reqs.iter().all(|r| r.identity == ROOT_IDENTITY));
    assert_eq!(srv.connections(), 1, "connection was not reused");
}

#[tokio::test]
async fn certificate_files_are_presented() {
    let srv = TestServer::start(|_| ok_empty()).await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let c = Client::builder()
        .endpoint(srv.endpoint())
        .cert_file(&cert_file)
        .key_file(&key_file)
        .ca(srv.pki.dir.path()) // a CA directory
        .build()
        .unwrap();
    c.ready().await.unwrap();
    assert_eq!(srv.requests()[0].identity, identity_of(cert.der()));
    assert_eq!(c.identity().unwrap().as_str(), identity_of(cert.der()));

    // The same key as SEC1 `EC PRIVATE KEY` PEM.
    let sec1_file = dir.path().join("client-sec1.key");
    std::fs::write(&sec1_file, sec1_pem(&key.serialize_der())).unwrap();
    Client::builder()
        .endpoint(srv.endpoint())
        .cert_file(&cert_file)
        .key_file(&sec1_file)
        .ca(&srv.pki.ca_file)
        .build()
        .unwrap()
        .ready()
        .await
        .unwrap();
    assert_eq!(srv.requests()[1].identity, identity_of(cert.der()));

    // The same key, legacy PEM-encrypted (Proc-Type: 4,ENCRYPTED).
    let enc_file = dir.path().join("client-enc.key");
    let enc =
        kes_crypto::legacy_pem::encrypt_aes256("PRIVATE KEY", &key.serialize_der(), b"pw").unwrap();
    std::fs::write(&enc_file, enc.as_bytes()).unwrap();
    let encrypted = || {
        Client::builder()
            .endpoint(srv.endpoint())
            .cert_file(&cert_file)
            .key_file(&enc_file)
            .ca(&srv.pki.ca_file)
    };
    encrypted()
        .key_password("pw")
        .build()
        .unwrap()
        .ready()
        .await
        .unwrap();
    assert_eq!(srv.requests()[2].identity, identity_of(cert.der()));
    for (password, want) in [
        (None, "private key is encrypted: password required"),
        (Some(""), "private key is encrypted: password required"),
        (
            Some("wrong"),
            "private key decryption failed: wrong password or corrupted key",
        ),
    ] {
        let b = encrypted();
        let b = match password {
            Some(p) => b.key_password(p),
            None => b,
        };
        let err = b.build().unwrap_err().to_string();
        assert!(
            err.contains("client-enc.key") && err.ends_with(want),
            "{err}"
        );
    }

    // A key file without a key is a precise configuration error.
    let err = Client::builder()
        .endpoint(srv.endpoint())
        .cert_file(&cert_file)
        .key_file(&cert_file)
        .ca(&srv.pki.ca_file)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no PKCS#8, SEC1 or PKCS#1 private key found"),
        "{err}"
    );
}

/// Extracts the SEC1 `ECPrivateKey` from a PKCS#8 `PrivateKeyInfo` (DER):
/// SEQUENCE { INTEGER 0, SEQUENCE algid, OCTET STRING ecPrivateKey }.
fn sec1_pem(pkcs8: &[u8]) -> String {
    fn header(der: &[u8]) -> (usize, usize) {
        // (header length, content length)
        match der[1] {
            n if n < 0x80 => (2, n as usize),
            0x81 => (3, der[2] as usize),
            0x82 => (4, (der[2] as usize) << 8 | der[3] as usize),
            _ => panic!("unexpected DER length"),
        }
    }
    let (h, _) = header(pkcs8);
    let mut rest = &pkcs8[h..];
    for _ in 0..2 {
        let (h, l) = header(rest);
        rest = &rest[h + l..];
    }
    assert_eq!(rest[0], 0x04);
    let (h, l) = header(rest);
    let sec1 = &rest[h..h + l];
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(sec1);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn insecure_skips_verification_and_unknown_ca_fails() {
    let srv = TestServer::start(|_| ok_empty()).await;
    Client::builder()
        .endpoint(format!("http://{}", srv.endpoint()))
        .api_key_str(ROOT_API_KEY)
        .insecure(true)
        .build()
        .unwrap()
        .ready()
        .await
        .unwrap();

    let other = Pki::new();
    let c = Client::builder()
        .endpoint(srv.endpoint())
        .api_key_str(ROOT_API_KEY)
        .ca(&other.ca_file)
        .retries(0, Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();
    match c.ready().await {
        Err(Error::Transport(t)) => {
            assert!(t.to_string().to_lowercase().contains("certificate"), "{t}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn request_timeout_applies() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts TCP but never speaks TLS.
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let c = Client::builder()
        .endpoint(addr.to_string())
        .api_key_str(ROOT_API_KEY)
        .insecure(true)
        .request_timeout(Duration::from_millis(100))
        .retries(0, Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();
    match c.version().await {
        Err(Error::Transport(t)) => assert_eq!(t.kind, TransportKind::Timeout),
        other => panic!("{other:?}"),
    }
    // Without a request timeout, the handshake deadline still ends it.
    let c = Client::builder()
        .endpoint(addr.to_string())
        .api_key_str(ROOT_API_KEY)
        .insecure(true)
        .connect_timeout(Duration::from_millis(50))
        .handshake_timeout(Duration::from_millis(50))
        .retries(0, Duration::ZERO, Duration::ZERO)
        .build()
        .unwrap();
    match c.version().await {
        Err(Error::Transport(t)) => {
            assert_eq!(t.kind, TransportKind::Connect);
            assert!(t.to_string().contains("TLS handshake) timed out"), "{t}");
        }
        other => panic!("{other:?}"),
    }
    task.abort();
}

#[test]
fn configuration_errors() {
    let base = || Client::builder().endpoint("127.0.0.1:7373").insecure(true);
    let cases: Vec<(kes_client::ClientBuilder, &str)> = vec![
        (
            Client::builder().api_key_str(ROOT_API_KEY).insecure(true),
            "no endpoint",
        ),
        (base(), "no client credentials"),
        (
            base().api_key_str("kes:AM0F5TP43FYEShMzA42f2drFYGnBOiNx7UH4DK0nm08E"),
            "invalid API key",
        ),
        (
            base()
                .api_key_str(ROOT_API_KEY)
                .cert_file("c.pem")
                .key_file("k.pem"),
            "cannot be used at the same time",
        ),
        (
            base().cert_file("c.pem"),
            "without the matching private key",
        ),
        (
            base()
                .key_file("/nonexistent/k.pem")
                .cert_file("/nonexistent/c.pem"),
            "cannot read /nonexistent/c.pem",
        ),
        (
            Client::builder()
                .endpoint("https://h:1/path")
                .api_key_str(ROOT_API_KEY)
                .insecure(true),
            "must not contain a path",
        ),
        (
            Client::builder()
                .endpoint("127.0.0.1:1")
                .api_key_str(ROOT_API_KEY)
                .ca("/nonexistent-ca.pem"),
            "cannot read /nonexistent-ca.pem",
        ),
    ];
    for (builder, want) in cases {
        let err = builder.build().unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(
            err.to_string().contains(want),
            "{err} does not contain {want}"
        );
    }
    // Comma-separated endpoint lists are split, as the CLI's variables are.
    let c = Client::builder()
        .endpoint(" 127.0.0.1:1, localhost:2 ,")
        .api_key_str(ROOT_API_KEY)
        .insecure(true)
        .build()
        .unwrap();
    assert_eq!(
        c.endpoints(),
        ["https://127.0.0.1:1", "https://localhost:2"]
    );
    let _ = ConfigError::NoEndpoints;
}

#[test]
fn debug_output_has_no_secrets() {
    let b = Client::builder().api_key_str(ROOT_API_KEY);
    let s = format!("{b:?}");
    assert!(!s.contains("AD9E7FSY"), "{s}");
    let k = kes_client::ApiKey::parse(ROOT_API_KEY).unwrap();
    assert!(!format!("{k:?}").contains("AD9E7FSY"));
    assert_eq!(k.identity().as_str(), ROOT_IDENTITY);
}

/// A 5xx may mean the node applied the request: a create stays where it
/// was sent, a read moves on. A node that cannot be reached never saw the
/// request, so a create moves on too.
#[tokio::test]
async fn only_idempotent_requests_move_after_a_server_error() {
    let bad = TestServer::start(|_| api_error(502, "key store is unavailable")).await;
    let good = TestServer::start_with_pki(bad.pki.clone(), |r| {
        if r.method == "GET" {
            json(200, json!({"version":"good"}))
        } else {
            ok_empty()
        }
    })
    .await;
    let client = || {
        Client::builder()
            .endpoints([bad.endpoint(), good.endpoint()])
            .api_key_str(ROOT_API_KEY)
            // No CA bundle to load: many clients are built.
            .insecure(true)
            .retries(2, Duration::from_millis(1), Duration::from_millis(2))
            .build()
            .unwrap()
    };
    // A fresh client each time: no endpoint set aside yet.
    // Until both orders have been seen (the start is random).
    let (mut stayed, mut moved) = (0, 0);
    for _ in 0..64 {
        let c = client();
        let (b, g) = (bad.count(), good.count());
        match c.create_key("k").await {
            Ok(()) => assert_eq!((bad.count() - b, good.count() - g), (0, 1)),
            Err(Error::Api { status: 502, .. }) => {
                assert_eq!((bad.count() - b, good.count() - g), (1, 0));
                stayed += 1;
            }
            other => panic!("{other:?}"),
        }
        let c = client();
        let (b, g) = (bad.count(), good.count());
        assert_eq!(c.version().await.unwrap().version, "good");
        assert_eq!(good.count() - g, 1);
        moved += bad.count() - b;
        if stayed > 0 && moved > 0 {
            break;
        }
    }
    assert!(stayed > 0 && moved > 0, "the bad node never came first");

    let dead = dead_endpoint();
    for _ in 0..4 {
        let c = Client::builder()
            .endpoints([dead.clone(), good.endpoint()])
            .api_key_str(ROOT_API_KEY)
            .insecure(true)
            .retries(1, Duration::from_millis(1), Duration::from_millis(2))
            .build()
            .unwrap();
        c.create_key("k").await.unwrap();
    }
}

/// A node that takes the request and drops it unanswered may have applied
/// it: the create fails with a network error (not retried anywhere), a read
/// moves on to the next node.
#[tokio::test]
async fn a_lost_answer_moves_only_idempotent_requests() {
    let lost = Arc::new(AtomicUsize::new(0));
    let counter = lost.clone();
    let lossy = TestServer::start(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("the node dies before it answers (expected in this test)")
    })
    .await;
    let good = TestServer::start_with_pki(lossy.pki.clone(), |r| {
        if r.method == "GET" {
            json(200, json!({"version":"good"}))
        } else {
            ok_empty()
        }
    })
    .await;
    let client = || {
        Client::builder()
            .endpoints([lossy.endpoint(), good.endpoint()])
            .api_key_str(ROOT_API_KEY)
            .insecure(true)
            .retries(2, Duration::from_millis(1), Duration::from_millis(2))
            .build()
            .unwrap()
    };
    let (mut failed, mut moved) = (0, 0);
    for _ in 0..64 {
        let (l, g) = (lost.load(Ordering::SeqCst), good.count());
        match client().create_key("k").await {
            Ok(()) => assert_eq!((lost.load(Ordering::SeqCst) - l, good.count() - g), (0, 1)),
            Err(Error::Transport(t)) => {
                assert_eq!(t.kind, TransportKind::Exchange, "{t}");
                // Neither retried in place nor sent elsewhere.
                assert_eq!((lost.load(Ordering::SeqCst) - l, good.count() - g), (1, 0));
                failed += 1;
            }
            other => panic!("{other:?}"),
        }
        let (l, g) = (lost.load(Ordering::SeqCst), good.count());
        assert_eq!(client().version().await.unwrap().version, "good");
        assert_eq!(good.count() - g, 1);
        // Retried in place (twice), then moved on.
        let tries = lost.load(Ordering::SeqCst) - l;
        assert!(matches!(tries, 0 | 3), "{tries}");
        moved += tries;
        if failed > 0 && moved > 0 {
            break;
        }
    }
    assert!(failed > 0 && moved > 0, "the lossy node never came first");
}
