//! The Vault key store against a real OpenBao dev server (installed from
//! PyPI into `target/test-peers/venv` by the shared harness): the shared
//! conformance suite over K/V v1, K/V v2, K/V v2 in a namespace and
//! transit-wrapped values (all through AppRole), the stored format Go KES
//! uses, Kubernetes auth, start-up errors, token renewal and re-login, a
//! sealed Vault, and an outage with recovery.
//!
//! Every test starts its own OpenBao on a free port and kills it on drop.
//! If OpenBao cannot be installed (no network), these tests FAIL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::vault::{
    AppRoleOptions, JwtSource, KubernetesOptions, KvVersion, LoginNamespace, TransitOptions,
    VaultAuth, VaultKeyStore, VaultOptions,
};
use kes_keystore::{ErrorKind, KeyStore};
use kes_testpeers::openbao::{NAMESPACE, OpenBao, ROLE_ID, SECRET_ID, TRANSIT_KEY};
use kes_testpeers::{free_port, wait_until};
use kes_types::KeyName;
use serde_json::json;
use zeroize::Zeroizing;

/// AppRole credentials with the given ids.
fn approle(id: &str, secret: &str) -> VaultAuth {
    VaultAuth::AppRole(AppRoleOptions {
        id: Zeroizing::new(id.into()),
        secret: Zeroizing::new(secret.into()),
        ..Default::default()
    })
}

/// Options for the seeded `kes` AppRole role, engine `engine`, prefix `kes`.
fn options(bao: &OpenBao, engine: &str, version: KvVersion) -> VaultOptions {
    let mut o = VaultOptions::new(bao.endpoint(), approle(ROLE_ID, SECRET_ID));
    o.engine = engine.into();
    o.version = version;
    o.prefix = "kes".into();
    o
}

fn key_name(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

async fn conforms(opts: VaultOptions, tag: &str) {
    let store = VaultKeyStore::connect(opts).await.unwrap();
    if let Err(e) = run_all(&store, &unique_prefix(tag)).await {
        panic!("{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_v1_through_approle_conforms() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    conforms(options(&bao, "kv1", KvVersion::V1), "kv1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_v2_through_approle_conforms() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    conforms(options(&bao, "kv2", KvVersion::V2), "kv2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_v2_in_a_namespace_conforms() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    let mut o = options(&bao, "kv2", KvVersion::V2);
    o.namespace = NAMESPACE.into();
    let store = VaultKeyStore::connect(o).await.unwrap();
    if let Err(e) = run_all(&store, &unique_prefix("ns")).await {
        panic!("{e}");
    }
    // The key really lives in the namespace, not in the root namespace.
    store.create(&key_name("ns-probe"), b"v").await.unwrap();
    let raw = bao
        .root_in(NAMESPACE, "GET", "/v1/kv2/data/kes/ns-probe", None)
        .await;
    assert_eq!(raw["data"]["data"]["ns-probe"], "v");
    let (status, _) = bao
        .http
        .try_call(
            "GET",
            "/v1/kv2/data/kes/ns-probe",
            &[("X-Vault-Token", "root")],
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404, "the key leaked into the root namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transit_wrapped_values_conform_and_survive_key_rotation() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    let mut o = options(&bao, "kv1", KvVersion::V1);
    o.transit = Some(TransitOptions {
        key: TRANSIT_KEY.into(),
        ..TransitOptions::default()
    });
    let store = VaultKeyStore::connect(o).await.unwrap();
    if let Err(e) = run_all(&store, &unique_prefix("transit")).await {
        panic!("{e}");
    }

    store
        .create(&key_name("before-rotation"), b"old value")
        .await
        .unwrap();
    let raw = bao.root("GET", "/v1/kv1/kes/before-rotation", None).await;
    let stored = raw["data"]["before-rotation"].as_str().unwrap();
    assert!(stored.starts_with("vault:v1:"), "{stored}");

    bao.root(
        "POST",
        &format!("/v1/transit/keys/{TRANSIT_KEY}/rotate"),
        None,
    )
    .await;
    store
        .create(&key_name("after-rotation"), b"new value")
        .await
        .unwrap();
    let raw = bao.root("GET", "/v1/kv1/kes/after-rotation", None).await;
    let stored = raw["data"]["after-rotation"].as_str().unwrap();
    assert!(stored.starts_with("vault:v2:"), "{stored}");

    assert_eq!(
        store
            .get(&key_name("before-rotation"))
            .await
            .unwrap()
            .as_slice(),
        b"old value"
    );
    assert_eq!(
        store
            .get(&key_name("after-rotation"))
            .await
            .unwrap()
            .as_slice(),
        b"new value"
    );
}

/// The value written by Go KES (protobuf base64 text, keystores.md §1.3).
const GO_KES_VALUE: &str = "CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAESJAogICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8QARoGCICByKwGIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_format_is_the_one_go_kes_uses() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    for (engine, version) in [("kv1", KvVersion::V1), ("kv2", KvVersion::V2)] {
        let store = VaultKeyStore::connect(options(&bao, engine, version))
            .await
            .unwrap();
        let (data_path, read) = match version {
            KvVersion::V1 => (format!("/v1/{engine}/kes"), "/data".to_owned()),
            KvVersion::V2 => (format!("/v1/{engine}/data/kes"), "/data/data".to_owned()),
        };

        // Ours, as Go KES reads it: one field named like the key.
        store
            .create(&key_name("ours"), GO_KES_VALUE.as_bytes())
            .await
            .unwrap();
        let raw = bao.root("GET", &format!("{data_path}/ours"), None).await;
        let data = raw.pointer(&read).unwrap();
        assert_eq!(data, &json!({ "ours": GO_KES_VALUE }), "{engine}");
        if version == KvVersion::V2 {
            assert_eq!(raw["data"]["metadata"]["version"], 1);
        }

        // Theirs, written the way Go KES writes it.
        let body = match version {
            KvVersion::V1 => json!({ "theirs": GO_KES_VALUE }),
            KvVersion::V2 => json!({"options": {"cas": 0}, "data": { "theirs": GO_KES_VALUE }}),
        };
        bao.root("PUT", &format!("{data_path}/theirs"), Some(body))
            .await;
        let got = store.get(&key_name("theirs")).await.unwrap();
        assert_eq!(got.as_slice(), GO_KES_VALUE.as_bytes(), "{engine}");
        let names = store.list("", "", 0).await.unwrap().names;
        assert_eq!(names, ["ours", "theirs"], "{engine}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_engine_lists_as_empty() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    for (engine, version) in [("kv1", KvVersion::V1), ("kv2", KvVersion::V2)] {
        let mut o = options(&bao, engine, version);
        o.prefix = String::new();
        let store = VaultKeyStore::connect(o).await.unwrap();
        let page = store.list("", "", 0).await.unwrap();
        assert!(
            page.names.is_empty() && page.next.is_none(),
            "{engine}: {page:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors_say_what_is_wrong() {
    let bao = OpenBao::start().await;
    bao.seed().await;

    // Nothing listens on this port.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut o = options(&bao, "kv1", KvVersion::V1);
    o.endpoint = nowhere.clone();
    let e = VaultKeyStore::connect(o).await.unwrap_err();
    assert!(e.kind() == ErrorKind::Unreachable, "{e:?}");
    assert!(e.to_string().contains(&nowhere), "{e}");

    // Wrong secret id.
    let mut o = options(&bao, "kv1", KvVersion::V1);
    o.auth = approle(ROLE_ID, "wrong-secret-id");
    let e = VaultKeyStore::connect(o).await.unwrap_err();
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    assert!(e.to_string().contains("approle login"), "{e}");
    assert!(!e.to_string().contains("wrong-secret-id"), "{e}");

    // Missing auth mount.
    let mut o = options(&bao, "kv1", KvVersion::V1);
    o.auth = VaultAuth::AppRole(AppRoleOptions {
        engine: "nosuch-auth".into(),
        id: Zeroizing::new(ROLE_ID.into()),
        secret: Zeroizing::new(SECRET_ID.into()),
        namespace: LoginNamespace::Inherit,
    });
    let e = VaultKeyStore::connect(o).await.unwrap_err();
    assert!(e.to_string().contains("nosuch-auth"), "{e}");

    // Missing K/V mount (the policy grants the path, nothing is mounted).
    let e = VaultKeyStore::connect(options(&bao, "kv-missing", KvVersion::V1))
        .await
        .unwrap_err();
    assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
    assert!(
        e.to_string()
            .contains("no secrets engine is mounted at kv-missing/"),
        "{e}"
    );

    // Wrong K/V version.
    let e = VaultKeyStore::connect(options(&bao, "kv1", KvVersion::V2))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("is version v1, but version v2"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_denial_is_unauthorized_without_a_login_storm() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    // A mount the `kes` policy does not mention.
    bao.root(
        "POST",
        "/v1/sys/mounts/kv3",
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    )
    .await;
    let store = VaultKeyStore::connect(options(&bao, "kv3", KvVersion::V1))
        .await
        .unwrap();
    let e = store.get(&key_name("k")).await.unwrap_err();
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    assert!(e.to_string().contains("permission denied"), "{e}");
    assert_eq!(
        store.auth_stats().logins,
        1,
        "a valid token must not re-login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_vault_is_unreachable() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    let store = VaultKeyStore::connect(options(&bao, "kv1", KvVersion::V1))
        .await
        .unwrap();
    store.status().await.unwrap();
    bao.root("PUT", "/v1/sys/seal", None).await;
    let e = store.status().await.unwrap_err();
    assert!(
        e.is_unreachable() && e.to_string().contains("sealed"),
        "{e:?}"
    );
    // Operations fail fast while sealed.
    let e = store.get(&key_name("k")).await.unwrap_err();
    assert!(
        e.is_unreachable() && e.to_string().contains("sealed"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------
// Kubernetes auth.
//
// OpenBao's kubernetes auth method validates a service-account JWT by calling
// the Kubernetes TokenReview API at `kubernetes_host`. There is no Kubernetes
// here, so `kubernetes_host` points at the tiny in-process fake below, which
// answers POST /apis/authentication.k8s.io/v1/tokenreviews. It is the only
// fake in these tests; OpenBao itself is real.
// ---------------------------------------------------------------------------

const SA_NAMESPACE: &str = "default";
const SA_NAME: &str = "kes";
const SA_UID: &str = "5f0c5c1e-0000-4000-8000-000000000001";

/// An unsigned-looking service-account JWT with the claims OpenBao reads.
fn service_account_jwt() -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "test"});
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "sub": format!("system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"),
        "kubernetes.io/serviceaccount/namespace": SA_NAMESPACE,
        "kubernetes.io/serviceaccount/secret.name": "kes-token",
        "kubernetes.io/serviceaccount/service-account.name": SA_NAME,
        "kubernetes.io/serviceaccount/service-account.uid": SA_UID,
    });
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"not-a-real-signature"),
    )
}

/// The fake Kubernetes API: answers TokenReviews, authenticating exactly
/// `valid_jwt`; counts the reviews. Stops when dropped.
struct FakeKubernetes {
    port: u16,
    reviews: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKubernetes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeKubernetes {
    async fn start(valid_jwt: String) -> FakeKubernetes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let reviews = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&reviews);
        let valid = Arc::new(valid_jwt);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = Arc::clone(&counter);
                let valid = Arc::clone(&valid);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let counter = Arc::clone(&counter);
                        let valid = Arc::clone(&valid);
                        async move { Ok::<_, Infallible>(token_review(req, &valid, &counter).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeKubernetes {
            port,
            reviews,
            task,
        }
    }
}

async fn token_review(
    req: hyper::Request<hyper::body::Incoming>,
    valid: &str,
    counter: &AtomicUsize,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: u16, body: serde_json::Value| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    if req.method() != hyper::Method::POST
        || req.uri().path() != "/apis/authentication.k8s.io/v1/tokenreviews"
    {
        return reply(
            404,
            json!({"kind": "Status", "status": "Failure", "code": 404}),
        );
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let review: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    counter.fetch_add(1, Ordering::SeqCst);
    let token = review["spec"]["token"].as_str().unwrap_or_default();
    let status = if token == valid {
        json!({
            "authenticated": true,
            "user": {
                "username": format!("system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"),
                "uid": SA_UID,
                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{SA_NAMESPACE}")],
            },
        })
    } else {
        json!({"authenticated": false, "error": "invalid bearer token"})
    };
    reply(
        201,
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": review["spec"],
            "status": status,
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_auth_with_a_jwt_file() {
    let jwt = service_account_jwt();
    let k8s = FakeKubernetes::start(jwt.clone()).await;
    let bao = OpenBao::start().await;
    bao.seed().await;
    bao.root(
        "POST",
        "/v1/sys/auth/kubernetes",
        Some(json!({"type": "kubernetes"})),
    )
    .await;
    bao.root(
        "POST",
        "/v1/auth/kubernetes/config",
        Some(json!({
            "kubernetes_host": format!("http://127.0.0.1:{}", k8s.port),
            "token_reviewer_jwt": "reviewer-token",
            // Required with disable_local_ca_jwt; unused for an http:// host.
            "kubernetes_ca_cert": rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .unwrap()
                .cert
                .pem(),
            "disable_local_ca_jwt": true,
        })),
    )
    .await;
    bao.root(
        "POST",
        "/v1/auth/kubernetes/role/kes",
        Some(json!({
            "bound_service_account_names": [SA_NAME],
            "bound_service_account_namespaces": [SA_NAMESPACE],
            "token_policies": ["kes"],
            "token_ttl": "1h",
        })),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("token");
    std::fs::write(&jwt_file, format!("{jwt}\n")).unwrap();
    let mut o = options(&bao, "kv2", KvVersion::V2);
    o.auth = VaultAuth::Kubernetes(KubernetesOptions {
        role: "kes".into(),
        jwt: JwtSource::File(jwt_file.clone()),
        ..KubernetesOptions::default()
    });
    let store = VaultKeyStore::connect(o.clone()).await.unwrap();
    assert!(
        k8s.reviews.load(Ordering::SeqCst) >= 1,
        "no TokenReview reached the fake"
    );
    store.create(&key_name("k8s-key"), b"value").await.unwrap();
    assert_eq!(
        store.get(&key_name("k8s-key")).await.unwrap().as_slice(),
        b"value"
    );

    // The file is re-read at every login: a token the fake rejects fails.
    std::fs::write(&jwt_file, service_account_jwt().replace('.', ".x")).unwrap();
    let e = VaultKeyStore::connect(o).await.unwrap_err();
    assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
    assert!(e.to_string().contains("kubernetes login"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_renewed_and_replaced_after_revocation() {
    let bao = OpenBao::start().await;
    bao.seed().await;
    // Short TTL: renewal at ~1 s; max TTL 4 s forces re-logins too.
    bao.add_approle_role(
        None,
        "short",
        "short-role-id",
        "short-secret-id",
        "2s",
        "4s",
    )
    .await;
    let mut o = options(&bao, "kv1", KvVersion::V1);
    o.auth = approle("short-role-id", "short-secret-id");
    let store = VaultKeyStore::connect(o).await.unwrap();
    store
        .create(&key_name("lifecycle"), b"value")
        .await
        .unwrap();

    // Requests keep working while the token is renewed and replaced.
    let mut requests = 0;
    wait_until(
        "a token renewal and a re-login at max TTL",
        Duration::from_secs(60),
        || {
            let store = &store;
            requests += 1;
            async move {
                let got = store.get(&key_name("lifecycle")).await.unwrap();
                assert_eq!(got.as_slice(), b"value");
                tokio::time::sleep(Duration::from_millis(200)).await;
                let s = store.auth_stats();
                s.renewals >= 1 && s.logins >= 2
            }
        },
    )
    .await;
    assert!(requests > 1);

    // An operator revokes the token: the next request logs in again.
    let before = store.auth_stats().logins;
    assert!(bao.revoke_approle_tokens().await >= 1);
    let got = store.get(&key_name("lifecycle")).await.unwrap();
    assert_eq!(got.as_slice(), b"value");
    assert!(
        store.auth_stats().logins > before,
        "{:?}",
        store.auth_stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_reported_and_recovered_from() {
    let mut bao = OpenBao::start().await;
    let port = bao.port;
    bao.seed().await;
    let mut o = options(&bao, "kv1", KvVersion::V1);
    o.status_ping = Duration::from_millis(200);
    o.request_timeout = Duration::from_secs(2);
    let store = VaultKeyStore::connect(o).await.unwrap();
    store.create(&key_name("before"), b"value").await.unwrap();
    store.status().await.unwrap();

    bao.stop();
    let e = store.status().await.unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    let e = store
        .create(&key_name("during"), b"value")
        .await
        .unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    let e = store.get(&key_name("before")).await.unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");

    // A new (empty, in-memory) dev server on the same port, seeded again
    // with the same AppRole credentials. The old token is unknown there.
    let bao = OpenBao::start_on(port).await;
    bao.seed().await;
    wait_until("status to recover", Duration::from_secs(30), || async {
        store.status().await.is_ok()
    })
    .await;
    store.create(&key_name("after"), b"value").await.unwrap();
    assert_eq!(
        store.get(&key_name("after")).await.unwrap().as_slice(),
        b"value"
    );
    assert!(store.auth_stats().logins >= 2, "{:?}", store.auth_stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let bao = OpenBao::start_tls(dir.path()).await;
    bao.seed().await;
    let mut o = options(&bao, "kv1", KvVersion::V1);
    assert!(o.endpoint.starts_with("https://"));

    // The system roots do not know the dev server's CA.
    let e = VaultKeyStore::connect(o.clone()).await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");

    let client = rcgen::generate_simple_self_signed(vec!["kes-client".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    std::fs::write(&cert, client.cert.pem()).unwrap();
    std::fs::write(&key, client.signing_key.serialize_pem()).unwrap();
    o.tls.ca = Some(dir.path().join("vault-ca.pem"));
    o.tls.cert = Some(cert);
    o.tls.key = Some(key);
    let store = VaultKeyStore::connect(o).await.unwrap();
    store.status().await.unwrap();
    store.create(&key_name("over-tls"), b"value").await.unwrap();
    assert_eq!(
        store.get(&key_name("over-tls")).await.unwrap().as_slice(),
        b"value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_vault_never_hangs_a_request() {
    // Accepts connections and never answers (no OpenBao needed).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut o = VaultOptions::new(format!("http://{addr}"), approle("id", "secret"));
    o.request_timeout = Duration::from_millis(300);
    let e = VaultKeyStore::connect(o).await.unwrap_err();
    task.abort();
    assert!(e.is_unreachable(), "{e:?}");
    assert!(e.to_string().contains("no response within"), "{e}");
}
