//! The shared conformance suite of [`KeyStore`] backends (feature
//! `testkit`).
//!
//! Every backend's tests run these checks against it: the in-memory and
//! filesystem stores always, remote stores against their in-process fakes and,
//! when configured, the real service. Each check takes the store and a name
//! prefix unique to the run (see [`unique_prefix`]), touches only keys under
//! that prefix, deletes what it created, and returns `Err` with a precise
//! message on the first violation. [`run_all`] runs them all and reports every
//! failure.
//!
//! The checks assume a strongly consistent store: a key is listed and readable
//! as soon as `create` returns, and gone once `delete` returns.
//!
//! [`faults`] wraps any store to inject delays, hangs and failures; [`fake`]
//! is the PKI and HTTPS server the vendor fakes (`<backend>::fake`) run on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

use kes_types::KeyName;
use kes_types::name::MAX_NAME_LEN;

use crate::{ErrorKind, KeyStore, KeyStoreError, MAX_LIST};

#[cfg(any(
    feature = "entrust",
    feature = "gemalto",
    feature = "gcp",
    feature = "fortanix"
))]
pub mod fake;
pub mod faults;

/// The result of one conformance check.
pub type CheckResult = Result<(), String>;

/// Two KES nodes creating one name at once: `a` and `b` are two stores
/// over one back end (two nodes' views of it). For `rounds` fresh names
/// under `prefix`, both create the name concurrently: exactly one create
/// must succeed, the other must report [`ErrorKind::AlreadyExists`], and
/// both stores must then read the winner's value. For back ends without
/// create-if-absent this is what their create has to make true across
/// nodes (not a [`run_all`] check, which sees one store). Returns the
/// names, left in place so that the caller can inspect the back end.
pub async fn racing_creates(
    a: &dyn KeyStore,
    b: &dyn KeyStore,
    prefix: &str,
    rounds: usize,
) -> Result<Vec<KeyName>, String> {
    let mut names = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let n = name(prefix, &format!("race-{round}"))?;
        let (ra, rb) = tokio::join!(a.create(&n, b"from a"), b.create(&n, b"from b"));
        let winner: &[u8] = match (ra, rb) {
            (Ok(()), Err(e)) if e.kind() == ErrorKind::AlreadyExists => b"from a",
            (Err(e), Ok(())) if e.kind() == ErrorKind::AlreadyExists => b"from b",
            (Ok(()), Ok(())) => return Err(format!("create '{n}' succeeded on both stores")),
            (Err(e), _) | (_, Err(e)) => return Err(unexpected("racing create", &n, &e)),
        };
        expect_value(a, &n, winner).await?;
        expect_value(b, &n, winner).await?;
        names.push(n);
    }
    Ok(names)
}

/// One named conformance check.
type Check = for<'a> fn(
    &'a dyn KeyStore,
    &'a str,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = CheckResult> + Send + 'a>,
>;

/// A fresh prefix `kt-<tag>-<random hex>` so that suites sharing one remote
/// store never see each other's keys. `tag` must consist of name characters.
pub fn unique_prefix(tag: &str) -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("kt-{tag}-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// `<prefix>-<suffix>` as a key name, or an error explaining why it is not one.
fn name(prefix: &str, suffix: &str) -> Result<KeyName, String> {
    let s = format!("{prefix}-{suffix}");
    KeyName::new(&s).map_err(|e| format!("test name from prefix {prefix:?}: {e}"))
}

/// Deletes keys, ignoring every error (cleanup after a check).
async fn cleanup(store: &dyn KeyStore, names: &[KeyName]) {
    for n in names {
        let _ = store.delete(n).await;
    }
}

/// Runs `body`, then deletes `names` whether it failed or not.
async fn with_cleanup<F>(store: &dyn KeyStore, names: &[KeyName], body: F) -> CheckResult
where
    F: std::future::Future<Output = CheckResult>,
{
    let result = body.await;
    cleanup(store, names).await;
    result
}

/// Describes an unexpected error without ever printing a value.
fn unexpected(op: &str, name: &KeyName, err: &KeyStoreError) -> String {
    format!("{op} '{name}': unexpected error: {err}")
}

async fn expect_value(store: &dyn KeyStore, n: &KeyName, want: &[u8]) -> CheckResult {
    let got = store.get(n).await.map_err(|e| unexpected("get", n, &e))?;
    if got.as_slice() != want {
        return Err(format!(
            "get '{n}': value differs from the one stored ({} bytes read, {} expected{})",
            got.len(),
            want.len(),
            first_difference(&got, want)
                .map(|i| format!(", first difference at byte {i}"))
                .unwrap_or_default()
        ));
    }
    Ok(())
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

async fn expect_not_found(store: &dyn KeyStore, n: &KeyName, when: &str) -> CheckResult {
    match store.get(n).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Ok(_) => Err(format!("get '{n}' {when}: expected NotFound, got a value")),
        Err(e) => Err(format!("get '{n}' {when}: expected NotFound, got: {e}")),
    }
}

/// Create, get (same bytes), delete, then get gives `NotFound`.
pub async fn create_get_delete(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let n = name(prefix, "cgd")?;
    with_cleanup(store, std::slice::from_ref(&n), async {
        let value = b"create-get-delete value";
        store
            .create(&n, value)
            .await
            .map_err(|e| unexpected("create", &n, &e))?;
        expect_value(store, &n, value).await?;
        store
            .delete(&n)
            .await
            .map_err(|e| unexpected("delete", &n, &e))?;
        expect_not_found(store, &n, "after delete").await?;
        // Re-creating a deleted name works.
        store
            .create(&n, b"again")
            .await
            .map_err(|e| unexpected("create after delete", &n, &e))?;
        expect_value(store, &n, b"again").await
    })
    .await
}

/// A second create of one name gives `AlreadyExists` and keeps the first value.
pub async fn create_twice_fails(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let n = name(prefix, "twice")?;
    with_cleanup(store, std::slice::from_ref(&n), async {
        store
            .create(&n, b"first")
            .await
            .map_err(|e| unexpected("create", &n, &e))?;
        match store.create(&n, b"second").await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Ok(()) => return Err(format!("second create '{n}' succeeded; want AlreadyExists")),
            Err(e) => return Err(format!("second create '{n}': want AlreadyExists, got: {e}")),
        }
        expect_value(store, &n, b"first").await
    })
    .await
}

/// Get of a name never created gives `NotFound`.
pub async fn get_missing(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let n = name(prefix, "missing")?;
    expect_not_found(store, &n, "of a key never created").await
}

/// Delete of a name never created gives `Ok` or `NotFound` (some remote stores
/// are idempotent), never another error.
pub async fn delete_missing(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let n = name(prefix, "missing")?;
    match store.delete(&n).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "delete '{n}' of a key never created: want Ok or NotFound, got: {e}"
        )),
    }
}

/// Listing by prefix, with a limit of 2 and continuation via `start`. The
/// names keep to Azure Key Vault's alphabet (`[0-9a-zA-Z-]`, no `_`), so
/// that every store can run the suite.
pub async fn list_prefix_and_paging(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let lp = format!("{prefix}-lp-");
    let inside: Vec<KeyName> = ["d", "a", "e", "b-x", "c-1"]
        .iter()
        .map(|s| name(prefix, &format!("lp-{s}")))
        .collect::<Result<_, _>>()?;
    // Names that share most of the prefix but must not be listed.
    let outside = vec![
        name(prefix, "lp")?,
        name(prefix, "lq-a")?,
        name(prefix, "lpx")?,
    ];
    let all: Vec<KeyName> = inside.iter().chain(&outside).cloned().collect();
    with_cleanup(store, &all, async {
        for n in &all {
            store
                .create(n, b"v")
                .await
                .map_err(|e| unexpected("create", n, &e))?;
        }
        let mut want: Vec<String> = inside.iter().map(|n| n.as_str().to_owned()).collect();
        want.sort();

        // One page with room to spare.
        let page = store
            .list(&lp, "", MAX_LIST)
            .await
            .map_err(|e| format!("list prefix {lp:?}: {e}"))?;
        if page.names != want || page.next.is_some() {
            return Err(format!(
                "list prefix {lp:?} limit {MAX_LIST}: got {:?} next {:?}, want {want:?} next None",
                page.names, page.next
            ));
        }

        // Pages of 2, continuing at `next`.
        let mut got = Vec::new();
        let mut start = String::new();
        for round in 0.. {
            if round > want.len() {
                return Err(format!(
                    "list prefix {lp:?} limit 2: no end after {round} pages (got {got:?})"
                ));
            }
            let page = store
                .list(&lp, &start, 2)
                .await
                .map_err(|e| format!("list prefix {lp:?} start {start:?} limit 2: {e}"))?;
            if page.names.len() > 2 {
                return Err(format!(
                    "list prefix {lp:?} start {start:?} limit 2: got {} names: {:?}",
                    page.names.len(),
                    page.names
                ));
            }
            got.extend(page.names);
            match page.next {
                Some(next) => {
                    if next.as_str() <= start.as_str() || !next.starts_with(&lp) {
                        return Err(format!(
                            "list prefix {lp:?} start {start:?} limit 2: bad next {next:?}"
                        ));
                    }
                    start = next;
                }
                None => break,
            }
        }
        if got != want {
            return Err(format!(
                "list prefix {lp:?} in pages of 2: got {got:?}, want {want:?}"
            ));
        }

        // A start between two names begins at the next one.
        let start = format!("{lp}b");
        let page = store
            .list(&lp, &start, MAX_LIST)
            .await
            .map_err(|e| format!("list prefix {lp:?} start {start:?}: {e}"))?;
        let tail: Vec<String> = want
            .iter()
            .filter(|n| n.as_str() >= start.as_str())
            .cloned()
            .collect();
        if page.names != tail || page.next.is_some() {
            return Err(format!(
                "list prefix {lp:?} start {start:?}: got {:?} next {:?}, want {tail:?} next None",
                page.names, page.next
            ));
        }

        // The whole run prefix sees all eight names.
        let page = store
            .list(prefix, "", MAX_LIST)
            .await
            .map_err(|e| format!("list prefix {prefix:?}: {e}"))?;
        for n in &all {
            if !page.names.iter().any(|x| x == n.as_str()) {
                return Err(format!(
                    "list prefix {prefix:?}: '{n}' missing from {:?}",
                    page.names
                ));
            }
        }
        if !page.names.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!(
                "list prefix {prefix:?}: names not strictly sorted: {:?}",
                page.names
            ));
        }
        Ok(())
    })
    .await
}

/// Listing a prefix nothing has gives no names and no continuation.
pub async fn list_empty(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let p = format!("{prefix}-empty-");
    for limit in [0, 1, MAX_LIST] {
        let page = store
            .list(&p, "", limit)
            .await
            .map_err(|e| format!("list prefix {p:?} limit {limit}: {e}"))?;
        if !page.names.is_empty() || page.next.is_some() {
            return Err(format!(
                "list prefix {p:?} limit {limit}: want nothing, got {:?} next {:?}",
                page.names, page.next
            ));
        }
    }
    Ok(())
}

/// 16 concurrent creates of one name: exactly one succeeds, the others get
/// `AlreadyExists`, and the stored value is the winner's.
pub async fn concurrent_creates(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    const N: usize = 16;
    let n = name(prefix, "race")?;
    with_cleanup(store, std::slice::from_ref(&n), async {
        let values: Vec<Vec<u8>> = (0..N)
            .map(|i| format!("contender-{i:02}").into_bytes())
            .collect();
        let results =
            futures_util::future::join_all(values.iter().map(|v| store.create(&n, v))).await;
        let mut winners = Vec::new();
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(()) => winners.push(i),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("concurrent create '{n}' #{i}: unexpected: {e}")),
            }
        }
        let [winner] = winners[..] else {
            return Err(format!(
                "{N} concurrent creates of '{n}': want exactly one success, got {} (#{winners:?})",
                winners.len()
            ));
        };
        expect_value(store, &n, &values[winner])
            .await
            .map_err(|e| format!("after concurrent creates (winner #{winner}): {e}"))
    })
    .await
}

/// A name of exactly [`MAX_NAME_LEN`] (80) bytes works for every operation.
pub async fn name_at_length_limit(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let head = format!("{prefix}-long-");
    if head.len() >= MAX_NAME_LEN {
        return Err(format!(
            "prefix {prefix:?} is too long to build an {MAX_NAME_LEN}-byte name"
        ));
    }
    let s = format!("{head}{}", "x".repeat(MAX_NAME_LEN - head.len()));
    let n = KeyName::new(&s).map_err(|e| e.to_string())?;
    with_cleanup(store, std::slice::from_ref(&n), async {
        store
            .create(&n, b"long")
            .await
            .map_err(|e| unexpected("create", &n, &e))?;
        expect_value(store, &n, b"long").await?;
        let page = store
            .list(&head, "", MAX_LIST)
            .await
            .map_err(|e| format!("list prefix {head:?}: {e}"))?;
        if page.names != [s.clone()] {
            return Err(format!(
                "list prefix {head:?}: got {:?}, want [{s:?}]",
                page.names
            ));
        }
        store
            .delete(&n)
            .await
            .map_err(|e| unexpected("delete", &n, &e))?;
        expect_not_found(store, &n, "after delete").await
    })
    .await
}

/// Values come back byte-exact: every byte value, NUL, invalid UTF-8, sizes
/// 1 to 4096 and the ~200-byte base64 text KES actually stores.
pub async fn values_round_trip(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    // KES only ever stores text (base64 protobuf or legacy JSON), and several
    // remote stores (AWS SecretString, Vault JSON fields) only hold text, so the
    // shared suite uses text values; `binary_values_round_trip` covers stores
    // that are binary-safe (mem, fs).
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("one", b"A".to_vec()),
        (
            "legacy-json",
            br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#.to_vec(),
        ),
        (
            "kes-text",
            b"CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAESJAogICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8QARoGCICByKwGIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy".to_vec(),
        ),
    ];
    // 4 KiB of base64-alphabet text from a deterministic pattern (xorshift).
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u32 = 0x9e37_79b9;
    let big: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            ALPHABET[(x % 64) as usize]
        })
        .collect();
    cases.push(("4k", big));
    let names: Vec<KeyName> = cases
        .iter()
        .map(|(tag, _)| name(prefix, &format!("val-{tag}")))
        .collect::<Result<_, _>>()?;
    with_cleanup(store, &names, async {
        for ((tag, value), n) in cases.iter().zip(&names) {
            store
                .create(n, value)
                .await
                .map_err(|e| format!("value {tag}: {}", unexpected("create", n, &e)))?;
        }
        for ((tag, value), n) in cases.iter().zip(&names) {
            expect_value(store, n, value)
                .await
                .map_err(|e| format!("value {tag}: {e}"))?;
        }
        Ok(())
    })
    .await
}

/// `status` succeeds.
pub async fn status_ok(store: &dyn KeyStore, _prefix: &str) -> CheckResult {
    store
        .status()
        .await
        .map(|_| ())
        .map_err(|e| format!("status: {e}"))
}

/// Every check, by name.
fn checks() -> Vec<(&'static str, Check)> {
    vec![
        ("status_ok", |s, p| Box::pin(status_ok(s, p))),
        ("create_get_delete", |s, p| {
            Box::pin(create_get_delete(s, p))
        }),
        ("create_twice_fails", |s, p| {
            Box::pin(create_twice_fails(s, p))
        }),
        ("get_missing", |s, p| Box::pin(get_missing(s, p))),
        ("delete_missing", |s, p| Box::pin(delete_missing(s, p))),
        ("list_empty", |s, p| Box::pin(list_empty(s, p))),
        ("list_prefix_and_paging", |s, p| {
            Box::pin(list_prefix_and_paging(s, p))
        }),
        ("concurrent_creates", |s, p| {
            Box::pin(concurrent_creates(s, p))
        }),
        ("name_at_length_limit", |s, p| {
            Box::pin(name_at_length_limit(s, p))
        }),
        ("values_round_trip", |s, p| {
            Box::pin(values_round_trip(s, p))
        }),
    ]
}

/// Runs every check against `store` with keys under `prefix` (each check
/// gets its own sub-prefix) and returns all failures, one per line, as
/// `check_name: message`.
pub async fn run_all(store: &dyn KeyStore, prefix: &str) -> CheckResult {
    let mut failures = Vec::new();
    for (i, (check_name, check)) in checks().into_iter().enumerate() {
        let sub = format!("{prefix}-{i}");
        if let Err(e) = check(store, &sub).await {
            failures.push(format!("{check_name}: {e}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} conformance checks failed against {}:\n{}",
            failures.len(),
            checks().len(),
            store.description(),
            failures.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ListPage, Status};
    use async_trait::async_trait;
    use zeroize::Zeroizing;

    #[test]
    fn unique_prefixes_are_valid_and_differ() {
        let a = unique_prefix("mem");
        let b = unique_prefix("mem");
        assert_ne!(a, b);
        // Room for the longest suffix ("-9-long-" plus a character) remains.
        assert!(a.len() + 10 < MAX_NAME_LEN, "{a}");
        assert!(KeyName::new(&a).is_ok(), "{a}");
    }

    #[test]
    fn first_difference_finds_position() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
    }

    /// A broken store that overwrites on create and never lists: the suite
    /// must notice.
    #[derive(Debug, Default)]
    struct Overwriting(crate::mem::MemKeyStore);

    #[async_trait]
    impl KeyStore for Overwriting {
        fn description(&self) -> String {
            "Overwriting".into()
        }
        async fn status(&self) -> Result<Status, KeyStoreError> {
            self.0.status().await
        }
        async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
            let _ = self.0.delete(name).await;
            self.0.create(name, value).await
        }
        async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
            self.0.get(name).await
        }
        async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
            self.0.delete(name).await
        }
        async fn list(&self, _: &str, _: &str, _: usize) -> Result<ListPage, KeyStoreError> {
            Ok(ListPage::default())
        }
    }

    #[tokio::test]
    async fn suite_catches_a_broken_store() {
        let err = run_all(&Overwriting::default(), "broken")
            .await
            .unwrap_err();
        for check in [
            "create_twice_fails",
            "concurrent_creates",
            "list_prefix_and_paging",
            "name_at_length_limit",
        ] {
            assert!(
                err.contains(&format!("\n{check}: ")),
                "{check} missing: {err}"
            );
        }
        assert!(!err.contains("status_ok"), "{err}");
        assert!(!err.contains("values_round_trip"), "{err}");
    }
}
