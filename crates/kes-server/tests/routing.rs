//! Transport and routing rules: TLS/ALPN, 301/404/405, non-canonical paths,
//! body limits, malformed JSON, client-certificate modes and the policy
//! matrix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use http::Method;

#[tokio::test]
async fn version_over_h1_and_h2() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    for h2 in [false, true] {
        let mut c = Client::new(srv.addr, &pki.stranger);
        c.h2 = h2;
        let mut conn = c.conn().await.unwrap();
        let want: &[u8] = if h2 { b"h2" } else { b"http/1.1" };
        assert_eq!(conn.alpn.as_deref(), Some(want));
        let r = conn.request(Method::GET, "/version", None).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type(), "application/json");
        assert!(r.body.ends_with(b"}\n"));
        assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    }
    srv.stop().await;
}

#[tokio::test]
async fn redirects_not_found_and_methods() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);

    let r = c.get("/v1/key/list?x=1&enclave=e").await;
    assert_eq!(r.status, 301);
    assert_eq!(r.headers["location"], "/v1/key/list/?x=1&enclave=e");
    let r = c.get("/v1/identity/list").await;
    assert_eq!(r.headers["location"], "/v1/identity/list/");

    for path in [
        "/",
        "/v1",
        "/v1/key",
        "/v1/key/",
        "/version/",
        "/v1/unknown/x",
        "/v1/status/",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.text(), "404 page not found\n");
        assert_eq!(r.content_type(), "text/plain; charset=utf-8");
    }

    let r = c.call(Method::GET, "/v1/key/create/k", None).await;
    r.assert_error(405, "received method 'GET' expected 'PUT'");
    assert_eq!(r.headers["accept"], "PUT");
    let r = c.call(Method::HEAD, "/version", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["accept"], "GET");
    let r = c.call(Method::POST, "/v1/key/delete/k", None).await;
    r.assert_error(405, "received method 'POST' expected 'DELETE'");
    assert_eq!(r.headers["accept"], "DELETE");
    // The method check comes before authentication.
    let s = Client::new(srv.addr, &pki.stranger);
    s.call(Method::PUT, "/v1/status", None)
        .await
        .assert_error(405, "received method 'PUT' expected 'GET'");

    // POST and PUT both work on PUT routes.
    c.call(Method::PUT, "/v1/key/create/k1", None)
        .await
        .assert_empty_ok();
    c.call(Method::POST, "/v1/key/create/k2", None)
        .await
        .assert_empty_ok();
    srv.stop().await;
}

#[tokio::test]
async fn non_canonical_and_encoded_paths() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let admin = Client::new(srv.addr, &pki.admin);
    for path in [
        "/v1//status",
        "/v1/./status",
        "/v1/key/../status",
        "/v1/key/create/%2E%2E",
        "/v1/key/create/a/..",
        "/v1/key/create%2F%2Fk",
    ] {
        let r = admin.call(Method::POST, path, None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(r.content_type(), "application/json");
    }
    // An encoded slash decodes and then fails the name check.
    admin
        .call(Method::POST, "/v1/key/create/a%2Fb", None)
        .await
        .assert_error(
            400,
            "key name 'a/b' is empty, too long or contains invalid characters",
        );
    // Encoded ordinary characters are fine.
    admin
        .call(Method::POST, "/v1/key/create/%6b1", None)
        .await
        .assert_empty_ok();
    admin.get("/v1/key/describe/k1").await;
    let r = admin.get("/v1/key/describe/k1").await;
    assert_eq!(r.status, 200);
    // A policy cannot be bypassed with encodings: app may create app-*, not x.
    let app = Client::new(srv.addr, &pki.app);
    app.call(Method::POST, "/v1/key/create/app-%2E%2E%2Fx", None)
        .await
        .assert_error(
            400,
            "key name 'app-../x' is empty, too long or contains invalid characters",
        );
    app.call(Method::POST, "/v1/key/create/x", None)
        .await
        .assert_error(403, "not authorized: insufficient permissions");
    srv.stop().await;
}

#[tokio::test]
async fn bad_names_bodies_and_limits() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/my.key", "").await.assert_error(
        400,
        "key name 'my.key' is empty, too long or contains invalid characters",
    );
    c.post("/v1/key/create/", "").await.assert_error(
        400,
        "key name '' is empty, too long or contains invalid characters",
    );
    c.get("/v1/key/list/*-*").await.assert_error(
        400,
        "listing pattern '*-*' is empty, too long or is invalid",
    );
    c.get("/v1/policy/describe/a.b").await.assert_error(
        400,
        "policy name 'a.b' is empty, too long or contains invalid characters",
    );
    c.get("/v1/identity/describe/-x").await.assert_error(
        400,
        "identity '-x' is empty, too long or contains invalid characters",
    );

    c.post("/v1/key/create/k", "").await.assert_empty_ok();
    for body in [
        "",
        "{",
        "[]",
        "{\"plaintext\":5}",
        "{\"plaintext\":\"***\"}",
    ] {
        c.post("/v1/key/encrypt/k", body)
            .await
            .assert_error(400, "invalid request body");
    }
    c.post("/v1/key/import/k2", "nope")
        .await
        .assert_error(400, "invalid import key request body");
    // Oversized body: the route's 400 text.
    let big = format!("{{\"plaintext\":\"{}\"}}", "A".repeat(1_000_004));
    c.post("/v1/key/encrypt/k", &big)
        .await
        .assert_error(400, "invalid request body");
    // Just under the limit works.
    let ok = format!("{{\"plaintext\":\"{}\"}}", "A".repeat(999_960));
    assert_eq!(c.post("/v1/key/encrypt/k", &ok).await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn policy_matrix() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let admin = Client::new(srv.addr, &pki.admin);
    let app = Client::new(srv.addr, &pki.app);
    let stranger = Client::new(srv.addr, &pki.stranger);
    const DENIED: &str = "not authorized: insufficient permissions";

    admin
        .post("/v1/key/create/app-secret-1", "")
        .await
        .assert_empty_ok();
    app.post("/v1/key/create/app-1", "").await.assert_empty_ok();
    assert_eq!(app.post("/v1/key/generate/app-1", "").await.status, 200);
    // Denied by the deny list even though allow matches.
    app.post("/v1/key/generate/app-secret-1", "")
        .await
        .assert_error(403, DENIED);
    // Not in allow.
    app.post("/v1/key/encrypt/app-1", "{}")
        .await
        .assert_error(403, DENIED);
    app.call(Method::DELETE, "/v1/key/delete/app-1", None)
        .await
        .assert_error(403, DENIED);
    // 403 comes before name validation.
    app.post("/v1/key/create/bad.name", "")
        .await
        .assert_error(403, DENIED);
    // Unknown identity: 403 on verify routes, version still works, self-describe 404.
    stranger.get("/v1/status").await.assert_error(403, DENIED);
    assert_eq!(stranger.get("/version").await.status, 200);
    stranger
        .get("/v1/identity/self/describe")
        .await
        .assert_error(404, "identity does not exist");
    // Allowed status for app; admin does everything.
    assert_eq!(app.get("/v1/status").await.status, 200);
    admin
        .call(Method::DELETE, "/v1/key/delete/app-1", None)
        .await
        .assert_empty_ok();
    // The slash-less list path redirects; the slash form is policy-checked.
    assert_eq!(app.get("/v1/key/list").await.status, 301);
    // `/v1/key/list/*` also covers the empty pattern.
    assert_eq!(app.get("/v1/key/list/").await.status, 200);
    app.get("/v1/policy/list/").await.assert_error(403, DENIED);
    assert_eq!(app.get("/v1/key/list/*").await.status, 200);
    srv.stop().await;
}

#[tokio::test]
async fn client_certificate_modes() {
    let pki = Pki::new();
    // Default mode: a certificate is required; any self-signed one is accepted.
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let mut anon = Client::anonymous(srv.addr).conn().await;
    if let Ok(conn) = anon.as_mut() {
        // TLS 1.3: the server's rejection arrives with the first read.
        assert!(conn.request(Method::GET, "/version", None).await.is_err());
    }
    // A CA-flagged self-signed client certificate yields no identity.
    let flagged = self_signed_ca_flagged("ca-flagged");
    let c = Client::new(srv.addr, &flagged);
    c.get("/v1/status")
        .await
        .assert_error(400, "tls: client certificate is required");
    // Prepending a CA-flagged certificate cannot borrow the admin identity.
    let mut conn = Conn::open(
        srv.addr,
        &ClientOpts {
            cert: Some(flagged.clone()),
            extra_chain: vec![pki.admin.der.clone()],
            h2: false,
            tls12_only: false,
        },
    )
    .await
    .unwrap();
    let r = conn.request(Method::GET, "/v1/status", None).await.unwrap();
    r.assert_error(400, "tls: client certificate is required");
    srv.stop().await;

    // skip_auth on /v1/ready: certificate optional; ready callable by anyone.
    let mut s = settings(&pki, TestStore::new());
    s.api.insert(
        "/v1/ready".into(),
        kes_server::api::routes::RouteOverride {
            skip_auth: true,
            timeout: None,
        },
    );
    let srv = TestServer::start(s).await;
    let anon = Client::anonymous(srv.addr);
    anon.get("/v1/ready").await.assert_empty_ok();
    anon.get("/v1/status")
        .await
        .assert_error(400, "tls: client certificate is required");
    anon.get("/v1/identity/self/describe")
        .await
        .assert_error(404, "identity does not exist");
    srv.stop().await;

    // Mode on: only CA-issued certificates pass the handshake.
    let mut s = settings(&pki, TestStore::new());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca.cert.pem).unwrap();
    s.tls.auth = kes_server::tls::ClientAuth::On { ca: Some(ca_file) };
    let issued = pki.ca.client_cert("issued");
    s.admin = issued.identity.clone();
    let srv = TestServer::start(s).await;
    assert_eq!(
        Client::new(srv.addr, &issued)
            .get("/v1/status")
            .await
            .status,
        200
    );
    let bad = Client::new(srv.addr, &pki.stranger).conn().await;
    match bad {
        Err(_) => {}
        Ok(mut conn) => assert!(conn.request(Method::GET, "/version", None).await.is_err()),
    }
    srv.stop().await;
}

#[tokio::test]
async fn tls12_with_ed25519_client_certificates() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    for h2 in [false, true] {
        let mut c = Client::new(srv.addr, &pki.admin);
        c.tls12_only = true;
        c.h2 = h2;
        let r = c.get("/v1/identity/self/describe").await;
        assert_eq!(r.json()["identity"], pki.admin.identity.as_str());
    }
    srv.stop().await;
}

/// The server's cipher-suite order wins (AES-128-GCM first, like Go's
/// server), while the client's order picks the key-exchange group, so a
/// client preferring hybrid post-quantum X25519MLKEM768 gets it.
#[tokio::test]
async fn server_prefers_aes128_and_honours_the_clients_group() {
    use rustls::crypto::aws_lc_rs::{self, kx_group};
    use rustls::version::{TLS12, TLS13};
    use rustls::{CipherSuite, NamedGroup, ProtocolVersion};

    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let cert = &pki.admin;

    // rustls clients list AES-256-GCM first.
    let default = aws_lc_rs::default_provider();
    assert_eq!(
        default.cipher_suites[0].suite(),
        CipherSuite::TLS13_AES_256_GCM_SHA384
    );
    let classic = || rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        ..aws_lc_rs::default_provider()
    };
    let n = negotiate(srv.addr, cert, classic(), &[&TLS13]).await;
    assert_eq!(n.version, ProtocolVersion::TLSv1_3);
    assert_eq!(n.suite, CipherSuite::TLS13_AES_128_GCM_SHA256);
    assert_eq!(n.kx_group, NamedGroup::X25519);

    let n = negotiate(srv.addr, cert, classic(), &[&TLS12]).await;
    assert_eq!(n.version, ProtocolVersion::TLSv1_2);
    assert_eq!(
        n.suite,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );

    let p256_first = rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::SECP256R1, kx_group::X25519],
        ..aws_lc_rs::default_provider()
    };
    let n = negotiate(srv.addr, cert, p256_first, &[&TLS13]).await;
    assert_eq!(n.kx_group, NamedGroup::secp256r1);

    let hybrid = rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519MLKEM768, kx_group::X25519],
        ..aws_lc_rs::default_provider()
    };
    let n = negotiate(srv.addr, cert, hybrid, &[&TLS13]).await;
    assert_eq!(n.kx_group, NamedGroup::X25519MLKEM768);
    assert_eq!(n.suite, CipherSuite::TLS13_AES_128_GCM_SHA256);

    // A client that offers only ChaCha20-Poly1305 still connects.
    let mut chacha = classic();
    chacha
        .cipher_suites
        .retain(|s| s.suite() == CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    let n = negotiate(srv.addr, cert, chacha, &[&TLS13]).await;
    assert_eq!(n.suite, CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    srv.stop().await;
}

/// The server sends one TLS 1.3 session ticket (as Go does); a client that
/// resumes with it keeps the identity of the certificate of the full
/// handshake.
#[tokio::test]
async fn resumed_session_keeps_the_identity() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let config = client_config(&ClientOpts {
        cert: Some(pki.admin.clone()),
        extra_chain: vec![],
        h2: false,
        tls12_only: false,
    });
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(
                rustls_pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        kinds.push(tls.get_ref().1.handshake_kind());
        tls.write_all(
            b"GET /v1/identity/self/describe HTTP/1.1\r\nHost: kes\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut response = String::new();
        tls.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.contains(&format!("\"identity\":\"{}\"", pki.admin.identity)),
            "{response}"
        );
    }
    assert_eq!(
        kinds,
        [
            Some(rustls::HandshakeKind::Full),
            Some(rustls::HandshakeKind::Resumed)
        ]
    );
    srv.stop().await;
}

#[tokio::test]
async fn route_timeout_answers_503() {
    let pki = Pki::new();
    let store = TestStore::new();
    let mut s = settings(&pki, store.clone());
    s.api.insert(
        "/v1/ready".into(),
        kes_server::api::routes::RouteOverride {
            skip_auth: false,
            timeout: Some(std::time::Duration::from_millis(200)),
        },
    );
    let srv = TestServer::start(s).await;
    store
        .status_delay_ms
        .store(5_000, std::sync::atomic::Ordering::SeqCst);
    Client::new(srv.addr, &pki.admin)
        .get("/v1/ready")
        .await
        .assert_error(503, "request timeout exceeded");
    srv.stop().await;
}

#[tokio::test]
async fn enclave_query_and_header_are_ignored() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/k?enclave=tenant-1", "")
        .await
        .assert_empty_ok();
    let mut conn = c.conn().await.unwrap();
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/v1/key/generate/k")
        .header("host", "localhost")
        .header("kes-enclave", "tenant-1")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(conn.send(req).await.unwrap().status(), 200);
    srv.stop().await;
}
