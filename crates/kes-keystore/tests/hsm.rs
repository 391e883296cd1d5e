//! The HSM seal against SoftHSM2: the conformance suite through the seal
//! over the fs store and over OpenBao, values at rest are sealed, values
//! swapped between names fail to unseal, unsealed legacy values are refused
//! (or read with `allow_unsealed`), a missing seal key is refused at start
//! (or generated with `create`, also by nodes starting at once), the token
//! by label or slot, a wrong PIN, many parallel calls, a lost login, and the
//! cost of one seal and one unseal.
//!
//! Every test runs in a child process with a private SoftHSM2 token
//! (`kes_testpeers::softhsm`); when SoftHSM2 is not installed
//! (`apt-get install softhsm2`; `.ci/run` installs it) the tests skip with a
//! message saying so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use kes_config::Secret;
use kes_keystore::fs::FsKeyStore;
use kes_keystore::mem::MemKeyStore;
use kes_keystore::seal::{HsmConfig, SEALED_PREFIX, SealedKeyStore, TokenSelector};
use kes_keystore::testkit::{run_all, unique_prefix};
use kes_keystore::vault::{AppRoleOptions, KvVersion, VaultAuth, VaultKeyStore, VaultOptions};
use kes_keystore::{ErrorKind, KeyStore};
use kes_testpeers::openbao::{OpenBao, ROLE_ID, SECRET_ID};
use kes_testpeers::softhsm::{PIN, TOKEN, in_private_token};
use kes_types::KeyName;
use zeroize::Zeroizing;

/// The seal config for the test token, key `label`.
fn config(module: &Path, label: &str, create: bool) -> HsmConfig {
    HsmConfig {
        module: module.to_owned(),
        token: TokenSelector::Label(TOKEN.into()),
        pin: Secret::new(PIN.into()),
        key: label.into(),
        create,
        allow_unsealed: false,
    }
}

fn key(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

/// A sealed store over `inner`, generating the seal key.
async fn sealed(module: &Path, inner: Arc<dyn KeyStore>) -> SealedKeyStore {
    SealedKeyStore::open(config(module, "kes-seal", true), inner)
        .await
        .unwrap()
}

/// Checks that `inner` holds a sealed value for `name` that does not
/// contain `plain`.
async fn assert_sealed_at_rest(inner: &dyn KeyStore, name: &str, plain: &[u8]) {
    let raw = inner.get(&key(name)).await.unwrap();
    assert!(
        raw.starts_with(SEALED_PREFIX.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(!raw.windows(plain.len()).any(|w| w == plain));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_through_the_seal_conforms_and_is_sealed_at_rest() {
    let Some(module) = in_private_token("fs_through_the_seal_conforms_and_is_sealed_at_rest")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn KeyStore> = Arc::new(FsKeyStore::open(dir.path()).unwrap());
    let store = sealed(&module, Arc::clone(&inner)).await;
    assert!(
        store
            .description()
            .contains("sealed by HSM token 'kes', key 'kes-seal'")
    );
    run_all(&store, &unique_prefix("hsm-fs")).await.unwrap();

    let plain = b"stored-key-text-of-my-key";
    store.create(&key("my-key"), plain).await.unwrap();
    assert_eq!(store.get(&key("my-key")).await.unwrap().as_slice(), plain);
    assert_sealed_at_rest(&*inner, "my-key", plain).await;
    let file = std::fs::read(dir.path().join("my-key")).unwrap();
    assert!(file.starts_with(SEALED_PREFIX.as_bytes()));
    // Two seals of one value differ (random IV).
    let again = store.seal(&key("my-key"), plain).await.unwrap();
    assert_ne!(again.as_bytes(), file.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_through_the_seal_conforms_and_is_sealed_at_rest() {
    let Some(module) = in_private_token("openbao_through_the_seal_conforms_and_is_sealed_at_rest")
    else {
        return;
    };
    let bao = OpenBao::start().await;
    bao.seed().await;
    let mut o = VaultOptions::new(
        bao.endpoint(),
        VaultAuth::AppRole(AppRoleOptions {
            id: Zeroizing::new(ROLE_ID.into()),
            secret: Zeroizing::new(SECRET_ID.into()),
            ..Default::default()
        }),
    );
    o.engine = "kv2".into();
    o.version = KvVersion::V2;
    o.prefix = "kes".into();
    let inner: Arc<dyn KeyStore> = Arc::new(VaultKeyStore::connect(o).await.unwrap());
    let store = sealed(&module, Arc::clone(&inner)).await;
    run_all(&store, &unique_prefix("hsm-bao")).await.unwrap();
    let plain = b"value-in-openbao";
    store.create(&key("bao-key"), plain).await.unwrap();
    assert_eq!(store.get(&key("bao-key")).await.unwrap().as_slice(), plain);
    assert_sealed_at_rest(&*inner, "bao-key", plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_swapped_between_names_do_not_unseal() {
    let Some(module) = in_private_token("values_swapped_between_names_do_not_unseal") else {
        return;
    };
    let inner: Arc<dyn KeyStore> = Arc::new(MemKeyStore::new());
    let store = sealed(&module, Arc::clone(&inner)).await;
    store.create(&key("a"), b"value of a").await.unwrap();
    store.create(&key("b"), b"value of b").await.unwrap();
    let a = inner.get(&key("a")).await.unwrap();
    inner.delete(&key("b")).await.unwrap();
    inner.create(&key("b"), &a).await.unwrap();
    let e = store.get(&key("b")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(
        e.to_string()
            .contains("cannot unseal the value of key 'b': authentication failed"),
        "{e}"
    );
    // A flipped byte fails the same way; a cut value is named as such.
    let mut bad = a.to_vec();
    let last = bad.len() - 3;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    inner.create(&key("c"), &bad).await.unwrap();
    assert!(
        store
            .get(&key("c"))
            .await
            .unwrap_err()
            .to_string()
            .contains("authentication failed")
    );
    inner
        .create(&key("d"), format!("{SEALED_PREFIX}AAAA").as_bytes())
        .await
        .unwrap();
    assert!(
        store
            .get(&key("d"))
            .await
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    // The original still reads.
    assert_eq!(
        store.get(&key("a")).await.unwrap().as_slice(),
        b"value of a"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsealed_values_are_refused_unless_allowed() {
    let Some(module) = in_private_token("unsealed_values_are_refused_unless_allowed") else {
        return;
    };
    let inner: Arc<dyn KeyStore> = Arc::new(MemKeyStore::new());
    inner
        .create(&key("legacy"), b"plain legacy value")
        .await
        .unwrap();
    let store = sealed(&module, Arc::clone(&inner)).await;
    let e = store.get(&key("legacy")).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "hsm: the value of key 'legacy' is not sealed (written before the HSM seal was \
         configured?); refusing it (set hsm.pkcs11.allow_unsealed: true to read unsealed \
         values while migrating)"
    );
    let mut c = config(&module, "kes-seal", false);
    c.allow_unsealed = true;
    let migrating = SealedKeyStore::open(c, Arc::clone(&inner)).await.unwrap();
    assert_eq!(
        migrating.get(&key("legacy")).await.unwrap().as_slice(),
        b"plain legacy value"
    );
    // A value of a later seal format is never taken for an unsealed one.
    inner
        .create(&key("future"), b"kes-sealed:v2:AAAA")
        .await
        .unwrap();
    let e = migrating.get(&key("future")).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("sealed in a format this KES does not know"),
        "{e}"
    );
    // Writes are sealed all the same, and sealed values still unseal.
    migrating.create(&key("new"), b"new value").await.unwrap();
    assert_sealed_at_rest(&*inner, "new", b"new value").await;
    assert_eq!(
        migrating.get(&key("new")).await.unwrap().as_slice(),
        b"new value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_seal_key_is_refused_unless_created() {
    let Some(module) = in_private_token("a_missing_seal_key_is_refused_unless_created") else {
        return;
    };
    let inner: Arc<dyn KeyStore> = Arc::new(MemKeyStore::new());
    let e = config(&module, "absent", false)
        .seal(Arc::clone(&inner))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert_eq!(
        e.to_string(),
        "invalid key store config: hsm: the seal key 'absent' does not exist on token 'kes' \
         (set hsm.pkcs11.create: true to generate it)"
    );
    let created = config(&module, "absent", true)
        .seal(Arc::clone(&inner))
        .await
        .unwrap();
    created.create(&key("k"), b"v").await.unwrap();
    // Now it exists: found without `create`, and it unseals what was sealed.
    let found = config(&module, "absent", false)
        .seal(Arc::clone(&inner))
        .await
        .unwrap();
    assert_eq!(found.get(&key("k")).await.unwrap().as_slice(), b"v");
    // Another seal key cannot unseal it.
    let other = config(&module, "other", true)
        .seal(Arc::clone(&inner))
        .await
        .unwrap();
    assert!(
        other
            .get(&key("k"))
            .await
            .unwrap_err()
            .to_string()
            .contains("authentication failed")
    );

    // The token by slot number (SoftHSM moves an initialised token to a
    // slot named after its serial): as by label; an empty slot is named.
    let slots = std::process::Command::new("softhsm2-util")
        .arg("--show-slots")
        .output()
        .unwrap();
    let mut slot = None;
    let mut current = None;
    for line in String::from_utf8_lossy(&slots.stdout).lines() {
        if let Some(id) = line.strip_prefix("Slot ") {
            current = id.trim().parse::<u64>().ok();
        }
        if line.trim().strip_prefix("Label:").map(str::trim) == Some(TOKEN) {
            slot = current;
        }
    }
    let mut by_slot = config(&module, "absent", false);
    by_slot.token = TokenSelector::Slot(slot.expect("the token's slot"));
    let found = by_slot.seal(Arc::clone(&inner)).await.unwrap();
    assert_eq!(found.get(&key("k")).await.unwrap().as_slice(), b"v");
    by_slot.token = TokenSelector::Slot(4_000_000_001);
    let e = by_slot.seal(Arc::clone(&inner)).await.unwrap_err();
    assert!(
        e.to_string().ends_with("hsm: no token in slot 4000000001"),
        "{e}"
    );

    let mut wrong_token = config(&module, "absent", false);
    wrong_token.token = TokenSelector::Label("nope".into());
    let e = wrong_token.seal(Arc::clone(&inner)).await.unwrap_err();
    assert!(
        e.to_string().ends_with("hsm: no token labelled 'nope'"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_denied_without_showing_it() {
    let Some(module) = in_private_token("a_wrong_pin_is_denied_without_showing_it") else {
        return;
    };
    let mut c = config(&module, "kes-seal", true);
    c.pin = Secret::new("wrong-pin-0815".into());
    let e = c.seal(Arc::new(MemKeyStore::new())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("cannot log in to token 'kes': Login failed: PinIncorrect"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-pin-0815") && !text.contains(PIN),
        "{text}"
    );
    assert!(!format!("{c:?}").contains("wrong-pin-0815"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_calls_and_a_lost_login() {
    let Some(module) = in_private_token("parallel_calls_and_a_lost_login") else {
        return;
    };
    let store = Arc::new(sealed(&module, Arc::new(MemKeyStore::new())).await);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let name = key(&format!("k{i}"));
                let value = format!("value {i}");
                store.create(&name, value.as_bytes()).await.unwrap();
                for _ in 0..4 {
                    assert_eq!(store.get(&name).await.unwrap().as_slice(), value.as_bytes());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    store.status().await.unwrap();
    // The token forgets the login (as after an HSM restart): the pooled
    // sessions fail, are replaced, and calls go on.
    store.logout_for_test().await;
    assert_eq!(store.get(&key("k1")).await.unwrap().as_slice(), b"value 1");
    store.create(&key("after"), b"after").await.unwrap();
    assert_eq!(store.get(&key("after")).await.unwrap().as_slice(), b"after");
}

/// The cost of one seal and one unseal (one `C_Encrypt` / `C_Decrypt` of a
/// ~160-byte stored key on SoftHSM, plus the `spawn_blocking` hop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_and_unseal_cost() {
    let Some(module) = in_private_token("seal_and_unseal_cost") else {
        return;
    };
    let store = sealed(&module, Arc::new(MemKeyStore::new())).await;
    let name = key("bench");
    let value = [7u8; 160];
    const N: u32 = 2000;
    for _ in 0..50 {
        store.seal(&name, &value).await.unwrap();
    }
    let start = Instant::now();
    let mut sealed_value = String::new();
    for _ in 0..N {
        sealed_value = store.seal(&name, &value).await.unwrap();
    }
    let seal = start.elapsed() / N;
    let start = Instant::now();
    for _ in 0..N {
        let raw = Zeroizing::new(sealed_value.as_bytes().to_vec());
        store.unseal(&name, raw).await.unwrap();
    }
    let unseal = start.elapsed() / N;
    println!(
        "figure: HSM seal {:.1} µs/call, unseal {:.1} µs/call (SoftHSM2, 160-byte value, {N} calls each)",
        seal.as_secs_f64() * 1e6,
        unseal.as_secs_f64() * 1e6
    );
}

/// Nodes started at once with `create: true` on a token without the seal
/// key settle on one key: each unseals what the others sealed, and the
/// token holds one key with the label (a node started without `create`
/// finds exactly one). The nodes are three stores opened concurrently in
/// one process (each opens on its own blocking thread, as separate
/// processes would); rounds repeat the race on fresh labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_creating_the_seal_key_at_once_settle_on_one() {
    let Some(module) = in_private_token("nodes_creating_the_seal_key_at_once_settle_on_one") else {
        return;
    };
    for round in 0..8 {
        let label = format!("race-{round}");
        let inner: Arc<dyn KeyStore> = Arc::new(MemKeyStore::new());
        let configs: Vec<_> = (0..3).map(|_| config(&module, &label, true)).collect();
        let nodes =
            futures_util::future::try_join_all(configs.iter().map(|c| c.seal(Arc::clone(&inner))))
                .await
                .unwrap();
        let names: Vec<_> = (0..nodes.len()).map(|i| key(&format!("k{i}"))).collect();
        for (node, name) in nodes.iter().zip(&names) {
            node.create(name, name.as_str().as_bytes()).await.unwrap();
        }
        for node in &nodes {
            for name in &names {
                assert_eq!(
                    node.get(name).await.unwrap().as_slice(),
                    name.as_str().as_bytes()
                );
            }
        }
        config(&module, &label, false).seal(inner).await.unwrap();
    }
}
