//! Shared helpers of the `kes` integration tests: run the real binary in a
//! scratch directory with a clean environment, and start a `kes server` that
//! is killed (by PID) when the guard is dropped; the command lines several
//! tests share.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Every variable the CLI reads; removed so the host environment cannot leak in.
pub const VARS: [&str; 12] = [
    "MINIO_KES_SERVER",
    "KES_SERVER",
    "MINIO_KMS_KES_ENDPOINT",
    "MINIO_KES_API_KEY",
    "KES_API_KEY",
    "MINIO_KMS_KES_API_KEY",
    "MINIO_KES_CERT_FILE",
    "KES_CLIENT_CERT",
    "MINIO_KES_CLIENT_CERT",
    "MINIO_KES_KEY_FILE",
    "KES_CLIENT_KEY",
    "MINIO_KES_CLIENT_KEY",
];

/// The result of one `kes` run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts failure with `code` and returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        &self.stderr
    }
}

/// A `kes` command in `dir` with a clean KES environment and no colours.
pub fn kes(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kes"));
    c.current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null());
    for v in VARS {
        c.env_remove(v);
    }
    c.env_remove("SSL_CERT_FILE");
    c
}

/// `kes tool identity new` for a server key pair (`server.key`,
/// `server.cert`) valid for `127.0.0.1` and `localhost`.
pub const SERVER_CERT: [&str; 12] = [
    "tool",
    "identity",
    "new",
    "--server",
    "--key",
    "server.key",
    "--cert",
    "server.cert",
    "--ip",
    "127.0.0.1",
    "--dns",
    "localhost",
];

/// Runs `kes args...` in `dir` with extra environment `env`.
pub fn run_env(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut c = kes(dir);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run kes");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `kes args...` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Out {
    run_env(dir, &[], args)
}

/// The file mode bits of `p`.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Extracts the first `kes:v1:` API key from text.
pub fn api_key_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("kes:v1:"))
        .expect("an API key in the output")
        .to_owned()
}

/// Extracts the first 64-hex-digit word from text.
pub fn identity_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("an identity in the output")
        .to_owned()
}

/// A free TCP port on 127.0.0.1 (released before the server binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `<dir>/config.yml` for a server on a free port with `admin_id` as
/// admin, the TLS key pair `key`/`cert` and an fs key store in `./keys`;
/// returns the port.
pub fn write_fs_config(dir: &Path, admin_id: &str, key: &str, cert: &str) -> u16 {
    let port = free_port();
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "address: 127.0.0.1:{port}\nadmin:\n  identity: {admin_id}\ntls:\n  key: {key}\n  cert: {cert}\nkeystore:\n  fs:\n    path: ./keys\n"
        ),
    )
    .unwrap();
    port
}

/// A running `kes server`; killed by PID on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Server {
    /// Starts `kes <args>` in `dir` (the args include `server`), with output
    /// in `server.log`, and waits until `port` accepts connections.
    pub fn start(dir: &Path, port: u16, args: &[&str]) -> Server {
        Self::start_env(dir, port, &[], args)
    }

    /// Like [`Server::start`], with extra environment `env`.
    pub fn start_env(dir: &Path, port: u16, env: &[(&str, &str)], args: &[&str]) -> Server {
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        let child = kes(dir)
            .args(args)
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn kes server");
        let mut server = Server {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        server.wait_ready();
        server
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self) {
        // Bounded: at most ~120 s for a cold, loaded machine; no timing is asserted.
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kes server exited early ({status}):\n{}", self.log());
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "kes server did not listen on {}:\n{}",
            self.port,
            self.log()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
