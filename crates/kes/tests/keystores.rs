//! The key stores end to end, through the real `kes` binary: the seed
//! configs of the setup guides (copied to `tests/data/seed-configs/`), with
//! their endpoints, credentials, certificates and identities filled in as a
//! user would, start a `kes server` process against a key store; the `kes`
//! CLI then creates a key, asks for a DEK and decrypts it.
//!
//! Entrust KeyControl and Thales CipherTrust (Gemalto KeySecure) run against
//! the in-process FAKES of their vendor APIs (`kes_keystore::{entrust,gemalto}::fake`, served
//! from this test process). Vault runs against a real OpenBao and AWS Secrets
//! Manager against a real moto server (`kes-testpeers`; a peer that cannot be
//! installed fails the test).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Out, Server, api_key_in, free_port, identity_in, run, run_env};
use kes_keystore::entrust::fake::{FakeKeyControl, KeyControlFakeConfig};
use kes_keystore::gemalto::fake::{CipherTrustFakeConfig, FakeCipherTrust};
use kes_testpeers::moto::{self, Moto};
use kes_testpeers::openbao::{self, OpenBao};
use serde_json::json;

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

/// A scratch directory with the server's TLS key pair and a client API key;
/// derefs to that client.
struct Workdir {
    dir: tempfile::TempDir,
    client: Client,
    /// The identity of the client's API key.
    identity: String,
}

impl std::ops::Deref for Workdir {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// The `kes` CLI run in a directory with an API key (`KES_API_KEY`).
struct Client {
    dir: std::path::PathBuf,
    api_key: String,
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
        let client = Client {
            dir: d.to_path_buf(),
            api_key,
        };
        Workdir {
            dir,
            client,
            identity,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A further API key (`kes identity new`): the key and its identity.
    fn new_api_key(&self) -> (String, String) {
        let out = run(self.path(), &["identity", "new"]);
        (api_key_in(out.ok()), identity_in(out.ok()))
    }

    /// The same directory used with another API key.
    fn as_client(&self, api_key: &str) -> Client {
        Client {
            dir: self.path().to_path_buf(),
            api_key: api_key.to_owned(),
        }
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
}

impl Client {
    /// Runs `kes args...` as the client against `server` (`-k`: the server
    /// certificate is self-signed).
    fn kes(&self, server: &Server, args: &[&str]) -> Out {
        let endpoint = server.endpoint();
        let mut args = args.to_vec();
        args.push("-k");
        run_env(
            &self.dir,
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

/// Asserts that the appliance fake's secret names include `key`.
#[track_caller]
fn assert_stored(names: &[String], key: &str) {
    assert!(names.iter().any(|n| n == key), "{names:?}");
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
    assert_stored(&fake.secret_names(), "my-key-1");
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
    assert_stored(&fake.secret_names(), "my-key-1");
    // The `root:` identity is the admin: it lists what the appliance holds.
    assert_eq!(w.kes(&server, &["key", "ls"]).ok(), "Key\nmy-key-1\n");
    assert!(fake.stats().exchanges >= 1, "{:?}", fake.stats());
    assert_not_logged(&server, &[&cfg.refresh_token]);
}

// ---------------------------------------------------------------------------
// HashiCorp Vault, against a real OpenBao.

/// The fields of `kes status --json` that say whether the key store is up.
#[derive(Debug, PartialEq, Eq)]
struct StoreState {
    latency: bool,
    unreachable: bool,
    unavailable: bool,
}

impl StoreState {
    const UP: StoreState = StoreState {
        latency: true,
        unreachable: false,
        unavailable: false,
    };
    const DOWN: StoreState = StoreState {
        latency: false,
        unreachable: true,
        unavailable: true,
    };
}

impl Client {
    /// The key store's state as `kes status --json` reports it.
    fn store_state(&self, server: &Server) -> StoreState {
        let out = self.kes(server, &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
        StoreState {
            latency: v.get("keystore_latency").is_some(),
            unreachable: v["keystore_unreachable"] == true,
            unavailable: v["keystore_unavailable"] == true,
        }
    }

    /// Polls `kes status` until the key store is in `want` (at most 30 s:
    /// the server probes its store every 10 s; a bound, not a timing check).
    fn wait_for_store(&self, server: &Server, want: &StoreState) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let got = self.store_state(server);
            if got == *want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "key store still {got:?} after 30 s, want {want:?}:\n{}",
                server.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}

/// The policy of the `kes` AppRole role plus the `kv/` mount the older
/// reference config uses (its default engine).
const KV_POLICY: &str =
    r#"path "kv/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#;

#[test]
fn vault_old_keys_shape_seed_config_against_openbao() {
    let rt = runtime();
    let certs = tempfile::tempdir().unwrap();
    let bao = rt.block_on(async {
        let bao = OpenBao::start_tls(certs.path()).await;
        bao.seed().await;
        bao.root(
            "POST",
            "/v1/sys/mounts/kv",
            Some(json!({"type": "kv", "options": {"version": "1"}})),
        )
        .await;
        bao.root(
            "PUT",
            "/v1/sys/policies/acl/kes",
            Some(json!({ "policy": format!("{}\n{KV_POLICY}", openbao::KES_POLICY) })),
        )
        .await;
        bao
    });
    let w = Workdir::new("server.key", "server.cert");
    std::fs::copy(
        certs.path().join("vault-ca.pem"),
        w.path().join("vault-ca.crt"),
    )
    .unwrap();
    let port = free_port();
    let address = format!("address: 127.0.0.1:{port}");
    let root = format!("root: {}", w.identity);
    let endpoint = format!("endpoint: {}", bao.endpoint());
    let id = format!("id: \"{}\"", openbao::ROLE_ID);
    let secret = format!("secret: \"{}\"", openbao::SECRET_ID);
    let config = fill(
        seed("reference-old-vault.yml"),
        &[
            ("address: 0.0.0.0:7373", &address),
            ("root: disabled", &root),
            ("endpoint: https://127.0.0.1:8200", &endpoint),
            ("id: \"<approle-id>\"", &id),
            ("secret: \"<approle-secret>\"", &secret),
        ],
    );
    let server = w.start(port, &config, &[]);

    w.create_and_use(&server, "my-key-1");
    // The key is where the config says: K/V v1 at kv/, under the prefix.
    let stored = rt.block_on(bao.root("GET", "/v1/kv/kes/my-key-1", None));
    assert!(stored["data"].is_object(), "{stored}");
    assert_eq!(w.kes(&server, &["key", "ls"]).ok(), "Key\nmy-key-1\n");
    w.wait_for_store(&server, &StoreState::UP);
    assert_not_logged(&server, &[openbao::SECRET_ID]);

    // `kes migrate` from OpenBao to an fs store, then a server on the fs
    // store decrypts a DEK made by the Vault-backed one.
    let out = w.kes(&server, &["key", "dek", "my-key-1"]);
    let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    let (pt, ct) = (
        B64.decode(v["plaintext"].as_str().unwrap()).unwrap(),
        v["ciphertext"].as_str().unwrap().to_owned(),
    );
    let fs_port = free_port();
    let fs_config = format!(
        "address: 127.0.0.1:{fs_port}\nadmin:\n  identity: {}\ntls:\n  key: server.key\n  cert: server.cert\nkeystore:\n  fs:\n    path: ./migrated\n",
        w.identity
    );
    std::fs::write(w.path().join("fs.yml"), &fs_config).unwrap();
    std::fs::copy(w.path().join("config.yml"), w.path().join("vault.yml")).unwrap();
    let migrate = |extra: &[&str]| {
        let mut args = vec!["migrate", "--from", "vault.yml", "--to", "fs.yml"];
        args.extend_from_slice(extra);
        run(w.path(), &args)
    };
    assert_eq!(
        migrate(&["--dry-run"]).ok(),
        "my-key-1: would copy\n1 matched: would copy 1, 0 replaced, 0 identical, 0 kept (dry run: nothing written)\n"
    );
    assert_eq!(
        migrate(&[]).ok(),
        "my-key-1: copied\n1 matched: copied 1, 0 replaced, 0 identical, 0 kept\n"
    );
    // Resumable: a second run finds the same value and writes nothing.
    assert_eq!(
        migrate(&["my-*"]).ok(),
        "my-key-1: identical, skipped\n1 matched: copied 0, 0 replaced, 1 identical, 0 kept\n"
    );
    let fs_server = w.start(fs_port, &fs_config, &[]);
    w.decrypts(&fs_server, "my-key-1", &ct, &pt);
}

#[test]
fn vault_outage_cached_keys_serve_and_server_recovers() {
    let rt = runtime();
    let mut bao = rt.block_on(async {
        let bao = OpenBao::start().await;
        bao.seed().await;
        bao
    });
    let w = Workdir::new("private.key", "public.crt");
    let port = free_port();
    let store = format!(
        "  vault:
    endpoint: {endpoint}
    engine: kv2
    version: v2
    approle:
      id: {id}
      secret: {secret}
    status:
      ping: 1s
",
        endpoint = bao.endpoint(),
        id = openbao::ROLE_ID,
        secret = openbao::SECRET_ID,
    );
    let config = offline_cache_config(port, &w.identity, &store);
    let server = w.start(port, &config, &[]);
    // OpenBao's dev server keeps its data in memory: the restarted one is
    // seeded again (same AppRole credentials), the old token is gone.
    outage_and_recovery(&w, &server, |up| {
        if up {
            rt.block_on(async {
                bao = OpenBao::start_on(bao.port).await;
                bao.seed().await;
            });
        } else {
            bao.stop();
        }
    });
}

/// A config with an admin, the server key pair `private.key`/`public.crt`,
/// offline caching on (`cache.expiry.offline`, long expiries so that no
/// sweep races the test) and the key store block `store` (indented under
/// `keystore:`).
fn offline_cache_config(port: u16, admin: &str, store: &str) -> String {
    format!(
        "address: 127.0.0.1:{port}
admin:
  identity: {admin}
tls:
  key: private.key
  cert: public.crt
cache:
  expiry:
    any: 1h
    unused: 1h
    offline: 1h
keystore:
{store}"
    )
}

/// The outage journey: a key in use, the store goes away, cached keys keep
/// serving while status reports the store down and new keys fail, the store
/// comes back and the server recovers without a restart.
/// `set_store(false)` stops the store, `set_store(true)` starts it again.
fn outage_and_recovery(w: &Client, server: &Server, mut set_store: impl FnMut(bool)) {
    let ct = w.create_and_use(server, "cached-key");
    let pt = {
        let out = w.kes(server, &["key", "decrypt", "cached-key", &ct]);
        let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
        B64.decode(v["plaintext"].as_str().unwrap()).unwrap()
    };
    assert_eq!(w.kes(server, &["key", "create", "never-read"]).ok(), "");
    w.wait_for_store(server, &StoreState::UP);

    set_store(false);
    w.wait_for_store(server, &StoreState::DOWN);
    let text = w.kes(server, &["status"]).ok().to_owned();
    assert!(text.contains("Keystore   unreachable\n"), "{text}");
    // Cached keys keep serving: new DEKs and decryption.
    w.dek_round_trip(server, "cached-key");
    w.decrypts(server, "cached-key", &ct, &pt);
    // A key that is not cached cannot be read; a new key cannot be created.
    // The client sees Go's canonical 502 messages, the server log says why.
    let e = w.kes(server, &["key", "dek", "never-read"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to generate DEK with key \"never-read\": failed to read key\n"
    );
    let e = w.kes(server, &["key", "create", "new-key"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to create key \"new-key\": failed to create key\n"
    );
    let log = server.log();
    assert!(
        log.lines().any(
            |l| l.contains("failed to create key: key store is not reachable")
                && l.contains("new-key")
        ),
        "{log}"
    );

    set_store(true);
    w.wait_for_store(server, &StoreState::UP);
    w.create_and_use(server, "new-key");
    w.dek_round_trip(server, "cached-key");
}

// ---------------------------------------------------------------------------
// AWS Secrets Manager, against a real moto.

/// Static credentials moto accepts.
const AWS_ACCESS_KEY: &str = "AKIAKESTESTEXAMPLE01";
const AWS_SECRET_KEY: &str = "kes-test-aws-secret-key-not-a-real-one";

/// The names of the secrets moto holds (its state dump).
fn moto_secret_names(moto: &Moto) -> Vec<String> {
    let (code, body) = moto::http(moto.port(), "GET", "/moto-api/data.json").unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut names = Vec::new();
    collect_secret_names(&v["secretsmanager"], &mut names);
    names.sort();
    names
}

/// Every `name` field below a `FakeSecret` list of moto's state dump.
fn collect_secret_names(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "FakeSecret" {
                    for s in v.as_array().into_iter().flatten() {
                        if let Some(n) = s["name"].as_str() {
                            out.push(n.to_owned());
                        }
                    }
                } else {
                    collect_secret_names(v, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_secret_names(v, out)),
        _ => {}
    }
}

#[test]
fn aws_secretsmanager_seed_config_against_moto() {
    let moto = Moto::start();
    let w = Workdir::new("private.key", "public.crt");
    let port = free_port();
    let address = format!("address: 127.0.0.1:{port}");
    let endpoint = format!("endpoint: {}", moto.url());
    let access = format!("accesskey: \"{AWS_ACCESS_KEY}\"");
    let secret = format!("secretkey: \"{AWS_SECRET_KEY}\"");
    let config = fill(
        seed("aws-secretsmanager.yml"),
        &[
            ("address: 0.0.0.0:7373", &address),
            (
                "02ef5321ca409dbc7b10e7e8ee44d1c3b91e4bf6e2198befdebee6312745267b",
                &w.identity,
            ),
            (
                "endpoint: secretsmanager.us-east-2.amazonaws.com",
                &endpoint,
            ),
            ("accesskey: \"\"", &access),
            ("secretkey: \"\"", &secret),
        ],
    );
    let server = w.start(port, &config, &[]);

    w.create_and_use(&server, "my-key-1");
    assert_eq!(moto_secret_names(&moto), ["my-key-1"]);
    let e = w.kes(&server, &["key", "create", "my-key-1"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to create key \"my-key-1\": key already exists\n"
    );
    assert_not_logged(&server, &[AWS_SECRET_KEY]);
}

#[test]
fn aws_minio_sse_seed_config_with_env_vars_and_keys_against_moto() {
    let moto = Moto::start();
    let w = Workdir::new("kes-server.key", "kes-server.cert");
    let (minio_key, minio_id) = w.new_api_key();
    let port = free_port();
    let address = format!("address: 127.0.0.1:{port}");
    let endpoint = format!("endpoint: {}", moto.url());
    let config = fill(
        seed("minio-sse-aws.yml"),
        &[
            ("address: 0.0.0.0:7373", &address),
            ("endpoint: secretsmanager.REGION.amazonaws", &endpoint),
            ("region: REGION", "region: us-east-1"),
        ],
    );
    let server = w.start(
        port,
        &config,
        &[
            ("ROOT_IDENTITY", &w.identity),
            ("MINIO_IDENTITY", &minio_id),
            ("AWS_ACCESS_KEY", AWS_ACCESS_KEY),
            ("AWS_SECRET_KEY", AWS_SECRET_KEY),
        ],
    );

    // `keys:` were created at start-up, in moto.
    let want = [
        "minio-encryption-key-alpha",
        "minio-encryption-key-baker",
        "minio-encryption-key-charlie",
    ];
    assert_eq!(moto_secret_names(&moto), want);
    // `root:` is the admin: it lists them.
    assert_eq!(
        w.kes(&server, &["key", "ls"]).ok(),
        format!("Key\n{}\n", want.join("\n"))
    );
    // MinIO (the policy's identity) uses one and creates its own.
    let minio = w.as_client(&minio_key);
    minio.dek_round_trip(&server, "minio-encryption-key-alpha");
    minio.create_and_use(&server, "minio-backend-default-key");
    let e = minio.kes(&server, &["key", "ls"]);
    assert!(e.fails(1).contains("not authorized"), "{e:?}");
    assert_not_logged(&server, &[AWS_SECRET_KEY]);
}

#[test]
fn aws_outage_cached_keys_serve_and_server_recovers() {
    let mut moto = Moto::start();
    let w = Workdir::new("private.key", "public.crt");
    let port = free_port();
    let store = format!(
        "  aws:
    secretsmanager:
      endpoint: {endpoint}
      region: us-east-1
      credentials:
        accesskey: {AWS_ACCESS_KEY}
        secretkey: {AWS_SECRET_KEY}
",
        endpoint = moto.url()
    );
    let server = w.start(port, &offline_cache_config(port, &w.identity, &store), &[]);
    // moto keeps its state in memory: the restarted one starts empty.
    outage_and_recovery(&w, &server, |up| {
        if up {
            moto.restart();
        } else {
            moto.stop();
        }
    });
}
