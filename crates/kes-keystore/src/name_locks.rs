//! Per-name locks for stores whose remote API has no create-if-absent
//! (Vault K/V v1, Azure Key Vault): a create checks, then writes, under the
//! lock of its name, so that concurrent creates through one store are
//! serialized. Across KES nodes the check-then-write stays racy; each such
//! store says so in its doc.

use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

/// Number of locks; names share a lock by hash.
const LOCKS: usize = 64;

/// A fixed set of locks, one chosen per name.
pub(crate) struct NameLocks([Mutex<()>; LOCKS]);

impl NameLocks {
    /// Unlocked locks.
    pub(crate) fn new() -> Self {
        Self(std::array::from_fn(|_| Mutex::new(())))
    }

    /// Waits for and takes the lock of `name`.
    pub(crate) async fn lock(&self, name: &str) -> MutexGuard<'_, ()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut h);
        let i = usize::try_from(h.finish() % LOCKS as u64).unwrap_or(0);
        self.0[i].lock().await
    }
}
