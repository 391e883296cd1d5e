//! Writing key and certificate files: atomically (temporary file, fsync,
//! then rename or link), with an exact mode (0600 for private keys), and
//! refusing to replace an existing file unless asked to.
//!
//! Without `overwrite` the final step is a hard link, which fails if the
//! target appeared in the meantime, so a concurrent writer is never clobbered.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::CliError;

/// Mode of private key files.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of certificate files.
pub const PUBLIC_MODE: u32 = 0o644;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Fails with [`CliError::FileExists`] if `path` exists and `overwrite` is false.
pub fn check_writable(path: &Path, overwrite: bool) -> Result<(), CliError> {
    if !overwrite && std::fs::symlink_metadata(path).is_ok() {
        return Err(CliError::FileExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Writes `data` to `path` with `mode`, atomically.
pub fn write_atomic(
    path: &Path,
    data: &[u8],
    mode: u32,
    overwrite: bool,
    what: &'static str,
) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Invalid(format!("'{}' is not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have removed bits: set the exact mode.
        f.set_permissions(Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        if overwrite {
            std::fs::rename(&tmp, path)
        } else {
            std::fs::hard_link(&tmp, path)
        }
    })();
    // After a rename the temporary name is gone; after a link (or a failure)
    // it must be removed. A failed removal leaves only an unused temp file.
    let _ = std::fs::remove_file(&tmp);
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CliError::FileExists {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io(e)),
    }
    // Persist the directory entry; not every file system supports it.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn writes_with_exact_mode_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("private.key");
        write_atomic(&p, b"secret", PRIVATE_MODE, false, "cannot write").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let err = write_atomic(&p, b"other", PRIVATE_MODE, false, "cannot write").unwrap_err();
        assert!(matches!(err, CliError::FileExists { .. }));
        assert_eq!(std::fs::read(&p).unwrap(), b"secret");
        assert!(check_writable(&p, false).is_err());
        assert!(check_writable(&p, true).is_ok());
        write_atomic(&p, b"other", PUBLIC_MODE, true, "cannot write").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"other");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/x.crt");
        let err = write_atomic(&p, b"x", PUBLIC_MODE, false, "cannot write certificate");
        let msg = err.unwrap_err().to_string();
        assert!(msg.starts_with("cannot write certificate '"), "{msg}");
    }
}
