//! Config file tests: the seed configs from the setup guides, the spec's
//! current schema example, every §9.3 error with its line, unknown fields,
//! `${VAR}` references, durations, each key store back-end, and a fuzz-style
//! property that `parse` never panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kes_keystore::azure::AzureAuth;
use kes_keystore::vault::{JwtSource, KvVersion, VaultAuth};
use kes_server::config::{ConfigError, KeyStoreConfig, ServerConfig, TlsAuth, load, parse};
use kes_server::level::Level;
use proptest::prelude::*;

const ID_A: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";
const ID_B: &str = "df7281ca3fed4ef7d06297eb7cb9d590a4edc863b4425f4762bb2afaebfd3258";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn ok(text: &str) -> ServerConfig {
    match parse(text, "config.yml", &no_env) {
        Ok(c) => c,
        Err(e) => panic!("config should load: {e}\n---\n{text}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text, "config.yml", &no_env) {
        Ok(c) => panic!("config should fail: {c:?}\n---\n{text}"),
        Err(e) => e,
    }
}

/// Asserts that `text` fails at `line` with a message containing `want`.
fn fails(text: &str, line: usize, want: &str) {
    let e = err(text);
    let msg = e.to_string();
    assert!(msg.contains(want), "want '{want}' in: {msg}\n---\n{text}");
    assert!(
        msg.starts_with(&format!("config.yml:{line}:")),
        "want line {line} in: {msg}\n---\n{text}"
    );
    assert_eq!(e.line(), Some(line), "{msg}");
}

/// A minimal valid config (7 lines) followed by `extra`.
fn base(extra: &str) -> String {
    format!(
        "admin:\n  identity: {ID_A}\ntls:\n  key: server.key\n  cert: server.crt\n\
         keystore:\n  fs: {{path: /tmp/keys}}\n{extra}"
    )
}

/// `admin` + `tls` (5 lines) + the given keystore block.
fn with_keystore(keystore: &str) -> String {
    format!("admin:\n  identity: {ID_A}\ntls:\n  key: server.key\n  cert: server.crt\n{keystore}")
}

fn warned(cfg: &ServerConfig, line: usize, want: &str) {
    let prefix = format!("config.yml:{line}:");
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.starts_with(&prefix) && w.contains(want)),
        "want warning '{want}' at line {line} in {:#?}",
        cfg.warnings
    );
}

// ---------------------------------------------------------------- seed configs

#[test]
fn seed_aws_secretsmanager_loads() {
    let cfg = parse(&read("aws-secretsmanager.yml"), "aws.yml", &no_env).unwrap();
    assert_eq!(cfg.address, Some("0.0.0.0:7373".parse().unwrap()));
    assert_eq!(cfg.admin, "disabled");
    assert_eq!(cfg.tls.key, PathBuf::from("private.key"));
    assert_eq!(cfg.tls.cert, PathBuf::from("public.crt"));
    assert_eq!(cfg.tls.auth, TlsAuth::Off);
    let p = &cfg.policies["my-app"];
    assert_eq!(p.allow.len(), 3);
    assert_eq!(
        p.identities,
        ["02ef5321ca409dbc7b10e7e8ee44d1c3b91e4bf6e2198befdebee6312745267b"]
    );
    let KeyStoreConfig::Aws(aws) = &cfg.keystore else {
        panic!("{:?}", cfg.keystore)
    };
    assert_eq!(
        aws.endpoint,
        "https://secretsmanager.us-east-2.amazonaws.com"
    );
    assert_eq!(aws.region, "us-east-2");
    assert!(aws.kms_key.is_empty());
    assert!(aws.access_key.is_empty(), "empty keys = default chain");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.log.error, Level::INFO);
    assert_eq!(cfg.log.audit, Level::INFO);
}

#[test]
fn seed_entrust_keycontrol_needs_its_blanks_filled() {
    // The guide's template leaves the vault/box ids and credentials empty;
    // they are required, so the unmodified file names the first blank.
    let text = read("entrust-keycontrol.yml");
    let e = parse(&text, "entrust.yml", &no_env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "entrust.yml:24: keystore.entrust.keycontrol.vault_id: invalid entrust keycontrol \
         keystore: no vault ID specified"
    );

    let filled = text
        .replace(
            "vault_id: \"\"",
            "vault_id: e30497c1-bff7-4e81-beb7-fb35c4b7410c",
        )
        .replace("box_id:   \"\"", "box_id: tenant-1")
        .replace("username: \"\"", "username: kes")
        .replace("password: \"\"", "password: ${ENTRUST_PASSWORD}");
    let env = |n: &str| (n == "ENTRUST_PASSWORD").then(|| "pa55".to_owned());
    let cfg = parse(&filled, "entrust.yml", &env).unwrap();
    let KeyStoreConfig::Entrust(e) = &cfg.keystore else {
        panic!("{:?}", cfg.keystore)
    };
    assert_eq!(e.endpoint, "https://keycontrol.my-org.com");
    assert_eq!(e.vault_id, "e30497c1-bff7-4e81-beb7-fb35c4b7410c");
    assert_eq!(e.box_id, "tenant-1");
    assert_eq!(e.username, "kes");
    assert_eq!(e.password.as_str(), "pa55");
    assert!(
        !format!("{cfg:?}").contains("pa55"),
        "password leaked in Debug"
    );
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
}

#[test]
fn seed_minio_sse_aws_loads_with_env_and_migrations() {
    let vars: HashMap<&str, &str> = [
        ("ROOT_IDENTITY", ID_B),
        ("MINIO_IDENTITY", ID_A),
        ("AWS_ACCESS_KEY", "AKIAEXAMPLE"),
        ("AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG"),
    ]
    .into_iter()
    .collect();
    let env = |n: &str| vars.get(n).map(|v| (*v).to_owned());
    let cfg = parse(&read("minio-sse-aws.yml"), "config.yml", &env).unwrap();
    assert_eq!(cfg.admin, ID_B);
    assert_eq!(cfg.policies["minio-server"].identities, [ID_A]);
    assert_eq!(
        cfg.policies["minio-server"].allow,
        [
            "/v1/key/create/*",
            "/v1/key/generate/*",
            "/v1/key/decrypt/*"
        ]
    );
    let keys: Vec<&str> = cfg.keys.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "minio-encryption-key-alpha",
            "minio-encryption-key-baker",
            "minio-encryption-key-charlie"
        ]
    );
    let KeyStoreConfig::Aws(aws) = &cfg.keystore else {
        panic!("{:?}", cfg.keystore)
    };
    assert_eq!(aws.endpoint, "https://secretsmanager.REGION.amazonaws");
    assert_eq!(aws.region, "REGION");
    assert_eq!(aws.access_key, "AKIAEXAMPLE");
    assert_eq!(aws.secret_key.as_str(), "wJalrXUtnFEMI/K7MDENG");
    assert!(aws.session_token.is_empty());
    assert!(!format!("{cfg:?}").contains("wJalrXUtnFEMI"));

    warned(&cfg, 5, "'root' is the old spelling of 'admin.identity'");
    warned(&cfg, 26, "old spelling of 'keystore.aws.secretsmanager'");
    assert_eq!(cfg.warnings.len(), 2, "{:#?}", cfg.warnings);

    // Without the variables the first reference is reported.
    let e = parse(&read("minio-sse-aws.yml"), "config.yml", &no_env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "config.yml:5: root: referenced env. variable 'ROOT_IDENTITY' in line '5' not found"
    );
}

#[test]
fn seed_reference_old_format_is_migrated() {
    let cfg = parse(&read("reference-old-format.yml"), "config.yml", &no_env).unwrap();
    assert_eq!(cfg.admin, "disabled");
    let p = &cfg.policies["minio-sse"];
    assert_eq!(
        p.allow,
        [
            "/v1/key/create/*",
            "/v1/key/generate/*",
            "/v1/key/decrypt/*",
            "/v1/key/delete/*"
        ],
        "paths become allow"
    );
    assert!(p.deny.is_empty());
    assert_eq!(p.identities, [ID_A]);
    assert!(cfg.keys.is_empty());
    let KeyStoreConfig::Fs { path } = &cfg.keystore else {
        panic!("{:?}", cfg.keystore)
    };
    assert_eq!(path, &PathBuf::from("./keys"));
    assert_eq!(cfg.cache.any, Duration::from_secs(300));
    assert_eq!(cfg.cache.unused, Duration::from_secs(20));
    assert_eq!(cfg.cache.offline, Duration::ZERO);
    assert_eq!(cfg.log.error, Level::INFO);
    assert_eq!(cfg.log.audit, Level::OFF);

    warned(&cfg, 6, "'root' is the old spelling");
    warned(&cfg, 18, "old on/off spelling");
    warned(&cfg, 19, "old on/off spelling");
    warned(&cfg, 23, "'paths' is the old spelling of 'allow'");
    warned(&cfg, 31, "old spelling of 'keystore:'");
    assert_eq!(cfg.warnings.len(), 5, "{:#?}", cfg.warnings);
}

#[test]
fn seed_reference_old_gemalto_is_migrated() {
    let cfg = parse(&read("reference-old-gemalto.yml"), "config.yml", &no_env).unwrap();
    let KeyStoreConfig::Gemalto(g) = &cfg.keystore else {
        panic!("{:?}", cfg.keystore)
    };
    assert_eq!(g.endpoint, "https://127.0.0.1:9443");
    assert_eq!(g.token.as_str(), "<refresh-token>");
    assert_eq!(g.domain, "");
    assert_eq!(g.ca, Some(PathBuf::from("./keysecure-ca.crt")));
    assert!(!format!("{cfg:?}").contains("<refresh-token>"));
    warned(&cfg, 3, "'root' is the old spelling");
    warned(&cfg, 7, "old spelling of 'keystore:'");
    warned(&cfg, 14, "retired field, ignored");
    assert_eq!(cfg.warnings.len(), 3, "{:#?}", cfg.warnings);
}

#[test]
fn seed_reference_old_vault_is_migrated() {
    let cfg = parse(&read("reference-old-vault.yml"), "config.yml", &no_env).unwrap();
    let KeyStoreConfig::Vault(v) = &cfg.keystore else {
        panic!("{:?}", cfg.keystore)
    };
    assert_eq!(v.endpoint, "https://127.0.0.1:8200");
    assert_eq!(v.engine, "kv");
    assert_eq!(v.version, KvVersion::V1);
    assert_eq!(v.prefix, "kes");
    assert_eq!(v.status_ping, Duration::from_secs(10));
    assert_eq!(v.tls.ca, Some(PathBuf::from("./vault-ca.crt")));
    let VaultAuth::AppRole(a) = &v.auth else {
        panic!("{:?}", v.auth)
    };
    assert_eq!(a.engine, "approle");
    assert_eq!(a.id.as_str(), "<approle-id>");
    assert_eq!(a.secret.as_str(), "<approle-secret>");
    assert!(!format!("{cfg:?}").contains("<approle-secret>"));
    warned(&cfg, 14, "keys.vault.approle.retry: retired field");
    assert_eq!(cfg.warnings.len(), 3, "{:#?}", cfg.warnings);
}

#[test]
fn spec_current_schema_example_loads() {
    let cfg = parse(&read("spec-current-schema.yml"), "config.yml", &no_env).unwrap();
    assert_eq!(cfg.address, Some("0.0.0.0:7373".parse().unwrap()));
    assert_eq!(cfg.admin, "<64-hex | disabled>");
    assert!(cfg.tls.password.is_none());
    assert_eq!(cfg.tls.auth, TlsAuth::Off);
    assert!(cfg.tls.ca.is_none());
    assert!(cfg.tls.proxy_identities.is_empty());
    assert_eq!(cfg.tls.proxy_header, "X-Tls-Client-Cert");
    assert_eq!(cfg.cache.any, Duration::from_secs(300));
    assert_eq!(cfg.cache.unused, Duration::from_secs(30));
    let ready = cfg.api["/v1/ready"];
    assert!(ready.skip_auth);
    assert_eq!(ready.timeout, Some(Duration::from_secs(15)));
    assert_eq!(cfg.log.audit, Level::OFF);
    let p = &cfg.policies["my-app"];
    assert_eq!(p.allow.len(), 3);
    assert_eq!(p.deny, ["/v1/key/generate/my-app-internal*"]);
    assert_eq!(p.identities, [ID_B]);
    assert_eq!(cfg.keys.len(), 1);
    assert_eq!(cfg.keys[0].as_str(), "my-app-key");
    assert!(
        matches!(&cfg.keystore, KeyStoreConfig::Fs { path } if path == Path::new("/var/lib/kes/keys"))
    );
    // tls.proxy has no effect; on/off log levels are the old spelling.
    assert_eq!(cfg.warnings.len(), 3, "{:#?}", cfg.warnings);
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kes.yml");
    std::fs::write(&path, base("tls2: x\n")).unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:8: tls2: unknown field 'tls2'", path.display())),
        "{e}"
    );
    std::fs::write(&path, base("")).unwrap();
    assert_eq!(load(&path).unwrap().admin, ID_A);
}

// ------------------------------------------------------------- §9.3 errors

#[test]
fn spec_error_rows_have_their_message_and_line() {
    fails("- a\n- b\n", 1, "invalid config format");
    fails("just text\n", 1, "invalid config format");
    fails(
        &base("version: v2\n"),
        8,
        "invalid server config version 'v2'",
    );
    fails(
        "admin:\n  identity: \"\"\ntls: {key: k, cert: c}\nkeystore: {fs: {path: p}}\n",
        2,
        "invalid admin identity: no admin identity",
    );
    fails(
        "tls: {key: k, cert: c}\nkeystore: {fs: {path: p}}\n",
        1,
        "invalid admin identity: no admin identity",
    );
    fails(
        &with_keystore("").replace("  key: server.key\n", ""),
        3,
        "invalid tls config: no private key",
    );
    fails(
        &with_keystore("").replace("  cert: server.crt\n", ""),
        3,
        "invalid tls config: no certificate",
    );
    fails(
        &with_keystore("").replace(
            "  cert: server.crt\n",
            "  cert: server.crt\n  auth: maybe\n",
        ),
        6,
        "tls.auth: invalid tls config: invalid auth 'maybe' (want \"on\" or \"off\")",
    );
    fails(
        &with_keystore("").replace(
            "  cert: server.crt\n",
            &format!("  cert: server.crt\n  proxy:\n    identities: [{ID_A}]\n"),
        ),
        7,
        &format!("invalid tls proxy: identity '{ID_A}' is already admin"),
    );
    fails(
        &base(&format!("policy:\n  p:\n    identities:\n    - {ID_A}\n")),
        11,
        &format!("invalid policy 'p': identity '{ID_A}' is already admin"),
    );
    fails(
        &(with_keystore("keystore: {fs: {path: p}}\n").replace(
            "  cert: server.crt\n",
            &format!("  cert: server.crt\n  proxy:\n    identities: [{ID_B}]\n"),
        ) + &format!("policy:\n  p:\n    identities:\n    - {ID_B}\n")),
        12,
        &format!("invalid policy 'p': identity '{ID_B}' is already a TLS proxy"),
    );
    fails(
        &base("cache:\n  expiry:\n    any: -5m\n"),
        10,
        "invalid cache expiry '-5m'",
    );
    fails(
        &base("cache:\n  expiry:\n    unused: -1s\n"),
        10,
        "invalid cache unused expiry '-1s'",
    );
    fails(
        &base("cache:\n  expiry:\n    offline: -1h\n"),
        10,
        "invalid cache offline expiry '-1h'",
    );
    fails(
        &base("log:\n  error: loud\n"),
        9,
        "log.error: invalid log level 'loud'",
    );
    fails(
        &base("log:\n  audit: \"\"\n  error: 3x\n"),
        10,
        "invalid log level '3x'",
    );
    fails(
        &base("api:\n  /v1/status:\n    timeout: -2s\n"),
        10,
        "invalid timeout '-2s' for API '/v1/status'",
    );
    fails(
        &base("keys:\n- name: k1\n- name: k2\n- name: k1\n"),
        11,
        "invalid key config: key 'k1' is defined multiple times",
    );
    fails(&with_keystore(""), 1, "keystore: no keystore specified");
    fails(
        &with_keystore("keystore:\n  fs: {path: p}\n  vault: {endpoint: e}\n"),
        8,
        "invalid keystore config: more than once keystore specified",
    );
    fails(
        &base("policy:\n  bad/name:\n    allow: [/v1/status]\n"),
        9,
        "policy name 'bad/name' is empty, too long or contains invalid characters",
    );
    fails(
        &base("policy:\n  p:\n    identities: [\"not an identity\"]\n"),
        10,
        "identity 'not an identity' is empty, too long or contains invalid characters",
    );
    fails(
        &base(&format!(
            "policy:\n  p1:\n    identities: [{ID_B}]\n  p2:\n    identities:\n    - {ID_B}\n"
        )),
        13,
        &format!("cannot assign policy 'p2' to '{ID_B}': identity already has a policy"),
    );
}

#[test]
fn keystore_problems_name_the_field() {
    fails(
        &with_keystore("keystore:\n  fs: {}\n"),
        7,
        "invalid fs keystore: no path specified",
    );
    fails(
        &with_keystore("keystore:\n  vault:\n    engine: kv\n"),
        7,
        "invalid vault keystore: no endpoint specified",
    );
    fails(
        &with_keystore("keystore:\n  vault:\n    endpoint: https://v:8200\n"),
        7,
        "invalid vault keystore: no authentication method specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  vault:\n    endpoint: https://v:8200\n    version: v3\n    approle: {id: i, secret: s}\n",
        ),
        9,
        "invalid version 'v3'",
    );
    fails(
        &with_keystore(
            "keystore:\n  vault:\n    endpoint: https://v:8200\n    approle: {id: i, secret: s}\n    kubernetes: {jwt: t}\n",
        ),
        10,
        "more than one authentication method",
    );
    fails(
        &with_keystore(
            "keystore:\n  vault:\n    endpoint: https://v:8200\n    approle:\n      id: i\n",
        ),
        9,
        "approle: no secret specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  vault:\n    endpoint: https://v:8200\n    approle: {id: i, secret: s}\n    transit: {engine: t}\n",
        ),
        10,
        "transit: no key specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  vault:\n    endpoint: https://v:8200\n    approle: {id: i, secret: s}\n    tls:\n      key: c.key\n",
        ),
        10,
        "a client key requires a client certificate",
    );
    fails(
        &with_keystore(
            "keystore:\n  vault:\n    endpoint: https://v:8200\n    kubernetes:\n      jwt: /nonexistent/token\n",
        ),
        10,
        "cannot read jwt file '/nonexistent/token'",
    );
    fails(
        &with_keystore("keystore:\n  aws:\n    secretsmanager:\n      region: r\n"),
        8,
        "invalid aws keystore: no endpoint specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  aws:\n    secretsmanager:\n      endpoint: ftp://x\n      region: r\n",
        ),
        9,
        "invalid endpoint 'ftp://x'",
    );
    fails(
        &with_keystore(
            "keystore:\n  aws:\n    secretsmanager:\n      endpoint: e\n      region: r\n      credentials:\n        accesskey: a\n",
        ),
        11,
        "no secretkey specified",
    );
    fails(
        &with_keystore("keystore:\n  aws: {}\n"),
        7,
        "missing 'secretsmanager' block",
    );
    fails(
        &with_keystore(
            "keystore:\n  gemalto:\n    keysecure:\n      endpoint: https://g\n      credentials: {domain: d}\n",
        ),
        10,
        "invalid gemalto keystore: no token specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  entrust:\n    keycontrol:\n      endpoint: e\n      vault_id: v\n      box_id: b\n",
        ),
        8,
        "no credentials (username, password) specified",
    );
    fails(
        &with_keystore("keystore:\n  fortanix:\n    sdkms:\n      endpoint: https://f\n"),
        8,
        "invalid fortanix keystore: no API key specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  gcp:\n    secretmanager:\n      project_id: p\n      credentials:\n        client_email: e\n",
        ),
        10,
        "no client_id specified",
    );
    fails(
        &with_keystore(
            "keystore:\n  azure:\n    keyvault:\n      endpoint: https://a\n      credentials: {tenant_id: t, client_id: c, client_secret: s}\n      managed_identity: {client_id: m}\n",
        ),
        11,
        "both credentials and managed_identity specified",
    );
    fails(
        &with_keystore("keystore:\n  generic:\n    endpoint: x\n"),
        7,
        "'generic' key store",
    );
    fails(
        &with_keystore("keystore:\n  kes:\n    endpoint: [https://k:7373]\n"),
        6,
        "no keystore specified (the removed 'kes' key store does not count)",
    );
    fails(
        &with_keystore("keys:\n  fs: {path: a}\nkeystore:\n  fs: {path: b}\n"),
        8,
        "more than once keystore specified",
    );
}

#[test]
fn every_backend_loads_with_its_fields() {
    let vault = ok(&with_keystore(
        "keystore:\n  vault:\n    endpoint: https://v:8200\n    engine: secret\n    version: v2\n    \
         namespace: ns\n    transit: {key: tk}\n    kubernetes:\n      role: kes\n      jwt: ${JWT}\n      \
         retry: 5s\n    tls: {key: c.key, cert: c.crt, ca: ca.pem}\n    status: {ping: 0s}\n",
    )
    .replace("${JWT}", "eyJhbGciOi"));
    let KeyStoreConfig::Vault(v) = &vault.keystore else {
        panic!()
    };
    assert_eq!(v.engine, "secret");
    assert_eq!(v.version, KvVersion::V2);
    assert_eq!(v.namespace, "ns");
    assert_eq!(v.transit.as_ref().unwrap().engine, "transit");
    assert_eq!(v.transit.as_ref().unwrap().key, "tk");
    assert_eq!(v.status_ping, Duration::from_secs(15));
    let VaultAuth::Kubernetes(k) = &v.auth else {
        panic!()
    };
    assert_eq!(k.engine, "kubernetes");
    assert_eq!(k.role, "kes");
    assert!(matches!(&k.jwt, JwtSource::Value(s) if s.as_str() == "eyJhbGciOi"));
    assert!(!format!("{vault:?}").contains("eyJhbGciOi"));
    warned(&vault, 16, "keystore.vault.kubernetes.retry: retired field");

    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("token");
    std::fs::write(&jwt, "t").unwrap();
    let cfg = ok(&with_keystore(&format!(
        "keystore:\n  vault:\n    endpoint: http://e\n    kubernetes: {{jwt: {}}}\n",
        jwt.display()
    )));
    let KeyStoreConfig::Vault(v) = &cfg.keystore else {
        panic!()
    };
    assert!(
        matches!(&v.auth, VaultAuth::Kubernetes(k) if matches!(&k.jwt, JwtSource::File(p) if p == &jwt))
    );

    let cfg = ok(&with_keystore(
        "keystore:\n  fortanix:\n    sdkms:\n      endpoint: https://f\n      group_id: g\n      \
         credentials: {key: fortanix-api-key}\n      tls: {ca: ca.pem}\n",
    ));
    let KeyStoreConfig::Fortanix(f) = &cfg.keystore else {
        panic!()
    };
    assert_eq!(f.group_id.as_deref(), Some("g"));
    assert_eq!(f.api_key.as_str(), "fortanix-api-key");
    assert_eq!(f.ca, Some(PathBuf::from("ca.pem")));
    assert!(!format!("{cfg:?}").contains("fortanix-api-key"));

    let cfg = ok(&with_keystore(
        "keystore:\n  gcp:\n    secretmanager:\n      project_id: p\n      scopes: [s1, s2]\n      \
         credentials:\n        client_email: e@x\n        client_id: \"11\"\n        \
         private_key_id: \"22\"\n        private_key: '-----BEGIN PRIVATE KEY-----\\nAAA\\n-----END PRIVATE KEY-----\\n'\n",
    ));
    let KeyStoreConfig::Gcp(g) = &cfg.keystore else {
        panic!()
    };
    assert_eq!(g.project_id, "p");
    assert!(g.endpoint.is_none());
    assert_eq!(g.scopes, ["s1", "s2"]);
    let c = g.credentials.as_ref().unwrap();
    assert_eq!(c.client_id, "11");
    assert_eq!(
        c.private_key.as_str(),
        "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n"
    );
    assert!(c.token_uri.is_none());
    assert!(!format!("{cfg:?}").contains("AAA"));

    for (block, want) in [
        ("", "default"),
        ("      managed_identity: {client_id: m}\n", "managed"),
        (
            "      credentials: {tenant_id: t, client_id: c, client_secret: azure-secret}\n",
            "client",
        ),
    ] {
        let cfg = ok(&with_keystore(&format!(
            "keystore:\n  azure:\n    keyvault:\n      endpoint: https://a\n{block}"
        )));
        let KeyStoreConfig::Azure(a) = &cfg.keystore else {
            panic!()
        };
        let got = match &a.auth {
            AzureAuth::Default => "default",
            AzureAuth::ManagedIdentity { client_id } if client_id == "m" => "managed",
            AzureAuth::ClientCredentials { client_secret, .. }
                if client_secret.expose() == "azure-secret" =>
            {
                "client"
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want);
        assert!(!format!("{cfg:?}").contains("azure-secret"));
    }

    let cfg = ok(&with_keystore(
        "keystore:\n  aws:\n    secretsmanager:\n      endpoint: http://127.0.0.1:4566\n      region: r\n      \
         kmskey: alias/kes\n      credentials: {accesskey: a, secretkey: s3cr3t, token: t0k3n}\n",
    ));
    let KeyStoreConfig::Aws(a) = &cfg.keystore else {
        panic!()
    };
    assert_eq!(a.endpoint, "http://127.0.0.1:4566");
    assert_eq!(a.kms_key, "alias/kes");
    assert_eq!(a.session_token.as_str(), "t0k3n");
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("s3cr3t") && !dbg.contains("t0k3n"), "{dbg}");

    let cfg = ok(&with_keystore(
        "keystore:\n  kes: {endpoint: [x]}\n  fs: {path: p}\n",
    ));
    warned(&cfg, 7, "'kes' key store was removed");
}

// ------------------------------------------------- unknown fields, env, misc

#[test]
fn unknown_fields_are_errors_with_their_line() {
    fails(
        &base("adress: 0.0.0.0:7373\n"),
        8,
        "adress: unknown field 'adress'",
    );
    fails(
        &(with_keystore("").replace(
            "  cert: server.crt\n",
            "  cert: server.crt\n  client_auth: on\n",
        ) + "keystore: {fs: {path: p}}\n"),
        6,
        "tls.client_auth: unknown field 'client_auth' (known fields: auth, ca, cert, key, password, proxy)",
    );
    fails(
        &with_keystore("keystore:\n  fs:\n    path: p\n    mode: 0700\n"),
        9,
        "keystore.fs.mode: unknown field 'mode'",
    );
    fails(
        &base("policy:\n  p:\n    allow: [/v1/status]\n    allowed: [/v1/ready]\n"),
        11,
        "policy.p.allowed: unknown field 'allowed'",
    );
    fails(
        &base("api:\n  /v1/ready:\n    skip-auth: true\n"),
        10,
        "api./v1/ready.skip-auth: unknown field",
    );
    fails(
        &base("keys:\n- name: k\n  type: aes\n"),
        10,
        "keys[0].type: unknown field",
    );
    fails(
        &base("tls: {}\n"),
        8,
        "tls: duplicate field 'tls' (first given in line 3)",
    );
    // A misspelt field is reported as unknown, not as a missing required one.
    fails(
        "admin:\n  identity: x\ntls:\n  kye: k\n  cert: c\nkeystore: {fs: {path: p}}\n",
        4,
        "tls.kye: unknown field 'kye' (known fields: auth, ca, cert, key, password, proxy)",
    );
    fails(
        &with_keystore("keystor:\n  fs: {path: p}\n"),
        6,
        "keystor: unknown field 'keystor'",
    );
    fails(
        "admn:\n  identity: x\ntls: {key: k, cert: c}\n",
        1,
        "admn: unknown field 'admn'",
    );
    fails(
        &with_keystore("keystore:\n  vault:\n    endpoint: e\n    app_role: {id: i, secret: s}\n"),
        9,
        "keystore.vault.app_role: unknown field 'app_role'",
    );
    fails(
        &with_keystore("keystore:\n  aws:\n    secrets_manager: {endpoint: e, region: r}\n"),
        8,
        "keystore.aws.secrets_manager: unknown field 'secrets_manager' (known fields: secretsmanager)",
    );
}

#[test]
fn env_references() {
    let text = base("address: ${KES_ADDR}\nlog:\n  audit: \"${ AUDIT }\"\n  error: pre-${X}\n");
    let env = |n: &str| match n {
        "KES_ADDR" => Some("127.0.0.1:7000".to_owned()),
        "AUDIT" => Some(String::new()),
        _ => None,
    };
    let e = parse(&text, "config.yml", &env).unwrap_err().to_string();
    assert!(
        e.contains("invalid log level 'pre-${X}'"),
        "partial interpolation is literal: {e}"
    );

    let text = base("address: ${KES_ADDR}\nlog:\n  audit: \"${ AUDIT }\"\n");
    let cfg = parse(&text, "config.yml", &env).unwrap();
    assert_eq!(cfg.address, Some("127.0.0.1:7000".parse().unwrap()));
    assert_eq!(cfg.log.audit, Level::INFO, "set-but-empty is fine");

    fails(
        &base("cache:\n  expiry:\n    any: ${MISSING}\n"),
        10,
        "cache.expiry.any: referenced env. variable 'MISSING' in line '10' not found",
    );
    // `version` and policy patterns are not env-capable.
    fails(
        &base("version: ${V}\n"),
        8,
        "invalid server config version '${V}'",
    );
    let cfg = ok(&base(
        "policy:\n  p:\n    allow: [\"${NOT_SUBSTITUTED}\"]\n",
    ));
    assert_eq!(cfg.policies["p"].allow, ["${NOT_SUBSTITUTED}"]);
}

#[test]
fn bad_durations_are_reported() {
    fails(
        &base("cache:\n  expiry:\n    any: 5\n"),
        10,
        "cache.expiry.any: invalid duration '5': missing unit",
    );
    fails(
        &base("cache:\n  expiry:\n    unused: 2d\n"),
        10,
        "invalid duration '2d': unknown unit 'd'",
    );
    fails(
        &base("api:\n  /v1/ready:\n    timeout: soon\n"),
        10,
        "invalid duration 'soon'",
    );
    fails(
        &base("cache:\n  expiry:\n    any: [5m]\n"),
        10,
        "expected a single value, got a list",
    );
    let cfg = ok(&base(
        "cache:\n  expiry:\n    any: 1h30m\n    unused: 1.5m\n    offline: 100ms\n",
    ));
    assert_eq!(cfg.cache.any, Duration::from_secs(5400));
    assert_eq!(cfg.cache.unused, Duration::from_secs(90));
    assert_eq!(cfg.cache.offline, Duration::from_millis(100));
    // Zero means "default" for any/unused (as in Go), "off" for offline.
    let cfg = ok(&base("cache:\n  expiry:\n    any: 0s\n    unused: 0\n"));
    assert_eq!(cfg.cache.any, Duration::from_secs(300));
    assert_eq!(cfg.cache.unused, Duration::from_secs(30));
}

#[test]
fn misc_fields() {
    let cfg = ok(&base(
        "address: \":7373\"\napi:\n  /v1/metrics: {skip_auth: yes, timeout: 0s}\n",
    ));
    assert_eq!(cfg.address, Some("0.0.0.0:7373".parse().unwrap()));
    assert!(cfg.api["/v1/metrics"].skip_auth);
    assert_eq!(cfg.api["/v1/metrics"].timeout, None);

    fails(
        &base("address: localhost:7373\n"),
        8,
        "'localhost' is not a valid IP address",
    );
    fails(
        &base("keys:\n- name: bad.name\n"),
        9,
        "key name 'bad.name' is empty, too long or contains invalid characters",
    );
    fails(
        &base("api:\n  /v1/ready: {skip_auth: maybe}\n"),
        9,
        "invalid boolean 'maybe'",
    );

    let cfg = ok(&base("tls2: x\n").replace("tls2: x\n", "").replace(
        "  cert: server.crt\n",
        "  cert: server.crt\n  auth: ON\n  password: pem-pass\n  ca: /etc/ca\n",
    ));
    assert_eq!(cfg.tls.auth, TlsAuth::On);
    assert_eq!(cfg.tls.password.as_ref().unwrap().expose(), "pem-pass");
    assert_eq!(cfg.tls.ca, Some(PathBuf::from("/etc/ca")));
    assert!(!format!("{cfg:?}").contains("pem-pass"));

    // Legacy glob characters in a pattern get a warning; a trailing `*` doesn't.
    let cfg = ok(&base(
        "policy:\n  p:\n    allow:\n    - /v1/key/*/my-key\n    - /v1/key/generate/a*\n    - /v1/key/generate/a*\n",
    ));
    warned(&cfg, 11, "uses glob characters");
    assert_eq!(cfg.warnings.len(), 1, "{:#?}", cfg.warnings);
    assert_eq!(cfg.policies["p"].allow.len(), 2, "duplicates collapse");

    // Old top-level proxy is migrated; both spellings at once are an error.
    let cfg = ok(&base(&format!(
        "proxy:\n  identities: [{ID_B}]\n  header: {{cert: X-Client}}\n"
    )));
    assert_eq!(cfg.tls.proxy_identities, [ID_B]);
    assert_eq!(cfg.tls.proxy_header, "X-Client");
    warned(&cfg, 8, "old spelling of 'tls.proxy'");
    fails(
        &base(&format!("root: {ID_B}\n")),
        8,
        "both 'root' and 'admin.identity' are given",
    );

    // An identity listed twice in one policy is not a conflict.
    let cfg = ok(&base(&format!(
        "policy:\n  p:\n    identities: [{ID_B}, {ID_B}]\n"
    )));
    assert_eq!(cfg.policies["p"].identities, [ID_B]);

    // A non-text field name is reported at the top level.
    fails(
        "{a: 1}: 2\n",
        1,
        "(top level): a field name must be plain text",
    );

    // YAML syntax errors carry a line and column.
    let e = err("admin:\n  identity: [x\ntls: {}\n");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
}

// ------------------------------------------------------------------ fuzz

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse(&text, "fuzz.yml", &|_| Some(String::new()));
    }

    #[test]
    fn parse_never_panics_on_yamlish_text(text in "[a-z_:{}\\[\\],\\-*&!|>'\"#$ \n\t.0-9]{0,300}") {
        let _ = parse(&text, "fuzz.yml", &|_| None);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_env_values(value in any::<String>(), which in 0usize..16) {
        // Every typed field reads `${V<n>}`; one of them gets the arbitrary value.
        let text = "address: ${V0}
admin:
  identity: ${V1}
tls:
  key: ${V2}
  cert: c
  auth: ${V3}
cache:
  expiry:
    any: ${V4}
    unused: ${V5}
    offline: ${V6}
api:
  /v1/ready:
    skip_auth: ${V7}
    timeout: ${V8}
log:
  error: ${V9}
  audit: ${V10}
policy:
  p:
    identities:
    - ${V11}
keys:
- name: ${V12}
keystore:
  vault:
    endpoint: http://e
    version: ${V13}
    approle:
      id: i
      secret: s
    status:
      ping: ${V14}
    namespace: ${V15}
";
        let defaults = [
            "127.0.0.1:7373", "admin", "k", "on", "5m", "30s", "0", "true", "10s", "INFO",
            "off", "abc", "key", "v2", "1s", "",
        ];
        let env = |name: &str| {
            let n: usize = name.strip_prefix('V')?.parse().ok()?;
            if n == which { Some(value.clone()) } else { defaults.get(n).map(|d| (*d).to_owned()) }
        };
        let _ = parse(text, "fuzz.yml", &env);
        let unfuzzed = |name: &str| {
            let n: usize = name.strip_prefix('V')?.parse().ok()?;
            defaults.get(n).map(|d| (*d).to_owned())
        };
        prop_assert!(parse(text, "fuzz.yml", &unfuzzed).is_ok());
    }

    #[test]
    fn parse_never_panics_on_mutated_seeds(
        seed in 0usize..7,
        cut in 0usize..2000,
        len in 0usize..40,
        insert in "[ -~\n]{0,12}",
    ) {
        let names = [
            "aws-secretsmanager.yml",
            "entrust-keycontrol.yml",
            "minio-sse-aws.yml",
            "reference-old-format.yml",
            "reference-old-gemalto.yml",
            "reference-old-vault.yml",
            "spec-current-schema.yml",
        ];
        let text = read(names[seed]);
        let mut bytes = text.into_bytes();
        let at = cut.min(bytes.len());
        let end = (at + len).min(bytes.len());
        bytes.splice(at..end, insert.bytes());
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text, "fuzz.yml", &|n| Some(n.to_owned()));
    }
}

/// `hsm:` beside `keystore:` is handed to the seal's decoder; absent, there
/// is no seal.
#[test]
fn hsm_seal_section() {
    assert!(ok(&base("")).hsm.is_none());
    let cfg = ok(&base(
        "hsm:\n  pkcs11:\n    module: /usr/lib/softhsm/libsofthsm2.so\n    token: kes\n    \
         pin: \"1234\"\n    key: kes-seal\n    create: true\n",
    ));
    let hsm = cfg.hsm.as_ref().expect("an hsm config");
    assert_eq!(hsm.key, "kes-seal");
    assert!(hsm.create && !hsm.allow_unsealed);
    assert!(!format!("{cfg:?}").contains("1234"));
    fails(
        &base("hsm:\n  pkcs11:\n    module: /m.so\n    token: kes\n    key: kes-seal\n"),
        9,
        "hsm.pkcs11.pin: invalid hsm config: no PIN specified",
    );
}
