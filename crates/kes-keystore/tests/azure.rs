//! The Azure Key Vault store against the in-process FAKE of the Key Vault
//! secrets API and its token endpoints (`kes_keystore::azure::fake`, built
//! from Microsoft's published REST reference: no runnable Key Vault exists
//! here). Covers the conformance suite, every way of obtaining a token,
//! token expiry and renewal, soft delete and purge, the oldest-version
//! rule, paging, 403 `ForbiddenByPolicy` and start-up errors; and the fake
//! itself, checked with Microsoft's official Python clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use kes_config::Secret;
use kes_keystore::azure::fake::{FakeKeyVault, KeyVaultFakeConfig};
use kes_keystore::azure::{AzureAuth, AzureKeyVaultStore, AzureOptions};
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};

mod common;
use common::{assert_unreachable, assert_untrusted, dead_endpoint, eventually, expect_err, key};

async fn fake_with(cfg: KeyVaultFakeConfig) -> FakeKeyVault {
    FakeKeyVault::start(cfg).await.unwrap()
}

async fn fake() -> FakeKeyVault {
    fake_with(KeyVaultFakeConfig::default()).await
}

/// The fake's environment plus `extra`, as the store's variable lookup.
fn env_of(fake: &FakeKeyVault, extra: &[(&str, String)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = fake.env().into_iter().collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), v.clone());
    }
    env
}

async fn connect(
    opts: AzureOptions,
    env: &HashMap<String, String>,
) -> Result<AzureKeyVaultStore, KeyStoreError> {
    AzureKeyVaultStore::connect_with_env(opts, &|k| env.get(k).cloned()).await
}

async fn store(fake: &FakeKeyVault) -> AzureKeyVaultStore {
    connect(fake.options(), &env_of(fake, &[])).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_the_fake() {
    let fake = fake().await;
    let store = store(&fake).await;
    common::conforms(&store, &fake, "azure", "Azure KeyVault").await;
    assert!(store.description().contains("client secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expiring_mid_test_are_renewed() {
    let fake = fake().await;
    let store = store(&fake).await;
    common::tokens_expiring_mid_test_are_renewed(&store, &fake, "azure-exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_get_one_new_token() {
    let fake = fake().await;
    let store = store(&fake).await;
    common::concurrent_401s_log_in_once(&store, &fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_twice() {
    let fake = fake().await;
    let store = store(&fake).await;
    common::server_errors_are_retried_twice(&store, &fake).await;
}

/// Small listing pages: the store follows `nextLink` through every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_small_pages() {
    let fake = fake_with(KeyVaultFakeConfig {
        page_size: 2,
        ..Default::default()
    })
    .await;
    let store = store(&fake).await;
    run_all(&store, &unique_prefix("azure-pages"))
        .await
        .unwrap();
    for i in 0..7 {
        store.create(&key(&format!("p-{i}")), b"v").await.unwrap();
    }
    let before = fake.stats().list_pages;
    let page = store.list("p-", "p-2", 3).await.unwrap();
    assert_eq!(page.names, ["p-2", "p-3", "p-4"]);
    assert_eq!(page.next.as_deref(), Some("p-5"));
    assert_eq!(
        fake.stats().list_pages - before,
        4,
        "7 secrets in pages of 2"
    );
}

/// Tokens that expire are renewed, and a call whose token was refused (401)
/// gets a new token once: a create after expiry works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_replaced() {
    let fake = fake().await;
    let store = store(&fake).await;
    store.create(&key("before"), b"v").await.unwrap();
    fake.expire_tokens();
    store.create(&key("after-expiry"), b"w").await.unwrap();
    assert_eq!(
        store.get(&key("after-expiry")).await.unwrap().as_slice(),
        b"w"
    );
    assert_eq!(fake.stats().tokens, 2);
    assert!(fake.stats().rejected_tokens >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_renewed_before_they_expire() {
    let fake = fake_with(KeyVaultFakeConfig {
        token_lifetime: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let store = store(&fake).await;
    eventually("a renewal", || fake.stats().tokens >= 2).await;
    store.create(&key("renewed"), b"v").await.unwrap();
    assert_eq!(fake.stats().rejected_tokens, 0);
}

/// Managed identity through IMDS and App Service, workload identity and
/// the environment's client secret all obtain tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_credential_source_obtains_tokens() {
    let fake = fake().await;
    let cfg = fake.config();
    let default = AzureOptions {
        endpoint: fake.endpoint(),
        auth: AzureAuth::Default,
    };
    let managed = AzureOptions {
        endpoint: fake.endpoint(),
        auth: AzureAuth::ManagedIdentity {
            client_id: cfg.client_id.clone(),
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("federated-token");
    std::fs::write(&token_file, format!("{}\n", cfg.federated_token)).unwrap();
    let cases = [
        (
            "managed identity (IMDS)",
            managed.clone(),
            env_of(&fake, &[]),
        ),
        (
            "managed identity (App Service)",
            managed,
            env_of(
                &fake,
                &[
                    (
                        "IDENTITY_ENDPOINT",
                        format!("{}/msi/token", fake.endpoint()),
                    ),
                    ("IDENTITY_HEADER", cfg.identity_header.clone()),
                ],
            ),
        ),
        (
            "client secret",
            default.clone(),
            env_of(
                &fake,
                &[
                    ("AZURE_TENANT_ID", cfg.tenant_id.clone()),
                    ("AZURE_CLIENT_ID", cfg.client_id.clone()),
                    ("AZURE_CLIENT_SECRET", cfg.client_secret.clone()),
                ],
            ),
        ),
        (
            "workload identity",
            default.clone(),
            env_of(
                &fake,
                &[
                    ("AZURE_TENANT_ID", cfg.tenant_id.clone()),
                    ("AZURE_CLIENT_ID", cfg.client_id.clone()),
                    (
                        "AZURE_FEDERATED_TOKEN_FILE",
                        token_file.display().to_string(),
                    ),
                ],
            ),
        ),
        (
            "managed identity (IMDS)",
            default,
            env_of(&fake, &[("AZURE_CLIENT_ID", cfg.client_id.clone())]),
        ),
    ];
    for (i, (source, opts, env)) in cases.into_iter().enumerate() {
        let store = connect(opts, &env).await.unwrap();
        assert!(
            store.description().contains(source),
            "{}",
            store.description()
        );
        let n = key(&format!("cred-{i}"));
        store.create(&n, b"v").await.unwrap();
        assert_eq!(store.get(&n).await.unwrap().as_slice(), b"v");
    }
    assert_eq!(fake.stats().tokens, 5);
}

/// A create on a soft-deleted name purges it, waiting through
/// `409 ObjectIsBeingDeleted`; a delete is soft delete plus purge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_deleted_names_are_purged_before_a_create() {
    let fake = fake_with(KeyVaultFakeConfig {
        deletion_window: Duration::from_millis(600),
        ..Default::default()
    })
    .await;
    let store = store(&fake).await;
    let n = key("recreated");
    store.create(&n, b"first").await.unwrap();
    fake.soft_delete("recreated");
    assert_eq!(store.get(&n).await.unwrap_err().kind(), ErrorKind::NotFound);
    store.create(&n, b"second").await.unwrap();
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"second");
    assert_eq!(fake.stats().purges, 1);

    store.delete(&n).await.unwrap();
    assert!(!fake.contains("recreated"), "purged after the window");
    store.create(&n, b"third").await.unwrap();
    assert_eq!(fake.versions("recreated"), ["third"]);
}

/// A read takes the oldest version: a stray newer version written by
/// someone else does not change the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_take_the_oldest_version() {
    let fake = fake_with(KeyVaultFakeConfig {
        versions_page_size: 2,
        ..Default::default()
    })
    .await;
    let store = store(&fake).await;
    let n = key("versioned");
    store.create(&n, b"the-key").await.unwrap();
    for i in 0..4 {
        fake.add_version("versioned", &format!("someone-else-{i}"));
    }
    assert_eq!(
        fake.versions("versioned").len(),
        5,
        "three pages of versions"
    );
    assert_eq!(store.get(&n).await.unwrap().as_slice(), b"the-key");
    assert_eq!(
        store.create(&n, b"again").await.unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_and_outages_are_named() {
    let fake = fake().await;
    let store = store(&fake).await;
    fake.forbid("secret-x");
    let e = store.get(&key("secret-x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    assert!(e.to_string().contains("ForbiddenByPolicy"), "{e}");
    // Two 503s are retried away, three are not.
    store.create(&key("retry-me"), b"v").await.unwrap();
    fake.fail_next(2);
    assert_eq!(store.get(&key("retry-me")).await.unwrap().as_slice(), b"v");
    fake.fail_next(3);
    let e = store.get(&key("retry-me")).await.unwrap_err();
    assert!(
        e.is_temporary() && e.to_string().contains("HTTP 503"),
        "{e}"
    );
    // Names outside Key Vault's alphabet are refused by the vault.
    let e = store
        .create(&key("has_underscore"), b"v")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("BadParameter"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_say_what_is_wrong() {
    let fake = fake().await;
    let cfg = fake.config();
    // A wrong client secret.
    let opts = AzureOptions {
        endpoint: fake.endpoint(),
        auth: AzureAuth::ClientCredentials {
            tenant_id: cfg.tenant_id.clone(),
            client_id: cfg.client_id.clone(),
            client_secret: Secret::new("wrong".into()),
        },
    };
    let e = expect_err(connect(opts, &env_of(&fake, &[])).await);
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(msg.contains("client secret token"), "{msg}");
    assert!(!msg.contains("wrong"), "the secret leaked: {msg}");
    // The fake's CA not trusted (no SSL_CERT_FILE).
    let e = expect_err(
        connect(
            fake.options(),
            &HashMap::from([("AZURE_AUTHORITY_HOST".to_owned(), fake.endpoint())]),
        )
        .await,
    );
    assert_untrusted(&e);
    // No identity platform listening.
    let dead = dead_endpoint();
    let e = expect_err(
        connect(
            fake.options(),
            &env_of(&fake, &[("AZURE_AUTHORITY_HOST", dead.clone())]),
        )
        .await,
    );
    assert_unreachable(&e, &dead);
    // A certificate credential is not supported, and says so.
    let e = expect_err(
        connect(
            AzureOptions {
                endpoint: fake.endpoint(),
                auth: AzureAuth::Default,
            },
            &env_of(&fake, &[("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem".into())]),
        )
        .await,
    );
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(
        e.to_string().contains("AZURE_CLIENT_CERTIFICATE_PATH"),
        "{e}"
    );
}

/// The fake answers what Key Vault answers: Microsoft's official Python
/// clients (azure-identity with MSAL, azure-keyvault-secrets, pinned) run
/// `tests/sdk/azure_keyvault.py` against it: the 401 challenge, set / get /
/// versions / paged listing, soft delete with its poller, 409 on a
/// soft-deleted name, purge, the name alphabet and a refused secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_agrees_with_the_fake() {
    let fake = fake_with(KeyVaultFakeConfig {
        page_size: 2,
        ..Default::default()
    })
    .await;
    let cfg = fake.config();
    let venv = tokio::task::spawn_blocking(|| {
        kes_testpeers::Venv::ensure(&["azure-identity==1.27.0", "azure-keyvault-secrets==4.12.0"])
    })
    .await
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/azure_keyvault.py");
    let ca = fake.pki().ca_file().to_path_buf();
    let endpoint = fake.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(venv.bin("python"))
            .arg(script)
            .args([
                &endpoint,
                &cfg.tenant_id,
                &cfg.client_id,
                &cfg.client_secret,
            ])
            .env("AZURE_AUTHORITY_HOST", &endpoint)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("ok   a wrong client secret"), "{stdout}");
    eprintln!("{stdout}");
}
