//! Injected faults (issue 13): an in-process server in front of a key store
//! that fails, hangs or goes away, and what clients see.
//!
//! The in-memory store wrapped in `kes_keystore::testkit::faults::FaultyStore`
//! (fast, deterministic) shows that with `cache.expiry.offline` set cached keys
//! serve generate/decrypt through an outage and a hang with no failed
//! request, that a hung store never holds a request past its route deadline,
//! that uncached keys fail fast with a documented error, and that everything
//! recovers without a restart. A real OpenBao behind
//! `kes_testpeers::proxy::FaultProxy` shows the same over the network, plus
//! an AppRole token that expires during the outage being replaced after it.
//!
//! Each phase prints its request counts (`--nocapture`), e.g.
//! `outage 3 s: 1234 generate/decrypt, 0 failed`; SECURITY.md quotes them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use http::Method;
use kes_keystore::mem::MemKeyStore;
use kes_keystore::testkit::faults::{Fault, Faults, FaultyStore};
use kes_keystore::vault::{AppRoleOptions, KvVersion, VaultAuth, VaultKeyStore, VaultOptions};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use kes_server::api::routes::RouteOverride;
use kes_server::cache::CacheConfig;
use kes_server::state::Settings;
use kes_testpeers::openbao::OpenBao;
use kes_testpeers::proxy::{FaultProxy, Mode};
use kes_testpeers::wait_until;
use zeroize::Zeroizing;

/// The route deadline configured for the key routes in these tests.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long each fault phase runs its request loop.
const PHASE: Duration = Duration::from_secs(3);
/// Connections running the request loop at once.
const WORKERS: usize = 4;
/// Bound on any single request in the loop: a hang counts as a failure.
const REQUEST_BOUND: Duration = Duration::from_secs(10);

fn unreachable() -> KeyStoreError {
    KeyStoreError::new(ErrorKind::Unreachable, "connection refused")
}

/// Test settings over `store`: `any` expiry every second (so that without
/// offline caching an outage would empty the cache within a second),
/// offline caching on or off, and a [`ROUTE_TIMEOUT`] deadline on the key
/// routes the tests call.
fn fault_settings(pki: &Pki, store: Arc<dyn KeyStore>, offline_caching: bool) -> Settings {
    let mut s = settings(pki, store);
    s.cache = CacheConfig {
        any: Duration::from_secs(1),
        unused: Duration::ZERO,
        offline: if offline_caching {
            Duration::from_secs(3600)
        } else {
            Duration::ZERO
        },
    };
    for route in [
        "/v1/key/create/",
        "/v1/key/generate/",
        "/v1/key/decrypt/",
        "/v1/key/describe/",
    ] {
        s.api.insert(
            route.to_owned(),
            RouteOverride {
                skip_auth: false,
                timeout: Some(ROUTE_TIMEOUT),
            },
        );
    }
    s.audit_level = kes_server::level::Level::OFF;
    s.error_level = kes_server::level::Level::ERROR;
    s
}

/// Request and failure counts of a load phase.
#[derive(Debug, Default)]
struct Tally {
    requests: AtomicU64,
    failed: AtomicU64,
    first_failure: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.first_failure.lock().unwrap().get_or_insert(why);
    }

    fn report(&self, what: &str) -> (u64, u64) {
        let (n, f) = (
            self.requests.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
        println!("{what}: {n} generate/decrypt, {f} failed");
        if let Some(why) = &*self.first_failure.lock().unwrap() {
            println!("  first failure: {why}");
        }
        (n, f)
    }
}

/// Runs generate + decrypt round trips on `keys` from [`WORKERS`] HTTP/2
/// connections for `dur`, counting every request and every failure (any
/// status but 200, a wrong plaintext, a transport error, or no answer
/// within [`REQUEST_BOUND`]).
async fn load(srv: &TestServer, pki: &Pki, keys: &[&str], dur: Duration) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let end = Instant::now() + dur;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let mut client = Client::new(srv.addr, &pki.admin);
        client.h2 = true;
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        let tally = Arc::clone(&tally);
        tasks.push(tokio::spawn(async move {
            let mut conn = client.conn().await.expect("connect");
            let mut i = w;
            while Instant::now() < end {
                let key = &keys[i % keys.len()];
                i += 1;
                if let Err(why) = round_trip(&mut conn, key, &tally).await {
                    tally.fail(why);
                    // A broken connection is replaced; the failure is counted.
                    if let Ok(c) = client.conn().await {
                        conn = c;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tally
}

/// One generate and one decrypt with the returned ciphertext.
async fn round_trip(conn: &mut Conn, key: &str, tally: &Tally) -> Result<(), String> {
    tally.requests.fetch_add(1, Ordering::Relaxed);
    let dek = bounded(conn.request(
        Method::POST,
        &format!("/v1/key/generate/{key}"),
        Some(br#"{"context":"e30="}"#),
    ))
    .await?;
    if dek.status != 200 {
        return Err(format!("generate {key}: {} {}", dek.status, dek.text()));
    }
    let dek = dek.json();
    let body = serde_json::json!({"ciphertext": dek["ciphertext"], "context": "e30="});
    tally.requests.fetch_add(1, Ordering::Relaxed);
    let pt = bounded(conn.request(
        Method::POST,
        &format!("/v1/key/decrypt/{key}"),
        Some(body.to_string().as_bytes()),
    ))
    .await?;
    if pt.status != 200 {
        return Err(format!("decrypt {key}: {} {}", pt.status, pt.text()));
    }
    if pt.json()["plaintext"] != dek["plaintext"] {
        return Err(format!("decrypt {key}: wrong plaintext"));
    }
    Ok(())
}

async fn bounded(
    fut: impl std::future::Future<Output = Result<Resp, String>>,
) -> Result<Resp, String> {
    tokio::time::timeout(REQUEST_BOUND, fut)
        .await
        .map_err(|_| format!("no answer within {REQUEST_BOUND:?}"))?
}

/// Creates `keys` and reads each once (so it is cached).
async fn create_and_warm(c: &Client, keys: &[&str]) {
    for k in keys {
        c.post(&format!("/v1/key/create/{k}"), "")
            .await
            .assert_empty_ok();
    }
    warm(c, keys).await;
}

async fn warm(c: &Client, keys: &[&str]) {
    for k in keys {
        let r = c.get(&format!("/v1/key/describe/{k}")).await;
        assert_eq!(r.status, 200, "describe {k}: {}", r.text());
    }
}

/// Whether all of `keys`, read just before, are still cached. The cache
/// only ever drops all entries at once (no `unused` expiry, no delete
/// here), and nothing else is read meanwhile, so it still holds them iff it
/// holds at least as many entries.
fn still_cached(srv: &TestServer, keys: &[&str]) -> bool {
    srv.server.state().cache.len() >= keys.len()
}

/// Sets `fault` on every operation such that all of `keys` are cached
/// when it takes effect. The `any` expiry empties the cache every second
/// while the store is up; once the fault is set, every later expiry finds
/// the store down and keeps the entries. Only an expiry whose probe ran
/// just before the fault was set can still empty it: then the fault is
/// lifted, the keys are read again, and the fault set again.
async fn set_fault_with_warm_cache(
    srv: &TestServer,
    c: &Client,
    faults: &Faults,
    fault: Fault,
    keys: &[&str],
) {
    for _ in 0..20 {
        warm(c, keys).await;
        faults.set_all(fault.clone());
        // An expiry that probed just before the fault clears right after
        // its probe returned; wait that out, then look.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if still_cached(srv, keys) {
            return;
        }
        faults.clear();
    }
    panic!(
        "could not set the fault with all {} keys cached",
        keys.len()
    );
}

/// The server is fully back: `/v1/ready` answers 200, creates work and
/// uncached keys load.
async fn assert_recovered(c: &Client, tag: &str) {
    wait_until(
        "/v1/ready to answer 200",
        Duration::from_secs(20),
        || async { c.get("/v1/ready").await.status == 200 },
    )
    .await;
    let key = format!("after-{tag}");
    c.post(&format!("/v1/key/create/{key}"), "")
        .await
        .assert_empty_ok();
    let r = c
        .post(&format!("/v1/key/generate/{key}"), r#"{"context":"e30="}"#)
        .await;
    assert_eq!(r.status, 200, "generate {key}: {}", r.text());
}

/// Starts a server over a fault-injecting in-memory store with two cached
/// keys.
async fn server_with_faults(
    pki: &Pki,
    offline_caching: bool,
) -> (TestServer, Faults, Client, [&'static str; 2]) {
    let (store, faults) = FaultyStore::wrap(Arc::new(MemKeyStore::new()));
    let srv = TestServer::start(fault_settings(pki, store, offline_caching)).await;
    let c = Client::new(srv.addr, &pki.admin);
    let keys = ["cached-1", "cached-2"];
    create_and_warm(&c, &keys).await;
    (srv, faults, c, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_serve_through_a_store_outage_and_recover() {
    let pki = Pki::new();
    let (srv, faults, c, keys) = server_with_faults(&pki, true).await;

    set_fault_with_warm_cache(&srv, &c, &faults, Fault::Fail(unreachable()), &keys).await;
    let tally = load(&srv, &pki, &keys, PHASE).await;
    let (n, failed) = tally.report("store outage 3 s (fault wrapper, offline caching on)");
    assert_eq!(failed, 0);
    assert!(n > 0);
    // The outage is visible where it should be.
    let s = c.get("/v1/status").await.json();
    assert_eq!(s["keystore_unreachable"], true);
    assert_eq!(c.get("/v1/ready").await.status, 504);

    faults.clear();
    assert_recovered(&c, "outage").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_serve_through_a_store_hang_and_recover() {
    let pki = Pki::new();
    let (srv, faults, c, keys) = server_with_faults(&pki, true).await;

    set_fault_with_warm_cache(&srv, &c, &faults, Fault::Hang, &keys).await;
    let tally = load(&srv, &pki, &keys, PHASE).await;
    let (n, failed) = tally.report("store hang 3 s (fault wrapper, offline caching on)");
    assert_eq!(failed, 0);
    assert!(n > 0);

    faults.clear();
    assert_recovered(&c, "hang").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_offline_caching_an_outage_empties_the_cache() {
    // The control for the two tests above: the same outage with
    // `cache.expiry.offline` unset loses the cached keys at the next
    // `any` expiry (within a second).
    let pki = Pki::new();
    let (srv, faults, c, keys) = server_with_faults(&pki, false).await;
    faults.set_all(Fault::Fail(unreachable()));
    let tally = load(&srv, &pki, &keys, PHASE).await;
    let (_, failed) = tally.report("store outage 3 s (fault wrapper, offline caching off)");
    assert!(failed > 0, "the cache should have been emptied");
    faults.clear();
    assert_recovered(&c, "control").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_store_never_holds_a_request_past_its_route_timeout() {
    let pki = Pki::new();
    let (srv, faults, c, _) = server_with_faults(&pki, true).await;
    faults.set_all(Fault::Hang);
    // A miss (generate on an uncached key), a create, and a describe each
    // end at the route deadline with the documented 503.
    let calls: [(Method, &str, &[u8]); 3] = [
        (
            Method::POST,
            "/v1/key/generate/never-cached",
            br#"{"context":"e30="}"#,
        ),
        (Method::POST, "/v1/key/create/during-hang", b""),
        (Method::GET, "/v1/key/describe/never-cached", b""),
    ];
    for (method, path, body) in calls {
        let started = Instant::now();
        let r = tokio::time::timeout(
            REQUEST_BOUND,
            c.call(method.clone(), path, Some(body).filter(|b| !b.is_empty())),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within {REQUEST_BOUND:?}"));
        let took = started.elapsed();
        println!(
            "{method} {path} with a hung store: {} after {took:.2?}",
            r.status
        );
        r.assert_error(503, "request timeout exceeded");
        assert!(took >= ROUTE_TIMEOUT, "{path} answered before the deadline");
    }
    // The hung store calls were abandoned, not left holding anything:
    // after the hang everything works.
    faults.clear();
    assert_recovered(&c, "timeout").await;
    c.post("/v1/key/create/during-hang", "")
        .await
        .assert_empty_ok();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncached_keys_fail_fast_during_an_outage() {
    let pki = Pki::new();
    let (srv, faults, c, _) = server_with_faults(&pki, true).await;
    faults.set_all(Fault::Fail(unreachable()));
    let calls: [(Method, &str, &[u8], &str); 4] = [
        (
            Method::POST,
            "/v1/key/generate/never-cached",
            br#"{"context":"e30="}"#,
            "failed to read key",
        ),
        (
            Method::GET,
            "/v1/key/describe/never-cached",
            b"",
            "failed to read key",
        ),
        (
            Method::POST,
            "/v1/key/create/during-outage",
            b"",
            "failed to create key",
        ),
        (Method::GET, "/v1/key/list/*", b"", "failed to list keys"),
    ];
    for (method, path, body, message) in calls {
        let started = Instant::now();
        let r = c
            .call(method.clone(), path, Some(body).filter(|b| !b.is_empty()))
            .await;
        let took = started.elapsed();
        println!(
            "{method} {path} during an outage: {} after {took:.2?}",
            r.status
        );
        r.assert_error(502, message);
        // Fast: well before the route deadline (a generous bound for a
        // loaded machine; the answer does not wait for anything).
        assert!(took < ROUTE_TIMEOUT, "{path} took {took:?}");
    }
    faults.clear();
    assert_recovered(&c, "uncached").await;
    srv.stop().await;
}

// ------------------------------------------------------- real OpenBao

/// AppRole role whose tokens live 2 s (renewed at about 1 s), so that an
/// outage of 4 s outlives the token.
const SHORT_ROLE: (&str, &str) = ("short-role-id", "short-secret-id");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_behind_a_fault_proxy_outage_hang_and_token_expiry() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    bao.add_approle_role(None, "short", SHORT_ROLE.0, SHORT_ROLE.1, "2s", "1h")
        .await;
    let proxy = FaultProxy::start(([127, 0, 0, 1], bao.port).into()).await;

    let mut o = VaultOptions::new(
        proxy.url(),
        VaultAuth::AppRole(AppRoleOptions {
            id: Zeroizing::new(SHORT_ROLE.0.into()),
            secret: Zeroizing::new(SHORT_ROLE.1.into()),
            ..Default::default()
        }),
    );
    o.engine = "kv1".into();
    o.version = KvVersion::V1;
    o.prefix = "kes".into();
    // A black-holed request gives up after 1 s (instead of 10 s), so
    // status probes and misses fail within the route deadline.
    o.request_timeout = Duration::from_secs(1);
    let vault = Arc::new(VaultKeyStore::connect(o).await.unwrap());

    let pki = Pki::new();
    let srv = TestServer::start(fault_settings(&pki, vault.clone(), true)).await;
    let c = Client::new(srv.addr, &pki.admin);
    let keys = ["bao-1", "bao-2"];
    create_and_warm(&c, &keys).await;

    for (mode, what) in [
        (Mode::Outage, "OpenBao outage 4 s (proxy refuses and drops)"),
        (Mode::Blackhole, "OpenBao hang 4 s (proxy black hole)"),
    ] {
        // As with the fault wrapper: retry until the fault starts with both
        // keys cached (an expiry that probed just before may empty it).
        let mut armed = false;
        for _ in 0..20 {
            warm(&c, &keys).await;
            proxy.set(mode);
            tokio::time::sleep(Duration::from_millis(200)).await;
            if still_cached(&srv, &keys) {
                armed = true;
                break;
            }
            proxy.set(Mode::Pass);
        }
        assert!(armed, "could not start the {mode:?} with both keys cached");
        let logins_before = vault.auth_stats().logins;

        let tally = load(&srv, &pki, &keys, Duration::from_secs(4)).await;
        let (n, failed) = tally.report(what);
        assert_eq!(failed, 0);
        assert!(n > 0);
        // An uncached key fails, within the route deadline.
        let started = Instant::now();
        let r = c
            .post("/v1/key/generate/never-cached", r#"{"context":"e30="}"#)
            .await;
        let took = started.elapsed();
        println!(
            "  uncached key during the {mode:?}: {} after {took:.2?}",
            r.status
        );
        assert!(matches!(r.status.as_u16(), 502 | 503), "{}", r.text());
        assert!(took < ROUTE_TIMEOUT + Duration::from_secs(1), "{took:?}");

        proxy.set(Mode::Pass);
        // The 2 s token expired during the 4 s fault: creating a key needs
        // a new one, obtained by logging in again.
        assert_recovered(&c, &format!("{mode:?}").to_lowercase()).await;
        let logins_after = vault.auth_stats().logins;
        println!("  AppRole logins: {logins_before} before, {logins_after} after");
        assert!(
            logins_after > logins_before,
            "the token that expired during the {mode:?} was not replaced: {:?}",
            vault.auth_stats()
        );
    }
    println!("proxy accepted {} connections", proxy.accepted());
    srv.stop().await;
}
