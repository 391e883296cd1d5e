//! Key-store warnings reach the server's error log (its writer and
//! `/v1/log/error` subscribers) at their level: the fs store's warning about
//! a key directory other users can read, raised while the store is opened —
//! before the server exists (queued, then written) and while it runs (on a
//! reload). One test only: a process forwards to the most recently built
//! server, so this file must not start servers concurrently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::*;
use kes_keystore::fs::FsKeyStore;
use kes_server::level::Level;
use kes_server::log::Logger;
use kes_server::state::Server;

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A `mkdir -m 755` key directory.
fn world_readable(path: &Path) -> Arc<FsKeyStore> {
    std::fs::create_dir(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Arc::new(FsKeyStore::open(path).unwrap())
}

#[tokio::test]
async fn key_store_warnings_reach_the_error_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    // What `kes server` does first; the store's warning then waits for a
    // logger.
    kes_server::log::bridge::install();
    let store = world_readable(&dir.path().join("keys"));
    let err_out = Captured::default();
    let logger = Logger::with_writers(
        Level::INFO,
        Level::OFF,
        Box::new(err_out.clone()),
        Box::new(std::io::sink()),
    );
    let server = Server::with_logger(settings(&pki, store), logger)
        .await
        .unwrap();
    let text = err_out.text();
    let line = text
        .lines()
        .find(|l| l.contains("is accessible by other users"))
        .unwrap_or_else(|| panic!("no warning in the error log:\n{text}"));
    assert!(line.starts_with("time="), "{line}");
    assert!(line.contains(" level=WARN "), "{line}");
    assert!(line.contains("(mode 755)"), "{line}");
    assert!(
        line.contains(&dir.path().join("keys").display().to_string()),
        "{line}"
    );

    // While the server runs: a reload opens another such store, and an
    // `/v1/log/error` subscriber receives the warning.
    let srv = TestServer::start_with(server).await;
    let c = Client::new(srv.addr, &pki.admin);
    let (_conn, mut body) = open_stream(&c, "/v1/log/error").await;
    let other = dir.path().join("other-keys");
    let store = world_readable(&other);
    srv.server.reload(settings(&pki, store)).await.unwrap();
    let want = other.display().to_string();
    let event = next_line_where(&mut body, |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("is accessible by other users") && m.contains(&want))
    })
    .await;
    assert!(
        event["message"].as_str().unwrap().contains("level=WARN"),
        "{event}"
    );

    // Below the threshold nothing is written.
    let mut quiet = settings(&pki, world_readable(&dir.path().join("quiet")));
    quiet.error_level = Level::ERROR;
    srv.server.reload(quiet).await.unwrap();
    let before = err_out.text().len();
    let _ = world_readable(&dir.path().join("quiet-2"));
    assert_eq!(err_out.text().len(), before, "{}", err_out.text());
    srv.stop().await;
}
