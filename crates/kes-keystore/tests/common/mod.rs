//! Test helpers shared by the appliance store tests (`entrust.rs`,
//! `gemalto.rs`): key names, bounded waiting, connect failures and the
//! checks both vendors' stores must pass in the same way (one re-login for
//! concurrent 401s, two retries of 5xx answers, unreachable endpoints).

use std::time::Duration;

use kes_keystore::{KeyStore, KeyStoreError};
use kes_types::KeyName;

/// `s` as a key name.
pub fn key(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

/// The error of a `connect` that must fail.
pub fn expect_err<T: std::fmt::Debug>(result: Result<T, KeyStoreError>) -> KeyStoreError {
    match result {
        Ok(s) => panic!("connect succeeded: {s:?}"),
        Err(e) => e,
    }
}

/// Waits (bounded) until `cond` holds; the bound is a safety net, not an
/// assertion on timing.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

/// Eight concurrent reads of missing keys (after the fake expired every
/// token): all answer "not found".
pub async fn concurrent_gets_find_nothing(store: &dyn KeyStore) {
    let names: Vec<KeyName> = (0..8).map(|i| key(&format!("conc-{i}"))).collect();
    let results = futures_util::future::join_all(names.iter().map(|n| store.get(n))).await;
    for r in results {
        assert!(matches!(r, Err(KeyStoreError::NotFound)), "{r:?}");
    }
}

/// Two 503 answers in a row are retried away, three are not; `fail_next`
/// makes the fake answer its next `n` requests with 503.
pub async fn server_errors_are_retried_twice(store: &dyn KeyStore, fail_next: impl Fn(u32)) {
    let n = key("retry-me");
    store.create(&n, b"v").await.unwrap();
    fail_next(2);
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"v");
    fail_next(3);
    let e = store.get(&n).await.unwrap_err();
    assert!(e.to_string().contains("HTTP 503"), "{e}");
}

/// An `https://127.0.0.1:<port>` endpoint nothing listens on (a port that
/// was just free).
pub fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("https://127.0.0.1:{port}")
}

/// `e` says that `endpoint` cannot be connected to.
pub fn assert_unreachable(e: &KeyStoreError, endpoint: &str) {
    assert!(e.is_unreachable(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("cannot connect"), "{msg}");
    assert!(msg.contains(endpoint), "{msg}");
}

/// `e` says the appliance's certificate is not trusted.
pub fn assert_untrusted(e: &KeyStoreError) {
    let msg = e.to_string();
    assert!(msg.contains("TLS handshake"), "{msg}");
    assert!(msg.contains("not trusted"), "{msg}");
}
