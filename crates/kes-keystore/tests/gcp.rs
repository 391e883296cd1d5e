//! The GCP Secret Manager store against the real drongo emulator (PyPI
//! `drongo`, REST v1, installed into the project-local venv on first use;
//! if that fails the tests fail): the shared conformance suite without
//! credentials (emulator mode) and with a service account whose tokens come
//! from the in-process fake token endpoint (`kes_keystore::gcp::fake`), how
//! values are stored (automatic replication, version 1), a secret left
//! without a version, two nodes creating one name at once, token renewal and
//! the one new token after a 401, paging with small pages, an outage, and
//! start-up errors that name the problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kes_keystore::gcp::fake::{FakeGoogle, FakeGoogleConfig};
use kes_keystore::gcp::{GcpCredentials, GcpKeyStore, GcpOptions};
use kes_keystore::testkit::{racing_creates, run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore};
use kes_testpeers::JsonHttp;
use kes_testpeers::drongo::Drongo;
use serde_json::json;
use zeroize::Zeroizing;

#[allow(
    dead_code,
    reason = "the GCP tests use the generic helpers, not the appliance checks"
)]
mod common;
use common::{dead_endpoint, eventually, expect_err, key};

const PROJECT: &str = "kes-test";
/// A throw-away RSA key made for these tests (`openssl genpkey`).
const TEST_KEY: &str = include_str!("data/gcp-test-key.pem");

/// Emulator mode: an `http://` endpoint and no credentials.
fn emulator(endpoint: &str) -> GcpOptions {
    GcpOptions {
        project_id: PROJECT.into(),
        endpoint: Some(endpoint.into()),
        scopes: Vec::new(),
        credentials: None,
    }
}

/// A service account whose tokens come from `token_uri`.
fn with_account(endpoint: &str, token_uri: &str) -> GcpOptions {
    GcpOptions {
        credentials: Some(GcpCredentials {
            client_email: "kes@kes-test.iam.gserviceaccount.com".into(),
            client_id: "1134".into(),
            private_key_id: "3815".into(),
            private_key: Zeroizing::new(TEST_KEY.into()),
            token_uri: Some(token_uri.into()),
        }),
        ..emulator(endpoint)
    }
}

async fn google(cfg: FakeGoogleConfig) -> FakeGoogle {
    FakeGoogle::start(cfg).await.unwrap()
}

/// The secret IDs drongo holds for the project.
async fn secret_ids(api: &JsonHttp) -> Vec<String> {
    let v = api
        .call("GET", &format!("/v1/projects/{PROJECT}/secrets"), &[], None)
        .await;
    v["secrets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    s["name"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_drongo_as_an_emulator() {
    let drongo = Drongo::start();
    let store = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    if let Err(e) = run_all(&store, &unique_prefix("gcp")).await {
        panic!("{e}");
    }
    assert!(secret_ids(&JsonHttp::new(&drongo.url())).await.is_empty());
    assert_eq!(
        store.description(),
        format!("GCP SecretManager: {} (project kes-test)", drongo.url())
    );
}

/// With a service account every call carries a token from the token
/// endpoint; one token serves the whole suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_a_service_account() {
    let drongo = Drongo::start();
    let tokens = google(FakeGoogleConfig::default()).await;
    let store = GcpKeyStore::connect(with_account(&drongo.url(), &tokens.token_uri()))
        .await
        .unwrap();
    run_all(&store, &unique_prefix("gcp-sa")).await.unwrap();
    assert_eq!(tokens.stats().tokens, 1);
    let a = tokens.last_assertion().unwrap();
    assert_eq!(
        a.header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "3815"})
    );
    assert_eq!(a.claims["iss"], "kes@kes-test.iam.gserviceaccount.com");
    assert_eq!(
        a.claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(a.claims["aud"], tokens.token_uri());
    assert!(!format!("{store:?}").contains("PRIVATE"), "{store:?}");
}

/// The value is the secret's version 1, base64 in the REST payload; the
/// secret is created with automatic replication; a newer version written by
/// someone else does not change the key (Go KES reads version 1 too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_live_in_version_1_of_an_automatically_replicated_secret() {
    let drongo = Drongo::start();
    let api = JsonHttp::new(&drongo.url());
    let store = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    let n = key("my-key");
    store.create(&n, b"stored value").await.unwrap();
    let secret = api
        .call(
            "GET",
            &format!("/v1/projects/{PROJECT}/secrets/my-key"),
            &[],
            None,
        )
        .await;
    assert_eq!(secret["replication"], json!({"automatic": {}}));
    let v1 = api
        .call(
            "GET",
            &format!("/v1/projects/{PROJECT}/secrets/my-key/versions/1:access"),
            &[],
            None,
        )
        .await;
    assert_eq!(
        STANDARD
            .decode(v1["payload"]["data"].as_str().unwrap())
            .unwrap(),
        b"stored value"
    );
    api.call(
        "POST",
        &format!("/v1/projects/{PROJECT}/secrets/my-key:addVersion"),
        &[],
        Some(json!({"payload": {"data": STANDARD.encode("stray")}})),
    )
    .await;
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"stored value");
    let e = store.create(&n, b"other").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    store.delete(&n).await.unwrap();
    assert_eq!(store.get(&n).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        store.delete(&n).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// A secret without version 1 (a create interrupted between its two calls,
/// or Go KES's create whose second call failed) does not block its name:
/// the key is "not found", and the next create takes the secret over. A
/// version 1 that cannot be read (disabled) still makes the key exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_left_without_a_version_is_taken_over_by_the_next_create() {
    let drongo = Drongo::start();
    let api = JsonHttp::new(&drongo.url());
    let store = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    api.call(
        "POST",
        &format!("/v1/projects/{PROJECT}/secrets?secretId=half"),
        &[],
        Some(json!({"replication": {"automatic": {}}})),
    )
    .await;
    let n = key("half");
    assert_eq!(store.get(&n).await.unwrap_err().kind(), ErrorKind::NotFound);
    store.create(&n, b"whole").await.unwrap();
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"whole");
    let e = store.create(&n, b"again").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    // A version 1 that cannot be read (disabled) still exists.
    api.call(
        "POST",
        &format!("/v1/projects/{PROJECT}/secrets/half/versions/1:disable"),
        &[],
        Some(json!({})),
    )
    .await;
    assert!(
        store
            .get(&n)
            .await
            .unwrap_err()
            .to_string()
            .contains("DISABLED")
    );
    let e = store.create(&n, b"again").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
}

/// Two nodes (two stores) creating one name at once: exactly one create
/// succeeds, both read the winner's value, and a version the loser added is
/// destroyed (the loser loses at CreateSecret, or, when it finds the
/// winner's secret still without version 1, at AddSecretVersion), on eight
/// fresh names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_creating_one_name_at_once_leave_one_key() {
    let drongo = Drongo::start();
    let api = JsonHttp::new(&drongo.url());
    let a = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    let b = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    for name in racing_creates(&a, &b, "gcp", 8).await.unwrap() {
        let versions = api
            .call(
                "GET",
                &format!("/v1/projects/{PROJECT}/secrets/{name}/versions"),
                &[],
                None,
            )
            .await;
        for v in versions["versions"].as_array().unwrap() {
            let enabled = v["state"] == "ENABLED";
            let first = v["name"].as_str().unwrap().ends_with("/versions/1");
            assert_eq!(enabled, first, "{name}: {versions}");
        }
    }
}

/// A one-second token is renewed in the background, at half its lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_tokens_are_renewed_before_they_expire() {
    let drongo = Drongo::start();
    let tokens = google(FakeGoogleConfig {
        expires_in: 1,
        ..Default::default()
    })
    .await;
    let store = GcpKeyStore::connect(with_account(&drongo.url(), &tokens.token_uri()))
        .await
        .unwrap();
    eventually("two renewals", || tokens.stats().tokens >= 3).await;
    run_all(&store, &unique_prefix("gcp-short")).await.unwrap();
}

/// The fake's API checks tokens: after every token was revoked, eight
/// concurrent calls get one new token between them, and a second 401 in a
/// row reaches the caller as denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_fetches_one_new_token() {
    let google = google(FakeGoogleConfig::default()).await;
    let store = GcpKeyStore::connect(with_account(&google.endpoint(), &google.token_uri()))
        .await
        .unwrap();
    let n = key("missing");
    assert_eq!(store.get(&n).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(google.stats().tokens, 1);
    google.expire_tokens();
    let names: Vec<_> = (0..8).map(|i| key(&format!("conc-{i}"))).collect();
    let results = futures_util::future::join_all(names.iter().map(|n| store.get(n))).await;
    for r in results {
        assert!(
            matches!(r, Err(ref e) if e.kind() == ErrorKind::NotFound),
            "{r:?}"
        );
    }
    assert_eq!(google.stats().tokens, 2);
    assert!(google.stats().rejected_tokens >= 1);
}

/// ListSecrets pages are followed to the end (the fake answers two secrets
/// a page, in no particular order); the store sorts and cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_follow_every_page() {
    let ids = ["k5", "other", "k1", "k3", "k2", "k4"];
    let google = google(FakeGoogleConfig {
        secrets: ids.iter().map(|s| s.to_string()).collect(),
        page_size: 2,
        ..Default::default()
    })
    .await;
    let store = GcpKeyStore::connect(with_account(&google.endpoint(), &google.token_uri()))
        .await
        .unwrap();
    let all = store.list("", "", 0).await.unwrap();
    assert_eq!(all.names, ["k1", "k2", "k3", "k4", "k5", "other"]);
    assert_eq!(all.next, None);
    assert_eq!(google.stats().list_pages, 3);
    let page = store.list("k", "k3", 2).await.unwrap();
    assert_eq!(page.names, ["k3", "k4"]);
    assert_eq!(page.next.as_deref(), Some("k5"));
}

/// Against drongo (which answers one page): limits and `start` page through
/// the keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_pages_against_drongo() {
    let drongo = Drongo::start();
    let store = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    for i in 0..5 {
        store.create(&key(&format!("p-{i}")), b"v").await.unwrap();
    }
    let mut seen = Vec::new();
    let mut start = String::new();
    loop {
        let page = store.list("p-", &start, 2).await.unwrap();
        assert!(page.names.len() <= 2);
        seen.extend(page.names);
        match page.next {
            Some(next) => start = next,
            None => break,
        }
    }
    assert_eq!(seen, ["p-0", "p-1", "p-2", "p-3", "p-4"]);
}

/// An outage makes the status and calls unreachable; once drongo is back
/// the same store works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unreachable_and_recovers() {
    let mut drongo = Drongo::start();
    let store = GcpKeyStore::connect(emulator(&drongo.url())).await.unwrap();
    store.status().await.unwrap();
    drongo.stop();
    let e = store.status().await.unwrap_err();
    assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
    let e = store.get(&key("k")).await.unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    drongo.restart();
    store.status().await.unwrap();
    store.create(&key("k"), b"v").await.unwrap();
}

#[tokio::test]
async fn a_dead_endpoint_refuses_start_up_naming_it() {
    let dead = dead_endpoint().replace("https", "http");
    let e = expect_err(GcpKeyStore::connect(emulator(&dead)).await);
    assert!(e.is_unreachable(), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("start-up check of the endpoint failed"),
        "{msg}"
    );
    assert!(msg.contains(&format!("cannot connect to {dead}")), "{msg}");
}

#[tokio::test]
async fn refused_credentials_refuse_start_up() {
    let google = google(FakeGoogleConfig {
        refuse: true,
        ..Default::default()
    })
    .await;
    let e = expect_err(
        GcpKeyStore::connect(with_account(&google.endpoint(), &google.token_uri())).await,
    );
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let msg = e.to_string();
    assert!(msg.contains(&google.token_uri()), "{msg}");
    assert!(
        msg.contains("invalid_grant: Invalid JWT Signature."),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");

    // A token endpoint that does not answer is named too.
    let dead = format!("{}/token", dead_endpoint().replace("https", "http"));
    let e = expect_err(GcpKeyStore::connect(with_account(&google.endpoint(), &dead)).await);
    assert!(e.is_unreachable(), "{e:?}");
    assert!(
        e.to_string().contains(dead.trim_end_matches("/token")),
        "{e}"
    );
}

#[tokio::test]
async fn bad_settings_name_the_field() {
    let google = google(FakeGoogleConfig::default()).await;
    let mut opts = with_account(&google.endpoint(), &google.token_uri());
    if let Some(c) = opts.credentials.as_mut() {
        c.private_key =
            Zeroizing::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into());
    }
    let e = expect_err(GcpKeyStore::connect(opts).await);
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(e.to_string().contains("credentials.private_key"), "{e}");

    let e = expect_err(
        GcpKeyStore::connect(GcpOptions {
            endpoint: Some("ftp://x".into()),
            ..emulator("")
        })
        .await,
    );
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(e.to_string().contains("endpoint \"ftp://x\""), "{e}");
}
