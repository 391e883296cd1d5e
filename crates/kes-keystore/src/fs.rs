//! The filesystem key store (`keystore.fs.path`): one file per key in a
//! single directory, named exactly like the key, holding the value.
//!
//! Layout and guarantees:
//! - the directory is created with mode 0700 if missing; key files have mode
//!   0600 (values are secret keys);
//! - `create` never overwrites and is atomic: the value goes to a temporary
//!   file `.tmp-<random>` (created exclusively, mode 0600), is fsynced, and is
//!   then hard-linked to the key's name, which fails if the key exists. A
//!   crash leaves at most a stray temporary file, which listing ignores (its
//!   name is never a valid key name) and [`FsKeyStore::open`] removes once
//!   it is old;
//! - `get` reads at most [`MAX_VALUE_SIZE`] bytes and fails on bigger files
//!   rather than truncating them;
//! - `list` returns only directory entries whose names are valid key names.
//!
//! All blocking I/O of the trait methods runs on tokio's blocking pool. Error
//! messages name the path and the OS error, never a value.

use std::collections::hash_map::RandomState;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use kes_types::KeyName;
use kes_types::name::is_valid_name;
use zeroize::Zeroizing;

use crate::mem::paginate;
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The largest value [`FsKeyStore`] stores or reads back (1 MiB).
pub const MAX_VALUE_SIZE: usize = 1 << 20;

/// Prefix of temporary files; a `.` makes them invalid key names.
const TMP_PREFIX: &str = ".tmp-";

/// Temporary files older than this are leftovers of a crash and are removed
/// by [`FsKeyStore::open`]. Younger ones may belong to a create in flight in
/// another instance on the same directory (e.g. during a reload).
const STALE_TMP_AGE: Duration = Duration::from_secs(15 * 60);

/// The backend name used in [`KeyStoreError::Backend`].
const BACKEND: &str = "fs";

/// A key store in a local directory; see the [module docs](self).
#[derive(Clone)]
pub struct FsKeyStore {
    dir: Arc<PathBuf>,
}

impl std::fmt::Debug for FsKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsKeyStore")
            .field("dir", &self.dir)
            .finish()
    }
}

impl FsKeyStore {
    /// Opens the key directory `path`, creating it (and missing parents)
    /// with mode 0700 if it does not exist. Fails if `path` exists but is not
    /// a directory. Removes temporary files left behind by a crash.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, KeyStoreError> {
        let dir = path.as_ref().to_path_buf();
        if dir.as_os_str().is_empty() {
            return Err(KeyStoreError::InvalidConfig(
                "fs: the key directory path is empty".to_owned(),
            ));
        }
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        "key directory '{}' is accessible by other users (mode {mode:03o}); 0700 is recommended",
                        dir.display()
                    );
                }
            }
            Ok(_) => {
                return Err(KeyStoreError::InvalidConfig(format!(
                    "fs: '{}' is not a directory",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|e| io_error("create directory", &dir, &e))?;
            }
            Err(e) => return Err(io_error("open directory", &dir, &e)),
        }
        let store = Self { dir: Arc::new(dir) };
        store.remove_stale_tmp_files();
        Ok(store)
    }

    /// The key directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Best-effort removal of old `.tmp-*` files; failures are logged only.
    fn remove_stale_tmp_files(&self) {
        let entries = match fs::read_dir(self.dir.as_path()) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!("cannot scan '{}': {e}", self.dir.display());
                return;
            }
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let is_tmp = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX));
            if !is_tmp {
                continue;
            }
            let stale = entry
                .metadata()
                .ok()
                .filter(fs::Metadata::is_file)
                .and_then(|m| m.modified().ok())
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= STALE_TMP_AGE);
            if stale {
                let path = entry.path();
                match fs::remove_file(&path) {
                    Ok(()) => tracing::info!("removed stale temporary file '{}'", path.display()),
                    Err(e) => tracing::warn!("cannot remove '{}': {e}", path.display()),
                }
            }
        }
    }
}

/// A `Backend` error naming the action, the path and the OS error.
fn io_error(action: &str, path: &Path, err: &io::Error) -> KeyStoreError {
    KeyStoreError::Backend {
        backend: BACKEND,
        message: format!("cannot {action} '{}': {err}", path.display()),
    }
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, KeyStoreError>
where
    F: FnOnce() -> Result<T, KeyStoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KeyStoreError::Backend {
            backend: BACKEND,
            message: format!("blocking I/O task failed: {e}"),
        })?
}

/// A random suffix for temporary file names (std's per-process random keys;
/// uniqueness is enforced by `O_EXCL` anyway).
fn random_suffix() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", h.finish())
}

/// Fsyncs a directory so that entries added or removed in it are durable.
fn sync_dir(dir: &Path) -> Result<(), KeyStoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync directory", dir, &e))
}

/// Removes the temporary file when dropped (on success and on every error).
struct TmpFile {
    path: PathBuf,
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove '{}': {e}", self.path.display());
        }
    }
}

/// Creates a fresh temporary file in `dir` (exclusively, mode 0600).
fn create_tmp(dir: &Path) -> Result<(TmpFile, File), KeyStoreError> {
    let mut last_err = None;
    for _ in 0..8 {
        let path = dir.join(format!("{TMP_PREFIX}{}", random_suffix()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((TmpFile { path }, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some((path, e)),
            Err(e) => return Err(io_error("create temporary file", &path, &e)),
        }
    }
    match last_err {
        Some((path, e)) => Err(io_error("create temporary file", &path, &e)),
        None => Err(KeyStoreError::Backend {
            backend: BACKEND,
            message: format!("cannot create a temporary file in '{}'", dir.display()),
        }),
    }
}

fn create_blocking(dir: &Path, name: &str, value: &[u8]) -> Result<(), KeyStoreError> {
    let path = dir.join(name);
    if value.len() > MAX_VALUE_SIZE {
        return Err(KeyStoreError::Backend {
            backend: BACKEND,
            message: format!(
                "cannot create '{}': value is {} bytes, the limit is {MAX_VALUE_SIZE}",
                path.display(),
                value.len()
            ),
        });
    }
    let (tmp, mut file) = create_tmp(dir)?;
    file.write_all(value)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write temporary file", &tmp.path, &e))?;
    drop(file);
    match fs::hard_link(&tmp.path, &path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyStoreError::AlreadyExists);
        }
        Err(e) => return Err(io_error("create", &path, &e)),
    }
    // The key exists now; failing to remove the temporary name is only
    // logged (by the guard), it must not turn a created key into an error.
    drop(tmp);
    sync_dir(dir)
}

fn get_blocking(dir: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyStoreError::NotFound),
        Err(e) => return Err(io_error("open", &path, &e)),
    };
    let meta = file.metadata().map_err(|e| io_error("stat", &path, &e))?;
    if !meta.is_file() {
        return Err(KeyStoreError::Backend {
            backend: BACKEND,
            message: format!("cannot read '{}': not a regular file", path.display()),
        });
    }
    let too_big = || KeyStoreError::Backend {
        backend: BACKEND,
        message: format!(
            "cannot read '{}': value is larger than {MAX_VALUE_SIZE} bytes",
            path.display()
        ),
    };
    let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    if size > MAX_VALUE_SIZE {
        return Err(too_big());
    }
    // Sized up front so the buffer (which holds a secret) does not get
    // reallocated, leaving copies behind, unless the file grows meanwhile.
    let mut value = Zeroizing::new(Vec::with_capacity(size.saturating_add(1)));
    let limit = u64::try_from(MAX_VALUE_SIZE)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    file.take(limit)
        .read_to_end(&mut value)
        .map_err(|e| io_error("read", &path, &e))?;
    if value.len() > MAX_VALUE_SIZE {
        return Err(too_big());
    }
    Ok(value)
}

fn delete_blocking(dir: &Path, name: &str) -> Result<(), KeyStoreError> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(KeyStoreError::NotFound),
        Err(e) => Err(io_error("delete", &path, &e)),
    }
}

fn list_blocking(dir: &Path) -> Result<Vec<String>, KeyStoreError> {
    let entries = fs::read_dir(dir).map_err(|e| io_error("list", dir, &e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list", dir, &e))?;
        // Non-UTF-8 names, temporary files and other junk are not keys.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_valid_name(&name) {
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir {
            names.push(name);
        }
    }
    Ok(names)
}

#[async_trait]
impl KeyStore for FsKeyStore {
    fn description(&self) -> String {
        format!("Filesystem: {}", self.dir.display())
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let dir = Arc::clone(&self.dir);
        blocking(move || {
            let start = Instant::now();
            match fs::metadata(dir.as_path()) {
                Ok(meta) if meta.is_dir() => Ok(Status {
                    latency: start.elapsed(),
                }),
                Ok(_) => Err(KeyStoreError::Unreachable(format!(
                    "'{}' is not a directory",
                    dir.display()
                ))),
                Err(e) => Err(KeyStoreError::Unreachable(format!(
                    "cannot stat '{}': {e}",
                    dir.display()
                ))),
            }
        })
        .await
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let dir = Arc::clone(&self.dir);
        let name = name.as_str().to_owned();
        let value = Zeroizing::new(value.to_vec());
        blocking(move || create_blocking(&dir, &name, &value)).await
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let dir = Arc::clone(&self.dir);
        let name = name.as_str().to_owned();
        blocking(move || get_blocking(&dir, &name)).await
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let dir = Arc::clone(&self.dir);
        let name = name.as_str().to_owned();
        blocking(move || delete_blocking(&dir, &name)).await
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let dir = Arc::clone(&self.dir);
        let names = blocking(move || list_blocking(&dir)).await?;
        Ok(paginate(names, prefix, start, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    #[tokio::test]
    async fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsKeyStore::open(dir.path().join("keys")).unwrap();
        crate::testkit::run_all(&store, "unit-fs").await.unwrap();
    }

    #[tokio::test]
    async fn create_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsKeyStore::open(dir.path()).unwrap();
        store.create(&key("a"), b"1").await.unwrap();
        assert!(store.create(&key("a"), b"2").await.is_err());
        let entries: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(entries, vec!["a".to_owned()]);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"1");
    }

    #[tokio::test]
    async fn oversized_value_is_rejected_on_create() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsKeyStore::open(dir.path()).unwrap();
        let value = vec![b'x'; MAX_VALUE_SIZE + 1];
        let err = store.create(&key("big"), &value).await.unwrap_err();
        assert!(err.to_string().contains("1048577 bytes"), "{err}");
        assert!(matches!(
            store.get(&key("big")).await,
            Err(KeyStoreError::NotFound)
        ));
        // Exactly the limit is fine.
        store
            .create(&key("max"), &value[..MAX_VALUE_SIZE])
            .await
            .unwrap();
        assert_eq!(store.get(&key("max")).await.unwrap().len(), MAX_VALUE_SIZE);
    }

    #[test]
    fn stale_temporary_files_are_removed_on_open_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".tmp-old");
        let fresh = dir.path().join(".tmp-fresh");
        let other = dir.path().join(".other");
        for p in [&old, &fresh, &other] {
            fs::write(p, b"x").unwrap();
        }
        let past = SystemTime::now() - STALE_TMP_AGE - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(past)
            .unwrap();
        FsKeyStore::open(dir.path()).unwrap();
        assert!(!old.exists());
        assert!(fresh.exists());
        assert!(other.exists());
    }

    #[tokio::test]
    async fn status_fails_when_directory_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let store = FsKeyStore::open(&path).unwrap();
        store.status().await.unwrap();
        fs::remove_dir(&path).unwrap();
        let err = store.status().await.unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn empty_path_is_invalid() {
        let err = FsKeyStore::open("").unwrap_err();
        assert!(matches!(err, KeyStoreError::InvalidConfig(_)), "{err}");
    }
}
