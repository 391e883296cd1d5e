//! `kes server` as a process: usage errors and exit codes, the dev banner,
//! SIGHUP reload messages and SIGTERM shutdown with exit code 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn kes() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kes"))
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["server", "--dev", "--config", "x.yml"],
        vec!["server", "extra"],
        vec!["server", "--dev", "--addr", "localhost:7373"],
        vec!["server", "--dev", "--auth", "maybe"],
        vec!["server", "--unknown-flag"],
        vec!["server"],
    ] {
        let out = kes().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.is_empty(), "{args:?}");
    }
    let out = kes()
        .args(["server", "--config", "/nonexistent/kes.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error: "));
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn dev_server_banner_reload_and_shutdown() {
    let mut child = kes()
        .args(["server", "--dev", "--addr", "127.0.0.1:0", "--auth=off"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("server exited early: {banner}");
        }
        banner.push_str(&line);
        if line.contains("Server is up and running") {
            break;
        }
    }
    assert!(banner.contains("API Key     kes:v1:"), "{banner}");
    assert!(banner.contains("https://127.0.0.1:"), "{banner}");
    assert!(banner.contains("In Memory"), "{banner}");

    signal(child.id(), "-HUP");
    signal(child.id(), "-TERM");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(rest.contains("Stopping server... Goodbye."), "{rest}");
    assert!(err.contains("'--auth' flag is deprecated"), "{err}");
}
