//! Scale-out end to end (issue 18, item 1): three `kes server` processes
//! with the same config over a three-node OpenBao Raft cluster, under a
//! bounded generate/decrypt load with a few creates from `kes-client` with
//! all three endpoints, and the `kes` CLI with all three in `KES_SERVER`. During the load one KES node is killed, then the
//! OpenBao leader; both come back. Prints requests, failures by kind and
//! the longest request (`scripts/scale-out.sh` runs it for an operator).
//!
//! Each KES node talks to "its" OpenBao node (node i to node i), as behind
//! a per-host Vault agent; with one address in front of all three, a KES
//! node would not lose its store when its OpenBao node dies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Server, api_key_in, free_port, identity_in, run, run_env};
use kes_client::{Client, Error};
use kes_testpeers::openbao;
use kes_testpeers::raft::{NODES, RaftCluster};

/// The keys the load uses, created before it and cached on every node.
const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];

/// One KES node's directory: its config (pointing at OpenBao node `i`)
/// and the shared TLS key pair.
fn node_dir(root: &Path, i: usize, admin: &str, vault: &str) -> PathBuf {
    let dir = root.join(format!("kes{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["private.key", "public.crt"] {
        std::fs::copy(root.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "admin:
  identity: {admin}
tls:
  key: private.key
  cert: public.crt
cache:
  expiry:
    any: 10m
    unused: 10m
    offline: 10m
keystore:
  vault:
    endpoint: {vault}
    engine: kv1
    version: v1
    prefix: kes
    approle:
      id: {id}
      secret: {secret}
    status:
      ping: 1s
",
            id = openbao::ROLE_ID,
            secret = openbao::SECRET_ID,
        ),
    )
    .unwrap();
    dir
}

fn start_kes(dir: &Path, port: u16) -> Server {
    Server::start(
        dir,
        port,
        &[
            "server",
            "--config",
            "config.yml",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ],
    )
}

fn client(api_key: &str, ports: &[u16]) -> Client {
    Client::builder()
        .endpoints(ports.iter().map(|p| format!("127.0.0.1:{p}")))
        .api_key_str(api_key)
        .insecure(true)
        .request_timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    requests: usize,
    /// "op: kind" → count.
    failures: BTreeMap<String, usize>,
    /// Names whose create failed (to be retried after the load).
    failed_creates: Vec<String>,
    longest: Duration,
}

fn kind(e: &Error) -> String {
    match e {
        Error::Api { status, message } => format!("{status} {message}"),
        Error::Transport(t) => format!("transport {:?}", t.kind),
        other => format!("{other}"),
    }
}

/// Whether a client may simply try `e` again later: a 5xx or a network error.
fn retryable(e: &Error) -> bool {
    matches!(e, Error::Transport(_)) || e.status().is_some_and(|s| s >= 500)
}

async fn load(client: Client, task: usize, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>) -> Tally {
    let mut t = Tally::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = KEYS[n % KEYS.len()];
        let start = Instant::now();
        match client.generate_key(key, b"ctx").await {
            Ok(dek) => {
                t.requests += 1;
                match client.decrypt(key, &dek.ciphertext, b"ctx").await {
                    Ok(p) => assert_eq!(*p, *dek.plaintext),
                    Err(e) => {
                        *t.failures
                            .entry(format!("decrypt: {}", kind(&e)))
                            .or_default() += 1
                    }
                }
            }
            Err(e) => {
                *t.failures
                    .entry(format!("generate: {}", kind(&e)))
                    .or_default() += 1
            }
        }
        t.requests += 1;
        if n % 10 == 0 {
            let name = format!("c-{task}-{n}");
            t.requests += 1;
            if let Err(e) = client.create_key(&name).await {
                assert!(retryable(&e), "create {name}: {e}");
                *t.failures
                    .entry(format!("create: {}", kind(&e)))
                    .or_default() += 1;
                t.failed_creates.push(name);
            }
        }
        t.longest = t.longest.max(start.elapsed());
        done.fetch_add(1, Ordering::SeqCst);
    }
    t
}

#[test]
fn three_kes_nodes_over_a_raft_cluster_survive_node_and_leader_loss() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = tempfile::tempdir().unwrap();
    let bao_dir = root.path().join("openbao");
    std::fs::create_dir_all(&bao_dir).unwrap();
    let started = Instant::now();
    let mut bao = rt.block_on(async {
        let bao = RaftCluster::start(&bao_dir).await;
        bao.seed().await;
        bao
    });
    eprintln!("OpenBao: 3 voters after {:?}", started.elapsed());

    // One TLS key pair for all nodes; one admin API key for the clients.
    let w = root.path();
    run(
        w,
        &[
            "identity",
            "new",
            "--key",
            "private.key",
            "--cert",
            "public.crt",
            "--ip",
            "127.0.0.1",
            "localhost",
        ],
    )
    .ok();
    let out = run(w, &["identity", "new"]);
    let (api_key, admin) = (api_key_in(out.ok()), identity_in(out.ok()));
    let ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let dirs: Vec<PathBuf> = (0..NODES)
        .map(|i| node_dir(w, i, &admin, &bao.endpoint(i)))
        .collect();
    let mut kes: Vec<Option<Server>> = (0..NODES)
        .map(|i| Some(start_kes(&dirs[i], ports[i])))
        .collect();

    // Keys created through node 0 are usable on every node (and now cached
    // there).
    rt.block_on(async {
        let first = client(&api_key, &ports[..1]);
        for key in KEYS {
            first.create_key(key).await.unwrap();
        }
        for &port in &ports {
            let one = client(&api_key, &[port]);
            for key in KEYS {
                one.generate_key(key, b"").await.unwrap();
            }
        }
    });

    // The load, from four tasks sharing one client with all endpoints.
    let all = client(&api_key, &ports);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..4)
        .map(|t| rt.spawn(load(all.clone(), t, stop.clone(), done.clone())))
        .collect();
    // Each phase also runs the CLI with all endpoints in KES_SERVER.
    let servers = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let settle = |what: &str| {
        let before = done.load(Ordering::SeqCst);
        let cli = run_env(
            w,
            &[("KES_SERVER", &servers), ("KES_API_KEY", &api_key)],
            &["key", "dek", "-k", "k1"],
        );
        assert!(cli.ok().contains("ciphertext"), "{what}: {cli:?}");
        std::thread::sleep(Duration::from_secs(1));
        eprintln!(
            "{what}: {} rounds in the last second",
            done.load(Ordering::SeqCst) - before
        );
    };
    settle("all up");
    // KES node 1 dies; then the OpenBao leader (node 0, where the cluster
    // was initialised), so KES node 0 loses its store and serves from its
    // cache.
    kes[1] = None; // SIGKILL by PID
    settle("KES node 1 killed");
    let leader = rt.block_on(bao.wait_leader());
    let killed_at = Instant::now();
    bao.kill(leader);
    let new_leader = rt.block_on(bao.wait_leader());
    eprintln!(
        "OpenBao leader {leader} killed: node {new_leader} active after {:?}",
        killed_at.elapsed()
    );
    settle("OpenBao leader killed");
    rt.block_on(bao.restart(leader));
    kes[1] = Some(start_kes(&dirs[1], ports[1]));
    settle("both back");
    stop.store(true, Ordering::SeqCst);

    let mut total = Tally::default();
    for task in tasks {
        let t = rt.block_on(task).unwrap();
        total.requests += t.requests;
        for (k, v) in t.failures {
            *total.failures.entry(k).or_default() += v;
        }
        total.failed_creates.extend(t.failed_creates);
        total.longest = total.longest.max(t.longest);
    }
    eprintln!(
        "{} requests; failures by kind: {:?}; longest round {:?}",
        total.requests, total.failures, total.longest
    );
    let crypto: Vec<_> = total
        .failures
        .keys()
        .filter(|k| !k.starts_with("create: "))
        .collect();
    assert!(
        crypto.is_empty(),
        "generate/decrypt of cached keys failed: {crypto:?}"
    );

    // Creates that failed during the outage succeed now; every key works on
    // every node, the restarted ones included.
    rt.block_on(async {
        for name in &total.failed_creates {
            match all.create_key(name).await {
                Ok(()) | Err(Error::KeyExists) => {}
                Err(e) => panic!("create {name} after the election: {e}"),
            }
        }
        for &port in &ports {
            let one = client(&api_key, &[port]);
            for name in total.failed_creates.iter().map(String::as_str).chain(KEYS) {
                one.generate_key(name, b"").await.unwrap();
            }
        }
    });
    drop(kes);
}
