//! The key cache in front of the key store (spec §8.2, §8.3): decoded keys
//! by name, per-name single-flight misses, the "recently used" mark, the
//! background expiry jobs and the offline mode driven by status probes.
//!
//! The cache is generic over the value `V` (the server uses the resolved
//! key of `versions`); a [`Loader`] makes a `V` from the store once per
//! miss (for the server: the key's entry, and for a rotated key its latest
//! version, docs/key-versions.md).
//!
//! Hits take one read lock of one of [`SHARDS`] shards (chosen by hash of the
//! name) and clone two `Arc`s; there is no global lock on the hit path.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use kes_keystore::{ErrorKind, KeyStore, KeyStoreError, Status};
use kes_types::KeyName;
use tokio::sync::OnceCell;
use tokio::task::AbortHandle;

/// How many independently locked shards the cache map has.
pub const SHARDS: usize = 16;

/// How often the background job probes the key store's status.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// How long one status probe may take before it counts as a failure.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Expiry settings (`cache.expiry.*`). A zero duration disables that job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheConfig {
    /// `any`: every period, drop every entry (unless offline caching holds them).
    pub any: Duration,
    /// `unused`: drop entries not used for this long (swept every half period).
    pub unused: Duration,
    /// `offline`: while the store is offline, drop every entry every period;
    /// zero disables offline caching altogether.
    pub offline: Duration,
}

/// Errors of [`KeyCache::get`]. The texts never contain key material.
/// `Clone`: one failed miss is handed to every waiter of its flight.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The key store has no key with that name.
    #[error("key does not exist")]
    NotFound,
    /// The key store failed.
    #[error(transparent)]
    Store(KeyStoreError),
    /// The stored value could not be decoded.
    #[error("invalid stored key: {0}")]
    Decode(String),
}

/// How a miss turns a name into a value: the fetch behind the single-flight.
#[async_trait::async_trait]
pub trait Loader<V>: Send + Sync + 'static {
    /// Loads `name` from `store`. `NotFound` when there is no such key.
    /// Error texts must not contain key material.
    async fn load(&self, store: &dyn KeyStore, name: &KeyName) -> Result<V, CacheError>;
}

/// One cached key.
struct Entry<V> {
    value: Arc<V>,
    used: AtomicBool,
}

/// One miss in progress: every concurrent miss of a name waits on one cell.
struct Flight<V> {
    cell: OnceCell<Result<Arc<V>, CacheError>>,
}

/// One waiter's hold on a flight. Dropped before the flight finished (the
/// request gave up, e.g. at its route deadline, which cancels the fetch),
/// the last waiter unregisters the flight, so that abandoned misses do not
/// pile up in the in-flight map. (Two waiters giving up at the same instant
/// may both see the other and leave the flight registered; the next miss of
/// that name then runs the fetch and retires it as usual.)
struct Waiter<'a, V> {
    cache: &'a KeyCache<V>,
    name: &'a KeyName,
    flight: Arc<Flight<V>>,
}

impl<V> Drop for Waiter<'_, V> {
    fn drop(&mut self) {
        if self.flight.cell.initialized() {
            return; // finished: the fetch retired it
        }
        let mut inflight = lock(&self.cache.inflight);
        // Waiters clone the flight under this lock: a count of two (the
        // map's and ours) means no other waiter can take the fetch over.
        if Arc::strong_count(&self.flight) == 2
            && inflight
                .get(self.name)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            inflight.remove(self.name);
        }
    }
}

/// Entries sit in the map itself (no allocation of their own): readers
/// mark `used` under the shard's read lock.
type Map<V> = HashMap<KeyName, Entry<V>>;

/// Decoded keys by name in front of a [`KeyStore`] (spec §8.2).
///
/// Created with [`KeyCache::new`], which starts the background jobs on the
/// current tokio runtime. The jobs hold only a weak reference and are
/// aborted when the cache is dropped.
pub struct KeyCache<V> {
    store: Arc<dyn KeyStore>,
    cfg: CacheConfig,
    loader: Box<dyn Loader<V>>,
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[RwLock<Map<V>>]>,
    inflight: Mutex<HashMap<KeyName, Arc<Flight<V>>>>,
    offline: AtomicBool,
    jobs: Mutex<Vec<AbortHandle>>,
}

impl<V> std::fmt::Debug for KeyCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("store", &self.store)
            .field("cfg", &self.cfg)
            .field("offline", &self.offline.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<V: Send + Sync + 'static> KeyCache<V> {
    /// Creates a cache over `store` that fills misses with `loader` and starts the background jobs of §8.2 on the current tokio runtime
    /// (outside a runtime no jobs run: entries then never expire and the
    /// cache never goes offline).
    pub fn new(store: Arc<dyn KeyStore>, cfg: CacheConfig, loader: impl Loader<V>) -> Arc<Self> {
        let shards = (0..SHARDS)
            .map(|_| RwLock::new(HashMap::new()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let cache = Arc::new(Self {
            store,
            cfg,
            loader: Box::new(loader),
            hasher: std::collections::hash_map::RandomState::new(),
            shards,
            inflight: Mutex::new(HashMap::new()),
            offline: AtomicBool::new(false),
            jobs: Mutex::new(Vec::new()),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let mut jobs = Vec::with_capacity(4);
            let weak = Arc::downgrade(&cache);
            if !cfg.any.is_zero() {
                jobs.push(spawn_ticker(&rt, weak.clone(), cfg.any, |c| async move {
                    if c.expiry_applies().await {
                        c.clear();
                    }
                }));
            }
            let half_unused = cfg.unused / 2;
            if !half_unused.is_zero() {
                jobs.push(spawn_ticker(
                    &rt,
                    weak.clone(),
                    half_unused,
                    |c| async move {
                        if c.expiry_applies().await {
                            c.sweep_unused();
                        }
                    },
                ));
            }
            if !cfg.offline.is_zero() {
                jobs.push(spawn_ticker(
                    &rt,
                    weak.clone(),
                    cfg.offline,
                    |c| async move {
                        if c.is_offline() {
                            c.clear();
                        }
                    },
                ));
            }
            jobs.push(spawn_ticker(&rt, weak, STATUS_INTERVAL, |c| async move {
                c.probe().await;
            }));
            *lock(&cache.jobs) = jobs;
        }
        cache
    }

    /// Returns the decoded key `name`, from the cache or (on a miss) from the
    /// store. Concurrent misses of one name share a single store fetch.
    /// `NotFound` is not cached.
    pub async fn get(&self, name: &KeyName) -> Result<Arc<V>, CacheError> {
        if let Some(v) = self.lookup(name) {
            return Ok(v);
        }
        let waiter = {
            let mut inflight = lock(&self.inflight);
            let flight = inflight
                .entry(name.clone())
                .or_insert_with(|| {
                    Arc::new(Flight {
                        cell: OnceCell::new(),
                    })
                })
                .clone();
            Waiter {
                cache: self,
                name,
                flight,
            }
        };
        let flight = &waiter.flight;
        let result = flight.cell.get_or_init(|| self.fetch(name, flight)).await;
        result.clone()
    }

    /// How long an entry may be served before it is dropped (`any`, zero
    /// when off): the longest a node keeps using what it loaded.
    pub fn max_age(&self) -> Duration {
        self.cfg.any
    }

    /// Drops the cached entry of `name` (after a delete). Other KES nodes
    /// keep their entries until their own expiry.
    /// A fetch of `name` still in progress is not cached when it completes
    /// (its waiters still get the value), so a delete cannot be undone by a
    /// concurrent read.
    pub fn evict(&self, name: &KeyName) {
        let mut inflight = lock(&self.inflight);
        inflight.remove(name);
        write(self.shard(name)).remove(name);
    }

    /// Whether the last status probe failed (the store is offline).
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    /// The store's status; while offline answers `Unreachable` without
    /// contacting the store (spec §8.2).
    pub async fn status(&self) -> Result<Status, KeyStoreError> {
        if self.is_offline() {
            return Err(KeyStoreError::new(
                ErrorKind::Unreachable,
                "key store is offline (last status check failed)",
            ));
        }
        self.store.status().await
    }

    /// The key store behind the cache (for create, delete, list).
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    /// Number of cached entries (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| read(s).len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, name: &KeyName) -> &RwLock<Map<V>> {
        let h = self.hasher.hash_one(name.as_str()) as usize;
        // `SHARDS` is non-zero and the slice has exactly `SHARDS` elements.
        &self.shards[h % SHARDS]
    }

    fn lookup(&self, name: &KeyName) -> Option<Arc<V>> {
        let shard = read(self.shard(name));
        let entry = shard.get(name)?;
        if !entry.used.load(Ordering::Relaxed) {
            entry.used.store(true, Ordering::Relaxed);
        }
        Some(entry.value.clone())
    }

    /// The body of one flight: re-check the cache (an earlier flight may have
    /// filled it just now), load, insert, and retire the flight.
    async fn fetch(&self, name: &KeyName, flight: &Arc<Flight<V>>) -> Result<Arc<V>, CacheError> {
        if let Some(v) = self.lookup(name) {
            self.retire(name, flight, None);
            return Ok(v);
        }
        let result = self
            .loader
            .load(self.store.as_ref(), name)
            .await
            .map(Arc::new);
        self.retire(name, flight, result.as_ref().ok());
        result
    }

    /// Ends `flight`: if it is still the registered flight of `name` (no
    /// `evict` happened meanwhile), caches `value` and unregisters it.
    fn retire(&self, name: &KeyName, flight: &Arc<Flight<V>>, value: Option<&Arc<V>>) {
        let mut inflight = lock(&self.inflight);
        if !inflight.get(name).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            return;
        }
        inflight.remove(name);
        if let Some(v) = value {
            write(self.shard(name)).insert(
                name.clone(),
                Entry {
                    value: v.clone(),
                    used: AtomicBool::new(true),
                },
            );
        }
    }

    /// Whether the `any`/`unused` jobs may drop entries now: always when
    /// offline caching is disabled, otherwise only if the store answers a
    /// status probe made right now (which also updates the offline flag).
    ///
    /// Go decides on the result of the last 10 s probe, so an outage that
    /// began since then empties the very cache offline caching should keep;
    /// probing here, once per expiry period, closes that gap.
    async fn expiry_applies(&self) -> bool {
        if self.cfg.offline.is_zero() {
            return true;
        }
        self.probe().await;
        !self.is_offline()
    }

    fn clear(&self) {
        for s in self.shards.iter() {
            write(s).clear();
        }
    }

    fn sweep_unused(&self) {
        for s in self.shards.iter() {
            write(s).retain(|_, e| e.used.swap(false, Ordering::Relaxed));
        }
    }

    async fn probe(&self) {
        let ok = matches!(
            tokio::time::timeout(STATUS_TIMEOUT, self.store.status()).await,
            Ok(Ok(_))
        );
        self.offline.store(!ok, Ordering::Relaxed);
    }
}

impl<V> Drop for KeyCache<V> {
    fn drop(&mut self) {
        for job in lock(&self.jobs).drain(..) {
            job.abort();
        }
    }
}

/// Runs `job` every `period` (first run after one period) while the cache
/// is alive.
fn spawn_ticker<V, F, Fut>(
    rt: &tokio::runtime::Handle,
    cache: Weak<KeyCache<V>>,
    period: Duration,
    job: F,
) -> AbortHandle
where
    V: Send + Sync + 'static,
    F: Fn(Arc<KeyCache<V>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.spawn(async move {
        let start = tokio::time::Instant::now() + period;
        let mut ticker = tokio::time::interval_at(start, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(cache) = cache.upgrade() else { return };
            job(cache).await;
        }
    })
    .abort_handle()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use kes_keystore::ListPage;
    use std::sync::atomic::AtomicUsize;
    use zeroize::Zeroizing;

    /// A tiny in-test store: fixed keys, counted gets, switchable failure.
    #[derive(Debug, Default)]
    struct CountingStore {
        keys: Mutex<HashMap<String, Vec<u8>>>,
        gets: AtomicUsize,
        statuses: AtomicUsize,
        down: AtomicBool,
        get_delay: Mutex<Duration>,
    }

    impl CountingStore {
        fn with(keys: &[(&str, &str)]) -> Arc<Self> {
            let s = Self::default();
            for (k, v) in keys {
                lock(&s.keys).insert((*k).to_owned(), v.as_bytes().to_vec());
            }
            Arc::new(s)
        }
        fn gets(&self) -> usize {
            self.gets.load(Ordering::SeqCst)
        }
        fn unreachable(&self) -> KeyStoreError {
            KeyStoreError::new(ErrorKind::Unreachable, "connection refused")
        }
    }

    #[async_trait]
    impl KeyStore for CountingStore {
        fn description(&self) -> String {
            "Counting".into()
        }
        async fn status(&self) -> Result<Status, KeyStoreError> {
            self.statuses.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(self.unreachable());
            }
            Ok(Status {
                latency: Duration::from_millis(1),
            })
        }
        async fn create(&self, _: &KeyName, _: &[u8]) -> Result<(), KeyStoreError> {
            Err(KeyStoreError::already_exists())
        }
        async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let delay = *lock(&self.get_delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(self.unreachable());
            }
            lock(&self.keys)
                .get(name.as_str())
                .map(|v| Zeroizing::new(v.clone()))
                .ok_or_else(KeyStoreError::not_found)
        }
        async fn delete(&self, _: &KeyName) -> Result<(), KeyStoreError> {
            Ok(())
        }
        async fn list(&self, _: &str, _: &str, _: usize) -> Result<ListPage, KeyStoreError> {
            Ok(ListPage::default())
        }
    }

    /// The loader of these tests: get, then `decode`.
    struct Decode;

    #[async_trait]
    impl Loader<String> for Decode {
        async fn load(&self, store: &dyn KeyStore, name: &KeyName) -> Result<String, CacheError> {
            match store.get(name).await {
                Ok(b) => decode(&b).map_err(CacheError::Decode),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(CacheError::NotFound),
                Err(e) => Err(CacheError::Store(e)),
            }
        }
    }

    fn decode(b: &[u8]) -> Result<String, String> {
        match std::str::from_utf8(b) {
            Ok("bad") => Err("not a key".into()),
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err("not utf-8".into()),
        }
    }

    fn name(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    fn cfg(any: u64, unused: u64, offline: u64) -> CacheConfig {
        CacheConfig {
            any: Duration::from_secs(any),
            unused: Duration::from_secs(unused),
            offline: Duration::from_secs(offline),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_fetch_once() {
        let store = CountingStore::with(&[("k1", "v1")]);
        *lock(&store.get_delay) = Duration::from_millis(50);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        let k = name("k1");
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let c = cache.clone();
                let k = k.clone();
                tokio::spawn(async move { c.get(&k).await.map(|v| (*v).clone()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "v1");
        }
        assert_eq!(store.gets(), 1);
        assert_eq!(*cache.get(&k).await.unwrap(), "v1");
        assert_eq!(store.gets(), 1);
        assert!(lock(&cache.inflight).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_not_found_is_shared_and_not_cached() {
        let store = CountingStore::with(&[]);
        *lock(&store.get_delay) = Duration::from_millis(50);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        let k = name("missing");
        let (a, b) = tokio::join!(cache.get(&k), cache.get(&k));
        assert!(matches!(a, Err(CacheError::NotFound)));
        assert!(matches!(b, Err(CacheError::NotFound)));
        assert_eq!(store.gets(), 1);
        // Not cached: the next get asks the store again and sees the new key.
        lock(&store.keys).insert("missing".into(), b"now".to_vec());
        assert_eq!(*cache.get(&k).await.unwrap(), "now");
        assert_eq!(store.gets(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_error_reaches_every_waiter_whole() {
        let store = CountingStore::with(&[("k", "v")]);
        *lock(&store.get_delay) = Duration::from_millis(50);
        store.down.store(true, Ordering::SeqCst);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        let k = name("k");
        let (a, b) = tokio::join!(cache.get(&k), cache.get(&k));
        assert_eq!(store.gets(), 1);
        for r in [a, b] {
            let Err(CacheError::Store(e)) = r else {
                panic!("want a store error, got {r:?}");
            };
            assert_eq!(e, store.unreachable());
            assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
        }
    }

    #[tokio::test]
    async fn decode_and_store_errors_are_reported_not_cached() {
        let store = CountingStore::with(&[("b", "bad"), ("g", "good")]);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        let err = cache.get(&name("b")).await.unwrap_err();
        assert_eq!(err.to_string(), "invalid stored key: not a key");
        store.down.store(true, Ordering::SeqCst);
        let err = cache.get(&name("g")).await.unwrap_err();
        assert!(matches!(&err, CacheError::Store(e) if e.is_unreachable()));
        assert_eq!(
            err.to_string(),
            "key store is not reachable: connection refused"
        );
        assert!(cache.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn any_expiry_drops_everything() {
        let store = CountingStore::with(&[("k1", "v1")]);
        let cache = KeyCache::new(store.clone(), cfg(60, 0, 0), Decode);
        let k = name("k1");
        cache.get(&k).await.unwrap();
        tokio::time::sleep(Duration::from_secs(59)).await;
        cache.get(&k).await.unwrap();
        assert_eq!(store.gets(), 1);
        tokio::time::sleep(Duration::from_secs(2)).await; // past the 60 s tick
        assert!(cache.is_empty());
        cache.get(&k).await.unwrap();
        assert_eq!(store.gets(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn unused_expiry_keeps_used_entries() {
        let store = CountingStore::with(&[("hot", "h"), ("cold", "c")]);
        // Sweeps at 30 s, 60 s, 90 s, ...
        let cache = KeyCache::new(store.clone(), cfg(0, 60, 0), Decode);
        let (hot, cold) = (name("hot"), name("cold"));
        cache.get(&hot).await.unwrap();
        cache.get(&cold).await.unwrap();
        // t=31: first sweep cleared both marks (both were used since start).
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(cache.len(), 2);
        cache.get(&hot).await.unwrap(); // hit: marks used
        // t=61: second sweep drops `cold`, keeps `hot`.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(cache.len(), 1);
        assert!(cache.lookup(&hot).is_some());
        assert_eq!(store.gets(), 2);
        // t=91 and t=121: `hot` unused (lookup above marked it) → gone by 121.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(cache.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn offline_mode_serves_cached_keys() {
        let store = CountingStore::with(&[("k1", "v1"), ("k2", "v2")]);
        let cache = KeyCache::new(store.clone(), cfg(15, 0, 300), Decode);
        let k = name("k1");
        cache.get(&k).await.unwrap();
        assert!(cache.status().await.is_ok());
        store.down.store(true, Ordering::SeqCst);
        // t=11: the 10 s probe failed → offline (the 15 s `any` tick has not run yet).
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(cache.is_offline());
        let probes = store.statuses.load(Ordering::SeqCst);
        let err = cache.status().await.unwrap_err();
        assert!(err.is_unreachable());
        assert_eq!(
            store.statuses.load(Ordering::SeqCst),
            probes,
            "no store call"
        );
        // The `any` tick at 15 s and 30 s keeps the entry while offline.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(*cache.get(&k).await.unwrap(), "v1");
        assert_eq!(store.gets(), 1);
        // Misses still try the store and fail.
        assert!(matches!(
            cache.get(&name("k2")).await,
            Err(CacheError::Store(_))
        ));
        // The offline tick (300 s) drops everything.
        tokio::time::sleep(Duration::from_secs(260)).await;
        assert!(cache.is_empty());
        // Back online after the next probe.
        store.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!cache.is_offline());
        assert!(cache.status().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_since_the_last_probe_does_not_empty_the_cache() {
        let store = CountingStore::with(&[("k1", "v1")]);
        // `unused` sweeps at 2 s and 4 s, `any` at 5 s: all before the
        // first 10 s status probe.
        let cache = KeyCache::new(store.clone(), cfg(5, 4, 300), Decode);
        let k = name("k1");
        cache.get(&k).await.unwrap();
        store.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(cache.is_offline(), "the expiry job probed the store");
        assert_eq!(*cache.get(&k).await.unwrap(), "v1");
        assert_eq!(store.gets(), 1);
        // Back: the next expiry tick finds the store online and expires.
        store.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!cache.is_offline());
        assert!(cache.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn offline_without_offline_caching_still_expires() {
        let store = CountingStore::with(&[("k1", "v1")]);
        let cache = KeyCache::new(store.clone(), cfg(15, 0, 0), Decode);
        cache.get(&name("k1")).await.unwrap();
        store.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(16)).await;
        assert!(cache.is_offline());
        assert!(cache.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_miss_leaves_nothing_behind() {
        let store = CountingStore::with(&[("k", "v")]);
        *lock(&store.get_delay) = Duration::from_secs(3600);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        let k = name("k");
        // Two waiters of one flight give up (a route deadline): the first
        // one's fetch is dropped, the second takes over and is dropped too.
        let (a, b) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(1), cache.get(&k)),
            tokio::time::timeout(Duration::from_secs(2), cache.get(&k)),
        );
        assert!(a.is_err() && b.is_err());
        assert!(lock(&cache.inflight).is_empty(), "flight left registered");
        *lock(&store.get_delay) = Duration::ZERO;
        assert_eq!(*cache.get(&k).await.unwrap(), "v");
        assert!(lock(&cache.inflight).is_empty());
    }

    #[tokio::test]
    async fn evict_drops_one_entry() {
        let store = CountingStore::with(&[("a", "1"), ("b", "2")]);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        cache.get(&name("a")).await.unwrap();
        cache.get(&name("b")).await.unwrap();
        cache.evict(&name("a"));
        assert_eq!(cache.len(), 1);
        cache.get(&name("a")).await.unwrap();
        assert_eq!(store.gets(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn evict_during_fetch_is_not_undone() {
        let store = CountingStore::with(&[("k", "old")]);
        *lock(&store.get_delay) = Duration::from_millis(50);
        let cache = KeyCache::new(store.clone(), cfg(0, 0, 0), Decode);
        let k = name("k");
        let reader = {
            let (c, k) = (cache.clone(), k.clone());
            tokio::spawn(async move { c.get(&k).await.map(|v| (*v).clone()) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await; // fetch in progress
        // The store reads the value after its delay, so the reader sees the
        // value written before the eviction; the cache must not keep it.
        lock(&store.keys).insert("k".into(), b"new".to_vec());
        cache.evict(&k);
        assert_eq!(reader.await.unwrap().unwrap(), "new");
        assert!(cache.is_empty(), "evicted key must not be re-cached");
        lock(&store.keys).remove("k");
        assert!(matches!(cache.get(&k).await, Err(CacheError::NotFound)));
        assert_eq!(store.gets(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_stop_when_cache_is_dropped() {
        let store = CountingStore::with(&[]);
        let cache = KeyCache::new(store.clone(), cfg(1, 2, 3), Decode);
        let weak = Arc::downgrade(&cache);
        drop(cache);
        assert!(weak.upgrade().is_none());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(store.statuses.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<KeyCache<String>>();
        let cache = KeyCache::new(CountingStore::with(&[]), cfg(0, 0, 0), Decode);
        let k = name("k");
        assert_send(&cache.get(&k));
        assert_send(&cache.status());
    }

    #[test]
    fn works_outside_a_runtime() {
        let store = CountingStore::with(&[]);
        let cache = KeyCache::new(store, cfg(1, 1, 1), Decode);
        assert!(lock(&cache.jobs).is_empty());
        assert!(!cache.is_offline());
    }
}
