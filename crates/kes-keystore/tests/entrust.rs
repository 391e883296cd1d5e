//! The Entrust KeyControl store against the in-process FAKE of the
//! KeyControl REST API (`kes_keystore::entrust::fake`): the shared
//! conformance suite, session expiry and renewal, start-up errors, retries
//! and the stored format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kes_keystore::entrust::fake::{FakeKeyControl, KeyControlFakeConfig};
use kes_keystore::entrust::{EntrustKeyStore, KeyControlOptions};
use kes_keystore::testkit::fake::FakePki;
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use zeroize::Zeroizing;

mod common;
use common::{assert_unreachable, assert_untrusted, dead_endpoint, eventually, expect_err, key};

async fn fake() -> FakeKeyControl {
    FakeKeyControl::start(KeyControlFakeConfig::default())
        .await
        .unwrap()
}

async fn connect_err(opts: KeyControlOptions) -> KeyStoreError {
    expect_err(EntrustKeyStore::connect(opts).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_the_fake() {
    let fake = fake().await;
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    common::conforms(&store, &fake, "entrust", "Entrust KeyControl").await;
}

/// The box may be given by id as well as by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_the_box_id() {
    let cfg = KeyControlFakeConfig::default();
    let box_id = cfg.box_id.clone();
    let fake = FakeKeyControl::start(cfg).await.unwrap();
    let store = EntrustKeyStore::connect(KeyControlOptions {
        box_id,
        ..fake.options()
    })
    .await
    .unwrap();
    run_all(&store, &unique_prefix("entrust-id")).await.unwrap();
}

/// Every token the store holds becomes invalid mid-suite: the store logs in
/// again transparently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiring_mid_test_is_renewed() {
    let fake = fake().await;
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    common::tokens_expiring_mid_test_are_renewed(&store, &fake, "entrust-exp").await;
    assert!(fake.stats().logins >= 3);
}

/// Concurrent calls hitting an expired session log in once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_log_in_once() {
    let fake = fake().await;
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    common::concurrent_401s_log_in_once(&store, &fake).await;
}

/// With a one-second session the store renews in the background and keeps
/// working through several lifetimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_sessions_are_renewed_in_the_background() {
    let fake = FakeKeyControl::start(KeyControlFakeConfig {
        token_lifetime: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    let prefix = unique_prefix("entrust-short");
    run_all(&store, &prefix).await.unwrap();
    eventually("two renewals", || fake.stats().renewals >= 2).await;
    run_all(&store, &prefix).await.unwrap();
    store.status().await.unwrap();
}

#[tokio::test]
async fn wrong_password_names_the_problem() {
    let fake = fake().await;
    let e = connect_err(KeyControlOptions {
        password: Zeroizing::new("not-the-password".into()),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("wrong username or password"), "{msg}");
    assert!(!msg.contains("not-the-password"), "{msg}");
    assert_eq!(fake.stats().failed_logins, 1);
}

#[tokio::test]
async fn wrong_vault_id_names_the_problem() {
    let fake = fake().await;
    let e = connect_err(KeyControlOptions {
        vault_id: "00000000-0000-0000-0000-000000000000".into(),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("vault_id"), "{msg}");
    assert!(msg.contains("no such vault"), "{msg}");
    // (A vault id that does not fit the login path is the config decoder's
    // error: entrust/config.rs.)
}

#[tokio::test]
async fn wrong_box_id_names_the_problem() {
    let fake = fake().await;
    let e = connect_err(KeyControlOptions {
        box_id: "no-such-box".into(),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("box_id \"no-such-box\""), "{msg}");
    assert!(msg.contains("no such box"), "{msg}");
}

#[tokio::test]
async fn unreachable_appliance_names_the_problem() {
    let endpoint = dead_endpoint();
    let fake = fake().await;
    let e = connect_err(KeyControlOptions {
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
    let e = connect_err(KeyControlOptions {
        ca: Some(other.ca_file().to_path_buf()),
        ..fake.options()
    })
    .await;
    assert_untrusted(&e);
    assert!(e.to_string().contains("tls.ca"), "{e}");
    // Without the CA (system roots only) the certificate is untrusted too.
    let e = connect_err(KeyControlOptions {
        ca: None,
        ..fake.options()
    })
    .await;
    assert!(e.to_string().contains("not trusted"), "{e}");
}

#[tokio::test]
async fn server_errors_are_retried_twice() {
    let fake = fake().await;
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    common::server_errors_are_retried_twice(&store, &fake).await;
    assert_eq!(fake.stats().injected_failures, 5);
}

/// The value is stored as base64 in `secret_data` (Go KES's `[]byte`
/// encoding), so keys written by Go KES read back and vice versa.
#[tokio::test]
async fn stored_format_matches_go_kes() {
    let fake = fake().await;
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    let value = b"CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAE=";
    store.create(&key("ours"), value).await.unwrap();
    assert_eq!(
        fake.raw_secret("ours").unwrap(),
        STANDARD.encode(value.as_slice())
    );
    fake.insert_raw("theirs", &STANDARD.encode(b"written by go"));
    assert_eq!(
        store.get(&key("theirs")).await.unwrap().as_slice(),
        b"written by go"
    );
}

/// Expired secrets are not listed; listings hold no empty names.
#[tokio::test]
async fn listings_skip_expired_secrets() {
    let fake = fake().await;
    let store = EntrustKeyStore::connect(fake.options()).await.unwrap();
    for n in ["ls-a", "ls-b", "ls-c", "ls-d"] {
        store.create(&key(n), b"v").await.unwrap();
    }
    assert!(fake.expire_secret("ls-b"));
    let page = store.list("ls-", "", 0).await.unwrap();
    assert_eq!(page.names, ["ls-a", "ls-c", "ls-d"]);
    assert_eq!(page.next, None);
    let page = store.list("ls-", "", 1).await.unwrap();
    assert_eq!(page.names, ["ls-a"]);
    assert_eq!(page.next.as_deref(), Some("ls-c"));
    let page = store.list("", "", 0).await.unwrap();
    assert!(page.names.iter().all(|n| !n.is_empty()), "{page:?}");
}

#[tokio::test]
async fn credentials_are_not_in_debug() {
    let fake = fake().await;
    let opts = fake.options();
    let password = opts.password.to_string();
    assert!(!format!("{opts:?}").contains(&password));
    let store = EntrustKeyStore::connect(opts).await.unwrap();
    let dbg = format!("{store:?}");
    assert!(!dbg.contains(&password), "{dbg}");
    assert!(dbg.contains("EntrustKeyStore"), "{dbg}");
}
