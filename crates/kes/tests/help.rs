//! Help and usage of every command (snapshot-like checks of key lines),
//! usage errors (exit 2), unknown commands, `kes --version`, and the
//! credential errors of spec §10.2 (no server needed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{run, run_env};

/// Every command path with lines its help must contain.
const HELP: &[(&[&str], &[&str])] = &[
    (
        &[],
        &[
            "Usage: kes [COMMAND]",
            "identity",
            "key",
            "policy",
            "status",
            "metric",
            "log",
            "ls",
            "-v, --version",
        ],
    ),
    (
        &["identity"],
        &[
            "Usage: kes identity [API-KEY|FILE]",
            "new",
            "of",
            "info",
            "ls",
        ],
    ),
    (
        &["identity", "new"],
        &[
            "--key <PATH>",
            "--cert <PATH>",
            "--ip <IP>",
            "--dns <NAME>",
            "--expiry <DURATION>",
            "--encrypt",
            "-f, --force",
            "[SUBJECT]",
            "kes identity new --ip \"127.0.0.1\" localhost",
        ],
    ),
    (&["identity", "of"], &["<API-KEY|CERT>..."]),
    (
        &["identity", "info"],
        &["-k, --insecure", "--json", "--color <WHEN>", "[IDENTITY]"],
    ),
    (
        &["identity", "ls"],
        &["-k, --insecure", "--json", "[PREFIX]"],
    ),
    (
        &["key"],
        &[
            "create", "import", "info", "ls", "rm", "dek", "encrypt", "decrypt", "hmac",
        ],
    ),
    (&["key", "create"], &["-k, --insecure", "<NAME>..."]),
    (&["key", "import"], &["<NAME> <KEY>", "--cipher <CIPHER>"]),
    (&["key", "info"], &["--json", "<NAME>"]),
    (&["key", "ls"], &["--json", "[PATTERN]", "[default: *]"]),
    (&["key", "rm"], &["<NAME>..."]),
    (&["key", "dek"], &["<NAME> [CONTEXT]", "--json", "base64"]),
    (&["key", "encrypt"], &["<NAME> <MESSAGE> [CONTEXT]"]),
    (&["key", "decrypt"], &["<NAME> <CIPHERTEXT> [CONTEXT]"]),
    (&["key", "hmac"], &["<NAME> <MESSAGE>"]),
    (&["policy"], &["info", "ls", "show"]),
    (&["policy", "info"], &["--json", "<NAME>"]),
    (&["policy", "ls"], &["--json", "[PATTERN]"]),
    (&["policy", "show"], &["--json", "<NAME>"]),
    (
        &["status"],
        &["-s, --short", "--api", "--json", "-k, --insecure"],
    ),
    (
        &["metric"],
        &["--rate <DURATION>", "[default: 5s]", "--once"],
    ),
    (&["log"], &["--audit", "--error", "--json"]),
    (
        &["ls"],
        &[
            "-s, --server <HOST[:PORT]>",
            "-a, --api-key <KEY>",
            "-i, --identity",
            "-p, --policy",
            "--json",
            "[PREFIX]",
        ],
    ),
    (
        &["tool", "identity", "new"],
        &[
            "--server",
            "--key <PATH>",
            "[default: ./private.key]",
            "-t, --time <DURATION>",
            "[default: 720h]",
            "-f, --force",
        ],
    ),
    (&["tool", "identity", "of"], &["--hash <HASH>", "[CERT]"]),
];

#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for (path, lines) in HELP {
        let mut args: Vec<&str> = path.to_vec();
        args.push("--help");
        let out = run(dir.path(), &args);
        let text = out.ok();
        for l in *lines {
            assert!(
                text.contains(l),
                "`kes {}` help lacks {l:?}:\n{text}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn no_arguments_prints_help_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("Usage: kes"), "{out:?}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["key"][..],
        &["key", "nope"],
        &["key", "create"],
        &["key", "import", "only-name"],
        &["key", "info"],
        &["key", "dek"],
        &["key", "encrypt", "k"],
        &["key", "decrypt", "k"],
        &["key", "ls", "--bogus"],
        &["policy", "info"],
        &["identity", "of"],
        &["identity", "new", "--ip"],
        &["log", "--audit", "--error"],
        &["ls", "-i", "-p"],
        &["status", "--bogus"],
        &["metric", "--rate", "fast"],
        &["tool", "identity", "new", "-t", "1x"],
    ] {
        let out = run(dir.path(), args);
        assert_eq!(out.code, 2, "kes {args:?}: {out:?}");
        assert!(
            out.stderr.contains("Usage:") || out.stderr.contains("error:"),
            "{out:?}"
        );
        assert!(!out.stderr.contains("panicked"), "{out:?}");
    }
}

#[test]
fn unknown_command_is_go_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["frobnicate"]);
    assert_eq!(
        out.fails(1),
        "Error: \"frobnicate\" is not a kes command. See 'kes --help'\n"
    );
}

#[test]
fn auto_completion_is_refused_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--auto-completion"]);
    assert!(
        out.fails(1).contains("--auto-completion is not supported"),
        "{out:?}"
    );
}

#[test]
fn journey_version() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-v"] {
        let out = run(dir.path(), &[flag]);
        let text = out.ok();
        assert!(
            text.starts_with(&format!(
                "Version    {} commit={}\n",
                kes_server::api::VERSION,
                kes_server::api::COMMIT
            )),
            "{text}"
        );
        assert!(text.contains("\nRuntime    rust "));
        assert!(text.contains("\nLicense    Apache-2.0\n"));
        assert!(text.contains("\nCopyright  "));
    }
}

#[test]
fn credential_errors_have_go_texts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[],
            "no API key specified. Consider setting MINIO_KES_API_KEY",
        ),
        (
            &[
                (
                    "KES_API_KEY",
                    "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
                ),
                ("KES_CLIENT_KEY", "c.key"),
            ],
            "API key and private key file cannot be used at the same time",
        ),
        (
            &[
                (
                    "MINIO_KES_API_KEY",
                    "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
                ),
                ("KES_CLIENT_CERT", "c.crt"),
            ],
            "API key and certificate file cannot be used at the same time",
        ),
        (
            &[("KES_CLIENT_KEY", "c.key")],
            "no certificate file specified. Consider setting MINIO_KES_CERT_FILE",
        ),
        (
            &[("KES_CLIENT_CERT", "c.crt")],
            "no private key file specified. Consider setting MINIO_KES_KEY_FILE",
        ),
    ];
    for (env, msg) in cases {
        let out = run_env(d, env, &["key", "create", "my-key-1"]);
        assert_eq!(out.fails(1), format!("Error: {msg}\n"), "{env:?}");
    }
    let out = run_env(d, &[("KES_API_KEY", "kes:v1:bad")], &["key", "ls"]);
    let err = out.fails(1);
    assert!(
        err.starts_with("Error: invalid client configuration: "),
        "{err}"
    );
    assert!(!err.contains("kes:v1:bad"), "the key is not echoed: {err}");
}

#[test]
fn unreachable_server_is_a_transport_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let server = format!("127.0.0.1:{port}");
    let out = run_env(
        dir.path(),
        &[
            ("KES_SERVER", &server),
            (
                "KES_API_KEY",
                "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
            ),
        ],
        &["key", "create", "-k", "my-key-1"],
    );
    let err = out.fails(1);
    assert!(
        err.starts_with("Error: failed to create key \"my-key-1\": "),
        "{err}"
    );
    assert!(err.contains(&server), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no debug dump: {err}");
}
