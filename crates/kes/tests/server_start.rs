//! `kes server` start-up as a process: memory locking (tried by default,
//! reported in the banner, a warning when not permitted, required with
//! `--mlock`) and key-store warnings reaching stderr through the error log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

/// Polls the server's output until it contains `want` (bounded, ~60 s).
fn wait_for(server: &Server, want: &str) -> String {
    for _ in 0..600 {
        let log = server.log();
        if log.contains(want) {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("'{want}' not in the server output:\n{}", server.log());
}

/// The banner's `MLock` line.
fn mlock_line(log: &str) -> &str {
    log.lines()
        .find(|l| l.starts_with("MLock"))
        .unwrap_or_else(|| panic!("no MLock line in:\n{log}"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

#[test]
fn memory_is_locked_by_default_and_the_banner_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    for args in [
        vec!["server", "--dev", "--addr", &addr],
        // The guides' spelling.
        vec!["server", "--mlock", "--dev", "--addr", &addr],
    ] {
        let server = Server::start(dir.path(), port, &args);
        let log = wait_for(&server, "Server is up and running");
        let line = mlock_line(&log);
        if is_root() {
            assert!(line.ends_with("enabled"), "{args:?}: {line}");
            assert!(!log.contains("memory is not locked"), "{log}");
        } else {
            assert!(
                line.ends_with("enabled") || line.contains("disabled: "),
                "{line}"
            );
        }
        drop(server);
    }
}

/// `sh -c 'ulimit -l 64; exec setpriv --inh-caps=-ipc_lock
/// --bounding-set=-ipc_lock kes …'`: no CAP_IPC_LOCK and a 64 KiB limit.
/// `None` when `setpriv` cannot drop the capability here.
fn unprivileged(dir: &Path, args: &[&str]) -> Option<Command> {
    let probe = Command::new("setpriv")
        .args(["--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: setpriv cannot drop CAP_IPC_LOCK here");
        return None;
    }
    let mut script = String::from(
        "ulimit -l 64 && exec setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock \"$0\"",
    );
    for i in 1..=args.len() {
        script.push_str(&format!(" \"${{{i}}}\""));
    }
    let kes_bin = env!("CARGO_BIN_EXE_kes");
    let mut sh = Command::new("sh");
    sh.current_dir(dir)
        .arg("-c")
        .arg(script)
        .arg(kes_bin)
        .args(args);
    // Same clean environment as `kes(dir)`.
    sh.env_clear().envs(
        std::env::vars().filter(|(k, _)| !VARS.contains(&k.as_str()) && k != "SSL_CERT_FILE"),
    );
    sh.env("NO_COLOR", "1").stdin(std::process::Stdio::null());
    Some(sh)
}

#[test]
fn without_permission_the_server_warns_and_runs_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let Some(mut cmd) = unprivileged(dir.path(), &["server", "--dev", "--addr", &addr]) else {
        return;
    };
    let log_file = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = cmd
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let mut log = String::new();
    for _ in 0..600 {
        log = read();
        if log.contains("Server is up and running") || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("Server is up and running"), "{log}");
    let line = mlock_line(&log);
    assert!(line.contains("disabled: not permitted"), "{line}");
    let warning = log
        .lines()
        .find(|l| l.contains("memory is not locked"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(warning.contains("level=WARN"), "{warning}");
    assert!(warning.contains("CAP_IPC_LOCK"), "{warning}");

    // `--mlock` makes it a start-up error.
    let Some(mut cmd) = unprivileged(dir.path(), &["server", "--mlock", "--dev", "--addr", &addr])
    else {
        return;
    };
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("failed to lock memory (--mlock): not permitted"),
        "{err}"
    );
}

#[test]
fn a_world_readable_key_directory_is_warned_about_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &SERVER_CERT).ok();
    let admin_key = api_key_in(run(d, &["identity", "new"]).ok());
    let admin_id = run(d, &["identity", "of", &admin_key]).ok().to_owned();
    std::fs::create_dir(d.join("keys")).unwrap();
    std::fs::set_permissions(d.join("keys"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = write_fs_config(d, &admin_id, "server.key", "server.cert");
    let server = Server::start(d, port, &["server", "--config", "config.yml"]);
    let log = wait_for(&server, "is accessible by other users");
    let warning = log
        .lines()
        .find(|l| l.contains("is accessible by other users"))
        .unwrap();
    assert!(warning.starts_with("time="), "{warning}");
    assert!(warning.contains("level=WARN"), "{warning}");
    assert!(warning.contains("mode 755"), "{warning}");
}
