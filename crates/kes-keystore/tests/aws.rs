//! The AWS Secrets Manager key store against a real moto server: the shared
//! conformance suite without and with a KMS key, how values are stored, list
//! pagination, an outage with recovery, and start-up errors that name the
//! problem. moto is installed into the project-local venv on first use; if
//! that fails the tests fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_secretsmanager::primitives::Blob;
use kes_keystore::aws::{AwsOptions, AwsSecretsManagerKeyStore};
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::{ErrorKind, KeyStore};
use kes_testpeers::moto::Moto;
use kes_types::KeyName;
use zeroize::Zeroizing;

const REGION: &str = "us-east-1";

fn options(endpoint: &str) -> AwsOptions {
    AwsOptions {
        endpoint: endpoint.to_owned(),
        region: REGION.to_owned(),
        access_key: "AKIDKESTEST".to_owned(),
        secret_key: Zeroizing::new("kes-test-secret".to_owned()),
        ..AwsOptions::default()
    }
}

/// A plain SDK client on moto, to look behind the store's back.
async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "AKIDKESTEST",
            "kes-test-secret",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await
}

async fn secrets_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config(endpoint).await)
}

fn key(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_without_kms_key() {
    let moto = Moto::start();
    moto.reset();
    let store = AwsSecretsManagerKeyStore::connect(&options(&moto.url()))
        .await
        .unwrap();
    assert_eq!(store.kms_key(), None);
    if let Err(e) = run_all(&store, &unique_prefix("aws")).await {
        panic!("{e}");
    }
    let left = store.list("", "", 0).await.unwrap();
    assert!(left.names.is_empty(), "suite left {:?}", left.names);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_kms_key_and_uses_it() {
    let moto = Moto::start();
    let kms = aws_sdk_kms::Client::new(&sdk_config(&moto.url()).await);
    let created = kms
        .create_key()
        .description("kes test key")
        .send()
        .await
        .unwrap();
    let key_id = created.key_metadata.unwrap().key_id().to_owned();

    let opts = AwsOptions {
        kms_key: key_id.clone(),
        ..options(&moto.url())
    };
    let store = AwsSecretsManagerKeyStore::connect(&opts).await.unwrap();
    assert_eq!(store.kms_key(), Some(key_id.as_str()));
    assert!(
        store.description().contains(&key_id),
        "{}",
        store.description()
    );
    if let Err(e) = run_all(&store, &unique_prefix("awskms")).await {
        panic!("{e}");
    }

    let name = key("kms-encrypted");
    store.create(&name, b"value-under-kms").await.unwrap();
    let sm = secrets_client(&moto.url()).await;
    let described = sm
        .describe_secret()
        .secret_id("kms-encrypted")
        .send()
        .await
        .unwrap();
    assert_eq!(described.kms_key_id.as_deref(), Some(key_id.as_str()));
    assert_eq!(
        store.get(&name).await.unwrap().as_slice(),
        b"value-under-kms"
    );

    // Reset wipes moto: the secret is gone.
    moto.reset();
    assert!(matches!(store.get(&name).await, Err(ref e) if e.kind() == ErrorKind::NotFound));
    assert!(store.list("", "", 0).await.unwrap().names.is_empty());
}

/// Values are stored as Go KES stores them (the text as `SecretString`, no
/// KMS key unless configured), and `SecretBinary` secrets can be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_stored_as_secret_strings() {
    let moto = Moto::start();
    let store = AwsSecretsManagerKeyStore::connect(&options(&moto.url()))
        .await
        .unwrap();
    let sm = secrets_client(&moto.url()).await;
    let text = "CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAESJAogICEiIyQlJicoKSorLC0uLzA=";
    store
        .create(&key("go-compatible"), text.as_bytes())
        .await
        .unwrap();
    let raw = sm
        .get_secret_value()
        .secret_id("go-compatible")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.secret_string.as_deref(), Some(text));
    assert!(raw.secret_binary.is_none());
    let described = sm
        .describe_secret()
        .secret_id("go-compatible")
        .send()
        .await
        .unwrap();
    assert_eq!(described.kms_key_id, None);

    // A secret written by someone else as binary is read back as its bytes.
    sm.create_secret()
        .name("binary-secret")
        .secret_binary(Blob::new(vec![0u8, 1, 2, 255]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        store.get(&key("binary-secret")).await.unwrap().as_slice(),
        &[0u8, 1, 2, 255]
    );
    // A value that is not UTF-8 round-trips through SecretBinary.
    store.create(&key("not-utf8"), &[0xff, 0xfe]).await.unwrap();
    assert_eq!(
        store.get(&key("not-utf8")).await.unwrap().as_slice(),
        &[0xff, 0xfe]
    );
}

/// A secret deleted with a recovery window (by someone else) is gone for
/// KES: get says NotFound and list does not show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_pending_deletion_are_not_found() {
    let moto = Moto::start();
    let store = AwsSecretsManagerKeyStore::connect(&options(&moto.url()))
        .await
        .unwrap();
    let name = key("soft-deleted");
    store.create(&name, b"v").await.unwrap();
    secrets_client(&moto.url())
        .await
        .delete_secret()
        .secret_id("soft-deleted")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let got = store.get(&name).await;
    assert!(
        matches!(got, Err(ref e) if e.kind() == ErrorKind::NotFound),
        "{got:?}"
    );
    assert!(store.list("", "", 0).await.unwrap().names.is_empty());
    // Creating the name again is refused (moto: exists; AWS: scheduled for
    // deletion) and says why.
    let again = store.create(&name, b"v").await.unwrap_err();
    let text = again.to_string();
    assert!(
        again.kind() == ErrorKind::AlreadyExists || text.contains("scheduled for deletion"),
        "{text}"
    );
}

/// More secrets than one ListSecrets page (100): list follows NextToken,
/// filters the prefix, sorts and pages by start/limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_follows_next_token() {
    let moto = Moto::start();
    let store = AwsSecretsManagerKeyStore::connect(&options(&moto.url()))
        .await
        .unwrap();
    let mut want: Vec<String> = (0..130).map(|i| format!("many-{i:03}")).collect();
    want.reverse();
    for n in &want {
        store.create(&key(n), b"v").await.unwrap();
    }
    for n in ["other-1", "many", "manyx"] {
        store.create(&key(n), b"v").await.unwrap();
    }
    want.sort();
    let all = store.list("many-", "", 0).await.unwrap();
    assert_eq!(all.names, want);
    assert_eq!(all.next, None);
    let page = store.list("many-", "many-050", 20).await.unwrap();
    assert_eq!(page.names, want[50..70].to_vec());
    assert_eq!(page.next.as_deref(), Some("many-070"));
    let everything = store.list("", "", 0).await.unwrap();
    assert_eq!(everything.names.len(), 133);
}

/// moto dies: status reports the store unreachable and operations fail with
/// a clear error; moto comes back on the same port: everything works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_recovery() {
    let mut moto = Moto::start();
    let store = AwsSecretsManagerKeyStore::connect(&options(&moto.url()))
        .await
        .unwrap();
    let name = key("survivor");
    store.create(&name, b"before").await.unwrap();
    store.status().await.unwrap();

    moto.stop();
    let st = store.status().await;
    assert!(
        matches!(&st, Err(e) if e.is_unreachable()),
        "status during outage: {st:?}"
    );
    let got = store.get(&name).await.unwrap_err();
    assert!(got.is_unreachable(), "get during outage: {got}");
    assert!(got.to_string().contains("survivor"), "{got}");
    let created = store.create(&key("during"), b"x").await.unwrap_err();
    assert!(created.is_unreachable(), "create during outage: {created}");
    let listed = store.list("", "", 0).await.unwrap_err();
    assert!(listed.is_unreachable(), "list during outage: {listed}");

    moto.restart();
    store.status().await.unwrap();
    // moto keeps its state in memory: the restarted one is empty.
    assert!(matches!(store.get(&name).await, Err(ref e) if e.kind() == ErrorKind::NotFound));
    store.create(&name, b"after").await.unwrap();
    assert_eq!(store.get(&name).await.unwrap().as_slice(), b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_errors_name_the_problem() {
    // (A malformed endpoint is the config decoder's error: aws/config.rs.)
    // Unreachable endpoint: nothing listens on the port.
    let port = kes_testpeers::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let e = AwsSecretsManagerKeyStore::connect(&options(&url))
        .await
        .unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains(&url), "{e}");
    assert!(e.to_string().contains("not reachable"), "{e}");

    // A region that does not match the AWS endpoint host: caught locally.
    let opts = AwsOptions {
        region: "us-west-1".into(),
        ..options("secretsmanager.us-east-2.amazonaws.com")
    };
    let e = AwsSecretsManagerKeyStore::connect(&opts).await.unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("us-west-1"), "{e}");

    // A region the endpoint does not serve (moto fails the request).
    let moto = Moto::start();
    let opts = AwsOptions {
        region: "eu-west-9".into(),
        ..options(&moto.url())
    };
    let e = AwsSecretsManagerKeyStore::connect(&opts).await.unwrap_err();
    assert!(e.to_string().contains("region eu-west-9"), "{e}");

    // Not a region at all.
    let opts = AwsOptions {
        region: "east".into(),
        ..options(&moto.url())
    };
    let e = AwsSecretsManagerKeyStore::connect(&opts).await.unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("\"east\""), "{e}");

    // (Half the credentials is the config decoder's error: aws/config.rs.)
}

/// moto with authentication on (`INITIAL_NO_AUTH_ACTION_COUNT=0`) refuses
/// unknown access keys; connect reports it as an authorization problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_unauthorized() {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let e = AwsSecretsManagerKeyStore::connect(&options(&moto.url()))
        .await
        .unwrap_err();
    assert!(e.kind() == ErrorKind::Unauthorized, "{e}");
    let text = e.to_string();
    assert!(text.contains("InvalidClientTokenId"), "{text}");
    assert!(text.contains("check the credentials"), "{text}");
    assert!(!text.contains("kes-test-secret"), "{text}");
}

/// The environment variables a child test process gets: no shared config
/// files and no instance metadata (so the default chain never leaves
/// 127.0.0.1).
const CHILD_ENV: &[(&str, &str)] = &[
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/kes-test"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kes-test"),
];

/// Runs test `name` of this binary in a child process with `env` (tests
/// cannot change their own environment: `set_var` is unsafe).
fn run_child(name: &str, env: &[(&str, &str)]) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .envs(CHILD_ENV.iter().copied())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} ran no test:\n{text}"
    );
}

/// Without credentials in the config the SDK default chain is used: keys
/// from the environment work, and no credentials at all is a start-up error
/// that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_credential_chain() {
    let moto = Moto::start();
    let url = moto.url();
    run_child(
        "child_default_chain",
        &[
            ("KES_AWS_CHILD", "env-keys"),
            ("KES_AWS_MOTO", &url),
            ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
            ("AWS_SECRET_ACCESS_KEY", "secret-from-env"),
        ],
    );
    run_child(
        "child_default_chain",
        &[("KES_AWS_CHILD", "no-keys"), ("KES_AWS_MOTO", &url)],
    );
}

/// The child half of [`default_credential_chain`]; does nothing when run
/// directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_default_chain() {
    let (Ok(mode), Ok(url)) = (
        std::env::var("KES_AWS_CHILD"),
        std::env::var("KES_AWS_MOTO"),
    ) else {
        return;
    };
    let opts = AwsOptions {
        endpoint: url,
        region: REGION.into(),
        ..AwsOptions::default()
    };
    match mode.as_str() {
        "env-keys" => {
            let store = AwsSecretsManagerKeyStore::connect(&opts).await.unwrap();
            store.create(&key("from-env-chain"), b"v").await.unwrap();
            assert_eq!(
                store.get(&key("from-env-chain")).await.unwrap().as_slice(),
                b"v"
            );
        }
        "no-keys" => {
            let e = AwsSecretsManagerKeyStore::connect(&opts).await.unwrap_err();
            assert!(e.kind() == ErrorKind::Unauthorized, "{e}");
            assert!(
                e.to_string().contains("cannot obtain AWS credentials"),
                "{e}"
            );
        }
        other => panic!("unknown KES_AWS_CHILD mode {other:?}"),
    }
}
