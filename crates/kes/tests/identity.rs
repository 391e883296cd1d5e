//! Offline identity journeys of user-journeys.md: `kes identity new` in all
//! its forms, `kes identity of`, `kes tool identity new|of`, files and modes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{SERVER_CERT, api_key_in, identity_in, mode, run};

#[test]
fn journey_identity_new_ip_and_subject_writes_default_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &["identity", "new", "--ip", "127.0.0.1", "localhost"]);
    let text = out.ok();
    assert!(
        text.contains("The generated TLS private key is stored at: private.key"),
        "{text}"
    );
    assert!(
        text.contains("The generated TLS certificate is stored at: public.crt"),
        "{text}"
    );
    assert_eq!(mode(&d.join("private.key")), 0o600);
    assert_eq!(mode(&d.join("public.crt")), 0o644);
    let printed = identity_in(text);
    // The identity of the certificate is the one printed…
    let of_cert = run(d, &["identity", "of", "public.crt"]);
    assert_eq!(of_cert.ok(), printed);
    // …and the one of the API key.
    let key = api_key_in(text);
    assert_eq!(run(d, &["identity", "of", &key]).ok(), printed);
    // The private key file converts back to the same API key.
    assert_eq!(run(d, &["identity", "private.key"]).ok(), key);
    // The certificate carries the SANs and the subject.
    let pem = std::fs::read_to_string(d.join("public.crt")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let key_pem = std::fs::read_to_string(d.join("private.key")).unwrap();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn identity_new_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &["identity", "new", "--ip", "127.0.0.1", "localhost"]).ok();
    let before = std::fs::read(d.join("private.key")).unwrap();
    let err = run(d, &["identity", "new", "--ip", "127.0.0.1", "localhost"]);
    let stderr = err.fails(1);
    assert_eq!(
        stderr,
        "Error: refusing to overwrite 'private.key': the file exists (use --force to replace it)\n"
    );
    assert_eq!(std::fs::read(d.join("private.key")).unwrap(), before);
    let out = run(
        d,
        &["identity", "new", "-f", "--ip", "127.0.0.1", "localhost"],
    );
    out.ok();
    assert_ne!(std::fs::read(d.join("private.key")).unwrap(), before);
    assert_eq!(mode(&d.join("private.key")), 0o600);
    // Only the cert exists: still refused, and nothing is written.
    std::fs::remove_file(d.join("private.key")).unwrap();
    let stderr = run(d, &["identity", "new", "localhost"])
        .fails(1)
        .to_owned();
    assert!(stderr.contains("'public.crt'"), "{stderr}");
    assert!(!d.join("private.key").exists());
}

#[test]
fn journey_identity_new_client_key_and_cert_with_subject() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
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
    let text = out.ok();
    let printed = identity_in(text);
    assert_eq!(mode(&d.join("client.key")), 0o600);
    assert_eq!(mode(&d.join("client.crt")), 0o644);
    assert!(!d.join("private.key").exists());
    assert_eq!(run(d, &["identity", "of", "client.crt"]).ok(), printed);
    assert!(text.contains("    kes identity of client.crt\n"), "{text}");
}

#[test]
fn journey_identity_new_api_key_with_key_cert_ip_dns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(
        d,
        &[
            "identity",
            "new",
            "--key",
            "private.key",
            "--cert",
            "public.crt",
            "--ip",
            "127.0.0.1",
            "--dns",
            "localhost",
        ],
    );
    let text = out.ok();
    assert!(text.starts_with("Your API key:\n\n   kes:v1:"), "{text}");
    assert!(text.contains("This is the only time it is shown. Keep it secret and secure!"));
    assert!(text.contains("Your Identity:"));
    let key = api_key_in(text);
    let printed = identity_in(text);
    assert_eq!(run(d, &["identity", "of", &key]).ok(), printed);
    assert_eq!(run(d, &["identity", "of", "public.crt"]).ok(), printed);
    // Bare `kes identity <file>` turns the key file back into the API key.
    assert_eq!(run(d, &["identity", "private.key"]).ok(), key);
}

#[test]
fn journey_identity_new_api_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = run(d, &["identity", "new"]).ok().to_owned();
    let key = api_key_in(&text);
    assert_eq!(key.len(), 51);
    assert!(text.contains("shown"));
    let id = identity_in(&text);
    assert_eq!(run(d, &["identity", "of", &key]).ok(), id);
    assert_eq!(run(d, &["identity", &key]).ok(), id);
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "no files written");
    // Bare `kes identity`, piped: only the key, no newline.
    let bare = run(d, &["identity"]).ok().to_owned();
    assert!(
        bare.starts_with("kes:v1:") && !bare.ends_with('\n'),
        "{bare:?}"
    );
    assert_eq!(bare.len(), 51);
}

#[test]
fn journey_identity_of_api_key_from_the_guide() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "identity",
            "of",
            "kes:v1:AOlQZJRMYZeOioGk0ubYBMSFt1w6Hh1QZl3zG4PQxK/g",
        ],
    );
    let id = out.ok();
    assert_eq!(id.len(), 64, "bare hex without newline: {id:?}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // Spec §6.5 vectors.
    for (key, id) in [
        (
            "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
            "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb",
        ),
        (
            "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc",
            "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22",
        ),
    ] {
        assert_eq!(run(dir.path(), &["identity", "of", key]).ok(), id);
    }
}

#[test]
fn identity_of_errors_are_precise() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = run(
        d,
        &[
            "identity",
            "of",
            "kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW",
        ],
    );
    assert_eq!(
        e.fails(1),
        "Error: cannot parse API key: invalid API key: unsupported type\n"
    );
    let e = run(d, &["identity", "of", "missing.crt"]);
    assert!(
        e.fails(1).starts_with("Error: cannot read 'missing.crt': "),
        "{e:?}"
    );
    std::fs::write(d.join("empty.pem"), "hello\n").unwrap();
    let e = run(d, &["identity", "of", "empty.pem"]);
    assert!(e.fails(1).starts_with("Error: "), "{e:?}");
    let e = run(d, &["identity", "nonsense"]);
    assert_eq!(
        e.fails(1),
        "Error: 'nonsense' is neither an API key (kes:v1:…) nor an existing file\n"
    );
    // Several inputs: one labelled line each, API keys not echoed.
    run(d, &["identity", "new", "--key=a.key", "--cert=a.crt", "A"]).ok();
    let many = run(
        d,
        &[
            "identity",
            "of",
            "a.crt",
            "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
        ],
    );
    let text = many.ok();
    assert!(text.starts_with("a.crt: "), "{text}");
    assert!(
        text.contains(
            "<API key>: 0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb\n"
        )
    );
    assert!(!text.contains("kes:v1:"));
}

#[test]
fn identity_new_flag_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let e = run(
        d,
        &["identity", "new", "--encrypt", "--key", "k", "--cert", "c"],
    );
    // No password on (empty) stdin: a precise error before anything is written.
    assert!(
        e.fails(1)
            .contains("cannot read the password: standard input is empty"),
        "{e:?}"
    );
    let e = run(d, &["identity", "new", "--encrypt"]);
    assert!(e.fails(2).contains("--encrypt only applies"), "{e:?}");
    let e = run(d, &["identity", "new", "--key", "only.key"]);
    assert!(e.fails(2).contains("--key requires --cert"), "{e:?}");
    let e = run(d, &["identity", "new", "--cert", "only.crt"]);
    assert!(e.fails(2).contains("--cert requires --key"), "{e:?}");
    let e = run(d, &["identity", "new", "--force"]);
    assert!(e.fails(2).contains("--force only applies"), "{e:?}");
    let e = run(d, &["identity", "new", "--ip", "not-an-ip"]);
    assert!(e.fails(2).contains("not-an-ip"), "{e:?}");
    let e = run(d, &["identity", "new", "--expiry", "30d", "x"]);
    assert!(e.fails(2).contains("unknown unit \"d\""), "{e:?}");
    let e = run(d, &["identity", "new", "--key", "same", "--cert", "same"]);
    assert!(e.fails(2).contains("must be different files"), "{e:?}");
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 0, "nothing written");
    // --expiry and comma lists work.
    run(
        d,
        &[
            "identity",
            "new",
            "--expiry",
            "8760h",
            "--dns",
            "a.example,b.example",
            "--ip",
            "::1,127.0.0.1",
        ],
    )
    .ok();
    assert!(d.join("private.key").exists() && d.join("public.crt").exists());
}

#[test]
fn journey_tool_identity_new_and_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &SERVER_CERT);
    assert_eq!(out.ok(), "", "no output");
    assert_eq!(mode(&d.join("server.key")), 0o600);
    assert_eq!(mode(&d.join("server.cert")), 0o644);
    std::fs::copy(d.join("server.cert"), d.join("minio-kes.cert")).unwrap();
    let id = run(d, &["tool", "identity", "of", "minio-kes.cert"])
        .ok()
        .to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(run(d, &["identity", "of", "server.cert"]).ok(), id);
    // The key file matches the certificate.
    let key = run(d, &["identity", "server.key"]).ok().to_owned();
    assert_eq!(run(d, &["identity", "of", &key]).ok(), id);
    // stdin form.
    let mut c = common::kes(d);
    let o = c
        .args(["tool", "identity", "of", "-"])
        .stdin(std::fs::File::open(d.join("server.cert")).unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), id);
    // Defaults and -t.
    run(d, &["tool", "identity", "new", "-t", "24h", "client"]).ok();
    assert!(d.join("private.key").exists() && d.join("public.crt").exists());
    let e = run(d, &["tool", "identity", "new", "client"]);
    assert!(e.fails(1).contains("refusing to overwrite"), "{e:?}");
    run(d, &["tool", "identity", "new", "--force", "client"]).ok();
    let e = run(
        d,
        &["tool", "identity", "of", "--hash", "SHA512", "server.cert"],
    );
    assert!(e.fails(1).contains("only SHA256 is supported"), "{e:?}");
}
