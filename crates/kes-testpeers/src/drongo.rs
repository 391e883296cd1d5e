//! drongo (Google Cloud emulator, PyPI `drongo`) as a real test peer for the
//! Secret Manager REST API v1: [`Drongo::start`] installs it into the shared
//! test-peer venv ([`Venv::ensure`]), starts
//! `drongo server --host 127.0.0.1 --port <free port>`, waits until it
//! answers, and kills it by PID when dropped. drongo keeps all state in
//! memory ([`Drongo::reset`] wipes it), checks no authentication and ignores
//! `pageSize` (one page answers everything). If drongo cannot be installed,
//! the tests FAIL with the reason.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{PeerProcess, Venv, free_port, http};

/// The pinned drongo release (test-peers.md).
const PACKAGE: &str = "drongo==0.8.0";

/// The `drongo` script from the project-local venv (installed on first use).
pub fn drongo_binary() -> PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let venv = Venv::ensure(&[PACKAGE]);
        // A pip console script runs drongo in its own (Python) process, so
        // its PID is the server's.
        let exe = venv.bin("drongo");
        assert!(
            exe.is_file(),
            "drongo is installed in {} but {} is missing",
            venv.dir.display(),
            exe.display()
        );
        exe
    })
    .clone()
}

/// A running `drongo server`; killed (by PID) on drop.
pub struct Drongo {
    process: Option<PeerProcess>,
    port: u16,
}

impl Drongo {
    /// Starts drongo on a free port.
    pub fn start() -> Self {
        let mut d = Drongo {
            process: None,
            port: free_port(),
        };
        d.spawn();
        d
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wipes all of drongo's state (`POST /drongo/reset`).
    pub fn reset(&self) {
        match http(self.port, "POST", "/drongo/reset") {
            Ok((200, _)) => {}
            other => panic!("drongo: reset on port {} failed: {other:?}", self.port),
        }
    }

    /// Kills drongo (by PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Starts drongo again on the same port (after [`Self::stop`]), empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(drongo_binary());
        cmd.args([
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            &self.port.to_string(),
        ]);
        self.process = Some(
            PeerProcess::spawn(&format!("drongo-{}", self.port), &mut cmd).answering(
                self.port,
                "/drongo/health",
                Duration::from_secs(30),
            ),
        );
    }
}
