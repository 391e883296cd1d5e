//! Every endpoint's success and documented errors, byte for byte, plus the
//! persistence, concurrency, MinIO, log-stream and reload scenarios.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::Method;
use kes_keystore::fs::FsKeyStore;
use kes_server::state::Server;
use serde_json::json;

const NOT_FOUND: (u16, &str) = (404, "key does not exist");
const DECRYPT: (u16, &str) = (400, "decryption failed: ciphertext is not authentic");

#[tokio::test]
async fn key_lifecycle() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);

    c.post("/v1/key/create/my-key", "").await.assert_empty_ok();
    c.post("/v1/key/create/my-key", "")
        .await
        .assert_error(400, "key already exists");

    let r = c.get("/v1/key/describe/my-key").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), "application/json");
    assert!(r.body.ends_with(b"}\n"));
    let d = r.json();
    assert_eq!(d["name"], "my-key");
    assert!(d["algorithm"] == "AES256" || d["algorithm"] == "ChaCha20");
    assert_eq!(d["created_by"], pki.admin.identity.as_str());
    time::OffsetDateTime::parse(
        d["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    c.get("/v1/key/describe/nope")
        .await
        .assert_error(NOT_FOUND.0, NOT_FOUND.1);

    // Generate (with and without body), decrypt with the right and wrong context.
    let ctx = b64(br#"{"bucket":"bucket/object"}"#);
    let r = c
        .post(
            "/v1/key/generate/my-key",
            &json!({ "context": ctx }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    let dek = r.json();
    let plaintext = unb64(dek["plaintext"].as_str().unwrap());
    assert_eq!(plaintext.len(), 32);
    let body = json!({"ciphertext": dek["ciphertext"], "context": ctx}).to_string();
    let r = c.post("/v1/key/decrypt/my-key", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(unb64(r.json()["plaintext"].as_str().unwrap()), plaintext);
    let wrong = json!({"ciphertext": dek["ciphertext"], "context": b64(b"{}")}).to_string();
    c.post("/v1/key/decrypt/my-key", &wrong)
        .await
        .assert_error(DECRYPT.0, DECRYPT.1);
    c.post("/v1/key/decrypt/my-key", r#"{"ciphertext":"AAAA"}"#)
        .await
        .assert_error(DECRYPT.0, DECRYPT.1);
    let r = c.post("/v1/key/generate/my-key", "").await;
    assert_eq!(r.status, 200);
    c.post("/v1/key/generate/nope", "")
        .await
        .assert_error(NOT_FOUND.0, NOT_FOUND.1);

    // Encrypt / decrypt with lenient JSON (field case, CR/LF in base64).
    let r = c
        .post(
            "/v1/key/encrypt/my-key",
            r#"{"Plaintext":"aGVs\r\nbG8=","Context":"Yw=="}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.json()["ciphertext"].as_str().unwrap().to_owned();
    let r = c
        .post(
            "/v1/key/decrypt/my-key",
            &format!(r#"{{"ciphertext":"{ct}","context":"Yw==","version":"v1"}} junk"#),
        )
        .await;
    assert_eq!(r.text(), "{\"plaintext\":\"aGVsbG8=\"}\n");

    // HMAC is deterministic per key.
    let h1 = c
        .call(
            Method::PUT,
            "/v1/key/hmac/my-key",
            Some(br#"{"message":"aGk="}"#),
        )
        .await;
    let h2 = c.post("/v1/key/hmac/my-key", r#"{"message":"aGk="}"#).await;
    assert_eq!(h1.status, 200);
    assert_eq!(h1.body, h2.body);
    assert_eq!(unb64(h1.json()["hmac"].as_str().unwrap()).len(), 32);

    // Listing: trailing `*` stripped, empty pattern = all, sorted, no continue_at.
    c.post("/v1/key/create/my-key-2", "")
        .await
        .assert_empty_ok();
    c.post("/v1/key/create/other", "").await.assert_empty_ok();
    let r = c.get("/v1/key/list/my*").await;
    assert_eq!(r.text(), "{\"names\":[\"my-key\",\"my-key-2\"]}\n");
    let r = c.get("/v1/key/list/").await;
    assert_eq!(r.json()["names"], json!(["my-key", "my-key-2", "other"]));
    let r = c.get("/v1/key/list/*").await;
    assert_eq!(r.json()["names"], json!(["my-key", "my-key-2", "other"]));
    let r = c.get("/v1/key/list/zzz").await;
    assert_eq!(r.text(), "{\"names\":[]}\n");

    c.call(Method::DELETE, "/v1/key/delete/my-key", None)
        .await
        .assert_empty_ok();
    c.call(Method::DELETE, "/v1/key/delete/my-key", None)
        .await
        .assert_error(NOT_FOUND.0, NOT_FOUND.1);
    // Deleted keys are gone from this node's cache too.
    c.post("/v1/key/generate/my-key", "")
        .await
        .assert_error(NOT_FOUND.0, NOT_FOUND.1);
    srv.stop().await;
}

#[tokio::test]
async fn import_rules() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    let key = b64(&[7u8; 32]);
    c.post(
        "/v1/key/import/imp",
        &json!({"key": key, "cipher": "AES256"}).to_string(),
    )
    .await
    .assert_empty_ok();
    c.post(
        "/v1/key/import/imp",
        &json!({"key": key, "cipher": "AES256"}).to_string(),
    )
    .await
    .assert_error(400, "key already exists");
    // v0.22 spellings.
    c.post(
        "/v1/key/import/imp-cc",
        &json!({"bytes": key, "algorithm": "XCHACHA20-POLY1305"}).to_string(),
    )
    .await
    .assert_empty_ok();
    assert_eq!(
        c.get("/v1/key/describe/imp-cc").await.json()["algorithm"],
        "ChaCha20"
    );
    // Empty cipher defaults to AES256.
    c.post("/v1/key/import/imp-def", &json!({ "key": key }).to_string())
        .await
        .assert_empty_ok();
    assert_eq!(
        c.get("/v1/key/describe/imp-def").await.json()["algorithm"],
        "AES256"
    );
    c.post(
        "/v1/key/import/imp-x",
        &json!({"key": key, "cipher": "DES"}).to_string(),
    )
    .await
    .assert_error(406, "algorithm 'DES' is not supported");
    c.post(
        "/v1/key/import/imp-x",
        &json!({"key": b64(&[1u8; 31]), "cipher": "AES256"}).to_string(),
    )
    .await
    .assert_error(406, "invalid key size for 'AES256'");
    c.post("/v1/key/import/imp-x", r#"{"key":"!!"}"#)
        .await
        .assert_error(400, "invalid import key request body");
    // Two imports of the same bytes decrypt each other's ciphertexts.
    c.post(
        "/v1/key/import/imp-2",
        &json!({"key": key, "cipher": "AES256"}).to_string(),
    )
    .await
    .assert_empty_ok();
    let ct = c
        .post("/v1/key/encrypt/imp", r#"{"plaintext":"aGk="}"#)
        .await
        .json()["ciphertext"]
        .clone();
    let r = c
        .post(
            "/v1/key/decrypt/imp-2",
            &json!({ "ciphertext": ct }).to_string(),
        )
        .await;
    assert_eq!(r.json()["plaintext"], "aGk=");
    srv.stop().await;
}

const ZERO_KEY_JSON: &str = r#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
const PROTO_KEY: &str = "CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa9HgQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy";
const J1: &str = r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#;
const J2: &str = r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#;
const R1: &str = "zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc";
const M1: &str = "lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=";
const P0: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

#[tokio::test]
async fn spec_stored_key_vectors_in_fs_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zero"), ZERO_KEY_JSON).unwrap();
    std::fs::write(dir.path().join("proto"), PROTO_KEY).unwrap();
    let pki = Pki::new();
    let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let srv = TestServer::start(settings(&pki, store)).await;
    let c = Client::new(srv.addr, &pki.admin);

    let r = c.get("/v1/key/describe/zero").await;
    assert_eq!(
        r.text(),
        "{\"name\":\"zero\",\"algorithm\":\"AES256\",\"created_at\":\"0001-01-01T00:00:00Z\",\"version\":\"v1\"}\n"
    );
    let r = c.get("/v1/key/describe/proto").await;
    assert_eq!(
        r.text(),
        "{\"name\":\"proto\",\"algorithm\":\"AES256\",\"created_at\":\"2024-01-12T10:39:20.886816Z\",\"created_by\":\"3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22\",\"version\":\"v1\"}\n"
    );
    // J1 (JSON), M1 (MessagePack), R1 (raw) all decrypt to P0 with the zero key;
    // J2 (ChaCha JSON) too, under the untyped-legacy-key leniency.
    for ct in [
        b64(J1.as_bytes()),
        M1.to_owned(),
        R1.to_owned(),
        b64(J2.as_bytes()),
    ] {
        let r = c
            .post(
                "/v1/key/decrypt/zero",
                &json!({ "ciphertext": ct }).to_string(),
            )
            .await;
        assert_eq!(r.text(), format!("{{\"plaintext\":\"{P0}\"}}\n"), "{ct}");
    }
    // Legacy keys have no HMAC key; protobuf keys do.
    c.post("/v1/key/hmac/zero", r#"{"message":"aGk="}"#)
        .await
        .assert_error(409, "key does not support HMAC");
    assert_eq!(
        c.post("/v1/key/hmac/proto", r#"{"message":"aGk="}"#)
            .await
            .status,
        200
    );
    srv.stop().await;
}

#[tokio::test]
async fn dek_and_hmac_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let (ct, plaintext, mac) = {
        let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
        let srv = TestServer::start(settings(&pki, store)).await;
        let c = Client::new(srv.addr, &pki.admin);
        c.post("/v1/key/create/persist", "").await.assert_empty_ok();
        let dek = c
            .post("/v1/key/generate/persist", r#"{"context":"e30="}"#)
            .await
            .json();
        let mac = c
            .post(
                "/v1/key/hmac/persist",
                r#"{"message":"cm9vdCBhY2Nlc3Mga2V5"}"#,
            )
            .await
            .json()["hmac"]
            .clone();
        srv.stop().await;
        (dek["ciphertext"].clone(), dek["plaintext"].clone(), mac)
    };
    let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let srv = TestServer::start(settings(&pki, store)).await;
    let c = Client::new(srv.addr, &pki.admin);
    let r = c
        .post(
            "/v1/key/decrypt/persist",
            &json!({"ciphertext": ct, "context": "e30="}).to_string(),
        )
        .await;
    assert_eq!(r.json()["plaintext"], plaintext);
    let r = c
        .post(
            "/v1/key/hmac/persist",
            r#"{"message":"cm9vdCBhY2Nlc3Mga2V5"}"#,
        )
        .await;
    assert_eq!(r.json()["hmac"], mac);
    srv.stop().await;
}

#[tokio::test]
async fn concurrent_creates_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let srv = TestServer::start(settings(&pki, store)).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = Client::new(srv.addr, &pki.admin);
        tasks.push(tokio::spawn(async move {
            c.post("/v1/key/create/race", "").await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 200 {
            ok += 1;
        } else {
            r.assert_error(400, "key already exists");
        }
    }
    assert_eq!(ok, 1);
    srv.stop().await;
}

#[tokio::test]
async fn minio_sequence() {
    let pki = Pki::new();
    let mut s = settings(&pki, TestStore::new());
    s.policies.insert(
        "minio".into(),
        spec(
            &[
                "/v1/key/create/minio-*",
                "/v1/key/generate/minio-*",
                "/v1/key/decrypt/minio-*",
                "/v1/key/describe/minio-*",
                "/v1/key/hmac/minio-*",
                "/v1/key/list/*",
                "/v1/status",
                "/v1/metrics",
                "/v1/api",
            ],
            &[],
            &[&pki.stranger.identity],
        ),
    );
    let srv = TestServer::start(s).await;
    let mut c = Client::new(srv.addr, &pki.stranger);
    c.h2 = true;
    let mut conn = c.conn().await.unwrap();
    let empty_ctx = b64(b"{}");
    // Start-up: generate on a missing default key → 404 → create.
    let r = conn
        .request(
            Method::POST,
            "/v1/key/generate/minio-default",
            Some(json!({ "context": empty_ctx }).to_string().as_bytes()),
        )
        .await
        .unwrap();
    r.assert_error(NOT_FOUND.0, NOT_FOUND.1);
    conn.request(Method::POST, "/v1/key/create/minio-default", None)
        .await
        .unwrap()
        .assert_empty_ok();
    assert_eq!(
        conn.request(Method::GET, "/v1/key/describe/minio-default", None)
            .await
            .unwrap()
            .status,
        200
    );
    // Root credentials.
    for msg in ["root access key", "root secret key"] {
        let r = conn
            .request(
                Method::PUT,
                "/v1/key/hmac/minio-default",
                Some(
                    json!({ "message": b64(msg.as_bytes()) })
                        .to_string()
                        .as_bytes(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    // SSE: generate with a bucket context, then decrypt.
    let ctx = "eyJteWJ1Y2tldCI6Im15YnVja2V0L3Bob3Rvcy9jYXQucG5nIn0=";
    let dek = conn
        .request(
            Method::POST,
            "/v1/key/generate/minio-default",
            Some(json!({ "context": ctx }).to_string().as_bytes()),
        )
        .await
        .unwrap()
        .json();
    let r = conn
        .request(
            Method::POST,
            "/v1/key/decrypt/minio-default",
            Some(
                json!({"ciphertext": dek["ciphertext"], "context": ctx})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.json()["plaintext"], dek["plaintext"]);
    // Health check, key status.
    let r = conn
        .request(
            Method::POST,
            "/v1/key/generate/minio-default",
            Some(br#"{"context":"eyJoZWFsdGhjaGVjayI6IiJ9"}"#),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // Creating again is tolerated by MinIO via the exact error.
    conn.request(Method::POST, "/v1/key/create/minio-default", None)
        .await
        .unwrap()
        .assert_error(400, "key already exists");
    // Other key prefixes are forbidden.
    conn.request(Method::POST, "/v1/key/create/other", None)
        .await
        .unwrap()
        .assert_error(403, "not authorized: insufficient permissions");
    // `mc admin kms key list` with empty pattern: slash-less path, 301.
    let r = conn
        .request(Method::GET, "/v1/key/list", None)
        .await
        .unwrap();
    assert_eq!(r.status, 301);
    let loc = r.headers["location"].to_str().unwrap().to_owned();
    let r = conn.request(Method::GET, &loc, None).await.unwrap();
    assert_eq!(r.json()["names"], json!(["minio-default"]));
    for path in ["/v1/status", "/version", "/v1/api", "/v1/metrics"] {
        assert_eq!(
            conn.request(Method::GET, path, None).await.unwrap().status,
            200,
            "{path}"
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn system_endpoint_shapes() {
    let pki = Pki::new();
    let store = TestStore::new();
    let srv = TestServer::start(settings(&pki, store.clone())).await;
    let c = Client::new(srv.addr, &pki.admin);

    // The build's version and commit (`build.rs`), as Go KES reports them.
    let v = c.get("/version").await.json();
    assert_eq!(
        v,
        json!({"version": kes_server::api::VERSION, "commit": kes_server::api::COMMIT})
    );
    assert_eq!(kes_server::api::VERSION, env!("CARGO_PKG_VERSION"));

    let r = c.get("/v1/status").await;
    assert_eq!(r.content_type(), "application/json");
    let s = r.json();
    for field in [
        "uptime",
        "num_cpu",
        "num_cpu_used",
        "mem_heap_used",
        "mem_stack_used",
        "keystore_latency",
    ] {
        assert!(s[field].is_u64(), "{field}: {s}");
    }
    assert!(s["keystore_latency"].as_u64().unwrap() >= 1);
    assert_eq!(s["os"], std::env::consts::OS);
    assert_eq!(s["version"], kes_server::api::VERSION);
    assert!(s.get("keystore_unreachable").is_none());
    assert!(s.get("keystore_unavailable").is_none());

    let api = c.get("/v1/api").await.json();
    let routes = api.as_array().unwrap();
    // The 22 current routes, the 4 runtime administration routes and the
    // 3 key-version routes.
    assert_eq!(routes.len(), 29);
    assert!(
        routes
            .contains(&json!({"method":"PUT","path":"/v1/key/create/","max_body":0,"timeout":15}))
    );
    assert!(routes.contains(
        &json!({"method":"PUT","path":"/v1/key/generate/","max_body":1000000,"timeout":15})
    ));
    assert!(routes.contains(&json!({"method":"GET","path":"/version","max_body":0,"timeout":10})));
    assert!(
        routes.contains(&json!({"method":"GET","path":"/v1/log/audit","max_body":0,"timeout":0}))
    );

    c.get("/v1/ready").await.assert_empty_ok();

    // Metered: key routes count handler responses, 403s and system routes do not.
    c.post("/v1/key/create/m", "").await.assert_empty_ok();
    c.post("/v1/key/create/m", "").await;
    let r = c.get("/v1/metrics").await;
    assert!(r.content_type().starts_with("text/plain; version=0.0.4"));
    let text = r.text();
    assert!(text.contains("kes_system_up_time"), "{text}");
    assert!(
        text.contains("kes_http_request_success{code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("kes_http_request_error{code=\"400\"} 1"),
        "{text}"
    );

    // Key store down: both flags; ready 504; broken: 502.
    store
        .unreachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let s = c.get("/v1/status").await.json();
    assert_eq!(s["keystore_unreachable"], true);
    assert_eq!(s["keystore_unavailable"], true);
    assert!(s.get("keystore_latency").is_none());
    c.get("/v1/ready")
        .await
        .assert_error(504, "key store is not reachable");
    c.post("/v1/key/create/x", "")
        .await
        .assert_error(502, "failed to create key");
    c.get("/v1/key/list/")
        .await
        .assert_error(502, "failed to list keys");
    c.get("/v1/key/describe/x")
        .await
        .assert_error(502, "failed to read key");
    c.call(Method::DELETE, "/v1/key/delete/x", None)
        .await
        .assert_error(502, "failed to delete key");
    store
        .unreachable
        .store(false, std::sync::atomic::Ordering::SeqCst);
    store
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    c.get("/v1/ready")
        .await
        .assert_error(502, "key store is unavailable");
    srv.stop().await;
}

#[tokio::test]
async fn policy_and_identity_endpoints() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let started = srv.server.started_rfc3339().to_owned();
    let admin_id = pki.admin.identity.clone();
    let app_id = pki.app.identity.clone();
    let c = Client::new(srv.addr, &pki.admin);

    let r = c.get("/v1/policy/describe/app").await;
    assert_eq!(
        r.text(),
        format!(
            "{{\"name\":\"app\",\"created_at\":\"{started}\",\"created_by\":\"{admin_id}\"}}\n"
        )
    );
    let r = c.get("/v1/policy/read/app").await.json();
    assert_eq!(r["allow"]["/v1/status"], json!({}));
    assert_eq!(r["deny"], json!({"/v1/key/generate/app-secret*": {}}));
    c.get("/v1/policy/describe/nope")
        .await
        .assert_error(404, "policy does not exist");
    c.get("/v1/policy/read/nope")
        .await
        .assert_error(404, "policy does not exist");
    assert_eq!(
        c.get("/v1/policy/list/*").await.text(),
        "{\"names\":[\"app\"],\"continue_at\":\"\"}\n"
    );
    assert_eq!(
        c.get("/v1/policy/list/b").await.text(),
        "{\"names\":[],\"continue_at\":\"\"}\n"
    );

    assert_eq!(
        c.get(&format!("/v1/identity/describe/{admin_id}"))
            .await
            .text(),
        format!("{{\"admin\":true,\"created_at\":\"{started}\"}}\n")
    );
    assert_eq!(
        c.get(&format!("/v1/identity/describe/{app_id}"))
            .await
            .text(),
        format!(
            "{{\"policy\":\"app\",\"created_at\":\"{started}\",\"created_by\":\"{admin_id}\"}}\n"
        )
    );
    c.get("/v1/identity/describe/abc")
        .await
        .assert_error(404, "identity does not exist");
    let mut ids = vec![admin_id.clone(), app_id.clone()];
    ids.sort();
    assert_eq!(
        c.get("/v1/identity/list/").await.json(),
        json!({"identities": ids, "continue_at": ""})
    );

    assert_eq!(
        c.get("/v1/identity/self/describe").await.text(),
        format!("{{\"identity\":\"{admin_id}\",\"admin\":true,\"created_at\":\"{started}\"}}\n")
    );
    let app = Client::new(srv.addr, &pki.app);
    let me = app.get("/v1/identity/self/describe").await.json();
    assert_eq!(me["identity"], app_id.as_str());
    assert_eq!(me["policy"], "app");
    assert_eq!(me["created_by"], admin_id.as_str());
    assert_eq!(me["allow"]["/v1/status"], json!({}));
    assert!(me.get("admin").is_none());
    srv.stop().await;
}

#[tokio::test]
async fn audit_stream_receives_events() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    let (_conn, mut body) = open_stream(&c, "/v1/log/audit").await;
    // Make one audited request, then read the stream until its event shows up.
    c.post("/v1/key/create/audited", "").await.assert_empty_ok();
    let line = next_line_where(&mut body, |v| {
        v["request"]["path"] == "/v1/key/create/audited"
    })
    .await;
    assert_eq!(line["response"]["code"], 200);
    assert_eq!(line["request"]["identity"], pki.admin.identity.as_str());
    assert_eq!(line["request"]["ip"], "127.0.0.1");
    assert!(line["response"]["time"].is_u64());
    srv.stop().await;
}

#[tokio::test]
async fn reload_keeps_open_connections() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let mut conn = Client::new(srv.addr, &pki.app).conn().await.unwrap();
    assert_eq!(
        conn.request(Method::GET, "/v1/status", None)
            .await
            .unwrap()
            .status,
        200
    );
    // New policies: app loses /v1/status, gains /v1/api.
    let mut s = settings(&pki, TestStore::new());
    s.policies
        .insert("app".into(), spec(&["/v1/api"], &[], &[&pki.app.identity]));
    srv.server.reload(s).await.unwrap();
    // Same connection, new state.
    conn.request(Method::GET, "/v1/status", None)
        .await
        .unwrap()
        .assert_error(403, "not authorized: insufficient permissions");
    assert_eq!(
        conn.request(Method::GET, "/v1/api", None)
            .await
            .unwrap()
            .status,
        200
    );
    // A failing reload keeps the current state.
    let mut bad = settings(&pki, TestStore::new());
    bad.policies.insert("a.b".into(), spec(&[], &[], &[]));
    assert!(srv.server.reload(bad).await.is_err());
    assert_eq!(
        conn.request(Method::GET, "/v1/api", None)
            .await
            .unwrap()
            .status,
        200
    );
    srv.stop().await;
}

#[tokio::test]
async fn keys_created_at_startup() {
    let pki = Pki::new();
    let store = TestStore::new();
    let mut s = settings(&pki, store.clone());
    s.keys = vec!["pre-1".parse().unwrap(), "pre-2".parse().unwrap()];
    let srv = TestServer::start(s).await;
    let c = Client::new(srv.addr, &pki.admin);
    let d = c.get("/v1/key/describe/pre-1").await.json();
    assert_eq!(d["created_by"], pki.admin.identity.as_str());
    srv.stop().await;
    // Already existing keys are fine on the next start.
    let mut s = settings(&pki, store);
    s.keys = vec!["pre-1".parse().unwrap()];
    let server = Server::new(s).await.unwrap();
    drop(server);
}

#[tokio::test]
async fn shutdown_ends_log_streams_and_stops() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let mut conn = Client::new(srv.addr, &pki.admin).conn().await.unwrap();
    let req = http::Request::builder()
        .uri("/v1/log/error")
        .header("host", "localhost")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = conn.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    // Stopping must not hang on the open stream.
    tokio::time::timeout(Duration::from_secs(10), srv.stop())
        .await
        .expect("shutdown within 10 s");
}

#[tokio::test]
async fn legacy_bulk_decrypt() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/bulk", "").await.assert_empty_ok();
    let mut items = Vec::new();
    let mut plaintexts = Vec::new();
    for i in 0..3 {
        let ctx = b64(format!("ctx-{i}").as_bytes());
        let dek = c
            .post(
                "/v1/key/generate/bulk",
                &json!({ "context": ctx }).to_string(),
            )
            .await
            .json();
        items.push(json!({"ciphertext": dek["ciphertext"], "context": ctx}));
        plaintexts.push(json!({"plaintext": dek["plaintext"]}));
    }
    let r = c
        .post(
            "/v1/key/bulk/decrypt/bulk",
            &serde_json::Value::Array(items.clone()).to_string(),
        )
        .await;
    assert_eq!(r.json(), serde_json::Value::Array(plaintexts));
    // One bad item fails the call.
    items[1]["context"] = json!(b64(b"wrong"));
    c.post(
        "/v1/key/bulk/decrypt/bulk",
        &serde_json::Value::Array(items).to_string(),
    )
    .await
    .assert_error(DECRYPT.0, DECRYPT.1);
    let many = serde_json::Value::Array(vec![json!({}); 1001]).to_string();
    c.post("/v1/key/bulk/decrypt/bulk", &many)
        .await
        .assert_error(400, "too many ciphertexts");
    srv.stop().await;
}

#[tokio::test]
async fn error_stream_receives_keystore_failures() {
    let pki = Pki::new();
    let store = TestStore::new();
    let srv = TestServer::start(settings(&pki, store.clone())).await;
    let c = Client::new(srv.addr, &pki.admin);
    let mut conn = c.conn().await.unwrap();
    let req = http::Request::builder()
        .uri("/v1/log/error")
        .header("host", "localhost")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = conn.send(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    store
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    c.post("/v1/key/create/x", "")
        .await
        .assert_error(502, "failed to create key");
    let v = tokio::time::timeout(Duration::from_secs(10), async {
        use http_body_util::BodyExt;
        let mut buf = Vec::new();
        loop {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
            }
            if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                return serde_json::from_slice::<serde_json::Value>(&line).unwrap();
            }
        }
    })
    .await
    .expect("error event within 10 s");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("level=WARN"), "{msg}");
    assert!(msg.contains("failed to create key"), "{msg}");
    assert!(msg.contains("req.path=/v1/key/create/x"), "{msg}");
    srv.stop().await;
}

#[tokio::test]
async fn tls_only_reload_swaps_the_certificate_for_new_handshakes() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    let mut old = c.conn().await.unwrap();
    assert_eq!(old.server_cert.as_deref(), Some(pki.server.der.as_ref()));
    let fresh = pki.ca.server_cert();
    let mut tls = settings(&pki, TestStore::new()).tls;
    tls.source = kes_server::tls::CertSource::Memory {
        chain: vec![fresh.der.clone()],
        key: fresh.key.clone_key(),
    };
    srv.server.reload_tls(tls).unwrap();
    let mut new = c.conn().await.unwrap();
    assert_eq!(new.server_cert.as_deref(), Some(fresh.der.as_ref()));
    // Both connections keep working; policies are untouched.
    for conn in [&mut old, &mut new] {
        assert_eq!(
            conn.request(Method::GET, "/v1/status", None)
                .await
                .unwrap()
                .status,
            200
        );
    }
    srv.stop().await;
}
