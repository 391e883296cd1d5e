//! The server-backed journeys of user-journeys.md, end to end: identities
//! made with `kes identity new`, a real `kes server --config … --auth off`
//! process on a free 127.0.0.1 port with an fs key store in a tempdir, and
//! every client command against it through the environment variables the
//! guides export. Printed identities are checked against what the server
//! computes (`kes identity info`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Out, SERVER_CERT, Server, api_key_in, free_port, identity_in, mode, run, run_env};

/// A server with an admin API key and a client certificate in a policy.
struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    admin_key: String,
    admin_id: String,
    client_id: String,
}

impl Setup {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `kes` as the admin (API key from `KES_API_KEY`).
    fn admin(&self, args: &[&str]) -> Out {
        let endpoint = self.server.endpoint();
        run_env(
            self.path(),
            &[("KES_SERVER", &endpoint), ("KES_API_KEY", &self.admin_key)],
            args,
        )
    }

    /// Runs `kes` as the client (certificate files from the environment).
    fn client(&self, extra: &[(&str, &str)], args: &[&str]) -> Out {
        let endpoint = self.server.endpoint();
        let mut env = vec![
            ("KES_SERVER", endpoint.as_str()),
            ("KES_CLIENT_CERT", "client.crt"),
            ("KES_CLIENT_KEY", "client.key"),
        ];
        env.extend_from_slice(extra);
        run_env(self.path(), &env, args)
    }
}

/// The config of the guides: admin identity, the server's key and
/// certificate, one policy for the client, an fs key store.
fn config(port: u16, admin: &str, client: &str, key: &str, cert: &str) -> String {
    format!(
        "address: 127.0.0.1:{port}
admin:
  identity: {admin}
tls:
  key: {key}
  cert: {cert}
policy:
  my-app:
    allow:
    - /v1/key/create/my-key*
    - /v1/key/generate/my-key*
    - /v1/key/decrypt/my-key*
    - /v1/key/create/minio-backend-default-key
    deny:
    - /v1/key/generate/my-key-internal*
    identities:
    - {client}
keystore:
  fs:
    path: ./keys
"
    )
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Getting-started guide: the server's key pair.
    let out = run(d, &["identity", "new", "--ip", "127.0.0.1", "localhost"]);
    out.ok();
    // The admin: an API key only.
    let out = run(d, &["identity", "new"]);
    let admin_key = api_key_in(out.ok());
    let admin_id = identity_in(out.ok());
    // The application: a client key and certificate.
    let out = run(
        d,
        &[
            "identity",
            "new",
            "--key=client.key",
            "--cert=client.crt",
            "MyApp",
        ],
    );
    let client_id = identity_in(out.ok());
    let port = free_port();
    std::fs::write(
        d.join("config.yml"),
        config(port, &admin_id, &client_id, "private.key", "public.crt"),
    )
    .unwrap();
    let server = Server::start(
        d,
        port,
        &["server", "--config", "config.yml", "--auth", "off"],
    );
    Setup {
        dir,
        server,
        admin_key,
        admin_id,
        client_id,
    }
}

/// Parses `{"plaintext":…,"ciphertext":…}` keeping the field order check.
fn dek_json(text: &str) -> (Vec<u8>, String) {
    assert!(text.starts_with("{\"plaintext\":\""), "{text}");
    assert!(
        text.ends_with("}\n") && text.matches('\n').count() == 1,
        "piped JSON is one line, ended: {text:?}"
    );
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let pt = B64.decode(v["plaintext"].as_str().unwrap()).unwrap();
    let ct = v["ciphertext"].as_str().unwrap().to_owned();
    B64.decode(&ct).unwrap();
    (pt, ct)
}

#[test]
fn journey_client_side_with_certificate_files() {
    let s = setup();
    // As written, against a self-signed server certificate: a precise failure…
    let e = s.client(&[], &["key", "create", "my-key-1"]);
    let err = e.fails(1);
    assert!(
        err.starts_with("Error: failed to create key \"my-key-1\": "),
        "{err}"
    );
    assert!(err.contains("-k/--insecure"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // …and success once the server certificate is trusted (as with Go's SSL_CERT_FILE).
    let trust = [("SSL_CERT_FILE", "public.crt")];
    assert_eq!(s.client(&trust, &["key", "create", "my-key-1"]).ok(), "");
    assert_eq!(
        s.client(&[], &["key", "create", "-k", "minio-backend-default-key"])
            .ok(),
        ""
    );
    // kes key dek: plaintext and ciphertext, both base64.
    let out = s.client(&trust, &["key", "dek", "my-key-1"]);
    let (pt, ct) = dek_json(out.ok());
    assert_eq!(pt.len(), 32);
    let out = s.client(&[], &["key", "decrypt", "-k", "my-key-1", &ct]);
    let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(B64.decode(v["plaintext"].as_str().unwrap()).unwrap(), pt);
    // The identity the server computes is the one `kes identity new` printed.
    let info = s.client(&[], &["identity", "info", "-k"]);
    let text = info.ok();
    assert!(
        text.contains(&format!("Identity    {}\n", s.client_id)),
        "{text}"
    );
    assert!(text.contains("Role        User\n"), "{text}");
    assert!(
        text.contains(&format!("Created By  {}\n", s.admin_id)),
        "{text}"
    );
    assert!(text.contains("Policy      my-app\n"), "{text}");
    assert!(text.contains("  · /v1/key/create/my-key*\n"), "{text}");
    assert!(
        text.contains("Deny:\n  · /v1/key/generate/my-key-internal*\n"),
        "{text}"
    );
    let of = run(s.path(), &["identity", "of", "client.crt"]);
    assert_eq!(of.ok(), s.client_id);
    // Errors: server messages, exit 1.
    let e = s.client(&[], &["key", "create", "-k", "my-key-1"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to create key \"my-key-1\": key already exists\n"
    );
    let e = s.client(&[], &["key", "ls", "-k"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to list keys: not authorized: insufficient permissions\n"
    );
    let e = s.client(&[], &["key", "create", "-k", "a", "my-key-2"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to create key \"a\": not authorized: insufficient permissions\n"
    );
    // Files written by `kes identity new` kept their modes.
    assert_eq!(mode(&s.path().join("client.key")), 0o600);
    assert_eq!(mode(&s.path().join("private.key")), 0o600);
}

#[test]
fn journey_api_key_admin_and_every_key_command() {
    let s = setup();
    let info = s.admin(&["identity", "info", "-k"]);
    let text = info.ok();
    assert!(
        text.contains(&format!("Identity    {}\n", s.admin_id)),
        "{text}"
    );
    assert!(text.contains("Role        Admin\n"), "{text}");
    let json = s.admin(&["identity", "info", "-k", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["identity"], s.admin_id.as_str());
    assert_eq!(v["admin"], true);

    assert_eq!(
        s.admin(&["key", "create", "-k", "my-key-1", "my-key-2", "other"])
            .ok(),
        ""
    );
    let info = s.admin(&["key", "info", "-k", "my-key-1"]);
    let text = info.ok();
    assert!(
        text.starts_with("Name       my-key-1\nAlgorithm  "),
        "{text}"
    );
    assert!(text.contains("\nDate       20"), "{text}");
    assert!(
        text.contains(&format!("\nOwner      {}\n", s.admin_id)),
        "{text}"
    );
    let json = s.admin(&["key", "info", "-k", "--json", "my-key-1"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["name"], "my-key-1");
    assert_eq!(v["created_by"], s.admin_id.as_str());

    assert_eq!(
        s.admin(&["key", "ls", "-k"]).ok(),
        "Key\nmy-key-1\nmy-key-2\nother\n"
    );
    assert_eq!(
        s.admin(&["key", "ls", "-k", "--json", "my-*"]).ok(),
        "[\"my-key-1\",\"my-key-2\"]\n"
    );

    // Context as text or base64 is the same context.
    let out = s.admin(&["key", "encrypt", "-k", "my-key-1", "hello", "{}"]);
    let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    let ct = v["ciphertext"].as_str().unwrap().to_owned();
    let out = s.admin(&["key", "decrypt", "-k", "my-key-1", &ct, "e30="]);
    assert_eq!(
        out.ok(),
        format!("{{\"plaintext\":\"{}\"}}\n", B64.encode("hello"))
    );
    let e = s.admin(&["key", "decrypt", "-k", "my-key-1", &ct, "other"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to decrypt with key \"my-key-1\": decryption failed: ciphertext is not authentic\n"
    );
    let out = s.admin(&["key", "dek", "-k", "my-key-1", "bucket/object"]);
    let (pt, ct) = dek_json(out.ok());
    let out = s.admin(&["key", "decrypt", "-k", "my-key-1", &ct, "bucket/object"]);
    assert_eq!(
        out.ok(),
        format!("{{\"plaintext\":\"{}\"}}\n", B64.encode(&pt))
    );

    let h1 = s
        .admin(&["key", "hmac", "-k", "my-key-1", "msg"])
        .ok()
        .to_owned();
    let h2 = s
        .admin(&["key", "hmac", "-k", "my-key-1", "msg"])
        .ok()
        .to_owned();
    assert_eq!(h1, h2);
    let v: serde_json::Value = serde_json::from_str(&h1).unwrap();
    assert_eq!(B64.decode(v["hmac"].as_str().unwrap()).unwrap().len(), 32);

    // Rotation: new version, HMAC unchanged, old ciphertexts still open.
    assert_eq!(
        s.admin(&["key", "rotate", "-k", "my-key-1"]).ok(),
        "Name     my-key-1\nVersion  v2\n"
    );
    let out = s.admin(&["key", "rotate", "-k", "--json", "my-key-1"]);
    assert_eq!(out.ok(), "{\"name\":\"my-key-1\",\"version\":\"v3\"}\n");
    assert_eq!(s.admin(&["key", "hmac", "-k", "my-key-1", "msg"]).ok(), h1);
    for extra in [&[][..], &["--key-version", "v1"]] {
        let mut args = vec!["key", "decrypt", "-k", "my-key-1", &ct, "bucket/object"];
        args.extend_from_slice(extra);
        assert_eq!(
            s.admin(&args).ok(),
            format!("{{\"plaintext\":\"{}\"}}\n", B64.encode(&pt))
        );
    }
    let text = s.admin(&["key", "info", "-k", "my-key-1"]).ok().to_owned();
    assert!(text.contains("\nVersion    v3\n"), "{text}");
    assert!(
        text.contains("Versions:\n  · v1     AES256 ")
            || text.contains("Versions:\n  · v1     ChaCha20 "),
        "{text}"
    );
    assert!(text.contains("\n  · v3     "), "{text}");
    let json = s.admin(&["key", "info", "-k", "--json", "my-key-1"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["version"], "v3");
    assert_eq!(v["versions"].as_array().unwrap().len(), 3);
    // v2 superseded v1 a moment ago: other nodes may still encrypt with
    // v1 until their caches expire (5 min here), so it stays. (The removal
    // itself: kes-server/tests/versions.rs.)
    let e = s.admin(&["key", "rm-version", "-k", "my-key-1", "v1"]);
    assert!(
        e.fails(1).starts_with(
            "Error: failed to remove version v1 of key \"my-key-1\": key version 'v1' of 'my-key-1' was superseded "
        ),
        "{}",
        e.stderr
    );
    let e = s.admin(&["key", "rm-version", "-k", "my-key-1", "v3"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to remove version v3 of key \"my-key-1\": key version 'v3' is the latest version of 'my-key-1' and cannot be removed; rotate the key first\n"
    );
    let e = s.admin(&["key", "rotate", "-k", "nope"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to rotate key \"nope\": key does not exist\n"
    );

    let raw = B64.encode([7u8; 32]);
    assert_eq!(s.admin(&["key", "import", "-k", "imported", &raw]).ok(), "");
    let e = s.admin(&["key", "import", "-k", "bad", "AAAA"]);
    assert_eq!(
        e.fails(1),
        "Error: invalid key for \"bad\": must be 32 bytes, got 3\n"
    );
    assert_eq!(s.admin(&["key", "rm", "-k", "other", "imported"]).ok(), "");
    let e = s.admin(&["key", "info", "-k", "other"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to describe key \"other\": key does not exist\n"
    );

    // Policies.
    assert_eq!(s.admin(&["policy", "ls", "-k"]).ok(), "Policy\nmy-app\n");
    let text = s.admin(&["policy", "info", "-k", "my-app"]).ok().to_owned();
    assert!(text.starts_with("Name       my-app\nDate       "), "{text}");
    let show = s.admin(&["policy", "show", "-k", "my-app"]);
    let v: serde_json::Value = serde_json::from_str(show.ok()).unwrap();
    assert!(v["allow"].get("/v1/key/create/my-key*").is_some(), "{v}");
    assert!(
        v["deny"].get("/v1/key/generate/my-key-internal*").is_some(),
        "{v}"
    );
    assert_eq!(v["created_by"], s.admin_id.as_str());
    let e = s.admin(&["policy", "show", "-k", "nope"]);
    assert_eq!(
        e.fails(1),
        "Error: failed to show policy \"nope\": policy does not exist\n"
    );

    // Identities.
    let ids = s.admin(&["identity", "ls", "-k"]).ok().to_owned();
    assert!(ids.starts_with("Identity\n"), "{ids}");
    assert!(
        ids.contains(&s.admin_id) && ids.contains(&s.client_id),
        "{ids}"
    );
    let text = s
        .admin(&["identity", "info", "-k", &s.client_id])
        .ok()
        .to_owned();
    assert!(text.contains("Role        User\n"), "{text}");
    assert!(text.contains("Policy      my-app\n"), "{text}");
}

#[test]
fn ls_status_metric_and_environment_aliases() {
    let s = setup();
    s.admin(&["key", "create", "-k", "my-key-1", "zz"]).ok();
    let endpoint = s.server.endpoint();
    let host = endpoint.trim_start_matches("https://").to_owned();
    // kes ls with -s/-a and nothing in the environment.
    let out = run(s.path(), &["ls", "-k", "-s", &host, "-a", &s.admin_key]);
    assert_eq!(out.ok(), "Key\nmy-key-1\nzz\n");
    let out = run(
        s.path(),
        &["ls", "-k", "-s", &host, "-a", &s.admin_key, "my"],
    );
    assert_eq!(out.ok(), "Key\nmy-key-1\n");
    let out = run(
        s.path(),
        &["ls", "-k", "-p", "--json", "-s", &host, "-a", &s.admin_key],
    );
    assert_eq!(out.ok(), "[\"my-app\"]\n");
    let out = run(
        s.path(),
        &["ls", "-k", "-i", "-s", &host, "-a", &s.admin_key],
    );
    assert!(out.ok().starts_with("Identity\n"), "{out:?}");

    // MinIO's variable names, a comma list with a dead endpoint first, no https://.
    let dead = format!("127.0.0.1:{}", free_port());
    let list = format!("{dead}, {host}");
    let out = run_env(
        s.path(),
        &[
            ("MINIO_KMS_KES_ENDPOINT", &list),
            ("MINIO_KMS_KES_API_KEY", &s.admin_key),
        ],
        &["key", "ls", "-k", "my*"],
    );
    assert_eq!(out.ok(), "Key\nmy-key-1\n");
    // MINIO_KES_SERVER wins over KES_SERVER.
    let out = run_env(
        s.path(),
        &[
            ("MINIO_KES_SERVER", &host),
            ("KES_SERVER", &dead),
            ("MINIO_KES_API_KEY", &s.admin_key),
        ],
        &["key", "ls", "-k", "zz"],
    );
    assert_eq!(out.ok(), "Key\nzz\n");

    // Status.
    let text = s.admin(&["status", "-k"]).ok().to_owned();
    assert!(text.starts_with(&format!("● {host}\n")), "{text}");
    for l in [
        "  Version",
        "  Uptime",
        "  Latency",
        "  OS",
        "  CPUs",
        "  Memory",
        "    · Heap",
        "    · Stack",
    ] {
        assert!(text.contains(l), "{l}: {text}");
    }
    assert_eq!(
        s.admin(&["status", "-k", "--short"]).ok(),
        format!("● {host}\n")
    );
    let json = s.admin(&["status", "-k", "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert!(v["uptime"].is_u64() && v["version"].is_string(), "{v}");
    assert!(json.ok().starts_with("{\"version\":"), "{}", json.ok());
    let api = s.admin(&["status", "-k", "--api"]).ok().to_owned();
    assert!(api.contains("Method  API"), "{api}");
    assert!(api.contains("/v1/key/create/"), "{api}");
    let api = s.admin(&["status", "-k", "--api", "--json"]);
    let v: serde_json::Value = serde_json::from_str(api.ok()).unwrap();
    assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{v}");

    // Metric, piped: one JSON object per scrape.
    let out = s.admin(&["metric", "-k", "--once"]);
    let text = out.ok();
    assert_eq!(text.lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    for k in [
        "kes_http_request_success",
        "kes_http_request_error",
        "kes_http_request_failure",
        "kes_http_request_active",
        "kes_http_response_time",
        "kes_system_up_time",
        "kes_system_num_cpu",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    assert!(v["kes_http_request_success"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn log_follows_the_audit_stream() {
    let s = setup();
    let endpoint = s.server.endpoint();
    let mut log = common::kes(s.path())
        .args(["log", "-k", "--json"])
        .env("KES_SERVER", &endpoint)
        .env("KES_API_KEY", &s.admin_key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = log.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The subscription may not be in place yet: repeat the request until
    // its event shows up (bounded).
    let mut found = None;
    'outer: for i in 0..60 {
        let name = format!("logged-{i}");
        s.admin(&["key", "create", "-k", &name]).ok();
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(1)) {
            if line.contains("/v1/key/create/logged-") {
                found = Some(line);
                break 'outer;
            }
        }
    }
    let _ = log.kill();
    let _ = log.wait();
    let line = found.expect("an audit event for the key creation");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["response"]["code"], 200);
    assert_eq!(v["request"]["identity"], s.admin_id.as_str());
}

#[test]
fn journey_minio_sse_guide_server_certificate() {
    // The MinIO SSE guide's older spellings: a server certificate with
    // `kes tool identity new --server`, its identity with `tool identity of`,
    // and the server started with `--mlock --config=… --auth=off`.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &SERVER_CERT).ok();
    run(
        d,
        &[
            "tool",
            "identity",
            "new",
            "--key",
            "minio.key",
            "--cert",
            "minio.cert",
            "minio",
        ],
    )
    .ok();
    let minio_id = run(d, &["tool", "identity", "of", "minio.cert"])
        .ok()
        .to_owned();
    let admin_key = api_key_in(run(d, &["identity", "new"]).ok());
    let admin_id = run(d, &["identity", "of", &admin_key]).ok().to_owned();
    let port = free_port();
    std::fs::write(
        d.join("server-config.yaml"),
        config(port, &admin_id, &minio_id, "server.key", "server.cert"),
    )
    .unwrap();
    let server = Server::start(
        d,
        port,
        &[
            "server",
            "--mlock",
            "--config=server-config.yaml",
            "--auth=off",
        ],
    );
    // MinIO's variables, verifying the server with its own certificate.
    let endpoint = server.endpoint();
    let env = [
        ("MINIO_KMS_KES_ENDPOINT", endpoint.as_str()),
        ("MINIO_KES_CERT_FILE", "minio.cert"),
        ("MINIO_KES_KEY_FILE", "minio.key"),
        ("SSL_CERT_FILE", "server.cert"),
    ];
    assert_eq!(
        run_env(d, &env, &["key", "create", "minio-backend-default-key"]).ok(),
        ""
    );
    let info = run_env(d, &env, &["identity", "info"]);
    assert!(
        info.ok().contains(&format!("Identity    {minio_id}\n")),
        "{info:?}"
    );
    drop(server);
}

/// The KES reference's ephemeral administration with the old CLI spellings:
/// `kes policy add|show|list|delete`, `kes identity assign|list|forget`.
#[test]
fn journey_reference_runtime_policies() {
    let s = setup();
    let d = s.path();
    let client_id = s.client_id.as_str();
    // The client's config policy does not allow `other-*` keys.
    s.client(&[], &["key", "create", "-k", "other-1"]).fails(1);

    std::fs::write(
        d.join("ops.json"),
        r#"{"allow":["/v1/key/create/other-*","/v1/policy/list/*"],"deny":[]}"#,
    )
    .unwrap();
    assert_eq!(
        s.admin(&["policy", "add", "-k", "ops", "ops.json"]).ok(),
        ""
    );
    let shown = s.admin(&["policy", "show", "-k", "ops"]);
    let v: serde_json::Value = serde_json::from_str(shown.ok()).unwrap();
    assert_eq!(
        v["allow"],
        serde_json::json!({"/v1/key/create/other-*":{},"/v1/policy/list/*":{}})
    );
    assert_eq!(v["created_by"], s.admin_id.as_str());
    assert_eq!(
        s.admin(&["policy", "list", "-k", "--json"]).ok(),
        "[\"my-app\",\"ops\"]\n"
    );

    // A 64-hex identity after `assign` is an identity, not an API key.
    s.admin(&["identity", "assign", "-k", client_id, "ops"])
        .ok();
    s.client(&[], &["key", "create", "-k", "other-1"]).ok();
    // It left my-app: one policy per identity.
    s.client(&[], &["key", "create", "-k", "my-key-9"]).fails(1);
    let ids = s.admin(&["identity", "list", "-k", "--json"]);
    assert!(ids.ok().contains(client_id), "{ids:?}");
    let info = s.admin(&["identity", "info", "-k", client_id]);
    assert!(info.ok().contains("ops"), "{info:?}");

    // Bad input: a precise message, non-zero exit, nothing changed.
    std::fs::write(d.join("bad.json"), r#"{"allow":["v1/key/*"]}"#).unwrap();
    let e = s.admin(&["policy", "add", "-k", "ops", "bad.json"]);
    assert!(
        e.fails(1)
            .contains("allow[0]: pattern 'v1/key/*' does not start with '/'"),
        "{e:?}"
    );
    std::fs::write(d.join("typo.json"), r#"{"alow":[]}"#).unwrap();
    let e = s.admin(&["policy", "add", "-k", "ops", "typo.json"]);
    assert!(
        e.fails(1).contains("invalid policy in 'typo.json'"),
        "{e:?}"
    );
    let e = s.admin(&["identity", "assign", "-k", client_id, "nope"]);
    assert!(e.fails(1).contains("policy does not exist"), "{e:?}");
    let e = s.admin(&["identity", "assign", "-k", &s.admin_id, "ops"]);
    assert!(e.fails(1).contains("the admin identity cannot"), "{e:?}");

    // The policy from stdin (`-`).
    let mut child = common::kes(d)
        .args(["policy", "add", "-k", "stdin-policy", "-"])
        .env("KES_SERVER", s.server.endpoint())
        .env("KES_API_KEY", &s.admin_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"paths":["/v1/status"]}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let shown = s.admin(&["policy", "show", "-k", "--json", "stdin-policy"]);
    assert!(shown.ok().contains("/v1/status"), "{shown:?}");

    // Forget, delete: gone again.
    s.admin(&["identity", "forget", "-k", client_id]).ok();
    s.client(&[], &["key", "create", "-k", "other-2"]).fails(1);
    let e = s.admin(&["identity", "forget", "-k", client_id]);
    assert!(e.fails(1).contains("identity does not exist"), "{e:?}");
    s.admin(&["policy", "delete", "-k", "ops", "stdin-policy"])
        .ok();
    let e = s.admin(&["policy", "show", "-k", "ops"]);
    assert!(e.fails(1).contains("policy does not exist"), "{e:?}");

    // The MinIO guide's typo still computes the identity.
    let of = run(d, &["tool", "identify", "of", "client.crt"]);
    assert_eq!(of.ok().trim(), client_id);
}

/// `kes server --root`: overrides `admin.identity`; `_` and `disabled`
/// disable the admin.
#[test]
fn journey_server_root_flag() {
    let s = setup();
    let d = s.path();
    let other = run(d, &["identity", "new"]);
    let (other_key, other_id) = (api_key_in(other.ok()), identity_in(other.ok()));
    let run_as = |server: &Server, key: &str, args: &[&str]| {
        run_env(
            d,
            &[("KES_SERVER", &server.endpoint()), ("KES_API_KEY", key)],
            args,
        )
    };
    for (root, admin) in [
        (format!("--root={other_id}"), Some(other_key.as_str())),
        ("--root=_".to_owned(), None),
        ("--root=disabled".to_owned(), None),
    ] {
        let port = free_port();
        std::fs::write(
            d.join("root.yml"),
            config(port, &s.admin_id, &s.client_id, "private.key", "public.crt"),
        )
        .unwrap();
        let server = Server::start(d, port, &["server", "--config", "root.yml", &root]);
        // The config's admin is no longer the admin.
        let e = run_as(&server, &s.admin_key, &["key", "create", "-k", "root-key"]);
        assert!(e.fails(1).contains("not authorized"), "{root}: {e:?}");
        if let Some(key) = admin {
            run_as(&server, key, &["key", "create", "-k", "root-key"]).ok();
        }
        assert!(
            server.log().contains("'--root' flag is deprecated"),
            "{}",
            server.log()
        );
        drop(server);
    }
    let e = run(
        d,
        &[
            "server",
            "--config",
            "root.yml",
            "--root",
            "not an identity",
        ],
    );
    assert!(e.fails(2).contains("invalid value for '--root'"), "{e:?}");
}
