//! Test helpers shared by the stores tested against in-process fakes
//! (`entrust.rs`, `gemalto.rs`, `fortanix.rs`, `azure.rs`; `gcp.rs` uses the
//! generic ones): key names, bounded waiting, connect failures, the
//! [`Appliance`] view of both vendor fakes and the checks both vendors'
//! stores must pass in the same way (conformance, tokens expiring mid-test,
//! one re-login for concurrent 401s, two retries of 5xx answers,
//! unreachable endpoints, untrusted certificates).

use std::time::Duration;

use kes_keystore::azure::fake::FakeKeyVault;
use kes_keystore::entrust::fake::FakeKeyControl;
use kes_keystore::fortanix::fake::FakeFortanix;
use kes_keystore::gemalto::fake::FakeCipherTrust;
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use kes_types::KeyName;

/// What the shared checks need of a vendor fake.
pub trait Appliance {
    /// The names of the stored secrets.
    fn names(&self) -> Vec<String>;
    /// Successful logins (Entrust, Fortanix), token exchanges (CipherTrust)
    /// or tokens issued (Azure).
    fn logins(&self) -> u64;
    /// Calls rejected for a missing, unknown or expired token.
    fn rejected_tokens(&self) -> u64;
    /// Invalidates every token issued so far.
    fn expire_all(&self);
    /// Answers the next `n` requests with 503.
    fn fail(&self, n: u32);
}

/// Implements [`Appliance`] for a fake whose stats count logins in field
/// `$logins`.
macro_rules! appliance {
    ($fake:ty, $logins:ident) => {
        impl Appliance for $fake {
            fn names(&self) -> Vec<String> {
                self.secret_names()
            }
            fn logins(&self) -> u64 {
                self.stats().$logins
            }
            fn rejected_tokens(&self) -> u64 {
                self.stats().rejected_tokens
            }
            fn expire_all(&self) {
                self.expire_tokens();
            }
            fn fail(&self, n: u32) {
                self.fail_next(n);
            }
        }
    };
}

appliance!(FakeKeyControl, logins);
appliance!(FakeCipherTrust, exchanges);
appliance!(FakeKeyVault, tokens);
appliance!(FakeFortanix, logins);

/// The conformance suite against a fresh store: it leaves no secret behind,
/// needs one login, and the description names the `vendor`.
pub async fn conforms(store: &dyn KeyStore, fake: &impl Appliance, tag: &str, vendor: &str) {
    if let Err(e) = run_all(store, &unique_prefix(tag)).await {
        panic!("{e}");
    }
    assert!(fake.names().is_empty(), "left behind: {:?}", fake.names());
    assert_eq!(fake.logins(), 1);
    assert!(
        store.description().contains(vendor),
        "{}",
        store.description()
    );
}

/// Every token the store holds becomes invalid mid-suite: the store logs in
/// again transparently.
pub async fn tokens_expiring_mid_test_are_renewed(
    store: &dyn KeyStore,
    fake: &impl Appliance,
    tag: &str,
) {
    let prefix = unique_prefix(tag);
    let n = key(&format!("{prefix}-k"));
    store.create(&n, b"before").await.unwrap();
    fake.expire_all();
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"before");
    assert_eq!(fake.logins(), 2);
    assert!(fake.rejected_tokens() >= 1);
    fake.expire_all();
    run_all(store, &prefix).await.unwrap();
    store.delete(&n).await.unwrap();
}

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

/// Eight concurrent reads of missing keys after every token expired: all
/// answer "not found", and the store logged in again once.
pub async fn concurrent_401s_log_in_once(store: &dyn KeyStore, fake: &impl Appliance) {
    fake.expire_all();
    let names: Vec<KeyName> = (0..8).map(|i| key(&format!("conc-{i}"))).collect();
    let results = futures_util::future::join_all(names.iter().map(|n| store.get(n))).await;
    for r in results {
        assert!(
            matches!(r, Err(ref e) if e.kind() == ErrorKind::NotFound),
            "{r:?}"
        );
    }
    assert_eq!(fake.logins(), 2);
}

/// Two 503 answers in a row are retried away, three are not.
pub async fn server_errors_are_retried_twice(store: &dyn KeyStore, fake: &impl Appliance) {
    let n = key("retry-me");
    store.create(&n, b"v").await.unwrap();
    fake.fail(2);
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"v");
    fake.fail(3);
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
