//! The `kes-client` crate against the in-process server: every call, API-key
//! client certificates (self-signed Ed25519, accepted unverified), the
//! canonical errors, the 301 for empty list patterns, and the audit stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use kes_client::{ApiKey, Cipher, Client, Error};

fn client(addr: std::net::SocketAddr, key: &ApiKey) -> Client {
    Client::builder()
        .endpoint(format!("https://{addr}"))
        .api_key(key.clone())
        .insecure(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn kes_client_round_trip() {
    let pki = Pki::new();
    let admin_key = ApiKey::generate().unwrap();
    let app_key = ApiKey::generate().unwrap();
    let mut s = settings(&pki, TestStore::new());
    s.admin = admin_key.identity().to_string();
    s.policies.insert(
        "app".into(),
        spec(
            &[
                "/v1/key/generate/app-*",
                "/v1/key/decrypt/app-*",
                "/v1/status",
            ],
            &[],
            &[app_key.identity().as_str()],
        ),
    );
    let srv = TestServer::start(s).await;
    let admin = client(srv.addr, &admin_key);
    let app = client(srv.addr, &app_key);

    assert_eq!(
        admin.version().await.unwrap().version,
        env!("CARGO_PKG_VERSION")
    );
    let status = admin.status().await.unwrap();
    assert!(status.keystore_latency.is_some());
    assert_eq!(admin.api().await.unwrap().len(), 29);
    admin.ready().await.unwrap();
    assert!(
        admin
            .metrics()
            .await
            .unwrap()
            .contains("kes_system_num_cpu")
    );

    let mut audit = admin.audit_log().await.unwrap();

    admin.create_key("app-key").await.unwrap();
    assert!(matches!(
        admin.create_key("app-key").await,
        Err(Error::KeyExists)
    ));
    admin
        .import_key("imported", &[9u8; 32], Cipher::ChaCha20)
        .await
        .unwrap();
    assert_eq!(
        admin.describe_key("imported").await.unwrap().algorithm,
        "ChaCha20"
    );
    assert!(matches!(
        admin.describe_key("missing").await,
        Err(Error::KeyNotFound)
    ));
    // Empty pattern: slash-less path, 301, followed by the client.
    assert_eq!(
        admin.list_keys("").await.unwrap(),
        vec!["app-key", "imported"]
    );
    assert_eq!(admin.list_keys("app*").await.unwrap(), vec!["app-key"]);

    let dek = app.generate_key("app-key", b"ctx").await.unwrap();
    let plain = app
        .decrypt("app-key", &dek.ciphertext, b"ctx")
        .await
        .unwrap();
    assert_eq!(plain.as_slice(), dek.plaintext.as_slice());
    assert!(matches!(
        app.decrypt("app-key", &dek.ciphertext, b"other").await,
        Err(Error::DecryptFailed)
    ));
    assert!(matches!(
        app.create_key("app-2").await,
        Err(Error::NotAllowed)
    ));
    assert!(matches!(
        app.generate_key("missing", b"").await,
        Err(Error::NotAllowed)
    ));
    app.status().await.unwrap();

    let ct = admin.encrypt("imported", b"hello", b"").await.unwrap();
    assert_eq!(
        admin
            .decrypt("imported", &ct, b"")
            .await
            .unwrap()
            .as_slice(),
        b"hello"
    );
    let m1 = admin.hmac("app-key", b"root access key").await.unwrap();
    let m2 = admin.hmac("app-key", b"root access key").await.unwrap();
    assert_eq!(m1.as_slice(), m2.as_slice());

    // Key versions: rotate, the old DEK still opens (named or found), the
    // HMAC is unchanged, removal shreds v1.
    assert_eq!(dek.version, "v1");
    assert_eq!(admin.rotate_key("app-key").await.unwrap(), "v2");
    let dek2 = app.generate_key("app-key", b"ctx").await.unwrap();
    assert_eq!(dek2.version, "v2");
    for (d, v) in [(&dek, "v1"), (&dek2, "v2"), (&dek, ""), (&dek2, "")] {
        let plain = app
            .decrypt_version("app-key", v, &d.ciphertext, b"ctx")
            .await
            .unwrap();
        assert_eq!(plain.as_slice(), d.plaintext.as_slice(), "{v}");
    }
    let m3 = admin.hmac("app-key", b"root access key").await.unwrap();
    assert_eq!(m3.as_slice(), m1.as_slice());
    let versions = admin.key_versions("app-key").await.unwrap();
    assert_eq!(
        (versions.latest.as_str(), versions.versions.len()),
        ("v2", 2)
    );
    assert!(matches!(
        app.remove_key_version("app-key", "v1").await,
        Err(Error::NotAllowed)
    ));
    admin.remove_key_version("app-key", "v1").await.unwrap();
    assert!(matches!(
        app.decrypt("app-key", &dek.ciphertext, b"ctx").await,
        Err(Error::DecryptFailed)
    ));

    assert_eq!(admin.list_policies("").await.unwrap(), vec!["app"]);
    let policy = admin.read_policy("app").await.unwrap();
    assert!(policy.allow.contains_key("/v1/status"));
    assert_eq!(admin.describe_policy("app").await.unwrap().name, "app");
    assert!(matches!(
        admin.describe_policy("nope").await,
        Err(Error::PolicyNotFound)
    ));
    let me = app.self_describe().await.unwrap();
    assert_eq!(me.policy, "app");
    assert_eq!(me.identity, app_key.identity().as_str());
    assert!(admin.self_describe().await.unwrap().admin);
    let who = admin
        .describe_identity(app_key.identity().as_str())
        .await
        .unwrap();
    assert_eq!(who.policy, "app");
    assert!(matches!(
        admin.describe_identity("abc").await,
        Err(Error::IdentityNotFound)
    ));
    assert_eq!(admin.list_identities("").await.unwrap().len(), 2);

    admin.delete_key("imported").await.unwrap();
    assert!(matches!(
        admin.delete_key("imported").await,
        Err(Error::KeyNotFound)
    ));

    let event = tokio::time::timeout(Duration::from_secs(10), audit.next_event())
        .await
        .expect("audit event")
        .unwrap()
        .unwrap();
    assert_eq!(event.request.path, "/v1/key/create/app-key");
    assert_eq!(event.response.code, 200);
    drop(audit);
    srv.stop().await;
}
