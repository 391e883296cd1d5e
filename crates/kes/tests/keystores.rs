//! The key stores end to end, through the real `kes` binary: the seed
//! configs of the setup guides (copied to `tests/data/seed-configs/`), with
//! their endpoints, credentials, certificates and identities filled in as a
//! user would, start a `kes server` process against a key store; the `kes`
//! CLI then creates a key, asks for a DEK and decrypts it.
//!
//! Entrust KeyControl and Thales CipherTrust (Gemalto KeySecure) run against
//! the in-process FAKES of their vendor APIs (`kes_keystore::fakes`, served
//! from this test process). Vault runs against a real OpenBao and AWS Secrets
//! Manager against a real moto server (`kes-testpeers`; a peer that cannot be
//! installed fails the test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Out, Server, api_key_in, free_port, identity_in, run, run_env};
use kes_keystore::fakes::entrust::{FakeKeyControl, KeyControlFakeConfig};
use kes_keystore::fakes::gemalto::{CipherTrustFakeConfig, FakeCipherTrust};

/// A seed config from `tests/data/seed-configs/`.
fn seed(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/seed-configs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Replaces the first occurrence of each `from` by its `to`, failing when
/// the seed config no longer contains `from`.
fn fill(mut text: String, subs: &[(&str, &str)]) -> String {
    for (from, to) in subs {
        assert!(
            text.contains(from),
            "the seed config lost {from:?}:\n{text}"
        );
        text = text.replacen(from, to, 1);
    }
    text
}

/// A runtime for the in-process fakes, serving while the test thread runs
/// the `kes` processes.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A scratch directory with the server's TLS key pair and a client API key.
struct Workdir {
    dir: tempfile::TempDir,
    api_key: String,
    identity: String,
}

impl Workdir {
    /// `kes identity new --key <key> --cert <cert> --ip 127.0.0.1 localhost`
    /// for the server and `kes identity new` for the client.
    fn new(key: &str, cert: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run(
            d,
            &[
                "identity",
                "new",
                "--key",
                key,
                "--cert",
                cert,
                "--ip",
                "127.0.0.1",
                "localhost",
            ],
        )
        .ok();
        let out = run(d, &["identity", "new"]);
        let api_key = api_key_in(out.ok());
        let identity = identity_in(out.ok());
        Workdir {
            dir,
            api_key,
            identity,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `config.yml` and starts `kes server --config config.yml`.
    fn start(&self, port: u16, config: &str, env: &[(&str, &str)]) -> Server {
        std::fs::write(self.path().join("config.yml"), config).unwrap();
        Server::start_env(
            self.path(),
            port,
            env,
            &["server", "--config", "config.yml"],
        )
    }

    /// Runs `kes args...` as the client against `server` (`-k`: the server
    /// certificate is self-signed).
    fn kes(&self, server: &Server, args: &[&str]) -> Out {
        let endpoint = server.endpoint();
        let mut args = args.to_vec();
        args.push("-k");
        run_env(
            self.path(),
            &[("KES_SERVER", &endpoint), ("KES_API_KEY", &self.api_key)],
            &args,
        )
    }

    /// `kes key dek <key>` and `kes key decrypt <key> <ciphertext>`: the
    /// plaintexts agree. Returns the ciphertext.
    fn dek_round_trip(&self, server: &Server, key: &str) -> String {
        let out = self.kes(server, &["key", "dek", key]);
        let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
        let pt = B64.decode(v["plaintext"].as_str().unwrap()).unwrap();
        assert_eq!(pt.len(), 32, "{v}");
        let ct = v["ciphertext"].as_str().unwrap().to_owned();
        self.decrypts(server, key, &ct, &pt);
        ct
    }

    /// `kes key decrypt <key> <ciphertext>` gives `plaintext`.
    fn decrypts(&self, server: &Server, key: &str, ciphertext: &str, plaintext: &[u8]) {
        let out = self.kes(server, &["key", "decrypt", key, ciphertext]);
        let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
        assert_eq!(
            B64.decode(v["plaintext"].as_str().unwrap()).unwrap(),
            plaintext,
            "{v}"
        );
    }

    /// `kes key create <key>`, then a DEK that decrypts.
    fn create_and_use(&self, server: &Server, key: &str) -> String {
        assert_eq!(self.kes(server, &["key", "create", key]).ok(), "");
        self.dek_round_trip(server, key)
    }
}

/// Asserts that no secret appears in the server's output.
#[track_caller]
fn assert_not_logged(server: &Server, secrets: &[&str]) {
    let log = server.log();
    for s in secrets {
        assert!(!log.contains(s), "secret {s:?} in the server log:\n{log}");
    }
}

#[test]
fn entrust_keycontrol_seed_config_against_fake() {
    let rt = runtime();
    let cfg = KeyControlFakeConfig::default();
    let fake = rt.block_on(FakeKeyControl::start(cfg.clone())).unwrap();
    let w = Workdir::new("private.key", "public.crt");
    std::fs::copy(fake.pki().ca_file(), w.path().join("keycontrol-ca.pem")).unwrap();
    let port = free_port();
    let address = format!("address: 127.0.0.1:{port}");
    let endpoint = format!("endpoint: \"{}\"", fake.endpoint());
    let vault_id = format!("vault_id: \"{}\"", cfg.vault_id);
    let box_id = format!("box_id:   \"{}\"", cfg.box_name);
    let username = format!("username: \"{}\"", cfg.username);
    // The fake's CA: a `tls` block beside `credentials`.
    let password = format!(
        "password: \"{}\"\n         tls:\n           ca: keycontrol-ca.pem",
        cfg.password
    );
    let config = fill(
        seed("entrust-keycontrol.yml"),
        &[
            ("address: 0.0.0.0:7373", &address),
            (
                "eb559798a2fbcc3efbf036bed11108116e63f293324abdfe7574249ef5e56b36",
                &w.identity,
            ),
            ("endpoint: \"https://keycontrol.my-org.com\"", &endpoint),
            ("vault_id: \"\"", &vault_id),
            ("box_id:   \"\"", &box_id),
            ("username: \"\"", &username),
            ("password: \"\"", &password),
        ],
    );
    let server = w.start(port, &config, &[]);

    w.create_and_use(&server, "my-key-1");
    assert!(
        fake.secret_names().iter().any(|n| n == "my-key-1"),
        "{:?}",
        fake.secret_names()
    );
    // The policy still applies: a name outside `my-key*` is refused.
    let e = w.kes(&server, &["key", "create", "other"]);
    assert!(e.fails(1).contains("not authorized"), "{e:?}");
    assert!(fake.stats().logins >= 1, "{:?}", fake.stats());
    assert_not_logged(&server, &[&cfg.password]);
}

#[test]
fn gemalto_old_keys_shape_seed_config_against_fake() {
    let rt = runtime();
    let cfg = CipherTrustFakeConfig::default();
    let fake = rt.block_on(FakeCipherTrust::start(cfg.clone())).unwrap();
    let w = Workdir::new("server.key", "server.cert");
    std::fs::copy(fake.pki().ca_file(), w.path().join("keysecure-ca.crt")).unwrap();
    let port = free_port();
    let address = format!("address: 127.0.0.1:{port}");
    let root = format!("root: {}", w.identity);
    let endpoint = format!("endpoint: {}", fake.endpoint());
    let token = format!("token: \"{}\"", cfg.refresh_token);
    let config = fill(
        seed("reference-old-gemalto.yml"),
        &[
            ("address: 0.0.0.0:7373", &address),
            ("root: disabled", &root),
            ("endpoint: https://127.0.0.1:9443", &endpoint),
            ("token: \"<refresh-token>\"", &token),
        ],
    );
    let server = w.start(port, &config, &[]);

    w.create_and_use(&server, "my-key-1");
    assert!(
        fake.secret_names().iter().any(|n| n == "my-key-1"),
        "{:?}",
        fake.secret_names()
    );
    // The `root:` identity is the admin: it lists what the appliance holds.
    assert_eq!(w.kes(&server, &["key", "ls"]).ok(), "Key\nmy-key-1\n");
    assert!(fake.stats().exchanges >= 1, "{:?}", fake.stats());
    assert_not_logged(&server, &[&cfg.refresh_token]);
}
