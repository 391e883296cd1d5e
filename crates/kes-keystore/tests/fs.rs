//! On-disk behaviour of the filesystem key store: modes, layout, stray
//! temporary files, values written by Go KES, size limit and bad paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use kes_keystore::fs::{FsKeyStore, MAX_VALUE_SIZE};
use kes_keystore::{ErrorKind, KeyStore};
use kes_types::KeyName;

fn key(s: &str) -> KeyName {
    KeyName::new(s).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The stored-key text of kes-protocol §7.3 (base64 of the 156-byte protobuf
/// vector), exactly as Go KES writes it into a key file.
const GO_VALUE: &str = "CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa9HgQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy";

#[tokio::test]
async fn directory_is_0700_and_key_files_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a").join("keys");
    let store = FsKeyStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(
        store.description(),
        format!("Filesystem: {}", dir.display())
    );
    store.create(&key("my-key"), b"value").await.unwrap();
    let file = dir.join("my-key");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(fs::read(&file).unwrap(), b"value");
    // Nothing else is left in the directory.
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["my-key"]);
}

#[tokio::test]
async fn existing_directory_is_used_as_is() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("k1"), b"one").unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    assert_eq!(store.get(&key("k1")).await.unwrap().as_slice(), b"one");
}

#[tokio::test]
async fn stray_files_are_not_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    store.create(&key("k1"), b"one").await.unwrap();
    // Leftovers of a crash and other junk.
    fs::write(tmp.path().join(".tmp-0123456789abcdef"), b"half").unwrap();
    fs::write(tmp.path().join("not.a.key"), b"x").unwrap();
    fs::write(tmp.path().join("-bad"), b"x").unwrap();
    fs::create_dir(tmp.path().join("subdir")).unwrap();
    let page = store.list("", "", 0).await.unwrap();
    assert_eq!(page.names, ["k1"]);
    assert_eq!(page.next, None);
    // A temporary file whose writer is alive (it holds the file's lock)
    // survives re-opening; once the writer is gone, re-opening removes it.
    let writer = fs::File::open(tmp.path().join(".tmp-0123456789abcdef")).unwrap();
    writer.try_lock().unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    assert!(tmp.path().join(".tmp-0123456789abcdef").exists());
    assert_eq!(store.list("k", "", 10).await.unwrap().names, ["k1"]);
    drop(writer);
    FsKeyStore::open(tmp.path()).unwrap();
    assert!(!tmp.path().join(".tmp-0123456789abcdef").exists());
    assert!(tmp.path().join("not.a.key").exists());
}

#[tokio::test]
async fn value_written_by_go_is_read_byte_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    fs::write(tmp.path().join("minio-default-key"), GO_VALUE).unwrap();
    let got = store.get(&key("minio-default-key")).await.unwrap();
    assert_eq!(got.as_slice(), GO_VALUE.as_bytes());
    assert_eq!(got.len(), 208);
    // And the other way round: what we write is the bare value, no framing.
    store
        .create(&key("rust-key"), GO_VALUE.as_bytes())
        .await
        .unwrap();
    assert_eq!(
        fs::read(tmp.path().join("rust-key")).unwrap(),
        GO_VALUE.as_bytes()
    );
}

#[tokio::test]
async fn file_over_one_mib_is_an_error_not_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    fs::write(tmp.path().join("big"), vec![b'A'; MAX_VALUE_SIZE + 1]).unwrap();
    let err = store.get(&key("big")).await.unwrap_err();
    let msg = err.to_string();
    assert!(err.kind() == ErrorKind::Backend, "{msg}");
    assert!(msg.contains("big") && msg.contains("1048576"), "{msg}");
    assert!(!msg.contains("AAAA"), "error leaks the value: {msg}");
    fs::write(tmp.path().join("max"), vec![b'A'; MAX_VALUE_SIZE]).unwrap();
    assert_eq!(store.get(&key("max")).await.unwrap().len(), MAX_VALUE_SIZE);
}

#[test]
fn opening_a_regular_file_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("keys.txt");
    fs::write(&file, b"not a dir").unwrap();
    let err = FsKeyStore::open(&file).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    assert!(msg.contains("not a directory"), "{msg}");
}

#[test]
fn unusable_parent_fails_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let path = file.join("keys");
    let err = FsKeyStore::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[tokio::test]
async fn missing_and_existing_keys_map_to_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    assert!(matches!(store.get(&key("nope")).await, Err(ref e) if e.kind() == ErrorKind::NotFound));
    assert!(
        matches!(store.delete(&key("nope")).await, Err(ref e) if e.kind() == ErrorKind::NotFound)
    );
    store.create(&key("k"), b"1").await.unwrap();
    assert!(matches!(
        store.create(&key("k"), b"2").await,
        Err(ref e) if e.kind() == ErrorKind::AlreadyExists
    ));
    assert_eq!(fs::read(tmp.path().join("k")).unwrap(), b"1");
    // A directory in the key's place is an error naming it, not a value.
    fs::create_dir(tmp.path().join("d")).unwrap();
    let err = store.get(&key("d")).await.unwrap_err();
    assert!(err.to_string().contains("'"), "{err}");
}

#[test]
fn debug_shows_the_directory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FsKeyStore::open(tmp.path()).unwrap();
    let s = format!("{store:?}");
    assert!(s.contains("FsKeyStore"), "{s}");
}
