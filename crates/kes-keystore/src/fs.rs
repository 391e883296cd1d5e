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
//!   name is never a valid key name) and [`FsKeyStore::open`] removes (see
//!   below);
//! - `get` reads at most [`MAX_VALUE_SIZE`] bytes and fails on bigger files
//!   rather than truncating them;
//! - `list` returns only directory entries whose names are valid key names.
//!
//! # Temporary files and crashes
//!
//! A writer holds an exclusive advisory lock (`flock(2)`, via
//! [`File::try_lock`]) on its temporary file from just after creating it
//! until after it has removed the temporary name, so a lock is held exactly
//! while a create is in flight. The kernel drops a lock when the last
//! descriptor of its open file description closes, which includes the death
//! of the process, however it dies (SIGKILL, OOM, power loss). That is how
//! [`FsKeyStore::open`] knows that a `.tmp-*` file is abandoned: it removes
//! the file only if it can take the lock without waiting, and while holding
//! it checks that the name still refers to the file it locked. A temporary
//! file that another live process (another kes node sharing the directory, a
//! store opened by a configuration reload in this process) is writing is
//! locked, so it is kept. A writer that loses the race to a cleanup (it
//! created its file but had not locked it yet) notices (its lock fails, or
//! its name no longer refers to its file) and starts over with a new name.
//! Only names starting with `.tmp-` are ever removed; they are never key
//! names, and a crash between the link and the removal of the temporary name
//! leaves the key intact (removing the temporary name only drops one of the
//! two links).
//!
//! Limits: the locks are advisory, so they protect only against kes itself
//! (or programs following the same protocol). On a local file system
//! `flock` locks belong to the open file description, so two stores in one
//! process exclude each other like two processes do. On NFS, Linux emulates
//! `flock` with POSIX byte-range locks, which are per process and are
//! released if the client loses its lease: there a cleanup in the same
//! process as a writer (a reload during a create), or after a lease loss, may
//! remove a live temporary file, and that create then fails with an error
//! (the key is not created, nothing else is lost). Where locking is not
//! supported at all, writers go on without a lock and cleanup falls back on
//! age: it removes only temporary files older than 15 minutes. Abandoned
//! files are removed when a store is opened (server start or reload) on the
//! directory, not while it runs.
//!
//! All blocking I/O of the trait methods runs on tokio's blocking pool. Error
//! messages name the path and the OS error, never a value.

use std::collections::hash_map::RandomState;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use kes_types::KeyName;
use kes_types::name::is_valid_name;
use zeroize::Zeroizing;

use crate::list::paginate;
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The largest value [`FsKeyStore`] stores or reads back (1 MiB).
pub const MAX_VALUE_SIZE: usize = 1 << 20;

/// Prefix of temporary files; a `.` makes them invalid key names.
const TMP_PREFIX: &str = ".tmp-";

/// Where the file system does not support locks, temporary files older than
/// this are taken for leftovers of a crash and removed by
/// [`FsKeyStore::open`]; younger ones may belong to a create in flight in
/// another instance on the same directory (e.g. during a reload).
const STALE_TMP_AGE: Duration = Duration::from_secs(15 * 60);

/// The back-end name in this store's errors.
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
            return Err(KeyStoreError::invalid_config(
                "fs",
                "the key directory path is empty",
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
                return Err(KeyStoreError::invalid_config(
                    "fs",
                    format!("'{}' is not a directory", dir.display()),
                ));
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
        store.remove_abandoned_tmp_files();
        Ok(store)
    }

    /// The key directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Best-effort removal of abandoned `.tmp-*` files (see the [module
    /// docs](self)); the outcome is logged, failures are logged only.
    fn remove_abandoned_tmp_files(&self) {
        let dir = self.dir.as_path();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!("cannot scan '{}' for temporary files: {e}", dir.display());
                return;
            }
        };
        let (mut removed, mut kept) = (0_usize, 0_usize);
        for entry in entries.flatten() {
            let is_tmp = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX));
            if !is_tmp {
                continue;
            }
            let path = entry.path();
            match remove_if_abandoned(&path) {
                Ok(TmpCleanup::Removed) => {
                    tracing::debug!("removed abandoned temporary file '{}'", path.display());
                    removed += 1;
                }
                Ok(TmpCleanup::InUse) => {
                    tracing::debug!(
                        "kept temporary file '{}': a create may still be writing it",
                        path.display()
                    );
                    kept += 1;
                }
                Ok(TmpCleanup::Skipped) => {}
                Err(e) => tracing::warn!("cannot remove temporary file '{}': {e}", path.display()),
            }
        }
        if removed > 0 || kept > 0 {
            tracing::info!(
                "key directory '{}': removed {removed} temporary file(s) left by interrupted creates, kept {kept} still being written",
                dir.display()
            );
        }
    }
}

/// What [`remove_if_abandoned`] did with a `.tmp-*` name.
#[derive(Debug, PartialEq, Eq)]
enum TmpCleanup {
    /// Its writer was gone; the name is removed.
    Removed,
    /// A live writer holds its lock (or, without lock support, it is young).
    InUse,
    /// Not a regular file, or it went away or changed meanwhile: left alone.
    Skipped,
}

/// The device and inode of a file: what a name refers to.
fn file_id(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Removes the temporary file `path` if no live writer holds its lock.
///
/// The name is looked up without following symlinks, opened, and the opened
/// file must be the one looked up; then its lock is tried without waiting.
/// Holding the lock, the name is checked to still refer to the locked file
/// and removed. A writer that opened the file but had not locked it yet
/// fails its lock or its own name check and retries (see [`create_tmp`]).
fn remove_if_abandoned(path: &Path) -> io::Result<TmpCleanup> {
    let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let before = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if gone(&e) => return Ok(TmpCleanup::Skipped),
        Err(e) => return Err(e),
    };
    if !before.is_file() {
        return Ok(TmpCleanup::Skipped);
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if gone(&e) => return Ok(TmpCleanup::Skipped),
        Err(e) => return Err(e),
    };
    let opened = file.metadata()?;
    if file_id(&opened) != file_id(&before) {
        return Ok(TmpCleanup::Skipped);
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(TmpCleanup::InUse),
        // No locks here: only age tells an abandoned file from a live one.
        Err(TryLockError::Error(_)) => {
            let old = before
                .modified()
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= STALE_TMP_AGE);
            if !old {
                return Ok(TmpCleanup::InUse);
            }
        }
    }
    match fs::symlink_metadata(path) {
        Ok(now) if file_id(&now) == file_id(&opened) => {}
        Ok(_) => return Ok(TmpCleanup::Skipped),
        Err(e) if gone(&e) => return Ok(TmpCleanup::Skipped),
        Err(e) => return Err(e),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(TmpCleanup::Removed),
        Err(e) if gone(&e) => Ok(TmpCleanup::Skipped),
        Err(e) => Err(e),
    }
    // `file` closes here, releasing the lock after the name is gone.
}

/// A `Backend` error naming the action, the path and the OS error.
fn io_error(action: &str, path: &Path, err: &io::Error) -> KeyStoreError {
    KeyStoreError::backend(
        BACKEND,
        format!("cannot {action} '{}': {err}", path.display()),
    )
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, KeyStoreError>
where
    F: FnOnce() -> Result<T, KeyStoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| KeyStoreError::backend(BACKEND, format!("blocking I/O task failed: {e}")))?
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

/// A temporary file being written, locked from creation (see the [module
/// docs](self)). Dropping it removes the name and only then closes the file,
/// releasing the lock (on success and on every error).
struct TmpFile {
    path: PathBuf,
    file: File,
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove '{}': {e}", self.path.display());
        }
        // `self.file` is closed after this, so the lock outlives the name.
    }
}

/// Locks a temporary file just created at `path`. `Ok(false)` when a
/// cleanup got to it first: the cleanup holds the lock (and removes the
/// name) or has already removed the name, so the caller must use another
/// name and leave this one to the cleanup.
fn lock_new_tmp(file: &File, path: &Path) -> Result<bool, KeyStoreError> {
    match file.try_lock() {
        Ok(()) => {}
        // Nobody else writes a name this fresh: only a cleanup locks it.
        Err(TryLockError::WouldBlock) => return Ok(false),
        // No lock support here; cleanup then goes by age (module docs).
        Err(TryLockError::Error(e)) => {
            tracing::debug!("cannot lock '{}': {e}", path.display());
            return Ok(true);
        }
    }
    let ours = file
        .metadata()
        .map_err(|e| io_error("stat temporary file", path, &e))?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(file_id(&now) == file_id(&ours)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("stat temporary file", path, &e)),
    }
}

/// Creates a fresh temporary file in `dir` (exclusively, mode 0600) and
/// locks it.
fn create_tmp(dir: &Path) -> Result<TmpFile, KeyStoreError> {
    let mut last_err = None;
    for _ in 0..8 {
        let path = dir.join(format!("{TMP_PREFIX}{}", random_suffix()));
        let file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last_err = Some((path, e));
                continue;
            }
            Err(e) => return Err(io_error("create temporary file", &path, &e)),
        };
        if lock_new_tmp(&file, &path)? {
            return Ok(TmpFile { path, file });
        }
        last_err = Some((path, io::Error::other("removed by a concurrent clean-up")));
    }
    match last_err {
        Some((path, e)) => Err(io_error("create temporary file", &path, &e)),
        None => Err(KeyStoreError::backend(
            BACKEND,
            format!("cannot create a temporary file in '{}'", dir.display()),
        )),
    }
}

fn create_blocking(dir: &Path, name: &str, value: &[u8]) -> Result<(), KeyStoreError> {
    let path = dir.join(name);
    if value.len() > MAX_VALUE_SIZE {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!(
                "cannot create '{}': value is {} bytes, the limit is {MAX_VALUE_SIZE}",
                path.display(),
                value.len()
            ),
        ));
    }
    let mut tmp = create_tmp(dir)?;
    tmp.file
        .write_all(value)
        .and_then(|()| tmp.file.sync_all())
        .map_err(|e| io_error("write temporary file", &tmp.path, &e))?;
    match fs::hard_link(&tmp.path, &path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyStoreError::already_exists());
        }
        Err(e) => return Err(io_error("create", &path, &e)),
    }
    // The key exists now; failing to remove the temporary name is only
    // logged (by the guard), it must not turn a created key into an error.
    // The lock is released only after the temporary name is gone.
    drop(tmp);
    sync_dir(dir)
}

fn get_blocking(dir: &Path, name: &str) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let path = dir.join(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyStoreError::not_found()),
        Err(e) => return Err(io_error("open", &path, &e)),
    };
    let meta = file.metadata().map_err(|e| io_error("stat", &path, &e))?;
    if !meta.is_file() {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("cannot read '{}': not a regular file", path.display()),
        ));
    }
    let too_big = || {
        KeyStoreError::backend(
            BACKEND,
            format!(
                "cannot read '{}': value is larger than {MAX_VALUE_SIZE} bytes",
                path.display()
            ),
        )
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
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(KeyStoreError::not_found()),
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
                Ok(_) => Err(KeyStoreError::unreachable(
                    BACKEND,
                    format!("'{}' is not a directory", dir.display()),
                )),
                Err(e) => Err(KeyStoreError::unreachable(
                    BACKEND,
                    format!("cannot stat '{}': {e}", dir.display()),
                )),
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
    use crate::ErrorKind;

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
        assert!(
            matches!(store.get(&key("big")).await, Err(ref e) if e.kind() == ErrorKind::NotFound)
        );
        // Exactly the limit is fine.
        store
            .create(&key("max"), &value[..MAX_VALUE_SIZE])
            .await
            .unwrap();
        assert_eq!(store.get(&key("max")).await.unwrap().len(), MAX_VALUE_SIZE);
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn flock_locks_conflict_between_open_file_descriptions_of_one_process() {
        // The premise of the cleanup tests (and of reloads, where two stores
        // share a process): two `File::open`s of one path are two open file
        // descriptions, whose locks conflict as two processes' would.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".tmp-x");
        fs::write(&path, b"").unwrap();
        let writer = File::open(&path).unwrap();
        writer.try_lock().unwrap();
        let other = File::open(&path).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        // A clone shares the description, and with it the lock.
        writer.try_clone().unwrap().try_lock().unwrap();
        drop(writer);
        other.try_lock().unwrap();
    }

    #[test]
    fn abandoned_temporary_files_are_removed_on_open_whatever_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Fresh (a writer killed a moment ago), empty (killed before
        // writing), and old ones: nobody holds their locks.
        fs::write(d.join(".tmp-fresh"), b"value").unwrap();
        fs::write(d.join(".tmp-empty"), b"").unwrap();
        fs::write(d.join(".tmp-old"), b"value").unwrap();
        let past = SystemTime::now() - STALE_TMP_AGE - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(d.join(".tmp-old"))
            .unwrap()
            .set_modified(past)
            .unwrap();
        // A writer killed between link and unlink: key and temporary name
        // share the file; only the temporary name goes.
        fs::write(d.join("key"), b"secret").unwrap();
        fs::hard_link(d.join("key"), d.join(".tmp-linked")).unwrap();
        // Other dot files, symlinks and directories named like temporary
        // files are not ours to remove.
        fs::write(d.join(".other"), b"x").unwrap();
        fs::write(d.join("target"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("target"), d.join(".tmp-link")).unwrap();
        fs::create_dir(d.join(".tmp-dir")).unwrap();
        FsKeyStore::open(d).unwrap();
        assert_eq!(
            names(d),
            [".other", ".tmp-dir", ".tmp-link", "key", "target"]
        );
        assert_eq!(fs::read(d.join("key")).unwrap(), b"secret");
    }

    #[test]
    fn temporary_files_locked_by_a_live_writer_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let live = d.join(".tmp-live");
        let old = d.join(".tmp-live-old");
        // Written and locked through their own open file descriptions: for
        // the cleanup's `File::open` they are locked by another process.
        let writers: Vec<File> = [&live, &old]
            .into_iter()
            .map(|p| {
                let f = File::create_new(p).unwrap();
                f.try_lock().unwrap();
                f
            })
            .collect();
        let past = SystemTime::now() - STALE_TMP_AGE - Duration::from_secs(60);
        writers[1].set_modified(past).unwrap();
        fs::write(d.join(".tmp-dead"), b"x").unwrap();
        FsKeyStore::open(d).unwrap();
        assert_eq!(names(d), [".tmp-live", ".tmp-live-old"]);
        // The writers die; the next start removes their files.
        drop(writers);
        FsKeyStore::open(d).unwrap();
        assert!(names(d).is_empty(), "{:?}", names(d));
    }

    #[test]
    fn a_writer_that_loses_its_temporary_file_to_a_cleanup_notices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".tmp-race");
        // A cleanup holds the lock of a file just created, not yet locked.
        let file = File::create_new(&path).unwrap();
        let cleanup = File::open(&path).unwrap();
        cleanup.try_lock().unwrap();
        assert!(!lock_new_tmp(&file, &path).unwrap());
        // The cleanup has removed the name and released its lock.
        fs::remove_file(&path).unwrap();
        drop(cleanup);
        assert!(!lock_new_tmp(&file, &path).unwrap());
        // No cleanup: the writer keeps its file.
        let file = File::create_new(&path).unwrap();
        assert!(lock_new_tmp(&file, &path).unwrap());
        assert!(matches!(
            File::open(&path).unwrap().try_lock(),
            Err(TryLockError::WouldBlock)
        ));
    }

    #[test]
    fn creates_succeed_while_other_stores_clean_the_directory() {
        // Another node (or a reload) opening the directory during creates
        // must neither remove a temporary file in flight nor fail a create.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cleaner = {
            let (d, done) = (d.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut opens = 0_u32;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || opens == 0 {
                    FsKeyStore::open(&d).unwrap();
                    opens += 1;
                }
                opens
            })
        };
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let d = d.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        create_blocking(&d, &format!("k-{w}-{i}"), b"value").unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(cleaner.join().unwrap() > 0);
        let names = names(&d);
        assert_eq!(names.len(), 400, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("k-")), "{names:?}");
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
        assert!(err.kind() == ErrorKind::InvalidConfig, "{err}");
    }

    #[tokio::test]
    async fn errors_name_the_backend_and_say_whether_temporary() {
        let err = FsKeyStore::open("").unwrap_err();
        assert!(!err.is_temporary(), "{err:?}");
        assert_eq!(
            err.to_string(),
            "invalid key store config: fs: the key directory path is empty"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let store = FsKeyStore::open(&path).unwrap();
        fs::remove_dir(&path).unwrap();
        let err = store.status().await.unwrap_err();
        assert!(err.is_unreachable() && err.is_temporary(), "{err:?}");
        assert_eq!(err.backend_name(), Some("fs"));
    }
}
