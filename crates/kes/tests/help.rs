//! Help and usage of every command (snapshot-like checks of key lines),
//! usage errors (exit 2), unknown commands, `kes --version`, and the
//! credential errors of spec §10.2, shell completion and man pages (no
//! server needed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{run, run_env};

/// Every command path with lines its help must contain.
const HELP: &[(&[&str], &[&str])] = &[
    (
        &[],
        &[
            "Usage: kes [OPTIONS] [COMMAND]",
            "--auto-completion",
            "completion",
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
            "create", "import", "info", "rotate", "ls", "rm", "dek", "encrypt", "decrypt", "hmac",
        ],
    ),
    (&["key", "create"], &["-k, --insecure", "<NAME>..."]),
    (&["key", "import"], &["<NAME> <KEY>", "--cipher <CIPHER>"]),
    (&["key", "info"], &["--json", "<NAME>"]),
    (&["key", "ls"], &["--json", "[PATTERN]", "[default: *]"]),
    (&["key", "rm"], &["<NAME>..."]),
    (&["key", "dek"], &["<NAME> [CONTEXT]", "--json", "base64"]),
    (&["key", "encrypt"], &["<NAME> <MESSAGE> [CONTEXT]"]),
    (&["key", "rotate"], &["--json", "<NAME>"]),
    (&["key", "rm-version"], &["<NAME> <VERSION>"]),
    (
        &["key", "decrypt"],
        &["<NAME> <CIPHERTEXT> [CONTEXT]", "--key-version <VERSION>"],
    ),
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
        &["key", "rotate"],
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

/// The completion scripts come from the clap definition; bash's is valid
/// shell and completes a command name.
#[test]
fn completion_scripts() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(dir.path(), &["completion", shell]);
        assert!(out.ok().contains("migrate"), "{shell}: {out:?}");
    }
    let out = run(dir.path(), &["completion", "tcsh"]);
    assert!(out.fails(2).contains("invalid value 'tcsh'"), "{out:?}");

    let script = dir.path().join("kes.bash");
    std::fs::write(&script, run(dir.path(), &["completion", "bash"]).ok()).unwrap();
    let completed = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && COMP_WORDS=(kes mig) COMP_CWORD=1 && _kes kes mig kes && echo "${COMPREPLY[@]}""#)
        .arg("bash")
        .arg(&script)
        .output();
    match completed {
        Ok(o) => assert_eq!(String::from_utf8_lossy(&o.stdout), "migrate\n", "{o:?}"),
        Err(_) => eprintln!("bash not found: the completion script is not run"),
    }
}

/// `--auto-completion` (Go's spelling) writes the script where the shell of
/// `$SHELL` loads it from, and names the file.
#[test]
fn auto_completion_installs_for_the_login_shell() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let home_s = home.to_str().unwrap();
    let out = run_env(
        dir.path(),
        &[
            ("HOME", home_s),
            ("SHELL", "/bin/bash"),
            ("XDG_DATA_HOME", ""),
        ],
        &["--auto-completion"],
    );
    let bash = home.join(".local/share/bash-completion/completions/kes");
    assert!(out.ok().contains(bash.to_str().unwrap()), "{out:?}");
    assert!(std::fs::read_to_string(&bash).unwrap().contains("_kes()"));

    let xdg = dir.path().join("config");
    let out = run_env(
        dir.path(),
        &[
            ("HOME", home_s),
            ("SHELL", "/usr/bin/fish"),
            ("XDG_CONFIG_HOME", xdg.to_str().unwrap()),
        ],
        &["--auto-completion"],
    );
    out.ok();
    assert!(xdg.join("fish/completions/kes.fish").is_file());

    let out = run_env(
        dir.path(),
        &[
            ("HOME", home_s),
            ("SHELL", "/bin/zsh"),
            ("XDG_DATA_HOME", ""),
        ],
        &["--auto-completion"],
    );
    assert!(out.ok().contains("fpath=("), "{out:?}");
    assert!(home.join(".local/share/zsh/site-functions/_kes").is_file());

    let out = run_env(
        dir.path(),
        &[("SHELL", "/bin/tcsh")],
        &["--auto-completion"],
    );
    assert!(
        out.fails(1)
            .contains("--auto-completion supports bash, zsh and fish, not the shell '/bin/tcsh'"),
        "{out:?}"
    );
}

/// `kes man` writes a page per visible command, none for hidden ones.
#[test]
fn man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man/man1");
    run(dir.path(), &["man", man.to_str().unwrap()]).ok();
    for page in [
        "kes",
        "kes-server",
        "kes-key-create",
        "kes-migrate",
        "kes-policy-show",
    ] {
        let text = std::fs::read_to_string(man.join(format!("{page}.1"))).unwrap();
        assert!(text.contains(&format!(".TH {page} 1")), "{page}: {text}");
    }
    let text = std::fs::read_to_string(man.join("kes-key-create.1")).unwrap();
    assert!(text.contains("Create one or more keys"), "{text}");
    assert!(!man.join("kes-tool.1").exists());
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
