//! Config errors found when the files a config names are read: a missing
//! or broken `tls.cert`, `tls.key` or `tls.ca` (the CA in every client-auth
//! mode, as Go KES loads it) stops start-up with the same
//! `<file>:<line>: <field>: <message>` shape as every other config error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use kes_server::ServerError;
use kes_server::configure;

/// Writes the server's certificate files and a config whose `tls:` block
/// has `tls` (lines 4.. of the file) and returns the config's path.
fn write_config(dir: &Path, pki: &Pki, tls: &str) -> PathBuf {
    std::fs::write(dir.join("server.cert"), &pki.server.pem).unwrap();
    std::fs::write(dir.join("server.key"), &pki.server.key_pem).unwrap();
    std::fs::write(dir.join("ca.pem"), &pki.ca.cert.pem).unwrap();
    std::fs::write(dir.join("garbage.pem"), "this is not PEM\n").unwrap();
    let yaml = format!(
        "admin:\n  identity: {admin}\ntls:\n{tls}keystore:\n  fs:\n    path: {dir}/keys\n",
        admin = pki.admin.identity,
        dir = dir.display(),
    );
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The TLS block with `key`, `cert` and the extra lines.
fn tls(dir: &Path, key: &str, cert: &str, extra: &str) -> String {
    let d = dir.display();
    format!("  key: {d}/{key}\n  cert: {d}/{cert}\n{extra}")
}

/// Asserts that loading fails at `line` / `field` with `want` in the message.
async fn fails(path: &Path, line: usize, field: &str, want: &str) {
    let err = match configure::load(path, None).await {
        Ok(_) => panic!(
            "config should fail: {}",
            std::fs::read_to_string(path).unwrap()
        ),
        Err(e) => e,
    };
    let msg = err.to_string();
    let ServerError::Config(config_err) = &err else {
        panic!("want a config error, got: {msg}");
    };
    assert_eq!(config_err.line(), Some(line), "{msg}");
    let prefix = format!("{}:{line}: {field}: ", path.display());
    assert!(msg.starts_with(&prefix), "want '{prefix}' in: {msg}");
    assert!(msg.contains(want), "want '{want}' in: {msg}");
}

#[tokio::test]
async fn missing_tls_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (d, pki) = (dir.path(), Pki::new());
    let path = write_config(d, &pki, &tls(d, "server.key", "nope.cert", ""));
    fails(&path, 5, "tls.cert", "failed to read").await;
    fails(&path, 5, "tls.cert", "nope.cert").await;

    let path = write_config(d, &pki, &tls(d, "nope.key", "server.cert", ""));
    fails(&path, 4, "tls.key", "failed to read").await;
    fails(&path, 4, "tls.key", "nope.key").await;

    let path = write_config(d, &pki, &tls(d, "server.cert", "server.cert", ""));
    fails(&path, 4, "tls.key", "no private key").await;
}

#[tokio::test]
async fn bad_tls_ca_stops_start_up_without_client_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (d, pki) = (dir.path(), Pki::new());
    for auth in ["", "  auth: off\n", "  auth: on\n"] {
        let missing = format!("{auth}  ca: {}/missing-ca.pem\n", d.display());
        let path = write_config(d, &pki, &tls(d, "server.key", "server.cert", &missing));
        let line = if auth.is_empty() { 6 } else { 7 };
        fails(&path, line, "tls.ca", "missing-ca.pem").await;

        let garbage = format!("{auth}  ca: {}/garbage.pem\n", d.display());
        let path = write_config(d, &pki, &tls(d, "server.key", "server.cert", &garbage));
        fails(&path, line, "tls.ca", "invalid tls.ca").await;

        // An empty directory holds no CA either.
        std::fs::create_dir_all(d.join("empty")).unwrap();
        let empty = format!("{auth}  ca: {}/empty\n", d.display());
        let path = write_config(d, &pki, &tls(d, "server.key", "server.cert", &empty));
        fails(&path, line, "tls.ca", "no CA certificates found").await;

        // A good CA loads in every mode.
        let good = format!("{auth}  ca: {}/ca.pem\n", d.display());
        let path = write_config(d, &pki, &tls(d, "server.key", "server.cert", &good));
        configure::load(&path, None).await.unwrap();
    }
}

#[tokio::test]
async fn periodic_tls_reread_reports_a_bad_ca_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let (d, pki) = (dir.path(), Pki::new());
    let garbage = format!("  ca: {}/garbage.pem\n", d.display());
    let path = write_config(d, &pki, &tls(d, "server.key", "server.cert", &garbage));
    let err = configure::load_tls(&path, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}:6: tls.ca: ", path.display())),
        "{err}"
    );
}
