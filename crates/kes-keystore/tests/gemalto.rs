//! The CipherTrust Manager (Gemalto KeySecure) store against the in-process
//! FAKE of the CipherTrust REST API (`kes_keystore::gemalto::fake`): the
//! shared conformance suite, JWT expiry and renewal, start-up errors, paging,
//! retries and the stored format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use kes_keystore::gemalto::fake::{CipherTrustFakeConfig, FakeCipherTrust};
use kes_keystore::gemalto::{KeySecureKeyStore, KeySecureOptions};
use kes_keystore::testkit::fake::FakePki;
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use zeroize::Zeroizing;

mod common;
use common::{assert_unreachable, assert_untrusted, dead_endpoint, eventually, expect_err, key};

async fn fake() -> FakeCipherTrust {
    FakeCipherTrust::start(CipherTrustFakeConfig::default())
        .await
        .unwrap()
}

async fn connect_err(opts: KeySecureOptions) -> KeyStoreError {
    expect_err(KeySecureKeyStore::connect(opts).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_the_fake() {
    let fake = fake().await;
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    common::conforms(&store, &fake, "ciphertrust", "CipherTrust Manager").await;
}

/// 450 secrets of other applications (more than two pages of 200, in
/// creation order) surround KES's keys: listings page through all of them,
/// filter and sort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_among_many_foreign_secrets() {
    let fake = FakeCipherTrust::start(CipherTrustFakeConfig {
        domain: "tenant-a".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for i in (0..450).rev() {
        fake.insert_raw(&format!("other-app-{i:03}"), "password", "hunter2");
    }
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    run_all(&store, &unique_prefix("ciphertrust-many"))
        .await
        .unwrap();
    let before = fake.stats().list_pages;
    let page = store.list("other-app-", "other-app-100", 3).await.unwrap();
    assert_eq!(
        page.names,
        ["other-app-100", "other-app-101", "other-app-102"]
    );
    assert_eq!(page.next.as_deref(), Some("other-app-103"));
    // Three pages (200 + 200 + 50), no trailing empty request.
    assert_eq!(fake.stats().list_pages - before, 3);
    assert_eq!(fake.secret_names().len(), 450);
}

/// Every JWT becomes invalid mid-suite: the store exchanges the refresh
/// token again transparently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_expiring_mid_test_is_renewed() {
    let fake = fake().await;
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    common::tokens_expiring_mid_test_are_renewed(&store, &fake, "ciphertrust-exp").await;
}

/// Concurrent calls hitting an expired JWT exchange once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_exchange_once() {
    let fake = fake().await;
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    common::concurrent_401s_log_in_once(&store, &fake).await;
}

/// With one-second JWTs the store renews at half the lifetime in the
/// background and keeps working through several lifetimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_jwts_are_renewed_in_the_background() {
    let fake = FakeCipherTrust::start(CipherTrustFakeConfig {
        jwt_lifetime: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    let prefix = unique_prefix("ciphertrust-short");
    run_all(&store, &prefix).await.unwrap();
    eventually("two renewals", || fake.stats().exchanges >= 3).await;
    run_all(&store, &prefix).await.unwrap();
}

#[tokio::test]
async fn wrong_refresh_token_names_the_problem() {
    let fake = fake().await;
    let e = connect_err(KeySecureOptions {
        token: Zeroizing::new("not-the-token".into()),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("rejected the refresh token"), "{msg}");
    assert!(msg.contains("Invalid refresh token"), "{msg}");
    assert!(!msg.contains("not-the-token"), "{msg}");
}

#[tokio::test]
async fn wrong_domain_names_the_problem() {
    let fake = fake().await;
    let e = connect_err(KeySecureOptions {
        domain: "other".into(),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    assert!(e.to_string().contains("domain \"other\""), "{e}");
}

#[tokio::test]
async fn unreachable_appliance_names_the_problem() {
    let endpoint = dead_endpoint();
    let fake = fake().await;
    let e = connect_err(KeySecureOptions {
        endpoint: endpoint.clone(),
        ..fake.options()
    })
    .await;
    assert_unreachable(&e, &endpoint);
}

#[tokio::test]
async fn untrusted_certificate_is_a_clear_tls_error() {
    let fake = fake().await;
    let other = FakePki::generate().unwrap();
    let e = connect_err(KeySecureOptions {
        ca: Some(other.ca_file().to_path_buf()),
        ..fake.options()
    })
    .await;
    assert_untrusted(&e);
}

/// (Missing fields are the config decoder's errors, with file:line:
/// gemalto/config.rs and kes-server's config tests.)
#[tokio::test]
async fn unreadable_ca_is_named() {
    let fake = fake().await;
    let e = connect_err(KeySecureOptions {
        ca: Some("/nonexistent/ca.pem".into()),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}

#[tokio::test]
async fn server_errors_are_retried_twice() {
    let fake = fake().await;
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    common::server_errors_are_retried_twice(&store, &fake).await;
    // The status probe: any HTTP answer means reachable.
    fake.fail_next(3);
    store.status().await.unwrap();
}

/// The value is stored verbatim as `material` of a `seed` secret, so keys
/// written by Go KES read back and vice versa; binary values are refused.
#[tokio::test]
async fn stored_format_matches_go_kes() {
    let fake = fake().await;
    let store = KeySecureKeyStore::connect(fake.options()).await.unwrap();
    let value = b"CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAE=";
    store.create(&key("ours"), value).await.unwrap();
    assert_eq!(fake.raw_secret("ours").unwrap().as_bytes(), value);
    fake.insert_raw("theirs", "seed", "written by go");
    assert_eq!(
        store.get(&key("theirs")).await.unwrap().as_slice(),
        b"written by go"
    );
    let e = store.create(&key("binary"), &[0, 0xff]).await.unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    // Deleting a missing secret succeeds (404 means missing or forbidden).
    store.delete(&key("never-there")).await.unwrap();
}

#[tokio::test]
async fn credentials_are_not_in_debug() {
    let fake = fake().await;
    let opts = fake.options();
    let token = opts.token.to_string();
    assert!(!format!("{opts:?}").contains(&token));
    let store = KeySecureKeyStore::connect(opts).await.unwrap();
    assert!(!format!("{store:?}").contains(&token));
}
