//! moto (AWS Secrets Manager + KMS emulator, PyPI `moto[server]`) as a
//! real test peer: [`Moto::start`] installs it into the shared test-peer venv
//! ([`Venv::ensure`]), starts `moto_server -H 127.0.0.1 -p <free port>`,
//! waits until it answers, and kills it by PID when dropped. moto keeps all
//! state in memory; [`Moto::reset`] wipes it. If moto cannot be installed,
//! the tests FAIL with the reason.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

pub use crate::http;
use crate::{PeerProcess, Venv, free_port};

/// The `moto_server` script from the project-local venv (installed on
/// first use).
pub fn moto_server() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let venv = Venv::ensure(&["moto[server]"]);
        // A pip console script runs moto in its own (Python) process, so
        // its PID is the server's.
        let exe = venv.bin("moto_server");
        assert!(
            exe.is_file(),
            "moto[server] is installed in {} but {} is missing",
            venv.dir.display(),
            exe.display()
        );
        exe
    })
    .clone()
}

/// A running `moto_server`; killed (by PID) on drop.
pub struct Moto {
    process: Option<PeerProcess>,
    port: u16,
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
            process: None,
            port: free_port(),
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
            other => panic!("moto: reset on port {} failed: {other:?}", self.port),
        }
    }

    /// Kills moto (by PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts moto again on the same port (after [`Self::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(moto_server());
        cmd.args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.process = Some(
            PeerProcess::spawn(&format!("moto-{}", self.port), &mut cmd).answering(
                self.port,
                "/moto-api/data.json",
                Duration::from_secs(60),
            ),
        );
    }
}
