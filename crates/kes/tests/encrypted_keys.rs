//! Legacy PEM-encrypted private keys end to end: `kes identity new
//! --encrypt` (password asked twice), a server whose `tls.key` is encrypted
//! (`tls.password`), and a client whose key file is encrypted (password
//! asked once on stderr). Passwords are piped to stdin, which is not a
//! terminal here, so the CLI reads one line per prompt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use common::{Out, SERVER_CERT, Server, free_port, identity_in, kes, mode, run};

/// Runs `kes args...` in `dir` with `stdin` piped in and extra `env`.
fn run_stdin(dir: &Path, env: &[(&str, &str)], stdin: &str, args: &[&str]) -> Out {
    let mut child = kes(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

const NEW_ENCRYPTED: [&str; 8] = [
    "identity",
    "new",
    "--encrypt",
    "--key",
    "client.key",
    "--cert",
    "client.crt",
    "MyApp",
];

#[test]
fn identity_new_encrypt_asks_twice_and_writes_a_legacy_aes256_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_stdin(d, &[], "s3cret\ns3cret\n", &NEW_ENCRYPTED);
    out.ok();
    assert!(
        out.stderr.contains("Enter password for private key: ")
            && out.stderr.contains("Confirm password for private key: "),
        "{out:?}"
    );
    assert!(!out.stderr.contains("s3cret") && !out.stdout.contains("s3cret"));
    let key = std::fs::read_to_string(d.join("client.key")).unwrap();
    assert_eq!(mode(&d.join("client.key")), 0o600);
    assert!(
        key.starts_with(
            "-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,"
        ),
        "{key}"
    );
    let plain = kes_crypto::legacy_pem::decrypt(key.as_bytes(), b"s3cret").unwrap();
    assert_eq!(plain.label, "PRIVATE KEY");
    // The decrypted key is the Ed25519 key of the printed API key: the
    // certificate's identity is the printed identity.
    let id = identity_in(out.ok());
    let of = run(d, &["tool", "identity", "of", "client.crt"]);
    assert!(of.ok().contains(&id), "{of:?}");
    // `kes identity <key file>` asks for the password and prints the API key.
    let api_key = common::api_key_in(out.ok());
    let again = run_stdin(d, &[], "s3cret\n", &["identity", "client.key"]);
    assert_eq!(again.ok(), api_key);
    let e = run_stdin(d, &[], "wrong\n", &["identity", "client.key"]);
    assert!(
        e.fails(1)
            .contains("private key decryption failed: wrong password or corrupted key"),
        "{e:?}"
    );
}

#[test]
fn identity_new_encrypt_mismatch_and_empty_password_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = run_stdin(d, &[], "one\ntwo\n", &NEW_ENCRYPTED);
    assert!(e.fails(1).contains("passwords do not match"), "{e:?}");
    let e = run_stdin(d, &[], "\n\n", &NEW_ENCRYPTED);
    assert!(e.fails(1).contains("must not be empty"), "{e:?}");
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "nothing written");
}

#[test]
fn journey_encrypted_server_and_client_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Server key pair; the key then encrypted with the server's password.
    run(d, &SERVER_CERT).ok();
    let server_pem = std::fs::read(d.join("server.key")).unwrap();
    let der = rustls_pemfile::private_key(&mut server_pem.as_slice())
        .unwrap()
        .unwrap();
    let enc = kes_crypto::legacy_pem::encrypt_aes256("PRIVATE KEY", der.secret_der(), b"server-pw")
        .unwrap();
    std::fs::write(d.join("server.key"), enc.as_bytes()).unwrap();
    // Client key pair written encrypted by the CLI.
    let out = run_stdin(d, &[], "client-pw\nclient-pw\n", &NEW_ENCRYPTED);
    let client_id = identity_in(out.ok());
    let admin_id = identity_in(run(d, &["identity", "new"]).ok());
    let port = free_port();
    std::fs::write(
        d.join("config.yml"),
        format!(
            "address: 127.0.0.1:{port}
admin:
  identity: {admin_id}
tls:
  key: server.key
  cert: server.cert
  password: server-pw
policy:
  my-app:
    allow:
    - /v1/key/create/my-key*
    identities:
    - {client_id}
keystore:
  fs:
    path: ./keys
"
        ),
    )
    .unwrap();
    let server = Server::start(
        d,
        port,
        &["server", "--config", "config.yml", "--auth", "off"],
    );
    let endpoint = server.endpoint();
    let env = [
        ("KES_SERVER", endpoint.as_str()),
        ("KES_CLIENT_CERT", "client.crt"),
        ("KES_CLIENT_KEY", "client.key"),
    ];
    let out = run_stdin(d, &env, "client-pw\n", &["key", "create", "-k", "my-key-1"]);
    out.ok();
    assert!(
        out.stderr.starts_with("Enter password for private key: "),
        "{out:?}"
    );
    assert!(d.join("keys").join("my-key-1").exists());
    // A wrong password: a precise error naming the file, no request sent.
    let e = run_stdin(d, &env, "nope\n", &["key", "create", "-k", "my-key-2"]);
    let err = e.fails(1);
    assert!(
        err.contains("client.key")
            && err.contains("private key decryption failed: wrong password or corrupted key"),
        "{err}"
    );
    assert!(!d.join("keys").join("my-key-2").exists());
    drop(server);
}
