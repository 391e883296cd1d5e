//! The Fortanix DSM store against the in-process FAKE of the DSM REST API
//! (`kes_keystore::fortanix::fake`, built from the published API: no
//! runnable DSM exists outside Fortanix's service). The fake itself is
//! checked against Fortanix's official Python client (`sdkms` from PyPI,
//! installed into the project-local test-peer venv). Covered: the shared
//! conformance suite (also with two objects a listing page), session expiry
//! and renewal, one re-authentication for concurrent 401s, retries, the
//! stored format, and start-up errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kes_keystore::fortanix::fake::{FakeFortanix, FortanixFakeConfig};
use kes_keystore::fortanix::{FortanixKeyStore, FortanixOptions};
use kes_keystore::testkit::fake::FakePki;
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use kes_testpeers::Venv;
use zeroize::Zeroizing;

mod common;
use common::{assert_unreachable, assert_untrusted, dead_endpoint, eventually, expect_err, key};

async fn fake() -> FakeFortanix {
    FakeFortanix::start(FortanixFakeConfig::default())
        .await
        .unwrap()
}

async fn connect_err(opts: FortanixOptions) -> KeyStoreError {
    expect_err(FortanixKeyStore::connect(opts).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_against_the_fake() {
    let fake = fake().await;
    let store = FortanixKeyStore::connect(fake.options()).await.unwrap();
    common::conforms(&store, &fake, "fortanix", "Fortanix SDKMS").await;
}

/// Two objects a page: listings page with the exclusive `start` until an
/// empty page, among objects of other apps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_small_pages_among_foreign_objects() {
    let fake = FakeFortanix::start(FortanixFakeConfig {
        max_page: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    for n in ["aaa-other", "kt-0", "zzz-other", "Upper"] {
        fake.insert_raw(n, "AES", &STANDARD.encode("not a kes key"));
    }
    let store = FortanixKeyStore::connect(fake.options()).await.unwrap();
    run_all(&store, &unique_prefix("fortanix-pages"))
        .await
        .unwrap();
    let all = store.list("", "", 0).await.unwrap();
    assert_eq!(all.names, ["Upper", "aaa-other", "kt-0", "zzz-other"]);
    let before = fake.stats().list_pages;
    store.list("", "", 0).await.unwrap();
    // Two full pages and the empty one that ends the listing.
    assert_eq!(fake.stats().list_pages - before, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiring_mid_test_is_renewed() {
    let fake = fake().await;
    let store = FortanixKeyStore::connect(fake.options()).await.unwrap();
    common::tokens_expiring_mid_test_are_renewed(&store, &fake, "fortanix-exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_authenticate_once() {
    let fake = fake().await;
    let store = FortanixKeyStore::connect(fake.options()).await.unwrap();
    common::concurrent_401s_log_in_once(&store, &fake).await;
}

/// With a one-second session the store authenticates again in the
/// background and keeps working through several lifetimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_sessions_are_renewed_in_the_background() {
    let fake = FakeFortanix::start(FortanixFakeConfig {
        session_lifetime: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let store = FortanixKeyStore::connect(fake.options()).await.unwrap();
    let prefix = unique_prefix("fortanix-short");
    run_all(&store, &prefix).await.unwrap();
    eventually("two renewals", || fake.stats().logins >= 3).await;
    run_all(&store, &prefix).await.unwrap();
    store.status().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_twice() {
    let fake = fake().await;
    let store = FortanixKeyStore::connect(fake.options()).await.unwrap();
    common::server_errors_are_retried_twice(&store, &fake).await;
}

#[tokio::test]
async fn a_wrong_api_key_refuses_start_up() {
    let fake = fake().await;
    let wrong = STANDARD.encode("4f6b2c1e-8d3a-4e5f-9a0b-1c2d3e4f5a6b:not-the-secret");
    let e = connect_err(FortanixOptions {
        api_key: Zeroizing::new(wrong.clone()),
        ..fake.options()
    })
    .await;
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("authentication at ")
            && msg.contains("with the API key (credentials.key) failed"),
        "{msg}"
    );
    assert!(!msg.contains(&wrong), "{msg}");
    assert_eq!(fake.stats().failed_logins, 1);
}

#[tokio::test]
async fn unreachable_service_names_the_problem() {
    let endpoint = dead_endpoint();
    let fake = fake().await;
    let e = connect_err(FortanixOptions {
        endpoint: endpoint.clone(),
        ..fake.options()
    })
    .await;
    assert_unreachable(&e, &endpoint);
    assert!(e.to_string().contains("start-up check"), "{e}");
}

/// `tls.ca` replaces the system roots: another CA does not vouch for the
/// fake.
#[tokio::test]
async fn untrusted_certificate_is_a_clear_tls_error() {
    let fake = fake().await;
    let other = FakePki::generate().unwrap();
    let e = connect_err(FortanixOptions {
        ca: Some(other.ca_file().to_path_buf()),
        ..fake.options()
    })
    .await;
    assert_untrusted(&e);
}

/// Values are stored as Go KES stores them: an OPAQUE object named like the
/// key whose value is the base64 of the stored-key text, in the configured
/// group; objects Go KES wrote read back.
#[tokio::test]
async fn stored_format_matches_go_kes() {
    let fake = fake().await;
    let store = FortanixKeyStore::connect(FortanixOptions {
        group_id: Some("kes-group".into()),
        ..fake.options()
    })
    .await
    .unwrap();
    assert!(
        store.description().contains("(group kes-group)"),
        "{}",
        store.description()
    );
    let value = b"CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAE=";
    store.create(&key("ours"), value).await.unwrap();
    assert_eq!(
        fake.raw_object("ours").unwrap(),
        (STANDARD.encode(value.as_slice()), Some("kes-group".into()))
    );
    fake.insert_raw("theirs", "OPAQUE", &STANDARD.encode(b"written by go"));
    assert_eq!(
        store.get(&key("theirs")).await.unwrap().as_slice(),
        b"written by go"
    );
    let e = store.create(&key("theirs"), b"v").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    store.delete(&key("theirs")).await.unwrap();
    assert_eq!(
        store.delete(&key("theirs")).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn credentials_are_not_in_debug() {
    let fake = fake().await;
    let opts = fake.options();
    let api_key = opts.api_key.to_string();
    assert!(!format!("{opts:?}").contains(&api_key));
    let store = FortanixKeyStore::connect(opts).await.unwrap();
    let dbg = format!("{store:?}");
    assert!(!dbg.contains(&api_key), "{dbg}");
    assert!(dbg.contains("FortanixKeyStore"), "{dbg}");
}

/// The official client's calls, against the fake: authenticate, import an
/// OPAQUE object, export it by name, list by name, look it up, delete it,
/// and the 404 after that.
const SDKMS_CHECK: &str = r#"
import base64, os
import sdkms.v1 as v1
from sdkms.v1.rest import ApiException

cfg = v1.Configuration()
cfg.host = os.environ["FAKE_URL"]
cfg.ssl_ca_cert = os.environ["FAKE_CA"]
app, secret = base64.b64decode(os.environ["FAKE_KEY"]).decode().split(":", 1)
cfg.username, cfg.password = app, secret
client = v1.ApiClient(configuration=cfg)
auth_api = v1.AuthenticationApi(api_client=client)
auth_api.check_health()
auth = auth_api.authorize()
assert auth.token_type == "Bearer" and auth.expires_in > 0, auth
cfg.api_key["Authorization"] = auth.access_token
cfg.api_key_prefix["Authorization"] = "Bearer"
api = v1.SecurityObjectsApi(api_client=client)
req = v1.SobjectRequest(name="py-key", obj_type=v1.ObjectType.OPAQUE,
                        key_ops=[v1.KeyOperations.EXPORT, v1.KeyOperations.APPMANAGEABLE],
                        value=bytearray(b"stored-key text"), enabled=True)
created = api.import_security_object(req)
assert created.name == "py-key" and created.kid, created
try:
    api.import_security_object(req)
    raise SystemExit("a second import succeeded")
except ApiException as e:
    assert e.status == 409 and "sobject already exists" in e.body, (e.status, e.body)
exported = api.get_security_object_value_ex(v1.SobjectDescriptor(name="py-key"))
assert bytes(exported.value) == b"stored-key text", exported.value
listed = api.get_security_objects(sort="name:asc", limit=10)
assert [o.name for o in listed] == ["py-key"], listed
assert api.get_security_objects(sort="name:asc", start="py-key") == []
info = api.get_security_object_ex(v1.SobjectDescriptor(name="py-key"))
assert info.kid == created.kid and info.value is None, info
api.delete_security_object(created.kid)
try:
    api.get_security_object_value_ex(v1.SobjectDescriptor(name="py-key"))
    raise SystemExit("export after delete succeeded")
except ApiException as e:
    assert e.status == 404 and e.body.strip() == "sobject does not exist", (e.status, e.body)
auth_api.terminate()
print("ok")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_answers_the_official_sdkms_client() {
    let fake = fake().await;
    let opts = fake.options();
    let python = tokio::task::spawn_blocking(|| Venv::ensure(&["sdkms==5.6.2919"]).bin("python"))
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-c")
            .arg(SDKMS_CHECK)
            .env("FAKE_URL", &opts.endpoint)
            .env("FAKE_CA", opts.ca.as_ref().unwrap())
            .env("FAKE_KEY", opts.api_key.as_str())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "sdkms check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fake.secret_names().is_empty());
    assert_eq!(fake.stats().logins, 1);
}
