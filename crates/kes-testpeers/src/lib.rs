//! Shared harness for tests against real test peers (test-peers.md): a
//! project-local Python virtual environment with the peers' PyPI packages,
//! free 127.0.0.1 ports, peer processes that are killed by PID when their
//! guard drops (also when a test panics), readiness polling, and a small
//! JSON-over-HTTP client for configuring peers.
//!
//! Nothing in this file is specific to one peer; [`openbao`] (and its
//! three-node Raft cluster, [`raft`]), [`moto`], [`drongo`] and [`pykmip`]
//! build on it,
//! and [`proxy`] puts a switchable TCP fault (outage, black
//! hole) between a client and any peer; [`softhsm`] gives a test a private
//! SoftHSM2 token. Used by the integration tests of `kes-keystore` (the stores
//! against their peers) and `kes` (the server binary end to end). A peer that cannot be installed makes the test FAIL
//! with a message saying why; it never passes silently.
// A test harness: panicking with a precise message IS how it fails a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod drongo;
pub mod moto;
pub mod openbao;
pub mod proxy;
pub mod pykmip;
pub mod raft;
pub mod softhsm;

use std::fs::{self, File};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// `<workspace>/target` (or `$CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

/// `<target>/test-peers`, created if missing.
pub fn peers_dir() -> PathBuf {
    let dir = target_dir().join("test-peers");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A Python virtual environment shared by all test binaries of the
/// workspace, at `<target>/test-peers/venv`.
pub struct Venv {
    /// The venv directory.
    pub dir: PathBuf,
}

impl Venv {
    /// Creates the venv if needed and pip-installs every package not
    /// installed yet. Runs under an exclusive file lock so that test
    /// binaries running in parallel do not race. Panics with a precise
    /// message when Python or PyPI is unavailable.
    pub fn ensure(packages: &[&str]) -> Venv {
        let peers = peers_dir();
        let dir = peers.join("venv");
        let lock_path = peers.join("venv.lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
        let python = dir.join("bin/python");
        if !python.exists() {
            run(
                Command::new("python3").arg("-m").arg("venv").arg(&dir),
                "create the test-peer Python venv (is python3 with the venv module installed?)",
            );
        }
        for pkg in packages {
            let marker = dir.join(format!(
                ".installed-{}",
                pkg.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
            ));
            if marker.exists() {
                continue;
            }
            run(
                Command::new(&python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                    ])
                    .arg(pkg),
                &format!(
                    "install the test peer {pkg:?} from PyPI into {} (is the network reachable?)",
                    dir.display()
                ),
            );
            fs::write(&marker, b"")
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", marker.display()));
        }
        drop(lock);
        Venv { dir }
    }

    /// The `site-packages` directory of the venv.
    pub fn site_packages(&self) -> PathBuf {
        let lib = self.dir.join("lib");
        let entries =
            fs::read_dir(&lib).unwrap_or_else(|e| panic!("cannot list {}: {e}", lib.display()));
        for e in entries.flatten() {
            let p = e.path().join("site-packages");
            if e.file_name().to_string_lossy().starts_with("python") && p.is_dir() {
                return p;
            }
        }
        panic!("no lib/python*/site-packages in {}", self.dir.display());
    }

    /// A script or binary in the venv's `bin/`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }
}

/// Runs a command to completion; panics with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not {what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "could not {what}: {cmd:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
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

/// A free TCP port on 127.0.0.1 (bound once, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A running peer process; killed (by PID) and reaped when dropped.
pub struct PeerProcess {
    child: Option<Child>,
    name: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl PeerProcess {
    /// Starts `cmd` with stdout/stderr appended to
    /// `<target>/test-peers/logs/<name>.log`.
    pub fn spawn(name: &str, cmd: &mut Command) -> PeerProcess {
        let logs = peers_dir().join("logs");
        fs::create_dir_all(&logs).expect("create logs dir");
        let log = logs.join(format!("{name}.log"));
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        PeerProcess {
            child: Some(child),
            name: name.to_owned(),
            log,
        }
    }

    /// Waits until the process answers `GET <path>` on `127.0.0.1:port`
    /// with 200 (a bound against hangs, not a timing check); panics naming
    /// the log when it exits or `limit` passes first.
    pub fn answering(mut self, port: u16, path: &str, limit: Duration) -> PeerProcess {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            self.assert_running();
            if matches!(http(port, "GET", path), Ok((200, _))) {
                return self;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{} on port {port} did not answer within {limit:?} (log: {})",
            self.name,
            self.log.display()
        );
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process (SIGKILL to its PID) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Panics with the tail of the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "{} exited early with {status}; log tail:\n{tail}",
                self.name
            );
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` until it returns `true`, failing after `timeout` (a
/// generous bound against hangs, not a timing assertion).
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A JSON-over-HTTP(S) client for configuring peers.
#[derive(Clone)]
pub struct JsonHttp {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
}

impl JsonHttp {
    /// A client for `base`, e.g. `http://127.0.0.1:8200`.
    pub fn new(base: &str) -> JsonHttp {
        Self::with_ca(base, None)
    }

    /// A client for `base` trusting the PEM CA file `ca` (for `https://`).
    pub fn with_ca(base: &str, ca: Option<&Path>) -> JsonHttp {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            for cert in CertificateDer::pem_file_iter(ca).expect("read CA file") {
                roots.add(cert.expect("parse CA PEM")).expect("add CA");
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut conn = HttpConnector::new();
        conn.enforce_http(false);
        conn.set_connect_timeout(Some(Duration::from_secs(2)));
        let conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(conn);
        JsonHttp {
            client: Client::builder(TokioExecutor::new()).build(conn),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends a request; returns the status and the JSON body (`Null` when
    /// empty or not JSON), or `Err` on a transport failure.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match body {
            Some(b) => Full::new(Bytes::from(b.to_string())),
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            Ok((status, json))
        };
        tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .map_err(|_| format!("{method} {path}: no answer within 30 s"))?
    }

    /// Like [`JsonHttp::try_call`] but panics on a transport failure or a
    /// status outside 2xx.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, json) = self
            .try_call(method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.base));
        assert!(
            (200..300).contains(&status),
            "{method} {}{path}: HTTP {status}: {json}",
            self.base
        );
        json
    }
}
