//! The KMIP store against a real PyKMIP 0.11 server
//! (`kes_testpeers::pykmip`): the shared conformance suite in KMIP 2.0
//! (negotiated) and 1.4, version negotiation, 1.4 and 2.0 clients sharing
//! keys, prefixes, failover, outages and pooled connections, two nodes
//! creating one name at once,
//! start-up errors naming the bad field or
//! endpoint, and the create/get latency (printed; run with
//! `--nocapture` to see it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kes_keystore::kmip::{KmipKeyStore, KmipOptions};
use kes_keystore::testkit::{racing_creates, run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore};
use kes_testpeers::proxy::{FaultProxy, Mode};
use kes_testpeers::pykmip::PyKmip;
use kes_types::KeyName;

fn options(server: &PyKmip) -> KmipOptions {
    let files = server.client();
    KmipOptions {
        endpoints: vec![server.endpoint()],
        key: files.key.clone(),
        cert: files.cert.clone(),
        ca: Some(files.ca.clone()),
        version: None,
        prefix: "kes-".to_owned(),
    }
}

fn key(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

/// An endpoint nothing listens on.
fn dead_endpoint() -> String {
    format!("127.0.0.1:{}", kes_testpeers::free_port())
}

/// Negotiated: PyKMIP 0.11 offers 2.0 to 1.0 and picks the newest the
/// client offers, 2.0 (the KMIP 2.0 Attributes message shapes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_pykmip() {
    let server = PyKmip::start();
    let store = KmipKeyStore::connect(options(&server)).await.unwrap();
    assert_eq!(
        store.description(),
        format!("KMIP 2.0: {}", server.endpoint())
    );
    run_all(&store, &unique_prefix("kmip")).await.unwrap();
}

/// Configured 1.4: the newest 1.x (the Template-Attribute message shapes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_pykmip_in_1_4() {
    let server = PyKmip::start();
    let mut opts = options(&server);
    opts.version = Some((1, 4));
    let store = KmipKeyStore::connect(opts).await.unwrap();
    assert_eq!(
        store.description(),
        format!("KMIP 1.4: {}", server.endpoint())
    );
    run_all(&store, &unique_prefix("kmip14")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_version_prefixes_and_failover() {
    prefixes_and_failover((1, 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_version_2_0_prefixes_and_failover() {
    prefixes_and_failover((2, 0)).await;
}

/// Keys written in 1.4 are read, listed and deleted in 2.0 (and back): a
/// server's objects do not depend on the protocol version, so the
/// negotiated version moving from 1.4 to 2.0 loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_written_in_1_4_are_read_in_2_0() {
    let server = PyKmip::start();
    let mut opts = options(&server);
    opts.version = Some((1, 4));
    let old = KmipKeyStore::connect(opts.clone()).await.unwrap();
    opts.version = Some((2, 0));
    let new = KmipKeyStore::connect(opts).await.unwrap();
    old.create(&key("k1"), b"from 1.4").await.unwrap();
    new.create(&key("k2"), b"from 2.0").await.unwrap();
    assert_eq!(new.get(&key("k1")).await.unwrap().as_slice(), b"from 1.4");
    assert_eq!(old.get(&key("k2")).await.unwrap().as_slice(), b"from 2.0");
    assert_eq!(new.list("", "", 0).await.unwrap().names, ["k1", "k2"]);
    assert_eq!(old.list("", "", 0).await.unwrap().names, ["k1", "k2"]);
    let e = new.create(&key("k1"), b"again").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    new.delete(&key("k1")).await.unwrap();
    old.delete(&key("k2")).await.unwrap();
    assert!(old.list("", "", 0).await.unwrap().names.is_empty());
}

/// KMIP has no create-if-absent, so two nodes (two stores, each with its
/// own per-name lock) creating one name at once can both register an
/// object: exactly one create must succeed (both usually find two objects,
/// step back and try again; one then finds the other's), on eight fresh
/// names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_creating_one_name_at_once_leave_one_key() {
    let server = PyKmip::start();
    let a = KmipKeyStore::connect(options(&server)).await.unwrap();
    let b = KmipKeyStore::connect(options(&server)).await.unwrap();
    racing_creates(&a, &b, "kmip", 8).await.unwrap();
}

/// A configured `version` is spoken (proved at connect), prefixes keep
/// stores apart, a dead first endpoint fails over, a 32 KiB value
/// round-trips.
async fn prefixes_and_failover(version: (i32, i32)) {
    let server = PyKmip::start();
    let mut opts = options(&server);
    opts.version = Some(version);
    // The first endpoint is down: the second one serves.
    opts.endpoints = vec![dead_endpoint(), server.endpoint()];
    let a = KmipKeyStore::connect(opts.clone()).await.unwrap();
    let (major, minor) = version;
    assert!(
        a.description()
            .starts_with(&format!("KMIP {major}.{minor}: ")),
        "{}",
        a.description()
    );
    opts.prefix = "other-".to_owned();
    let b = KmipKeyStore::connect(opts).await.unwrap();

    a.create(&key("k1"), b"value of a").await.unwrap();
    b.create(&key("k1"), b"value of b").await.unwrap();
    b.create(&key("k2"), b"only b").await.unwrap();
    assert_eq!(a.get(&key("k1")).await.unwrap().as_slice(), b"value of a");
    assert_eq!(b.get(&key("k1")).await.unwrap().as_slice(), b"value of b");
    assert_eq!(a.list("", "", 0).await.unwrap().names, ["k1"]);
    assert_eq!(b.list("", "", 0).await.unwrap().names, ["k1", "k2"]);
    let e = a.get(&key("k2")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = a.delete(&key("k2")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    a.delete(&key("k1")).await.unwrap();
    assert_eq!(b.get(&key("k1")).await.unwrap().as_slice(), b"value of b");
    // A 32 KiB value with every byte value round-trips.
    let big: Vec<u8> = (0..32 * 1024).map(|i| (i % 251) as u8).collect();
    a.create(&key("big"), &big).await.unwrap();
    assert_eq!(a.get(&key("big")).await.unwrap().as_slice(), big.as_slice());
    a.delete(&key("big")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_name_the_problem() {
    let server = PyKmip::start();
    let connect_err = |opts: KmipOptions| async move {
        KmipKeyStore::connect(opts)
            .await
            .expect_err("connect must fail")
    };

    let mut opts = options(&server);
    opts.cert = PathBuf::from("/nonexistent/client.pem");
    let e = connect_err(opts).await;
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(
        e.to_string()
            .contains("kmip: tls.cert: cannot read /nonexistent/client.pem"),
        "{e}"
    );

    let mut opts = options(&server);
    opts.ca = Some(server.dir().join("client.pem"));
    let e = connect_err(opts).await;
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(!e.is_temporary(), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "discover versions: cannot connect: {}: TLS handshake: ",
            server.endpoint()
        )) && e.to_string().contains("not trusted: set `tls.ca`"),
        "{e}"
    );

    // A client certificate of a CA the server does not trust.
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".to_owned()]).unwrap();
    let dir = server.dir();
    std::fs::write(dir.join("stranger.pem"), stranger.cert.pem()).unwrap();
    std::fs::write(
        dir.join("stranger.key"),
        stranger.signing_key.serialize_pem(),
    )
    .unwrap();
    let mut opts = options(&server);
    opts.cert = dir.join("stranger.pem");
    opts.key = dir.join("stranger.key");
    let e = connect_err(opts).await;
    assert!(e.is_unreachable() && !e.is_temporary(), "{e:?}");
    assert!(
        e.to_string()
            .contains("the server refused the client certificate `tls.cert`"),
        "{e}"
    );

    let dead = dead_endpoint();
    let mut opts = options(&server);
    opts.endpoints = vec![dead.clone()];
    let e = connect_err(opts).await;
    assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("key store is not reachable: kmip: discover versions: cannot connect: {dead}: TCP connect:")),
        "{e}"
    );
}

/// A listing reads the names of more objects than one Get Attributes batch
/// (64) holds, and pages them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_span_several_batches() {
    let server = PyKmip::start();
    let store = KmipKeyStore::connect(options(&server)).await.unwrap();
    let mut want: Vec<String> = (0..100).map(|i| format!("many-{i:03}")).collect();
    for n in want.iter().rev() {
        store.create(&key(n), b"v").await.unwrap();
    }
    want.sort();
    assert_eq!(store.list("many-", "", 0).await.unwrap().names, want);
    let page = store.list("many-", "many-050", 30).await.unwrap();
    assert_eq!(page.names, want[50..80]);
    assert_eq!(page.next.as_deref(), Some("many-080"));
    let page = store.list("many-0", "many-090", 0).await.unwrap();
    assert_eq!(page.names, want[90..100]);
    assert_eq!(page.next, None);
}

/// An outage is an unreachable, temporary error naming the endpoint; a
/// pooled connection the outage cut is replaced on the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_are_unreachable_and_dead_connections_are_replaced() {
    let server = PyKmip::start();
    let proxy = FaultProxy::start(server.endpoint().parse().unwrap()).await;
    let mut opts = options(&server);
    opts.endpoints = vec![proxy.addr().to_string()];
    let store = KmipKeyStore::connect(opts).await.unwrap();
    store.create(&key("k"), b"v").await.unwrap();

    proxy.set(Mode::Outage);
    // The proxy closes its listener on its own task: wait for it, or the
    // connect may land in the closing listener's backlog and be reset.
    listening(&proxy, false).await;
    let e = store.get(&key("k")).await.unwrap_err();
    assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "get 'k': cannot connect: {}: TCP connect",
            proxy.addr()
        )),
        "{e}"
    );
    let e = store.status().await.unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    proxy.set(Mode::Pass);
    listening(&proxy, true).await;
    assert_eq!(store.get(&key("k")).await.unwrap().as_slice(), b"v");

    // Cut the pooled connection while idle: the next call reconnects.
    proxy.set(Mode::Outage);
    listening(&proxy, false).await;
    proxy.set(Mode::Pass);
    listening(&proxy, true).await;
    let before = proxy.accepted();
    assert_eq!(store.get(&key("k")).await.unwrap().as_slice(), b"v");
    assert_eq!(proxy.accepted(), before + 1);
    // ...and keeps using the new one.
    store.status().await.unwrap();
    store.delete(&key("k")).await.unwrap();
    assert_eq!(proxy.accepted(), before + 1);
}

/// Waits until the proxy accepts connections (`true`) or refuses them.
async fn listening(proxy: &FaultProxy, want: bool) {
    for _ in 0..200 {
        let seen = proxy.accepted();
        if tokio::net::TcpStream::connect(proxy.addr()).await.is_ok() == want {
            // Let the proxy count this probe before the caller counts.
            while want && proxy.accepted() == seen {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the proxy does not switch to listening: {want}");
}

/// Create and get latency against PyKMIP on loopback (sqlite in a temp
/// directory): the mean of 50 of each, and of one round trip, printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_get_latency() {
    let server = PyKmip::start();
    let store = KmipKeyStore::connect(options(&server)).await.unwrap();
    const N: u32 = 50;
    let names: Vec<KeyName> = (0..N).map(|i| key(&format!("lat-{i}"))).collect();
    let started = Instant::now();
    for n in &names {
        store.create(n, b"latency test value").await.unwrap();
    }
    let create = started.elapsed() / N;
    let started = Instant::now();
    for n in &names {
        store.get(n).await.unwrap();
    }
    let get = started.elapsed() / N;
    // One round trip (Discover Versions), the floor of both.
    let started = Instant::now();
    for _ in 0..N {
        store.status().await.unwrap();
    }
    let round_trip = started.elapsed() / N;
    println!(
        "KMIP (PyKMIP 0.11, loopback): create {create:?}/key (Locate + Register), get {get:?}/key (Locate + Get), one round trip {round_trip:?}, mean of {N}"
    );
    assert!(create < Duration::from_secs(5) && get < Duration::from_secs(5));
}
