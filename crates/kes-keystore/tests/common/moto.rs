//! moto (AWS Secrets Manager + KMS emulator) as a test peer.
//!
//! [`Moto::start`] installs `moto[server]` from PyPI into the test-peer
//! virtual environment `<target>/test-peers/venv` (once, under an exclusive
//! lock on `<target>/test-peers/venv.lock`, with an `.installed-<pkg>`
//! marker: the same venv, lock and markers as the shared harness in
//! `common/mod.rs`, so the two never race), starts
//! `moto_server -H 127.0.0.1 -p <free port>`, waits until it answers, and
//! stops it by PID when dropped. Every failure panics with what went wrong:
//! the tests never pass without a real moto.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The PyPI requirement moto is installed from.
const PACKAGE: &str = "moto[server]";

/// `<workspace>/target` (or `$CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

/// `<target>/test-peers`, created if missing.
fn peers_dir() -> PathBuf {
    let dir = target_dir().join("test-peers");
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("moto harness: cannot create {}: {e}", dir.display()));
    dir
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("moto harness: could not {what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "moto harness: could not {what}: {cmd:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The `moto_server` executable, installing moto first if needed.
pub fn moto_server() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let peers = peers_dir();
        let venv = peers.join("venv");
        let lock_path = peers.join("venv.lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("moto harness: cannot create {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("moto harness: cannot lock {}: {e}", lock_path.display()));
        let python = venv.join("bin/python");
        if !python.exists() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&venv),
                "create the test-peer Python venv (is python3 with the venv module installed?)",
            );
        }
        let marker = venv.join(format!(
            ".installed-{}",
            PACKAGE.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        ));
        if !marker.exists() {
            run(
                Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .arg(PACKAGE),
                &format!(
                    "install the test peer {PACKAGE:?} from PyPI into {} (is the network \
                     reachable?)",
                    venv.display()
                ),
            );
            fs::write(&marker, b"")
                .unwrap_or_else(|e| panic!("moto harness: cannot write {}: {e}", marker.display()));
        }
        drop(lock);
        let exe = venv.join("bin/moto_server");
        assert!(
            exe.is_file(),
            "moto harness: {PACKAGE} is installed in {} but {} is missing",
            venv.display(),
            exe.display()
        );
        exe
    })
    .clone()
}

/// A free TCP port on 127.0.0.1 (bound once, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("moto harness: no free port on 127.0.0.1: {e}"))
}

/// One request to `127.0.0.1:port`; returns the status code and body.
pub fn http(port: u16, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((code, body))
}

/// A running `moto_server`; stopped (by PID) on drop.
pub struct Moto {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    env: Vec<(String, String)>,
}

impl Moto {
    /// Starts moto on a free port.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts moto on a free port with extra environment variables (e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0` to make it check credentials).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let mut m = Moto {
            child: None,
            port: free_port(),
            log: PathBuf::new(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        m.spawn();
        m
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Wipes all of moto's state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        match http(self.port, "POST", "/moto-api/reset") {
            Ok((200, _)) => {}
            other => panic!(
                "moto harness: reset on port {} failed: {other:?}",
                self.port
            ),
        }
    }

    /// Kills moto (by PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts moto again on the same port (after [`Self::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let exe = moto_server();
        let dir = peers_dir().join("logs");
        fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("moto harness: cannot create {}: {e}", dir.display()));
        self.log = dir.join(format!("moto-{}.log", self.port));
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("moto harness: cannot create {}: {e}", self.log.display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("moto harness: cannot clone log handle: {e}"));
        let mut cmd = Command::new(&exe);
        cmd.args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("moto harness: cannot start {}: {e}", exe.display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Polls moto until it answers (at most 600 tries, 100 ms apart).
    fn wait_ready(&mut self) {
        for _ in 0..600 {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "moto harness: moto_server exited ({status}) before answering on port \
                         {}; log {}:\n{}",
                    self.port,
                    self.log.display(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if matches!(http(self.port, "GET", "/moto-api/data.json"), Ok((200, _))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.stop();
        panic!(
            "moto harness: moto_server did not answer on port {}; log {}:\n{}",
            self.port,
            self.log.display(),
            fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
