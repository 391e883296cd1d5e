//! Several stateless nodes over one key store, and clients that fail over
//! between them (kes-client and the CLI with a comma-separated
//! `KES_SERVER`): keys created on one node are usable on the others, and a
//! node killed under load costs no generate/decrypt request.
//!
//! The nodes run in-process on 127.0.0.1 and share one in-memory store, the
//! way real nodes share one Vault/OpenBao (`raft_cluster.rs` runs `kes
//! server` processes over a real OpenBao Raft cluster).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kes_client::Client;
use kes_keystore::KeyStore;
use kes_keystore::mem::MemKeyStore;
use kes_server::tls::{CertSource, ClientAuth, TlsSettings};

/// One node: its address and the task serving it (aborted to kill it).
struct Node {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// The nodes' shared set-up: one certificate, one admin, one store.
struct Cluster {
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    admin: String,
    api_key: String,
    store: Arc<dyn KeyStore>,
}

impl Cluster {
    fn new() -> Self {
        let (cert, key) = kes_server::dev::self_signed_server_cert().unwrap();
        let dev = kes_server::dev::settings().unwrap();
        Self {
            chain: vec![cert],
            key,
            admin: dev.settings.admin,
            api_key: dev.api_key.encode().to_string(),
            store: Arc::new(MemKeyStore::new()),
        }
    }

    /// Starts a node on `addr` (port 0: any free port).
    async fn start(&self, addr: SocketAddr) -> Node {
        let mut settings = kes_server::dev::settings().unwrap().settings;
        settings.admin = self.admin.clone();
        settings.tls = TlsSettings {
            source: CertSource::Memory {
                chain: self.chain.clone(),
                key: self.key.clone_key(),
            },
            auth: ClientAuth::Off,
            optional_client_cert: false,
        };
        settings.store = self.store.clone();
        settings.audit_level = kes_server::level::Level::ERROR;
        let server = kes_server::state::Server::new(settings).await.unwrap();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(kes_server::accept::serve(
            server,
            listener,
            std::future::pending(),
            Duration::from_secs(1),
        ));
        Node { addr, task }
    }

    fn client(&self, nodes: &[SocketAddr]) -> Client {
        Client::builder()
            .endpoints(nodes.iter().map(|a| a.to_string()))
            .api_key_str(&self.api_key)
            .insecure(true)
            .retries(2, Duration::from_millis(10), Duration::from_millis(50))
            .build()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_shared_and_a_killed_node_costs_no_request() {
    let cluster = Cluster::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(cluster.start("127.0.0.1:0".parse().unwrap()).await);
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();

    // Created on node 0, used on nodes 1 and 2.
    cluster.client(&addrs[..1]).create_key("k0").await.unwrap();
    let dek = cluster
        .client(&addrs[1..2])
        .generate_key("k0", b"ctx")
        .await
        .unwrap();
    let plain = cluster
        .client(&addrs[2..])
        .decrypt("k0", &dek.ciphertext, b"ctx")
        .await
        .unwrap();
    assert_eq!(*plain, *dek.plaintext);

    // Load over all three; node 1 is killed after a third of it.
    let client = cluster.client(&addrs);
    let done = Arc::new(AtomicUsize::new(0));
    const PER_TASK: usize = 60;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let client = client.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let (mut failed, mut longest) = (Vec::new(), Duration::ZERO);
            for i in 0..PER_TASK {
                let start = Instant::now();
                let result = async {
                    if i % 20 == 0 {
                        // A few creates; a create may fail over only when
                        // it never reached the killed node.
                        match client.create_key(&format!("t{t}-{i}")).await {
                            Ok(()) | Err(kes_client::Error::KeyExists) => {}
                            Err(e) => return Err(format!("create: {e}")),
                        }
                    }
                    let dek = client
                        .generate_key("k0", b"ctx")
                        .await
                        .map_err(|e| format!("generate: {e}"))?;
                    let plain = client
                        .decrypt("k0", &dek.ciphertext, b"ctx")
                        .await
                        .map_err(|e| format!("decrypt: {e}"))?;
                    assert_eq!(*plain, *dek.plaintext);
                    Ok(())
                }
                .await;
                longest = longest.max(start.elapsed());
                if let Err(e) = result {
                    failed.push(e);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            (failed, longest)
        }));
    }
    while done.load(Ordering::SeqCst) < 4 * PER_TASK / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = nodes.remove(1);
    killed.task.abort();
    let _ = killed.task.await;

    let mut failures = Vec::new();
    let mut longest = Duration::ZERO;
    for task in tasks {
        let (failed, l) = task.await.unwrap();
        failures.extend(failed);
        longest = longest.max(l);
    }
    eprintln!(
        "{} generate+decrypt rounds over 3 nodes, node 1 killed: {} failed {failures:?}, longest {longest:?}",
        4 * PER_TASK,
        failures.len()
    );
    // Generate and decrypt are idempotent: none may fail. A create that
    // was in flight on the killed node may fail with a network error.
    let bad: Vec<&String> = failures
        .iter()
        .filter(|e| !e.starts_with("create: "))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");

    // The killed node comes back on its address and serves the same keys.
    let back = cluster.start(addrs[1]).await;
    cluster
        .client(&[back.addr])
        .generate_key("t0-0", b"")
        .await
        .unwrap();

    // The CLI with a comma-separated KES_SERVER whose first node is dead.
    let dir = tempfile::tempdir().unwrap();
    let servers = format!(
        "127.0.0.1:{},{},{}",
        common::free_port(),
        addrs[0],
        addrs[2]
    );
    let api_key = cluster.api_key.clone();
    let cli = tokio::task::spawn_blocking(move || {
        let env = [
            ("KES_SERVER", servers.as_str()),
            ("KES_API_KEY", api_key.as_str()),
        ];
        let created = common::run_env(dir.path(), &env, &["key", "create", "-k", "cli-key"]);
        let dek = common::run_env(dir.path(), &env, &["key", "dek", "-k", "cli-key"]);
        (created, dek)
    })
    .await
    .unwrap();
    cli.0.ok();
    assert!(cli.1.ok().contains("ciphertext"), "{:?}", cli.1);
    cluster
        .client(&[addrs[2]])
        .describe_key("cli-key")
        .await
        .unwrap();

    for node in nodes.into_iter().chain([back]) {
        node.task.abort();
    }
}
