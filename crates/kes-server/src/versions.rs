//! Key versions on top of the `KeyStore` trait (docs/key-versions.md):
//! how a key's versions are laid out in the store, the resolved [`Key`]
//! the cache holds (latest version, older versions loaded on demand), the
//! cache [`Loader`], trial decryption, and the store-level operations that
//! change versions: rotate, remove a version, delete a key with all its
//! versions, create a key unless a rotated one has that name; and the
//! scheduled rotation of `keys: [{name, rotate}]`.
//!
//! Layout: a never-rotated key `K` is one entry, unchanged. A rotated key
//! is the marker at `K` and versions `K-v1- … K-vL-` (key versions, or
//! tombstones of removed ones). Versions are dense, so the latest is found
//! with `2·log2(L)` gets (exponential probe, then binary search).

use std::sync::Arc;
use std::time::Duration;

use kes_crypto::{DecryptError, KeyVersion, REMOVED_MARKER, ROTATED_MARKER, StoredEntry};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use kes_types::{KeyName, KeyVersionId};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::api::error::{Error, StoreOp};
use crate::cache::{CacheError, KeyCache, Loader};

/// How often a rotation starts over after losing a race to another
/// rotation of the same key before it gives up.
const ROTATE_ATTEMPTS: usize = 8;

/// One version's cell: `None` once loaded means removed.
type Slot = OnceCell<Option<Arc<KeyVersion>>>;

/// A key resolved from the store: what the cache holds per key name.
pub struct Key {
    latest: KeyVersionId,
    latest_key: Arc<KeyVersion>,
    /// Versions `1..latest` at index `N - 1`, each loaded on first use;
    /// empty (no allocation) for a never-rotated key, by far the most
    /// common: a cached key is then two allocations besides its map entry.
    older: Box<[Slot]>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("latest", &self.latest)
            .finish_non_exhaustive()
    }
}

impl Key {
    fn new(latest: KeyVersionId, key: KeyVersion) -> Self {
        Self {
            latest,
            latest_key: Arc::new(key),
            older: (1..latest.get()).map(|_| OnceCell::new()).collect(),
        }
    }

    /// The latest version: the one generate, encrypt and HMAC use.
    pub fn latest(&self) -> KeyVersionId {
        self.latest
    }

    /// The key material of the latest version.
    pub fn latest_key(&self) -> &Arc<KeyVersion> {
        &self.latest_key
    }

    /// Version `v` of key `name` (`None`: removed), loaded from `store` on
    /// first use. A version above [`Key::latest`] is read from the store
    /// every time (another node rotated; the caller should evict `name`).
    pub async fn version(
        &self,
        store: &dyn KeyStore,
        name: &KeyName,
        v: KeyVersionId,
    ) -> Result<Option<Arc<KeyVersion>>, Error> {
        if v == self.latest {
            return Ok(Some(self.latest_key.clone()));
        }
        let Some(slot) = self.older.get(v.get() as usize - 1) else {
            return load_version(store, name, v).await;
        };
        slot.get_or_try_init(|| load_version(store, name, v))
            .await
            .cloned()
    }

    /// Whether the store has a version newer than [`Key::latest`] (another
    /// node rotated since this key was cached): one store read.
    pub async fn has_newer(&self, store: &dyn KeyStore, name: &KeyName) -> Result<bool, Error> {
        match self.latest.next() {
            Some(next) => exists(store, name, next).await,
            None => Ok(false),
        }
    }

    /// Decrypts `ct` with the versions from the latest down to v1 until
    /// one authenticates it (AEAD tags make a wrong version fail, never
    /// return garbage). Removed versions are skipped. Costs one tag check
    /// per version tried, plus a store read per version not loaded yet.
    pub async fn trial_decrypt(
        &self,
        store: &dyn KeyStore,
        name: &KeyName,
        ct: &[u8],
        aad: &[u8],
    ) -> Result<(KeyVersionId, Zeroizing<Vec<u8>>), Error> {
        let mut first_err: Option<DecryptError> = None;
        for n in (1..=self.latest.get()).rev() {
            let Some(v) = KeyVersionId::new(n) else {
                continue;
            };
            // A removed version (tombstone) is skipped; so is a missing
            // one (a removal interrupted between its delete and its
            // tombstone), rather than failing every older ciphertext.
            let key = match self.version(store, name, v).await {
                Ok(Some(key)) => key,
                Ok(None) | Err(Error::VersionNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            match key.decrypt(ct, aad) {
                Ok(plaintext) => return Ok((v, plaintext)),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(Error::Decrypt(first_err.map_or_else(
            || "every version was removed".to_owned(),
            |e| e.to_string(),
        )))
    }
}

/// The cache loader: resolves a key name to a [`Key`].
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyLoader;

impl KeyLoader {
    /// Resolves `name` from the store, bypassing the cache (for the
    /// operations that must see other nodes' changes at once).
    pub async fn read(store: &dyn KeyStore, name: &KeyName) -> Result<Key, Error> {
        KeyLoader.load(store, name).await.map_err(|e| match e {
            CacheError::NotFound => Error::KeyNotFound,
            CacheError::Store(source) => read_error(source),
            CacheError::Decode(cause) => inconsistent(name, cause),
        })
    }
}

#[async_trait::async_trait]
impl Loader<Key> for KeyLoader {
    async fn load(&self, store: &dyn KeyStore, name: &KeyName) -> Result<Key, CacheError> {
        let entry = read_entry(store, name).await.map_err(cache_error)?;
        match entry {
            Some(StoredEntry::Key(k)) => Ok(Key::new(KeyVersionId::FIRST, k)),
            Some(StoredEntry::Rotated) => resolve_rotated(store, name).await,
            Some(StoredEntry::Removed) => Err(CacheError::Decode(
                "the key's own entry holds a removed-version tombstone".into(),
            )),
            // Absent, but versions exist: a first rotation between its
            // delete and create of the marker.
            None if exists(store, name, KeyVersionId::FIRST)
                .await
                .map_err(cache_error)? =>
            {
                resolve_rotated(store, name).await
            }
            None => Err(CacheError::NotFound),
        }
    }
}

async fn resolve_rotated(store: &dyn KeyStore, name: &KeyName) -> Result<Key, CacheError> {
    let latest = find_latest(store, name).await.map_err(cache_error)?;
    match load_version(store, name, latest).await {
        Ok(Some(k)) => Ok(Key::new(latest, Arc::unwrap_or_clone(k))),
        Ok(None) => Err(CacheError::Decode(format!(
            "the latest version {latest} is a removed-version tombstone"
        ))),
        Err(e) => Err(cache_error(e)),
    }
}

/// Maps the errors of the helpers below onto the cache's.
fn cache_error(e: Error) -> CacheError {
    match e {
        Error::KeyNotFound => CacheError::NotFound,
        Error::Store { source, .. } => CacheError::Store(source),
        other => CacheError::Decode(other.to_string()),
    }
}

fn read_error(source: KeyStoreError) -> Error {
    Error::Store {
        op: StoreOp::Read,
        source,
    }
}

fn inconsistent(name: &KeyName, cause: String) -> Error {
    Error::StoredKey {
        name: name.to_string(),
        cause,
    }
}

/// Reads and decodes the entry `entry`; `None` when absent.
async fn read_entry(store: &dyn KeyStore, entry: &KeyName) -> Result<Option<StoredEntry>, Error> {
    match store.get(entry).await {
        Ok(bytes) => StoredEntry::decode(&bytes)
            .map(Some)
            .map_err(|e| inconsistent(entry, e.to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(e)),
    }
}

/// Whether the entry of version `v` of `name` exists (a key or a tombstone).
async fn exists(store: &dyn KeyStore, name: &KeyName, v: KeyVersionId) -> Result<bool, Error> {
    match store.get(&name.version_entry(v)).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(read_error(e)),
    }
}

/// Loads version `v` of the rotated key `name`: `None` for a tombstone,
/// [`Error::VersionNotFound`] when there is no such entry.
async fn load_version(
    store: &dyn KeyStore,
    name: &KeyName,
    v: KeyVersionId,
) -> Result<Option<Arc<KeyVersion>>, Error> {
    match read_entry(store, &name.version_entry(v)).await? {
        Some(StoredEntry::Key(k)) => Ok(Some(Arc::new(k))),
        Some(StoredEntry::Removed) => Ok(None),
        Some(StoredEntry::Rotated) => Err(inconsistent(
            name,
            format!("version {v} holds the rotated-key marker"),
        )),
        None => Err(Error::VersionNotFound {
            key: name.to_string(),
            version: v,
        }),
    }
}

/// Whether version `v` counts as present for [`find_latest`]: its entry
/// exists, or — a hole left by a removal interrupted between its delete and
/// its tombstone — the next one does.
async fn present(store: &dyn KeyStore, name: &KeyName, v: KeyVersionId) -> Result<bool, Error> {
    if exists(store, name, v).await? {
        return Ok(true);
    }
    match v.next() {
        Some(next) => exists(store, name, next).await,
        None => Ok(false),
    }
}

/// The latest version of a key whose `v1` entry may exist: 0 entries → an
/// error; otherwise the largest N with an entry `K-vN-`, found by an
/// exponential probe and a binary search (versions are dense; a single
/// hole from an interrupted removal is bridged by [`present`]).
async fn find_latest(store: &dyn KeyStore, name: &KeyName) -> Result<KeyVersionId, Error> {
    let at = |n: u64| KeyVersionId::new(u32::try_from(n).unwrap_or(u32::MAX));
    if !exists(store, name, KeyVersionId::FIRST).await? {
        return Err(inconsistent(
            name,
            "the rotated key has no version v1".into(),
        ));
    }
    // Invariant: lo exists, hi does not (u32::MAX + 1 never does).
    let (mut lo, mut hi) = (1u64, 2u64);
    let limit = u64::from(u32::MAX) + 1;
    loop {
        match at(hi) {
            Some(v) if hi < limit && present(store, name, v).await? => {
                lo = hi;
                hi = (hi * 2).min(limit);
            }
            _ => break,
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match at(mid) {
            Some(v) if present(store, name, v).await? => lo = mid,
            _ => hi = mid,
        }
    }
    at(lo).ok_or_else(|| inconsistent(name, "no version found".into()))
}

/// Creates the key `name` with `value`, unless a rotated key of that name
/// exists (its own entry may be absent for a moment during its first
/// rotation): then `AlreadyExists`, as for any existing key.
pub async fn create(
    store: &dyn KeyStore,
    name: &KeyName,
    value: &[u8],
) -> Result<(), KeyStoreError> {
    match store.get(&name.version_entry(KeyVersionId::FIRST)).await {
        Ok(_) => return Err(KeyStoreError::already_exists()),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    store.create(name, value).await
}

/// Adds version L+1 to `name` (module docs; docs/key-versions.md §2) and
/// returns it. With `expect`, only if the latest version is `expect` and no
/// other rotation gets there first: `Ok(None)` otherwise (scheduled
/// rotation, where losing the race is success). Without, a lost race starts
/// over, so every call adds one version.
pub async fn rotate(
    store: &dyn KeyStore,
    name: &KeyName,
    created_by: Option<String>,
    expect: Option<KeyVersionId>,
) -> Result<Option<KeyVersionId>, Error> {
    for _ in 0..ROTATE_ATTEMPTS {
        let own = match store.get(name).await {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(read_error(e)),
        };
        let plain = match own.as_deref().map(|b| StoredEntry::decode(b)) {
            Some(Ok(StoredEntry::Key(_))) => true,
            Some(Ok(StoredEntry::Rotated)) => false,
            Some(Ok(StoredEntry::Removed)) => {
                return Err(inconsistent(name, "its entry holds a tombstone".into()));
            }
            Some(Err(e)) => return Err(inconsistent(name, e.to_string())),
            None if exists(store, name, KeyVersionId::FIRST).await? => false,
            None => return Err(Error::KeyNotFound),
        };
        if let (true, Some(bytes)) = (plain, own.as_deref()) {
            copy_first_version(store, name, bytes).await?;
        }
        let latest = find_latest(store, name).await?;
        if plain && latest > KeyVersionId::FIRST {
            // A rotation created `latest` but has not sealed the name: it
            // was interrupted, or another node is between the two steps.
            // Finish it rather than add a version on top (two scheduled
            // rotations would otherwise both succeed, one with v2, one with
            // v3). Its version is the new latest: for a scheduled rotation
            // that is a rotation another node made; any other starts over.
            seal(store, name, true).await?;
            if expect.is_some() {
                return Ok(None);
            }
            continue;
        }
        if expect.is_some_and(|e| e != latest) {
            return Ok(None);
        }
        let Some(current) = load_version(store, name, latest).await? else {
            return Err(inconsistent(
                name,
                format!("its latest version {latest} was removed"),
            ));
        };
        let Some(next) = latest.next() else {
            return Err(inconsistent(name, "no version number left".into()));
        };
        let value = current
            .next_version(created_by.clone())
            .encode()
            .map_err(|e| Error::Internal {
                message: "failed to generate encryption key",
                cause: e.to_string(),
            })?;
        match store.create(&name.version_entry(next), &value).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if expect.is_some() {
                    return Ok(None);
                }
                continue;
            }
            Err(source) => {
                return Err(Error::Store {
                    op: StoreOp::Create,
                    source,
                });
            }
        }
        if own.is_none() || plain {
            seal(store, name, plain).await?;
        }
        return Ok(Some(next));
    }
    Err(Error::RotateConflict(name.to_string()))
}

/// First rotation: `K-v1-` gets exactly the bytes `K` holds. An existing
/// `K-v1-` (an interrupted rotation, or a concurrent one) must hold them.
async fn copy_first_version(
    store: &dyn KeyStore,
    name: &KeyName,
    bytes: &[u8],
) -> Result<(), Error> {
    let v1 = name.version_entry(KeyVersionId::FIRST);
    match store.create(&v1, bytes).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let stored = store.get(&v1).await.map_err(read_error)?;
            if stored.as_slice() == bytes {
                Ok(())
            } else {
                Err(inconsistent(
                    name,
                    "its version v1 differs from the key; refusing to rotate".into(),
                ))
            }
        }
        Err(source) => Err(Error::Store {
            op: StoreOp::Create,
            source,
        }),
    }
}

/// Replaces the key's own entry with the rotated-key marker: delete (when
/// it still holds the key), then create. A concurrent rotator doing the
/// same is fine; a *key* created in between is reported.
async fn seal(store: &dyn KeyStore, name: &KeyName, delete_first: bool) -> Result<(), Error> {
    if delete_first {
        match store.delete(name).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Store {
                    op: StoreOp::Delete,
                    source,
                });
            }
        }
    }
    match store.create(name, ROTATED_MARKER).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match read_entry(store, name).await? {
            Some(StoredEntry::Rotated) => Ok(()),
            _ => Err(inconsistent(
                name,
                "a new key of that name was created while the key was being rotated; \
                 its versions are kept as <name>-v<N>-"
                    .into(),
            )),
        },
        Err(source) => Err(Error::Store {
            op: StoreOp::Create,
            source,
        }),
    }
}

/// Deletes `name` with all its versions: the key's own entry first, then
/// the versions from the latest down to v1, so that an interrupted delete
/// leaves a dense prefix a retry finds. A never-rotated key costs one
/// extra read (is there a `v1`?) and is otherwise deleted as before.
pub async fn delete(store: &dyn KeyStore, name: &KeyName) -> Result<(), Error> {
    // A store failure while looking for versions is a failed delete.
    let as_delete = |e: Error| match e {
        Error::Store { source, .. } => Error::Store {
            op: StoreOp::Delete,
            source,
        },
        other => other,
    };
    let latest = if exists(store, name, KeyVersionId::FIRST)
        .await
        .map_err(as_delete)?
    {
        Some(find_latest(store, name).await.map_err(as_delete)?)
    } else {
        None
    };
    let own = store.delete(name).await;
    let Some(latest) = latest else {
        return own.map_err(|source| match source.kind() {
            ErrorKind::NotFound => Error::KeyNotFound,
            _ => Error::Store {
                op: StoreOp::Delete,
                source,
            },
        });
    };
    if let Err(source) = own.as_ref()
        && source.kind() != ErrorKind::NotFound
    {
        return Err(Error::Store {
            op: StoreOp::Delete,
            source: source.clone(),
        });
    }
    for n in (1..=latest.get()).rev() {
        let Some(v) = KeyVersionId::new(n) else {
            continue;
        };
        match store.delete(&name.version_entry(v)).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Store {
                    op: StoreOp::Delete,
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Destroys the key material of version `v` of `name` (crypto-shredding):
/// its entry is replaced by a tombstone, so versions stay dense. The latest
/// version cannot be removed. Removing a removed version succeeds.
pub async fn remove_version(
    store: &dyn KeyStore,
    name: &KeyName,
    v: KeyVersionId,
    settle: Duration,
) -> Result<(), Error> {
    let key = KeyLoader::read(store, name).await?;
    if v == key.latest() {
        return Err(Error::LatestVersion {
            key: name.to_string(),
            version: v,
        });
    }
    if v > key.latest() {
        return Err(Error::VersionNotFound {
            key: name.to_string(),
            version: v,
        });
    }
    // A node that cached the key before the rotation that superseded `v`
    // still encrypts with `v` until its cache expires (`settle`, the cache
    // expiry): removing `v` before that would make those ciphertexts
    // undecryptable. The superseding version's creation time says when.
    if let Some(next) = v.next()
        && let Ok(Some(superseding)) = load_version(store, name, next).await
        && let Some(created) = superseding.created_at
    {
        let age = time::OffsetDateTime::now_utc() - created;
        let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
        if age < settle {
            return Err(Error::RecentlySuperseded {
                key: name.to_string(),
                version: v,
                age_secs: age.as_secs(),
                wait_secs: (settle - age).as_secs() + 1,
            });
        }
    }
    let entry = name.version_entry(v);
    match load_version(store, name, v).await {
        // Removed already.
        Ok(None) => return Ok(()),
        Ok(Some(_)) => {}
        // A removal interrupted after its delete: only the tombstone is
        // missing, write it below.
        Err(Error::VersionNotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    match store.delete(&entry).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Store {
                op: StoreOp::Delete,
                source,
            });
        }
    }
    // The entry is gone: the tombstone must follow (a hole breaks the
    // density readers rely on; `present` bridges one meanwhile).
    let mut tries = 0;
    let created = loop {
        match store.create(&entry, REMOVED_MARKER).await {
            Err(e) if e.kind() != ErrorKind::AlreadyExists && tries < 3 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100 << tries)).await;
            }
            other => break other,
        }
    };
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match read_entry(store, &entry).await? {
            Some(StoredEntry::Removed) => Ok(()),
            _ => Err(inconsistent(
                name,
                format!("version {v} was re-created while it was being removed"),
            )),
        },
        Err(source) => Err(Error::Store {
            op: StoreOp::Create,
            source,
        }),
    }
}

/// A key rotated on a schedule (`keys: [{name, rotate: <duration>}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The key.
    pub name: KeyName,
    /// Rotate when the latest version is at least this old.
    pub every: Duration,
}

/// The longest time between two looks at the schedule.
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// The shortest (for very short periods, as in tests).
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Starts the scheduled rotations on the current tokio runtime (none
/// outside one): at start and then every quarter of the shortest period
/// (at most hourly), each key whose latest version is at least `every` old
/// (or has no creation time) is rotated by this node, unless another node
/// rotated it first — `rotate` with `expect` creates version L+1 only once
/// across all nodes. The job holds the cache weakly and ends with it.
pub fn schedule_rotations(cache: &Arc<KeyCache<Key>>, rotations: Vec<KeyRotation>, admin: &str) {
    let Some(shortest) = rotations.iter().map(|r| r.every).min() else {
        return;
    };
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let interval = (shortest / 4).clamp(MIN_CHECK_INTERVAL, MAX_CHECK_INTERVAL);
    let cache = Arc::downgrade(cache);
    let admin = admin.to_owned();
    rt.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(cache) = cache.upgrade() else { return };
            for r in &rotations {
                rotate_if_due(&cache, r, &admin).await;
            }
        }
    });
}

async fn rotate_if_due(cache: &KeyCache<Key>, r: &KeyRotation, admin: &str) {
    let store = cache.store().as_ref();
    let key = match KeyLoader::read(store, &r.name).await {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!("scheduled rotation of key '{}': {e}", r.name);
            return;
        }
    };
    let now = time::OffsetDateTime::now_utc();
    if key
        .latest_key()
        .created_at
        .is_some_and(|t| now - t < r.every)
    {
        return;
    }
    match rotate(store, &r.name, Some(admin.to_owned()), Some(key.latest())).await {
        Ok(Some(v)) => {
            cache.evict(&r.name);
            tracing::info!(
                "key '{}' rotated to {v} (scheduled every {:?})",
                r.name,
                r.every
            );
        }
        // Another node got there first.
        Ok(None) => cache.evict(&r.name),
        Err(e) => tracing::warn!("scheduled rotation of key '{}': {e}", r.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kes_crypto::Cipher;
    use kes_keystore::mem::MemKeyStore;

    fn name(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    fn v(n: u32) -> KeyVersionId {
        KeyVersionId::new(n).unwrap()
    }

    async fn new_key(store: &dyn KeyStore, k: &KeyName) -> Zeroizing<Vec<u8>> {
        let value = KeyVersion::generate(Cipher::Aes256, None).encode().unwrap();
        create(store, k, &value).await.unwrap();
        value
    }

    #[tokio::test]
    async fn first_rotation_keeps_v1_bytes_and_seals_the_name() {
        let store = MemKeyStore::default();
        let k = name("k");
        let bytes = new_key(&store, &k).await;
        let key = KeyLoader.load(&store, &k).await.unwrap();
        assert_eq!(key.latest(), v(1));
        let ct = key.latest_key().encrypt(b"old", b"").unwrap();

        assert_eq!(rotate(&store, &k, None, None).await.unwrap(), Some(v(2)));
        assert_eq!(store.get(&k).await.unwrap().as_slice(), ROTATED_MARKER);
        assert_eq!(
            store.get(&k.version_entry(v(1))).await.unwrap().as_slice(),
            bytes.as_slice()
        );
        let key = KeyLoader.load(&store, &k).await.unwrap();
        assert_eq!(key.latest(), v(2));
        let (found, pt) = key.trial_decrypt(&store, &k, &ct, b"").await.unwrap();
        assert_eq!((found, pt.as_slice()), (v(1), &b"old"[..]));
        // A key cannot be created over a rotated one, even without its entry.
        store.delete(&k).await.unwrap();
        let err = create(&store, &k, &bytes).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(KeyLoader.load(&store, &k).await.unwrap().latest(), v(2));
    }

    #[tokio::test]
    async fn latest_is_found_by_probing() {
        let store = MemKeyStore::default();
        let k = name("k");
        new_key(&store, &k).await;
        for n in 2..=37 {
            assert_eq!(rotate(&store, &k, None, None).await.unwrap(), Some(v(n)));
            assert_eq!(find_latest(&store, &k).await.unwrap(), v(n));
        }
        // Scheduled rotation: only from the expected version, once.
        assert_eq!(rotate(&store, &k, None, Some(v(36))).await.unwrap(), None);
        assert_eq!(
            rotate(&store, &k, None, Some(v(37))).await.unwrap(),
            Some(v(38))
        );
    }

    /// A plain key `k` whose first rotation stopped after creating `k-v1-`
    /// (its copy) and `k-v2-`, before sealing `k`.
    async fn first_rotation_stopped_before_seal(store: &MemKeyStore, k: &KeyName) {
        let bytes = new_key(store, k).await;
        store.create(&k.version_entry(v(1)), &bytes).await.unwrap();
        let v2 = KeyVersion::generate(Cipher::Aes256, None).encode().unwrap();
        store.create(&k.version_entry(v(2)), &v2).await.unwrap();
    }

    #[tokio::test]
    async fn interrupted_first_rotation_is_finished_by_the_next() {
        let store = MemKeyStore::default();
        let k = name("k");
        // Crash after creating K-v1- and K-v2-, before sealing K.
        first_rotation_stopped_before_seal(&store, &k).await;
        assert_eq!(KeyLoader.load(&store, &k).await.unwrap().latest(), v(1));
        assert_eq!(rotate(&store, &k, None, None).await.unwrap(), Some(v(3)));
        assert_eq!(store.get(&k).await.unwrap().as_slice(), ROTATED_MARKER);
    }

    /// Two scheduled rotations of a plain key, the second one looking while
    /// the first has created v2 but not sealed the name yet: the second
    /// finishes the first instead of adding v3.
    #[tokio::test]
    async fn a_rotation_between_create_and_seal_is_finished_not_repeated() {
        let store = MemKeyStore::default();
        let k = name("k");
        // The first rotator, stopped before its seal.
        first_rotation_stopped_before_seal(&store, &k).await;
        // The second saw the plain key, latest v1.
        assert_eq!(rotate(&store, &k, None, Some(v(1))).await.unwrap(), None);
        assert_eq!(store.get(&k).await.unwrap().as_slice(), ROTATED_MARKER);
        assert_eq!(KeyLoader.load(&store, &k).await.unwrap().latest(), v(2));
        // The first one's seal still succeeds.
        seal(&store, &k, true).await.unwrap();
        assert_eq!(KeyLoader.load(&store, &k).await.unwrap().latest(), v(2));
    }

    #[tokio::test]
    async fn a_hole_from_an_interrupted_removal_is_bridged() {
        let store = MemKeyStore::default();
        let k = name("k");
        new_key(&store, &k).await;
        let key = KeyLoader.load(&store, &k).await.unwrap();
        let ct = key.latest_key().encrypt(b"x", b"").unwrap();
        rotate(&store, &k, None, None).await.unwrap();
        rotate(&store, &k, None, None).await.unwrap();
        // v2 deleted, its tombstone never written.
        store.delete(&k.version_entry(v(2))).await.unwrap();
        let key = KeyLoader.load(&store, &k).await.unwrap();
        assert_eq!(key.latest(), v(3), "the latest is found across the hole");
        let (used, plain) = key.trial_decrypt(&store, &k, &ct, b"").await.unwrap();
        assert_eq!((used, plain.as_slice()), (v(1), &b"x"[..]));
        // The removal can be finished.
        remove_version(&store, &k, v(2), Duration::ZERO)
            .await
            .unwrap();
        assert!(key.version(&store, &k, v(2)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn removed_versions_and_deletion() {
        let store = MemKeyStore::default();
        let k = name("k");
        new_key(&store, &k).await;
        let key = KeyLoader.load(&store, &k).await.unwrap();
        let ct = key.latest_key().encrypt(b"x", b"").unwrap();
        rotate(&store, &k, None, None).await.unwrap();
        let err = remove_version(&store, &k, v(2), Duration::ZERO)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::LatestVersion { .. }), "{err:?}");
        // Other nodes may still encrypt with v1 until their caches expire.
        let err = remove_version(&store, &k, v(1), Duration::from_secs(300))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RecentlySuperseded { .. }), "{err:?}");
        assert!(err.to_string().contains("remove it after"), "{err}");
        remove_version(&store, &k, v(1), Duration::ZERO)
            .await
            .unwrap();
        remove_version(&store, &k, v(1), Duration::ZERO)
            .await
            .unwrap();
        let key = KeyLoader.load(&store, &k).await.unwrap();
        assert!(key.version(&store, &k, v(1)).await.unwrap().is_none());
        assert!(matches!(
            key.trial_decrypt(&store, &k, &ct, b"").await,
            Err(Error::Decrypt(_))
        ));
        assert!(matches!(
            key.version(&store, &k, v(3)).await,
            Err(Error::VersionNotFound { .. })
        ));
        delete(&store, &k).await.unwrap();
        assert!(store.list("", "", 0).await.unwrap().names.is_empty());
        assert!(matches!(delete(&store, &k).await, Err(Error::KeyNotFound)));
    }
}
