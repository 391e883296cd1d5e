//! Start-up from a config file on disk (TLS files, fs key store, `keys:`,
//! `api:` overrides), TLS file errors, and reload from a changed file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use kes_server::configure;
use kes_server::state::Server;

fn write_config(dir: &Path, pki: &Pki, extra_policy_path: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("server.cert"), &pki.server.pem).unwrap();
    std::fs::write(dir.join("server.key"), &pki.server.key_pem).unwrap();
    let yaml = format!(
        r#"
address: 127.0.0.1:0
admin:
  identity: {admin}
tls:
  key: {dir}/server.key
  cert: {dir}/server.cert
api:
  /v1/ready:
    skip_auth: true
    timeout: 3s
policy:
  app:
    allow:
    - /v1/key/generate/app-*
    - {extra}
    identities:
    - {app}
keys:
  - name: preset-key
keystore:
  fs:
    path: {dir}/keys
"#,
        admin = pki.admin.identity,
        app = pki.app.identity,
        dir = dir.display(),
        extra = extra_policy_path,
    );
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test]
async fn serves_from_a_config_file_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let path = write_config(dir.path(), &pki, "/v1/status");
    let loaded = configure::load(&path, None).await.unwrap();
    assert_eq!(loaded.address.unwrap().to_string(), "127.0.0.1:0");
    let server = Server::new(loaded.settings).await.unwrap();
    let srv = TestServer::start_with(server).await;

    // keys: were created in the fs store.
    assert!(dir.path().join("keys").join("preset-key").exists());
    let admin = Client::new(srv.addr, &pki.admin);
    let d = admin.get("/v1/key/describe/preset-key").await.json();
    assert_eq!(d["created_by"], pki.admin.identity.as_str());
    // skip_auth relaxed the handshake and the route; timeout override shows in /v1/api.
    Client::anonymous(srv.addr)
        .get("/v1/ready")
        .await
        .assert_empty_ok();
    let api = admin.get("/v1/api").await.json();
    let ready = api
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/v1/ready")
        .unwrap()
        .clone();
    assert_eq!(ready["timeout"], 3);

    let app = Client::new(srv.addr, &pki.app);
    assert_eq!(app.get("/v1/status").await.status, 200);
    assert_eq!(app.get("/v1/api").await.status, 403);

    // Change the file and reload.
    write_config(dir.path(), &pki, "/v1/api");
    let loaded = configure::load(&path, None).await.unwrap();
    srv.server.reload(loaded.settings).await.unwrap();
    assert_eq!(app.get("/v1/status").await.status, 403);
    assert_eq!(app.get("/v1/api").await.status, 200);
    srv.stop().await;
}

/// `pem` (a PKCS#8 key) re-encrypted the legacy OpenSSL way with `password`.
fn legacy_encrypted(pem: &str, password: &str) -> String {
    let key = rustls_pemfile::private_key(&mut pem.as_bytes())
        .unwrap()
        .unwrap();
    let rustls_pki_types::PrivateKeyDer::Pkcs8(der) = key else {
        panic!("test keys are PKCS#8");
    };
    let enc = kes_crypto::legacy_pem::encrypt_aes256(
        "PRIVATE KEY",
        der.secret_pkcs8_der(),
        password.as_bytes(),
    )
    .unwrap();
    enc.to_string()
}

#[tokio::test]
async fn serves_with_a_legacy_encrypted_key_and_tls_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let path = write_config(dir.path(), &pki, "/v1/status");
    std::fs::write(
        dir.path().join("server.key"),
        legacy_encrypted(&pki.server.key_pem, "pem-secret"),
    )
    .unwrap();
    let yaml = std::fs::read_to_string(&path).unwrap();
    let with_password = yaml.replace("tls:\n", "tls:\n  password: pem-secret\n");
    std::fs::write(&path, &with_password).unwrap();
    let loaded = configure::load(&path, None).await.unwrap();
    let server = Server::new(loaded.settings).await.unwrap();
    let srv = TestServer::start_with(server).await;
    let app = Client::new(srv.addr, &pki.app);
    assert_eq!(app.get("/v1/status").await.status, 200);
    srv.stop().await;

    // Without the password line: the spec's error, as a config error
    // naming the file, the line and the field.
    std::fs::write(&path, &yaml).unwrap();
    let err = configure::load(&path, None).await.err().unwrap();
    assert!(
        err.to_string()
            .ends_with(": tls.key: https: private key is encrypted: password required"),
        "{err}"
    );
    // A wrong password names the file and the problem.
    std::fs::write(&path, yaml.replace("tls:\n", "tls:\n  password: nope\n")).unwrap();
    let err = configure::load(&path, None).await.err().unwrap();
    assert!(
        err.to_string().contains(&format!(
            "invalid private key '{}': private key decryption failed: wrong password or corrupted key",
            dir.path().join("server.key").display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn tls_file_errors_are_precise() {
    use kes_server::tls::{CertSource, ClientAuth, TlsSettings, server_config};
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let files = |cert: &str, key: &str| {
        let c = dir.path().join("c.pem");
        let k = dir.path().join("k.pem");
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        TlsSettings {
            source: CertSource::Files {
                cert: c,
                key: k,
                password: None,
            },
            auth: ClientAuth::Off,
            optional_client_cert: false,
        }
    };
    // Works: a key file may also hold certificates.
    let both = format!("{}{}", pki.server.pem, pki.server.key_pem);
    server_config(&files(&pki.server.pem, &both)).unwrap();
    // No SAN.
    let no_san = self_signed_client("no-san");
    let err = server_config(&files(&no_san.pem, &no_san.key_pem)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid TLS certificate: certificate does not contain any DNS or IP address as SAN"
    );
    // Key does not match the certificate.
    let err = server_config(&files(&pki.server.pem, &pki.admin.key_pem)).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid TLS private key"),
        "{err}"
    );
    // Private key in the certificate file.
    let err = server_config(&files(&both, &pki.server.key_pem)).unwrap_err();
    assert!(err.to_string().contains("only CERTIFICATE blocks"), "{err}");
    // Legacy-encrypted key without password.
    let enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    let err = server_config(&files(&pki.server.pem, enc)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "https: private key is encrypted: password required"
    );
    // Legacy-encrypted key with the right, a wrong and an empty password.
    let enc = legacy_encrypted(&pki.server.key_pem, "pw");
    let with_password = |password: &str| {
        let mut s = files(&pki.server.pem, &enc);
        if let CertSource::Files { password: p, .. } = &mut s.source {
            *p = Some(password.to_owned().into());
        }
        s
    };
    server_config(&with_password("pw")).unwrap();
    let err = server_config(&with_password("wrong")).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("k.pem': private key decryption failed: wrong password or corrupted key"),
        "{err}"
    );
    let err = server_config(&with_password("")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "https: private key is encrypted: password required"
    );
    // Unknown cipher.
    let rc2 = enc.replace("AES-256-CBC", "RC2-CBC");
    let err = server_config(&files(&pki.server.pem, &rc2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "https: private key is encrypted: password required"
    );
    let mut s = files(&pki.server.pem, &rc2);
    if let CertSource::Files { password, .. } = &mut s.source {
        *password = Some(String::from("pw").into());
    }
    let err = server_config(&s).unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported DEK-Info cipher 'RC2-CBC'"),
        "{err}"
    );
    // No key at all.
    let err = server_config(&files(&pki.server.pem, &pki.server.pem)).unwrap_err();
    assert!(err.to_string().contains("no private key"), "{err}");
    // Missing file.
    let mut s = files(&pki.server.pem, &pki.server.key_pem);
    s.source = CertSource::Files {
        cert: dir.path().join("missing.pem"),
        key: dir.path().join("k.pem"),
        password: None,
    };
    let err = server_config(&s).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

#[cfg(feature = "vault")]
#[tokio::test]
async fn unreachable_vault_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let path = write_config(dir.path(), &pki, "/v1/status");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("  fs:\n    path: {}/keys\n", dir.path().display()),
        "  vault:\n    endpoint: http://127.0.0.1:1\n    approle:\n      id: x\n      secret: y\n",
    );
    std::fs::write(&path, text).unwrap();
    let err = configure::load(&path, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(msg.to_lowercase().contains("reach"), "{msg}");
}

/// A config naming a back end whose cargo feature is off (`aws` is not in
/// kes-server's defaults) fails at start-up, naming the feature.
#[cfg(not(feature = "aws"))]
#[tokio::test]
async fn compiled_out_keystore_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let path = write_config(dir.path(), &pki, "/v1/status");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("  fs:\n    path: {}/keys\n", dir.path().display()),
        "  aws:\n    secretsmanager:\n      endpoint: 127.0.0.1:1\n      region: us-east-1\n",
    );
    std::fs::write(&path, text).unwrap();
    let err = configure::load(&path, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "the AWS SecretsManager key store is not compiled into this build \
             (build kes with the cargo feature `aws`)"
        ),
        "{msg}"
    );
}

/// The HSM seal from the config file (a private SoftHSM2 token): a missing
/// seal key stops start-up, `create: true` generates it, keys are sealed on
/// disk and served as before, and a reload opens the seal again (now
/// without `create`).
#[cfg(feature = "hsm")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_sealed_keys_behind_an_hsm_seal() {
    use kes_testpeers::softhsm::{PIN, TOKEN, in_private_token};
    let Some(module) = in_private_token("serves_sealed_keys_behind_an_hsm_seal") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let path = write_config(dir.path(), &pki, "/v1/status");
    let plain = std::fs::read_to_string(&path).unwrap();
    let with_hsm = |create: bool| {
        format!(
            "{plain}hsm:\n  pkcs11:\n    module: {}\n    token: {TOKEN}\n    pin: {PIN}\n    \
             key: kes-seal\n    create: {create}\n",
            module.display()
        )
    };
    std::fs::write(&path, with_hsm(false)).unwrap();
    let err = configure::load(&path, None).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "hsm: the seal key 'kes-seal' does not exist on token 'kes' \
             (set hsm.pkcs11.create: true to generate it)"
        ),
        "{err}"
    );
    assert!(!err.contains(PIN), "{err}");

    std::fs::write(&path, with_hsm(true)).unwrap();
    let loaded = configure::load(&path, None).await.unwrap();
    let server = Server::new(loaded.settings).await.unwrap();
    let srv = TestServer::start_with(server).await;
    let stored = std::fs::read(dir.path().join("keys").join("preset-key")).unwrap();
    assert!(stored.starts_with(b"kes-sealed:v1:"), "{stored:?}");

    let admin = Client::new(srv.addr, &pki.admin);
    let r = admin
        .post("/v1/key/encrypt/preset-key", r#"{"plaintext":"aGVsbG8="}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ct = r.json()["ciphertext"].as_str().unwrap().to_owned();

    std::fs::write(&path, with_hsm(false)).unwrap();
    let loaded = configure::load(&path, None).await.unwrap();
    srv.server.reload(loaded.settings).await.unwrap();
    let r = admin
        .post(
            "/v1/key/decrypt/preset-key",
            &format!(r#"{{"ciphertext":"{ct}"}}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["plaintext"], "aGVsbG8=");
    srv.stop().await;
}

/// The DEK hot path with and without the seal: `/v1/key/generate` on a
/// cached key never reaches the key store, so a sealed server answers as
/// fast as a plain one. Two servers from one config (one with `hsm:`),
/// measured in alternating rounds; prints `figure: HSM hot path ...`.
#[cfg(feature = "hsm")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dek_hot_path_is_unchanged_by_the_seal() {
    use kes_testpeers::softhsm::{PIN, TOKEN, in_private_token};
    let Some(module) = in_private_token("dek_hot_path_is_unchanged_by_the_seal") else {
        return;
    };
    let pki = Pki::new();
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for sealed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), &pki, "/v1/status");
        if sealed {
            let mut text = std::fs::read_to_string(&path).unwrap();
            text.push_str(&format!(
                "hsm:\n  pkcs11:\n    module: {}\n    token: {TOKEN}\n    pin: {PIN}\n    \
                 key: kes-seal\n    create: true\n",
                module.display()
            ));
            std::fs::write(&path, text).unwrap();
        }
        let loaded = configure::load(&path, None).await.unwrap();
        let server = Server::new(loaded.settings).await.unwrap();
        servers.push(TestServer::start_with(server).await);
        dirs.push(dir);
    }
    let clients: Vec<_> = servers
        .iter()
        .map(|s| Client::new(s.addr, &pki.admin))
        .collect();
    const ROUNDS: usize = 5;
    const CALLS: u32 = 100;
    let mut per_call = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, client) in clients.iter().enumerate() {
            let mut conn = client.conn().await.unwrap();
            let start = std::time::Instant::now();
            for _ in 0..CALLS {
                let r = conn
                    .request(http::Method::POST, "/v1/key/generate/preset-key", Some(b""))
                    .await
                    .unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
            }
            per_call[i].push(start.elapsed() / CALLS);
        }
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    let (plain, sealed) = (median(&mut per_call[0]), median(&mut per_call[1]));
    println!(
        "figure: HSM hot path: /v1/key/generate plain {plain:.0} µs, sealed {sealed:.0} µs per call \
         (median of {ROUNDS} alternating rounds of {CALLS} on one connection)"
    );
    for server in servers {
        server.stop().await;
    }
}
