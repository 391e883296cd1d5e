//! The in-memory key store (`kes server --dev`, tests) and the listing
//! helper every backend that fetches all names at once can share.
//!
//! [`MemKeyStore`] keeps a sorted map behind a read-write lock; values are
//! zeroized when removed or when the store is dropped. Nothing is persisted.
//! [`paginate`] implements the listing contract of [`KeyStore::list`]
//! (prefix, start, limit, continuation) over an arbitrary set of names.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use kes_types::KeyName;
use zeroize::Zeroizing;

use crate::{KeyStore, KeyStoreError, ListPage, MAX_LIST, Status};

/// The effective page size for a requested `limit`: `0` means "as many as
/// allowed", anything above [`MAX_LIST`] is capped.
pub fn effective_limit(limit: usize) -> usize {
    if limit == 0 || limit > MAX_LIST {
        MAX_LIST
    } else {
        limit
    }
}

/// Applies the [`KeyStore::list`] contract to `names` (in any order, possibly
/// with duplicates): keeps the names starting with `prefix` that are
/// `>= start`, sorts them bytewise and returns at most
/// [`effective_limit(limit)`](effective_limit) of them; `next` is the first
/// name not returned, if any.
///
/// Backends that can only fetch every remote name (AWS, GCP, Azure, ...) call
/// this on the full set.
pub fn paginate<I>(names: I, prefix: &str, start: &str, limit: usize) -> ListPage
where
    I: IntoIterator<Item = String>,
{
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with(prefix) && n.as_str() >= start)
        .collect();
    names.sort_unstable();
    names.dedup();
    let limit = effective_limit(limit);
    let next = if names.len() > limit {
        let mut rest = names.split_off(limit);
        rest.truncate(1);
        rest.pop()
    } else {
        None
    };
    ListPage { names, next }
}

/// A key store that lives in memory only; see the [module docs](self).
#[derive(Default)]
pub struct MemKeyStore {
    keys: RwLock<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl MemKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys stored.
    pub fn len(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the values: they are secret keys.
        f.debug_struct("MemKeyStore")
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl KeyStore for MemKeyStore {
    fn description(&self) -> String {
        "In Memory".to_owned()
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let start = Instant::now();
        drop(self.keys.read().unwrap_or_else(PoisonError::into_inner));
        Ok(Status {
            latency: start.elapsed(),
        })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        match keys.entry(name.as_str().to_owned()) {
            std::collections::btree_map::Entry::Occupied(_) => Err(KeyStoreError::AlreadyExists),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(Zeroizing::new(value.to_vec()));
                Ok(())
            }
        }
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(name.as_str())
            .map(|v| Zeroizing::new(v.to_vec()))
            .ok_or(KeyStoreError::NotFound)
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        // The removed value is a `Zeroizing` and is wiped when dropped here.
        keys.remove(name.as_str())
            .map(drop)
            .ok_or(KeyStoreError::NotFound)
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let limit = effective_limit(limit);
        let from = if start > prefix { start } else { prefix };
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut iter = keys
            .range::<str, _>((Bound::Included(from), Bound::Unbounded))
            .map(|(name, _)| name)
            .take_while(|name| name.starts_with(prefix));
        let names: Vec<String> = iter.by_ref().take(limit).cloned().collect();
        let next = iter.next().cloned();
        Ok(ListPage { names, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paginate_filters_sorts_and_cuts() {
        let all = strings(&["b2", "a", "b1", "b3", "c", "b1"]);
        let page = paginate(all.clone(), "b", "", 2);
        assert_eq!(page.names, strings(&["b1", "b2"]));
        assert_eq!(page.next.as_deref(), Some("b3"));
        let page = paginate(all.clone(), "b", "b3", 2);
        assert_eq!(page.names, strings(&["b3"]));
        assert_eq!(page.next, None);
        let page = paginate(all.clone(), "", "b15", 0);
        assert_eq!(page.names, strings(&["b2", "b3", "c"]));
        assert_eq!(page.next, None);
        let page = paginate(all, "x", "", 10);
        assert!(page.names.is_empty());
        assert_eq!(page.next, None);
    }

    #[test]
    fn limits_are_capped() {
        assert_eq!(effective_limit(0), MAX_LIST);
        assert_eq!(effective_limit(7), 7);
        assert_eq!(effective_limit(MAX_LIST + 1), MAX_LIST);
        let names = (0..MAX_LIST + 5).map(|i| format!("k{i:05}"));
        let page = paginate(names, "", "", usize::MAX);
        assert_eq!(page.names.len(), MAX_LIST);
        assert_eq!(page.next, Some(format!("k{MAX_LIST:05}")));
    }

    #[tokio::test]
    async fn list_matches_paginate() {
        let store = MemKeyStore::new();
        let all = strings(&["a", "a-1", "a-2", "a_3", "ab", "b", "b-1", "c"]);
        for n in &all {
            store.create(&key(n), b"v").await.unwrap();
        }
        for prefix in ["", "a", "a-", "b", "z", "a_3"] {
            for start in ["", "a", "a-15", "ab", "b-1", "zz"] {
                for limit in [0, 1, 2, 3, 100] {
                    let got = store.list(prefix, start, limit).await.unwrap();
                    let want = paginate(all.clone(), prefix, start, limit);
                    assert_eq!(got, want, "prefix={prefix:?} start={start:?} limit={limit}");
                }
            }
        }
    }

    #[tokio::test]
    async fn list_caps_at_max_list() {
        let store = MemKeyStore::new();
        for i in 0..=MAX_LIST {
            store.create(&key(&format!("k{i:05}")), b"").await.unwrap();
        }
        let page = store.list("", "", 5000).await.unwrap();
        assert_eq!(page.names.len(), MAX_LIST);
        assert_eq!(page.next, Some(format!("k{MAX_LIST:05}")));
    }

    #[tokio::test]
    async fn create_never_overwrites_and_delete_reports_missing() {
        let store = MemKeyStore::new();
        store.create(&key("k"), b"first").await.unwrap();
        assert!(matches!(
            store.create(&key("k"), b"second").await,
            Err(KeyStoreError::AlreadyExists)
        ));
        assert_eq!(store.get(&key("k")).await.unwrap().as_slice(), b"first");
        store.delete(&key("k")).await.unwrap();
        assert!(matches!(
            store.delete(&key("k")).await,
            Err(KeyStoreError::NotFound)
        ));
        assert!(store.is_empty());
    }

    #[test]
    fn debug_does_not_show_values() {
        let store = MemKeyStore::new();
        store
            .keys
            .write()
            .unwrap()
            .insert("k".into(), Zeroizing::new(b"SECRET".to_vec()));
        let s = format!("{store:?}");
        assert!(!s.contains("SECRET"), "{s}");
        assert_eq!(store.description(), "In Memory");
    }

    #[tokio::test]
    async fn conformance() {
        crate::testkit::run_all(&MemKeyStore::new(), "unit-mem")
            .await
            .unwrap();
    }
}
