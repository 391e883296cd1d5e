//! Key versions and rotation (docs/key-versions.md): the rotate and
//! versions endpoints, `version` in generate/encrypt/decrypt as kms-go v0.3
//! sends and reads it, every old ciphertext format after rotation, what is
//! stored (byte for byte), two servers on one fs store, rotation under
//! load, removal of a version, and a key with 1,000 versions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use http::Method;
use kes_crypto::{KeyVersion, ROTATED_MARKER};
use kes_keystore::fs::FsKeyStore;
use kes_server::cache::CacheConfig;
use kes_types::KeyName;
use serde_json::json;

const DECRYPT: (u16, &str) = (400, "decryption failed: ciphertext is not authentic");

/// The spec's legacy all-zero key (§7.3) and ciphertexts of P0 under it (§7.9).
const ZERO_KEY_JSON: &str = r#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#;
const J1: &str = r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#;
const J2: &str = r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#;
const R1: &str = "zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc";
const M1: &str = "lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=";
const P0: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

fn name(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

/// POST with `Content-Type: application/json`, as kms-go sends bodies.
async fn post_json(c: &Client, path: &str, body: &serde_json::Value) -> Resp {
    c.post(path, &body.to_string()).await
}

async fn generate(c: &Client, key: &str, ctx: &str) -> serde_json::Value {
    let r = post_json(
        c,
        &format!("/v1/key/generate/{key}"),
        &json!({ "context": ctx }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn rotate(c: &Client, key: &str) -> String {
    let r = c.post(&format!("/v1/key/rotate/{key}"), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["version"].as_str().unwrap().to_owned()
}

async fn decrypt(c: &Client, key: &str, body: serde_json::Value) -> Resp {
    post_json(c, &format!("/v1/key/decrypt/{key}"), &body).await
}

#[tokio::test]
async fn rotate_then_generate_encrypt_decrypt_describe_list() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/k", "").await.assert_empty_ok();
    let ctx = b64(b"{}");

    let old = generate(&c, "k", &ctx).await;
    assert_eq!(old["version"], "v1");
    let mac = |c: &Client| {
        let c = c.clone();
        async move {
            c.post("/v1/key/hmac/k", r#"{"message":"aGk="}"#)
                .await
                .json()["hmac"]
                .clone()
        }
    };
    let mac_v1 = mac(&c).await;
    assert_eq!(c.get("/v1/key/describe/k").await.json()["version"], "v1");

    assert_eq!(rotate(&c, "k").await, "v2");
    assert_eq!(rotate(&c, "k").await, "v3");
    let new = generate(&c, "k", &ctx).await;
    assert_eq!(new["version"], "v3");
    let enc = post_json(&c, "/v1/key/encrypt/k", &json!({"plaintext": b64(b"hi")})).await;
    assert_eq!(enc.json()["version"], "v3");
    // HMAC keys are inherited: MinIO's derived credentials stay the same.
    assert_eq!(mac(&c).await, mac_v1);

    // Without a version the server finds it; with one it uses that one.
    for (dek, v) in [(&old, "v1"), (&new, "v3")] {
        let ct = dek["ciphertext"].clone();
        for body in [
            json!({"ciphertext": ct, "context": ctx}),
            json!({"ciphertext": ct, "context": ctx, "version": v}),
            json!({"ciphertext": ct, "context": ctx, "version": &v[1..]}),
        ] {
            let r = decrypt(&c, "k", body.clone()).await;
            assert_eq!(r.status, 200, "{body}: {}", r.text());
            assert_eq!(r.json()["plaintext"], dek["plaintext"]);
        }
        // The wrong version is a decryption failure like any other.
        let wrong = if v == "v1" { "v2" } else { "v1" };
        decrypt(
            &c,
            "k",
            json!({"ciphertext": ct, "context": ctx, "version": wrong}),
        )
        .await
        .assert_error(DECRYPT.0, DECRYPT.1);
    }
    let ct = old["ciphertext"].clone();
    decrypt(&c, "k", json!({"ciphertext": ct, "version": "v9"}))
        .await
        .assert_error(404, "key version 'v9' of 'k' does not exist");
    decrypt(&c, "k", json!({"ciphertext": ct, "version": "latest"}))
        .await
        .assert_error(
            400,
            "invalid key version 'latest': want v<N> with N a positive integer",
        );
    decrypt(&c, "k", json!({"ciphertext": ct, "context": b64(b"x")}))
        .await
        .assert_error(DECRYPT.0, DECRYPT.1);

    // Describe keeps the creation of v1 and adds the latest version.
    let d = c.get("/v1/key/describe/k").await.json();
    assert_eq!(d["version"], "v3");
    assert_eq!(d["created_by"], pki.admin.identity.as_str());
    let r = c.get("/v1/key/versions/k").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "k");
    assert_eq!(v["latest"], "v3");
    let ids: Vec<_> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["version"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["v1", "v2", "v3"]);
    assert_eq!(v["versions"][2]["created_by"], pki.admin.identity.as_str());
    c.get("/v1/key/versions/nope")
        .await
        .assert_error(404, "key does not exist");

    // The store lists `k-v1- … k-v3-`; the key listing shows keys only.
    let l = c.get("/v1/key/list/").await.json();
    assert_eq!(l["names"], json!(["k"]));

    // Deleting the key deletes every version.
    c.call(Method::DELETE, "/v1/key/delete/k", None)
        .await
        .assert_empty_ok();
    let store = srv.server.state().cache.store().clone();
    assert!(store.list("", "", 0).await.unwrap().names.is_empty());
    c.post("/v1/key/rotate/k", "")
        .await
        .assert_error(404, "key does not exist");
    srv.stop().await;
}

/// Exactly what kms-go `kes` v0.3 sends: `POST` with a JSON body and
/// `Content-Type: application/json`; `context` and `version` are
/// `omitempty`, byte fields standard base64; `version` read back as an
/// optional string.
#[tokio::test]
async fn kms_go_v0_3_request_shapes() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    // kms-go forces HTTP/2; HTTP/1.1 is checked too.
    for h2 in [true, false] {
        let key = if h2 {
            "minio-default"
        } else {
            "minio-default-h1"
        };
        let mut c = Client::new(srv.addr, &pki.admin);
        c.h2 = h2;
        c.post(&format!("/v1/key/create/{key}"), "")
            .await
            .assert_empty_ok();
        let ctx = b64(br#"{"mybucket":"mybucket/photos/cat.png"}"#);

        let gen_ = c
            .post(
                &format!("/v1/key/generate/{key}"),
                &format!(r#"{{"context":"{ctx}"}}"#),
            )
            .await;
        assert_eq!(gen_.status, 200);
        assert_eq!(gen_.content_type(), "application/json");
        let dek: serde_json::Value = gen_.json();
        assert!(dek["version"].is_string());
        assert_eq!(
            dek.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["ciphertext", "plaintext", "version"]
        );
        let ct = dek["ciphertext"].as_str().unwrap();
        let version = dek["version"].as_str().unwrap();

        rotate(&c, key).await;
        // Decrypt(ctx, name, version, ciphertext, context).
        for body in [
            format!(r#"{{"ciphertext":"{ct}","context":"{ctx}","version":"{version}"}}"#),
            format!(r#"{{"ciphertext":"{ct}","context":"{ctx}"}}"#),
        ] {
            let r = c.post(&format!("/v1/key/decrypt/{key}"), &body).await;
            assert_eq!(r.status, 200, "{body}: {}", r.text());
            assert_eq!(r.json()["plaintext"], dek["plaintext"]);
        }
        // Without a context (omitempty) and with the version.
        let dek2 = c
            .post(&format!("/v1/key/generate/{key}"), "{}")
            .await
            .json();
        assert_eq!(dek2["version"], "v2");
        let body = format!(
            r#"{{"ciphertext":"{}","version":"v2"}}"#,
            dek2["ciphertext"].as_str().unwrap()
        );
        let r = c.post(&format!("/v1/key/decrypt/{key}"), &body).await;
        assert_eq!(r.json()["plaintext"], dek2["plaintext"]);
    }
    srv.stop().await;
}

#[tokio::test]
async fn rotation_is_a_separate_policy_path() {
    let pki = Pki::new();
    let srv = TestServer::start(settings(&pki, TestStore::new())).await;
    let app = Client::new(srv.addr, &pki.app);
    app.post("/v1/key/create/app-k", "").await.assert_empty_ok();
    // The app may generate and decrypt, not rotate, list versions or remove.
    app.post("/v1/key/rotate/app-k", "")
        .await
        .assert_error(403, "not authorized: insufficient permissions");
    app.get("/v1/key/versions/app-k")
        .await
        .assert_error(403, "not authorized: insufficient permissions");
    let r = app.post("/v1/key/generate/app-k", "").await;
    assert_eq!(r.status, 200);
    srv.stop().await;
}

/// A legacy key rotated on an fs store: its bytes move to `zero-v1-`
/// unchanged, its own file becomes the marker (which Go KES refuses), and
/// every ciphertext format of §7.5 still decrypts, with or without `v1`.
#[tokio::test]
async fn old_ciphertext_formats_decrypt_after_rotation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zero"), ZERO_KEY_JSON).unwrap();
    let pki = Pki::new();
    let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let srv = TestServer::start(settings(&pki, store)).await;
    let c = Client::new(srv.addr, &pki.admin);

    // A never-rotated key is stored exactly as before, and left alone.
    c.post("/v1/key/create/plain", "").await.assert_empty_ok();
    let plain = std::fs::read(dir.path().join("plain")).unwrap();
    KeyVersion::decode(&plain).unwrap();

    assert_eq!(rotate(&c, "zero").await, "v2");
    assert_eq!(
        std::fs::read(dir.path().join("zero-v1-")).unwrap(),
        ZERO_KEY_JSON.as_bytes()
    );
    let marker = std::fs::read(dir.path().join("zero")).unwrap();
    assert_eq!(marker, ROTATED_MARKER);
    assert!(
        KeyVersion::decode(&marker).is_err(),
        "a Go KES must refuse it"
    );
    assert_eq!(std::fs::read(dir.path().join("plain")).unwrap(), plain);

    for ct in [
        b64(J1.as_bytes()),
        M1.to_owned(),
        R1.to_owned(),
        b64(J2.as_bytes()),
    ] {
        for body in [
            json!({ "ciphertext": ct }),
            json!({ "ciphertext": ct, "version": "v1" }),
        ] {
            let r = decrypt(&c, "zero", body.clone()).await;
            assert_eq!(r.text(), format!("{{\"plaintext\":\"{P0}\"}}\n"), "{body}");
        }
    }
    // The legacy key had no HMAC key; its v2 has one.
    assert_eq!(
        c.post("/v1/key/hmac/zero", r#"{"message":"aGk="}"#)
            .await
            .status,
        200
    );
    // The fs store does not list version files; the listing shows keys.
    let l = c.get("/v1/key/list/").await.json();
    assert_eq!(l["names"], json!(["plain", "zero"]));
    // A key of a rotated key's name cannot be created, even with its file gone.
    c.post("/v1/key/create/zero", "")
        .await
        .assert_error(400, "key already exists");
    std::fs::remove_file(dir.path().join("zero")).unwrap();
    c.post("/v1/key/create/zero", "")
        .await
        .assert_error(400, "key already exists");
    srv.stop().await;
}

/// Two servers on one fs store: a rotation on one reaches the other within
/// its `cache.expiry.any`; a newer version is loaded on demand meanwhile.
#[tokio::test]
async fn two_servers_on_one_fs_store_converge() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let start = || async {
        let mut s = settings(&pki, Arc::new(FsKeyStore::open(dir.path()).unwrap()));
        s.cache = CacheConfig {
            any: Duration::from_secs(2),
            unused: Duration::ZERO,
            offline: Duration::ZERO,
        };
        TestServer::start(s).await
    };
    let (a, b) = (start().await, start().await);
    let (ca, cb) = (
        Client::new(a.addr, &pki.admin),
        Client::new(b.addr, &pki.admin),
    );
    ca.post("/v1/key/create/k", "").await.assert_empty_ok();
    assert_eq!(generate(&cb, "k", "").await["version"], "v1"); // B caches v1

    assert_eq!(rotate(&ca, "k").await, "v2");
    let dek = generate(&ca, "k", "").await;
    assert_eq!(dek["version"], "v2");
    // B has v1 cached, yet decrypts A's v2 ciphertexts: with the version
    // (loaded on demand) and without (one store read finds v2 exists).
    for body in [
        json!({"ciphertext": dek["ciphertext"], "version": "v2"}),
        json!({"ciphertext": dek["ciphertext"]}),
    ] {
        let r = decrypt(&cb, "k", body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        assert_eq!(r.json()["plaintext"], dek["plaintext"]);
    }
    // Within the expiry (2 s here) B generates with v2 too.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if generate(&cb, "k", "").await["version"] == "v2" {
            break;
        }
        assert!(Instant::now() < deadline, "B never saw the rotation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}

/// Rotations while clients generate and decrypt (with and without the
/// version): not a single decrypt may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_fails_no_decrypt() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let srv = TestServer::start(settings(&pki, store)).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/k", "").await.assert_empty_ok();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (c, stop) = (c.clone(), stop.clone());
            tokio::spawn(async move {
                let mut done = 0u32;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) || done < 20 {
                    let ctx = b64(format!("{i}-{done}").as_bytes());
                    let dek = generate(&c, "k", &ctx).await;
                    let mut body = json!({"ciphertext": dek["ciphertext"], "context": ctx});
                    if done.is_multiple_of(2) {
                        body["version"] = dek["version"].clone();
                    }
                    let r = decrypt(&c, "k", body).await;
                    assert_eq!(r.status, 200, "{}", r.text());
                    assert_eq!(r.json()["plaintext"], dek["plaintext"]);
                    done += 1;
                }
                done
            })
        })
        .collect();
    for n in 2..=21 {
        assert_eq!(rotate(&c, "k").await, format!("v{n}"));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        assert!(w.await.unwrap() >= 20);
    }
    srv.stop().await;
}

#[tokio::test]
async fn removing_a_version_shreds_its_ciphertexts() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let srv = TestServer::start(settings(&pki, store)).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/app-k", "").await.assert_empty_ok();
    let old = generate(&c, "app-k", "").await;
    rotate(&c, "app-k").await;

    let app = Client::new(srv.addr, &pki.app);
    app.call(Method::DELETE, "/v1/key/version/delete/app-k/v1", None)
        .await
        .assert_error(403, "not authorized: insufficient permissions");
    c.call(Method::DELETE, "/v1/key/version/delete/app-k/v2", None)
        .await
        .assert_error(
            400,
            "key version 'v2' is the latest version of 'app-k' and cannot be removed; rotate the key first",
        );
    c.call(Method::DELETE, "/v1/key/version/delete/app-k/x", None)
        .await
        .assert_error(
            400,
            "invalid key version 'x': want v<N> with N a positive integer",
        );
    c.call(Method::DELETE, "/v1/key/version/delete/app-k/v1", None)
        .await
        .assert_empty_ok();
    assert!(
        !String::from_utf8(std::fs::read(dir.path().join("app-k-v1-")).unwrap())
            .unwrap()
            .contains("bytes")
    );

    decrypt(
        &c,
        "app-k",
        json!({"ciphertext": old["ciphertext"], "version": "v1"}),
    )
    .await
    .assert_error(400, "key version 'v1' of 'app-k' was removed");
    decrypt(&c, "app-k", json!({"ciphertext": old["ciphertext"]}))
        .await
        .assert_error(DECRYPT.0, DECRYPT.1);
    let v = c.get("/v1/key/versions/app-k").await.json();
    assert_eq!(v["versions"][0], json!({"version": "v1", "removed": true}));
    // New data is unaffected.
    let new = generate(&c, "app-k", "").await;
    let r = decrypt(&c, "app-k", json!({"ciphertext": new["ciphertext"]})).await;
    assert_eq!(r.json()["plaintext"], new["plaintext"]);
    srv.stop().await;
}

/// 1,000 versions: the oldest version-less ciphertext still decrypts, in
/// 1,000 tag checks; the time is printed (docs/key-versions.md §4).
#[tokio::test]
async fn a_thousand_versions() {
    let pki = Pki::new();
    let store = TestStore::new();
    let srv = TestServer::start(settings(&pki, store.clone())).await;
    let c = Client::new(srv.addr, &pki.admin);
    c.post("/v1/key/create/k", "").await.assert_empty_ok();
    let oldest = generate(&c, "k", "").await;
    let k = name("k");
    let started = Instant::now();
    for _ in 2..=1000 {
        kes_server::versions::rotate(store.as_ref(), &k, None, None)
            .await
            .unwrap();
    }
    eprintln!("999 rotations (store level): {:?}", started.elapsed());
    srv.server.state().cache.evict(&k);
    assert_eq!(generate(&c, "k", "").await["version"], "v1000");

    let body = json!({"ciphertext": oldest["ciphertext"]});
    for round in ["cold (loads 999 versions)", "warm"] {
        let t = Instant::now();
        let r = decrypt(&c, "k", body.clone()).await;
        let took = t.elapsed();
        assert_eq!(r.json()["plaintext"], oldest["plaintext"], "{round}");
        eprintln!("decrypt of v1 without version, 1000 versions, {round}: {took:?}");
        assert!(took < Duration::from_secs(5), "{round}: {took:?}");
    }
    let t = Instant::now();
    let r = decrypt(
        &c,
        "k",
        json!({"ciphertext": oldest["ciphertext"], "version": "v1"}),
    )
    .await;
    assert_eq!(r.json()["plaintext"], oldest["plaintext"]);
    eprintln!("decrypt of v1 with version: {:?}", t.elapsed());
    let v = c.get("/v1/key/versions/k").await.json();
    assert_eq!(v["versions"].as_array().unwrap().len(), 1000);
    srv.stop().await;
}

#[test]
fn config_keys_may_rotate() {
    let text = "admin:\n  identity: 3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22\n\
                tls:\n  key: server.key\n  cert: server.crt\nkeystore:\n  fs: {path: /tmp/keys}\n\
                keys:\n- name: a\n  rotate: 2160h\n- name: b\n- name: c\n  rotate: 0s\n";
    let cfg = kes_server::config::parse(text, "config.yml", &|_| None).unwrap();
    assert_eq!(cfg.keys.len(), 3);
    assert_eq!(
        cfg.rotations,
        [kes_server::versions::KeyRotation {
            name: name("a"),
            every: Duration::from_secs(90 * 24 * 3600),
        }]
    );
    let bad = text.replace("2160h", "-1h");
    let err = kes_server::config::parse(&bad, "config.yml", &|_| None).unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid key config: invalid rotation period '-1h'"),
        "{err}"
    );
}

/// `keys: [{name, rotate: 1s}]` on two servers sharing an fs store: the
/// key is rotated about once a second in all, not once per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_rotation_happens_once_across_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let start = || async {
        let mut s = settings(&pki, Arc::new(FsKeyStore::open(dir.path()).unwrap()));
        s.keys = vec![name("sched")];
        s.rotations = vec![kes_server::versions::KeyRotation {
            name: name("sched"),
            every: Duration::from_secs(1),
        }];
        TestServer::start(s).await
    };
    let started = Instant::now();
    let (a, b) = (start().await, start().await);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let c = Client::new(a.addr, &pki.admin);
    let v = c.get("/v1/key/versions/sched").await.json();
    let n = v["versions"].as_array().unwrap().len() as u64;
    let elapsed = started.elapsed().as_secs();
    eprintln!("{n} versions after {elapsed} s");
    // One rotation per elapsed second at most (plus the first version);
    // two unguarded nodes would make about twice as many.
    assert!(
        (2..=elapsed + 1).contains(&n),
        "{n} versions in {elapsed} s: {v}"
    );
    for w in v["versions"].as_array().unwrap() {
        assert_eq!(w["created_by"], pki.admin.identity.as_str());
    }
    a.stop().await;
    b.stop().await;
}
