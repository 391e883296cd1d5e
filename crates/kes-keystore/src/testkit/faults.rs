//! Fault injection for tests (feature `testkit`): [`FaultyStore`] wraps any
//! [`KeyStore`] and makes chosen operations slow, hang, fail or flap, switched
//! at run time through a cloneable [`Faults`] handle, and counts the calls.
//!
//! ```
//! # use std::sync::Arc;
//! # use kes_keystore::{ErrorKind, KeyStoreError, mem::MemKeyStore};
//! # use kes_keystore::testkit::faults::{Fault, FaultyStore, Op};
//! # async fn demo() {
//! let (store, faults) = FaultyStore::wrap(Arc::new(MemKeyStore::new()));
//! // hand `store` to the server; keep `faults`
//! faults.set_all(Fault::Fail(KeyStoreError::new(ErrorKind::Unreachable, "connection refused")));
//! faults.set(Op::Get, Fault::Hang);
//! faults.clear(); // back to normal; hung calls go on
//! # drop(store); }
//! ```
//!
//! A hung call waits until the fault of its operation changes, then obeys
//! the new one (after [`Faults::clear`] it reaches the wrapped store), so no
//! task is left behind forever. Faults apply to calls that start after they
//! are set; a [`Fault::Delay`] already sleeping finishes its sleep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use kes_types::KeyName;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// A [`KeyStore`] operation a fault can be attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`KeyStore::status`].
    Status,
    /// [`KeyStore::create`].
    Create,
    /// [`KeyStore::get`].
    Get,
    /// [`KeyStore::delete`].
    Delete,
    /// [`KeyStore::list`].
    List,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 5] = [Op::Status, Op::Create, Op::Get, Op::Delete, Op::List];

    fn index(self) -> usize {
        self as usize
    }
}

/// What happens to the calls of one operation.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Calls reach the wrapped store (the default).
    None,
    /// Calls wait this long, then reach the wrapped store.
    Delay(Duration),
    /// Calls never return while this fault is set.
    Hang,
    /// Calls fail with (a copy of) this error without reaching the store.
    Fail(KeyStoreError),
    /// Calls alternate: the first after the fault is set fails with this
    /// error, the next reaches the store, and so on.
    Flap(KeyStoreError),
}

/// The fault of each operation plus, for flapping, whether the next call
/// fails.
#[derive(Debug, Clone)]
struct Slot {
    fault: Fault,
    flap_fails_next: bool,
}

/// State shared by the store and its handles.
#[derive(Debug)]
struct Shared {
    slots: Mutex<[Slot; 5]>,
    /// Bumped on every change, to wake hung calls.
    changed: watch::Sender<u64>,
    calls: [AtomicU64; 5],
    injected: [AtomicU64; 5],
}

/// What one call does after consulting its slot.
enum Step {
    Proceed,
    Sleep(Duration),
    Hang,
    Fail(KeyStoreError),
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, [Slot; 5]> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn step(&self, op: Op) -> Step {
        let mut slots = self.slots();
        let slot = &mut slots[op.index()];
        match &slot.fault {
            Fault::None => Step::Proceed,
            Fault::Delay(d) => Step::Sleep(*d),
            Fault::Hang => Step::Hang,
            Fault::Fail(e) => Step::Fail(e.clone()),
            Fault::Flap(e) => {
                let fail = slot.flap_fails_next;
                slot.flap_fails_next = !fail;
                if fail {
                    Step::Fail(e.clone())
                } else {
                    Step::Proceed
                }
            }
        }
    }

    /// Applies the fault of `op` to one call: returns when the call may
    /// reach the store, or the injected error.
    async fn enter(&self, op: Op) -> Result<(), KeyStoreError> {
        self.calls[op.index()].fetch_add(1, Ordering::Relaxed);
        let mut changes = self.changed.subscribe();
        loop {
            changes.borrow_and_update();
            match self.step(op) {
                Step::Proceed => return Ok(()),
                Step::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    return Ok(());
                }
                Step::Fail(e) => {
                    self.injected[op.index()].fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
                Step::Hang => {
                    // The sender lives as long as `self`: `changed` only
                    // fails if it is gone, and then nothing can change.
                    if changes.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

/// A [`KeyStore`] that injects the faults set through its [`Faults`]
/// handle, then forwards to the wrapped store. See the [module docs](self).
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn KeyStore>,
    shared: Arc<Shared>,
}

/// The cloneable switch board of one [`FaultyStore`].
#[derive(Debug, Clone)]
pub struct Faults {
    shared: Arc<Shared>,
}

impl FaultyStore {
    /// Wraps `inner` with no fault set; returns the store and its handle.
    pub fn wrap(inner: Arc<dyn KeyStore>) -> (Arc<FaultyStore>, Faults) {
        let slot = Slot {
            fault: Fault::None,
            flap_fails_next: true,
        };
        let shared = Arc::new(Shared {
            slots: Mutex::new(std::array::from_fn(|_| slot.clone())),
            changed: watch::Sender::new(0),
            calls: Default::default(),
            injected: Default::default(),
        });
        let store = Arc::new(FaultyStore {
            inner,
            shared: Arc::clone(&shared),
        });
        (store, Faults { shared })
    }
}

impl Faults {
    /// Sets the fault of `op` (a flap starts with a failure).
    pub fn set(&self, op: Op, fault: Fault) {
        {
            let mut slots = self.shared.slots();
            slots[op.index()] = Slot {
                fault,
                flap_fails_next: true,
            };
        }
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Sets the same fault for every operation.
    pub fn set_all(&self, fault: Fault) {
        for op in Op::ALL {
            self.set(op, fault.clone());
        }
    }

    /// Removes every fault: calls reach the wrapped store again, hung ones
    /// included.
    pub fn clear(&self) {
        self.set_all(Fault::None);
    }

    /// How many calls of `op` were made so far (failed ones included).
    pub fn calls(&self, op: Op) -> u64 {
        self.shared.calls[op.index()].load(Ordering::Relaxed)
    }

    /// How many calls of `op` failed with an injected error so far.
    pub fn injected(&self, op: Op) -> u64 {
        self.shared.injected[op.index()].load(Ordering::Relaxed)
    }
}

#[async_trait]
impl KeyStore for FaultyStore {
    fn description(&self) -> String {
        format!("{} (with fault injection)", self.inner.description())
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        self.shared.enter(Op::Status).await?;
        self.inner.status().await
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        self.shared.enter(Op::Create).await?;
        self.inner.create(name, value).await
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        self.shared.enter(Op::Get).await?;
        self.inner.get(name).await
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        self.shared.enter(Op::Delete).await?;
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        self.shared.enter(Op::List).await?;
        self.inner.list(prefix, start, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::mem::MemKeyStore;

    fn unreachable() -> KeyStoreError {
        KeyStoreError::new(ErrorKind::Unreachable, "connection refused")
    }

    fn name(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    #[tokio::test]
    async fn fail_flap_and_clear() {
        let (store, faults) = FaultyStore::wrap(Arc::new(MemKeyStore::new()));
        store.create(&name("k"), b"v").await.unwrap();

        faults.set(Op::Get, Fault::Fail(unreachable()));
        assert!(store.get(&name("k")).await.unwrap_err().is_unreachable());
        store.status().await.unwrap(); // other operations unaffected

        faults.set(Op::Get, Fault::Flap(unreachable()));
        let outcomes: Vec<bool> = futures_util::future::join_all(
            (0..4).map(|_| async { store.get(&name("k")).await.is_ok() }),
        )
        .await;
        assert_eq!(outcomes, [false, true, false, true]);

        faults.clear();
        assert_eq!(store.get(&name("k")).await.unwrap().as_slice(), b"v");
        assert_eq!(faults.calls(Op::Get), 6);
        assert_eq!(faults.injected(Op::Get), 3);
        assert_eq!(faults.calls(Op::Create), 1);
        assert_eq!(faults.injected(Op::Create), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn delay_then_proceed() {
        let (store, faults) = FaultyStore::wrap(Arc::new(MemKeyStore::new()));
        faults.set(Op::Status, Fault::Delay(Duration::from_secs(5)));
        let start = tokio::time::Instant::now();
        store.status().await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn hang_until_cleared() {
        let (store, faults) = FaultyStore::wrap(Arc::new(MemKeyStore::new()));
        faults.set_all(Fault::Hang);
        let hung = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.create(&name("k"), b"v").await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!hung.is_finished());
        // Another fault wakes it and applies.
        faults.set(Op::Create, Fault::Fail(unreachable()));
        assert!(hung.await.unwrap().unwrap_err().is_unreachable());

        faults.set(Op::Create, Fault::Hang);
        let hung = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.create(&name("k"), b"v").await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        faults.clear();
        hung.await.unwrap().unwrap();
        assert_eq!(store.get(&name("k")).await.unwrap().as_slice(), b"v");
    }
}
