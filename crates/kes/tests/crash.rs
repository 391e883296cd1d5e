//! Crash safety of the fs key store, with the real `kes server` process:
//! rounds of 16 concurrent creators (and DEKs generated along the way) are
//! cut short by a SIGKILL at a random-ish moment; the server is restarted
//! between rounds. Afterwards every listed key loads, every create answered
//! 200 left its key, no temporary file survives a start, and every DEK made
//! before a kill still decrypts to its plaintext. While the server writes,
//! this process keeps opening the same directory as another node starting
//! would; its clean-ups must not fail a single create.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kes_keystore::fs::FsKeyStore;

use common::{SERVER_CERT, Server, api_key_in, identity_in, run, write_fs_config};

/// Kill rounds.
const ROUNDS: usize = 5;
/// Concurrent creators per round.
const CREATORS: usize = 16;
/// Every creator asks for a DEK after every this many of its creates.
const DEK_EVERY: usize = 3;

/// What the creators of all rounds saw.
#[derive(Default)]
struct Record {
    /// Keys whose create was answered 200.
    created: BTreeSet<String>,
    /// Keys whose create was sent but not answered (cut by the kill).
    unanswered: BTreeSet<String>,
    /// `(key, ciphertext, plaintext)` of every DEK answered 200.
    deks: Vec<(String, Vec<u8>, Vec<u8>)>,
}

/// A pseudo-random number below `n` (std's per-process random hash keys).
fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n
}

/// The `.tmp-*` names in the key directory.
fn temp_files(keys: &Path) -> Vec<String> {
    std::fs::read_dir(keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp-"))
        .collect()
}

/// Writes `config.yml` (fs store in `./keys`) and starts the server on a
/// fresh port; returns it and a client with the admin API key.
fn start(d: &Path, admin_id: &str, api_key: &str) -> (Server, kes_client::Client) {
    let port = write_fs_config(d, admin_id, "server.key", "server.cert");
    let server = Server::start(d, port, &["server", "--config", "config.yml"]);
    let client = kes_client::Client::builder()
        .endpoint(server.endpoint())
        .api_key_str(api_key)
        .insecure(true)
        // One attempt: an answer is either the server's or a transport error.
        .retries(0, Duration::ZERO, Duration::ZERO)
        .request_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    (server, client)
}

/// One creator: creates `r<round>-c<id>-<i>` until the server dies, with a
/// DEK after every [`DEK_EVERY`] creates. Any failure before the kill fails
/// the test.
async fn creator(
    client: kes_client::Client,
    round: usize,
    id: usize,
    killed: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
) {
    for i in 0.. {
        let name = format!("r{round}-c{id}-{i}");
        match client.create_key(&name).await {
            Ok(()) => {
                record.lock().unwrap().created.insert(name.clone());
            }
            Err(e) => {
                assert!(killed.load(Ordering::SeqCst), "create {name}: {e}");
                record.lock().unwrap().unanswered.insert(name);
                return;
            }
        }
        if i % DEK_EVERY == 0 {
            match client.generate_key(&name, name.as_bytes()).await {
                Ok(dek) => {
                    record
                        .lock()
                        .unwrap()
                        .deks
                        .push((name, dek.ciphertext, dek.plaintext.to_vec()))
                }
                Err(e) => {
                    assert!(killed.load(Ordering::SeqCst), "DEK of {name}: {e}");
                    return;
                }
            }
        }
    }
}

#[test]
fn fs_store_survives_sigkill_during_concurrent_creates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, &SERVER_CERT).ok();
    let out = run(d, &["identity", "new"]);
    let (api_key, admin_id) = (api_key_in(out.ok()), identity_in(out.ok()));
    let keys = d.join("keys");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let record = Arc::new(Mutex::new(Record::default()));
    let mut temp_left_by_kills = 0;
    let other_node_opens = Mutex::new(0_usize);

    for round in 0..ROUNDS {
        let (server, client) = start(d, &admin_id, &api_key);
        // Every start removes what the previous kill left.
        assert_eq!(temp_files(&keys), Vec::<String>::new(), "round {round}");
        let killed = Arc::new(AtomicBool::new(false));
        let before = record.lock().unwrap().created.len();
        // Kill after 40..200 creates of this round plus 0..30 ms.
        let threshold = before + 40 + usize::try_from(random_below(160)).unwrap();
        let pause = Duration::from_millis(random_below(30));
        rt.block_on(async {
            let tasks: Vec<_> = (0..CREATORS)
                .map(|id| {
                    tokio::spawn(creator(
                        client.clone(),
                        round,
                        id,
                        Arc::clone(&killed),
                        Arc::clone(&record),
                    ))
                })
                .collect();
            // Meanwhile "another node" keeps opening the directory, which
            // cleans it: it must not take a temporary file from the live
            // server (a create would fail).
            let stop = Arc::new(AtomicBool::new(false));
            let other_node = {
                let (keys, stop) = (keys.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut opens = 0_usize;
                    while !stop.load(Ordering::SeqCst) {
                        FsKeyStore::open(&keys).unwrap();
                        opens += 1;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    opens
                })
            };
            // Bounded (no creates at all in 5 minutes fails below). A
            // creator only stops before the kill by failing.
            for _ in 0..30_000 {
                if record.lock().unwrap().created.len() >= threshold
                    || tasks.iter().any(|t| t.is_finished())
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Stopped before the kill, so that the next start is what
            // cleans up after it.
            stop.store(true, Ordering::SeqCst);
            *other_node_opens.lock().unwrap() += other_node.join().unwrap();
            if tasks.iter().any(|t| t.is_finished()) {
                for t in tasks {
                    t.await.unwrap();
                }
                panic!("round {round}: a creator stopped before the kill");
            }
            assert!(
                record.lock().unwrap().created.len() > before,
                "round {round}: no create answered:\n{}",
                server.log()
            );
            tokio::time::sleep(pause).await;
            killed.store(true, Ordering::SeqCst);
            drop(server); // SIGKILL, then reaped
            for t in tasks {
                t.await.unwrap();
            }
        });
        temp_left_by_kills += temp_files(&keys).len();
    }

    // The last start: nothing temporary left, every key loads; the
    // clean-up reaches the server's error log through the tracing bridge.
    let left_by_last_kill = temp_files(&keys).len();
    let (server, client) = start(d, &admin_id, &api_key);
    assert_eq!(temp_files(&keys), Vec::<String>::new());
    if left_by_last_kill > 0 {
        let summary = format!("removed {left_by_last_kill} temporary file(s)");
        assert!(
            server.log().contains(&summary),
            "no '{summary}' in:\n{}",
            server.log()
        );
    }
    let record = Arc::try_unwrap(record).ok().unwrap().into_inner().unwrap();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let deks_checked = rt.block_on(async {
        // Listed per round: one round stays below a listing page.
        let mut listed = BTreeSet::new();
        for round in 0..ROUNDS {
            listed.extend(client.list_keys(&format!("r{round}-*")).await.unwrap());
        }
        assert_eq!(listed, on_disk, "listing and directory differ");
        let missing: Vec<_> = record.created.difference(&listed).collect();
        assert!(missing.is_empty(), "created but lost: {missing:?}");
        let attempted: BTreeSet<_> = record.created.union(&record.unanswered).collect();
        let phantom: Vec<_> = listed.iter().filter(|n| !attempted.contains(n)).collect();
        assert!(phantom.is_empty(), "never created: {phantom:?}");
        // Every listed key loads: 16 at a time, as the creators wrote them.
        let names: Vec<String> = listed.iter().cloned().collect();
        for chunk in names.chunks(CREATORS) {
            let mut loads = tokio::task::JoinSet::new();
            for name in chunk {
                let (client, name) = (client.clone(), name.clone());
                loads.spawn(async move {
                    let dek = client.generate_key(&name, b"after the crash").await;
                    (name, dek.map(|d| d.plaintext.len()))
                });
            }
            while let Some(done) = loads.join_next().await {
                let (name, got) = done.unwrap();
                assert_eq!(got.unwrap_or_else(|e| panic!("{name}: {e}")), 32, "{name}");
            }
        }
        for (name, ciphertext, plaintext) in &record.deks {
            let got = client
                .decrypt(name, ciphertext, name.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("DEK of {name}: {e}"));
            assert_eq!(got.as_slice(), plaintext.as_slice(), "DEK of {name}");
        }
        record.deks.len()
    });
    drop(server);
    println!(
        "crash rounds: {ROUNDS} SIGKILLs during {CREATORS} concurrent creators; \
         creates answered 200: {}, unanswered: {}, keys on disk: {}, \
         temporary files left by the kills: {temp_left_by_kills} (0 after each start), \
         DEKs made before a kill and checked: {deks_checked}, \
         store opens (clean-ups) by another process during the creates: {}",
        record.created.len(),
        record.unanswered.len(),
        on_disk.len(),
        other_node_opens.into_inner().unwrap(),
    );
}
