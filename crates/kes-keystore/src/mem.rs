//! The in-memory key store (`kes server --dev`, tests).
//!
//! [`MemKeyStore`] keeps a sorted map behind a read-write lock; values are
//! zeroized when removed or when the store is dropped. Nothing is persisted.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use async_trait::async_trait;
use kes_types::KeyName;
use zeroize::Zeroizing;

use crate::list::effective_limit;
use crate::{KeyStore, KeyStoreError, ListPage, Status};

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
            std::collections::btree_map::Entry::Occupied(_) => Err(KeyStoreError::already_exists()),
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
            .ok_or_else(KeyStoreError::not_found)
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        // The removed value is a `Zeroizing` and is wiped when dropped here.
        keys.remove(name.as_str())
            .map(drop)
            .ok_or_else(KeyStoreError::not_found)
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
    use crate::list::paginate;
    use crate::{ErrorKind, MAX_LIST};

    fn key(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
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
            Err(ref e) if e.kind() == ErrorKind::AlreadyExists
        ));
        assert_eq!(store.get(&key("k")).await.unwrap().as_slice(), b"first");
        store.delete(&key("k")).await.unwrap();
        assert!(
            matches!(store.delete(&key("k")).await, Err(ref e) if e.kind() == ErrorKind::NotFound)
        );
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
