//! Runs the shared conformance suite (`kes_keystore::testkit`) against the
//! in-memory and the filesystem key stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kes_keystore::KeyStore;
use kes_keystore::fs::FsKeyStore;
use kes_keystore::mem::MemKeyStore;
use kes_keystore::testkit::{self, run_all, unique_prefix};

#[tokio::test]
async fn mem_store_conforms() {
    let store = MemKeyStore::new();
    if let Err(e) = run_all(&store, &unique_prefix("mem")).await {
        panic!("{e}");
    }
    assert!(store.is_empty(), "the suite left keys behind: {store:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsKeyStore::open(dir.path().join("keys")).unwrap();
    if let Err(e) = run_all(&store, &unique_prefix("fs")).await {
        panic!("{e}");
    }
    let left: Vec<_> = std::fs::read_dir(store.path()).unwrap().collect();
    assert!(left.is_empty(), "the suite left files behind: {left:?}");
}

/// Two suites sharing one store at once (as remote stores are shared) do not
/// disturb each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suites_can_share_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn KeyStore> = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let mem: Arc<dyn KeyStore> = Arc::new(MemKeyStore::new());
    for store in [fs, mem] {
        let (pa, pb) = (unique_prefix("a"), unique_prefix("b"));
        let (a, b) = tokio::join!(run_all(store.as_ref(), &pa), run_all(store.as_ref(), &pb));
        a.unwrap();
        b.unwrap();
    }
}

/// The individual checks are public so a backend can run a subset.
#[tokio::test]
async fn checks_run_individually() {
    let store = MemKeyStore::new();
    let p = unique_prefix("one");
    testkit::create_get_delete(&store, &p).await.unwrap();
    testkit::create_twice_fails(&store, &p).await.unwrap();
    testkit::get_missing(&store, &p).await.unwrap();
    testkit::delete_missing(&store, &p).await.unwrap();
    testkit::list_prefix_and_paging(&store, &p).await.unwrap();
    testkit::list_empty(&store, &p).await.unwrap();
    testkit::concurrent_creates(&store, &p).await.unwrap();
    testkit::name_at_length_limit(&store, &p).await.unwrap();
    testkit::values_round_trip(&store, &p).await.unwrap();
    testkit::status_ok(&store, &p).await.unwrap();
}
