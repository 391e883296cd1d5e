//! Copying keys from one key store to another (`kes migrate`, spec
//! §10.10): stored values are copied byte for byte, never re-encoded and
//! never deleted from the source.
//!
//! A run first lists the matching names of the source (so progress can
//! show a total), then copies them one by one in name order:
//! - absent at the destination: created (create-if-absent, so a concurrent
//!   writer is never clobbered);
//! - present with the same value: skipped, which makes an interrupted run
//!   resumable by running it again;
//! - present with another value: an error naming the key, unless `merge`
//!   (keep the destination's) or `force` (replace it: delete, then create;
//!   a crash between the two leaves the key absent at the destination
//!   until the next run copies it again — the source is never touched).
//!
//! With `dry_run` nothing is written; the outcomes say what would happen.
//!
//! A rotated key's versions (`<key>-v<N>-`, docs/key-versions.md) travel
//! with it: before the key, `<key>-v1-`, `<key>-v2-`, … are copied under
//! the same rules until the first that the source does not hold (versions
//! are dense), since not every store lists them (fs does not). Listed version
//! entries are not matched as keys. For a key never rotated this costs one
//! read of `<key>-v1-` at the source.

use kes_types::name::{KeyVersionId, is_version_entry};
use kes_types::{Glob, KeyName};
use zeroize::Zeroizing;

use crate::{ErrorKind, KeyStore, KeyStoreError};

/// How to treat keys that exist at the destination with another value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Replace them with the source's value.
    pub force: bool,
    /// Keep them (skip).
    pub merge: bool,
    /// Write nothing; report what would happen.
    pub dry_run: bool,
}

/// What happened to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Created at the destination (or would be, in a dry run).
    Copied,
    /// Replaced a different value at the destination (`force`).
    Replaced,
    /// The destination already held the same value.
    Identical,
    /// The destination holds another value and keeps it (`merge`).
    Kept,
}

/// Counts of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Names that matched the pattern.
    pub matched: usize,
    /// Keys created.
    pub copied: usize,
    /// Keys replaced (`force`).
    pub replaced: usize,
    /// Keys already present with the same value.
    pub identical: usize,
    /// Keys present with another value and kept (`merge`).
    pub kept: usize,
}

impl Summary {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Copied => self.copied += 1,
            Outcome::Replaced => self.replaced += 1,
            Outcome::Identical => self.identical += 1,
            Outcome::Kept => self.kept += 1,
        }
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// `force` and `merge` exclude each other.
    #[error("--force and --merge cannot be used together")]
    Conflicting,
    /// Listing the source failed.
    #[error("failed to list the source key store: {0}")]
    List(#[source] KeyStoreError),
    /// The source holds a name that is not a valid key name.
    #[error("the source key store lists an invalid key name '{0}'")]
    BadName(String),
    /// A key store operation on one key failed.
    #[error("failed to {op} key '{name}': {source}")]
    Key {
        /// `read` (source), `check`, `create` or `replace` (destination).
        op: &'static str,
        /// The key.
        name: String,
        /// The cause.
        source: KeyStoreError,
    },
    /// The destination holds another value and neither `force` nor `merge`
    /// was given.
    #[error(
        "key '{0}' exists at the destination with a different value: use --force to replace it or --merge to keep it"
    )]
    Exists(String),
}

/// All names of `store` that match `pattern`, sorted.
pub async fn matching_names(
    store: &dyn KeyStore,
    pattern: &Glob,
) -> Result<Vec<String>, MigrateError> {
    let prefix = pattern.literal_prefix();
    let mut names = Vec::new();
    let mut start = String::new();
    loop {
        let page = store
            .list(&prefix, &start, 0)
            .await
            .map_err(MigrateError::List)?;
        names.extend(
            page.names
                .into_iter()
                .filter(|n| !is_version_entry(n) && pattern.matches(n)),
        );
        match page.next {
            // A store that does not advance would loop forever.
            Some(next) if next > start => start = next,
            Some(next) => {
                return Err(MigrateError::List(KeyStoreError::backend(
                    "list",
                    format!("listing did not advance past '{next}'"),
                )));
            }
            None => return Ok(names),
        }
    }
}

/// Copies one key and its versions (see the module docs for the rules);
/// the outcome is the key's.
pub async fn copy_key(
    from: &dyn KeyStore,
    to: &dyn KeyStore,
    name: &str,
    opts: MigrateOptions,
) -> Result<Outcome, MigrateError> {
    let key = KeyName::new(name).map_err(|_| MigrateError::BadName(name.to_owned()))?;
    // Versions first: an interrupted run never leaves a rotated key's
    // marker without its versions at the destination.
    let mut version = Some(KeyVersionId::FIRST);
    while let Some(v) = version {
        let entry = key.version_entry(v);
        match copy_entry(from, to, &entry, opts).await {
            Ok(_) => version = v.next(),
            Err(MigrateError::Key {
                op: "read", source, ..
            }) if source.kind() == ErrorKind::NotFound => {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    copy_entry(from, to, &key, opts).await
}

/// Copies one stored entry, a key or a version entry.
async fn copy_entry(
    from: &dyn KeyStore,
    to: &dyn KeyStore,
    key: &KeyName,
    opts: MigrateOptions,
) -> Result<Outcome, MigrateError> {
    let name = key.as_str();
    let err = |op: &'static str| {
        move |source| MigrateError::Key {
            op,
            name: name.to_owned(),
            source,
        }
    };
    let value = from.get(key).await.map_err(err("read"))?;
    let existing: Option<Zeroizing<Vec<u8>>> = match to.get(key).await {
        Ok(v) => Some(v),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(err("check")(e)),
    };
    let outcome = match existing {
        None => Outcome::Copied,
        Some(v) if equal(&v, &value) => return Ok(Outcome::Identical),
        Some(_) if opts.merge => return Ok(Outcome::Kept),
        Some(_) if opts.force => Outcome::Replaced,
        Some(_) => return Err(MigrateError::Exists(name.to_owned())),
    };
    if opts.dry_run {
        return Ok(outcome);
    }
    if outcome == Outcome::Replaced {
        match to.delete(key).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(err("replace")(e)),
        }
    }
    match to.create(key, &value).await {
        Ok(()) => Ok(outcome),
        // Another writer created it in between: compare again.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match to.get(key).await {
            Ok(v) if equal(&v, &value) => Ok(Outcome::Identical),
            Ok(_) if opts.merge => Ok(Outcome::Kept),
            Ok(_) => Err(MigrateError::Exists(name.to_owned())),
            Err(e) => Err(err("check")(e)),
        },
        Err(e) => Err(err("create")(e)),
    }
}

/// Copies every key of `from` matching `pattern` to `to`; `progress` hears
/// the total once, then every key's outcome.
pub async fn migrate(
    from: &dyn KeyStore,
    to: &dyn KeyStore,
    pattern: &Glob,
    opts: MigrateOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Summary, MigrateError> {
    if opts.force && opts.merge {
        return Err(MigrateError::Conflicting);
    }
    let names = matching_names(from, pattern).await?;
    progress(Progress::Total(names.len()));
    let mut summary = Summary {
        matched: names.len(),
        ..Summary::default()
    };
    for name in &names {
        let outcome = copy_key(from, to, name, opts).await?;
        summary.count(outcome);
        progress(Progress::Key(name, outcome));
    }
    Ok(summary)
}

/// A progress event of [`migrate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// How many keys matched.
    Total(usize),
    /// One key is done.
    Key(&'a str, Outcome),
}

/// Constant-time equality of two stored values (they are secrets).
fn equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemKeyStore;

    fn name(s: &str) -> KeyName {
        KeyName::new(s).unwrap()
    }

    async fn store(keys: &[(&str, &[u8])]) -> MemKeyStore {
        let s = MemKeyStore::new();
        for (n, v) in keys {
            s.create(&name(n), v).await.unwrap();
        }
        s
    }

    #[tokio::test]
    async fn copies_matching_keys_and_resumes() {
        let from = store(&[("app-1", b"v1"), ("app-2", b"v2"), ("other", b"v3")]).await;
        let to = store(&[("app-1", b"v1")]).await;
        let glob = Glob::new("app-*").unwrap();
        let mut seen = Vec::new();
        let summary = migrate(&from, &to, &glob, MigrateOptions::default(), |p| {
            seen.push(format!("{p:?}"))
        })
        .await
        .unwrap();
        assert_eq!(
            summary,
            Summary {
                matched: 2,
                copied: 1,
                identical: 1,
                ..Summary::default()
            }
        );
        assert_eq!(seen[0], "Total(2)");
        assert_eq!(&*to.get(&name("app-2")).await.unwrap(), b"v2");
        assert!(to.get(&name("other")).await.is_err());
        // Run again: everything identical, nothing written.
        let again = migrate(&from, &to, &glob, MigrateOptions::default(), |_| ())
            .await
            .unwrap();
        assert_eq!(again.identical, 2);
        // The source is untouched.
        assert_eq!(&*from.get(&name("app-1")).await.unwrap(), b"v1");
    }

    /// A rotated key travels with its version entries, which are not
    /// listed as keys of their own.
    #[tokio::test]
    async fn versions_travel_with_their_key() {
        let k = name("app-r");
        let v1 = k.version_entry(KeyVersionId::FIRST);
        let v2 = k.version_entry(KeyVersionId::new(2).unwrap());
        let from = store(&[("app-r", b"marker"), ("app-plain", b"p")]).await;
        from.create(&v1, b"first").await.unwrap();
        from.create(&v2, b"second").await.unwrap();
        let to = MemKeyStore::new();
        let glob = Glob::new("app-*").unwrap();
        let summary = migrate(&from, &to, &glob, MigrateOptions::default(), |_| ())
            .await
            .unwrap();
        assert_eq!((summary.matched, summary.copied), (2, 2));
        assert_eq!(&*to.get(&v1).await.unwrap(), b"first");
        assert_eq!(&*to.get(&v2).await.unwrap(), b"second");
        let again = migrate(&from, &to, &glob, MigrateOptions::default(), |_| ())
            .await
            .unwrap();
        assert_eq!(again.identical, 2);
    }

    #[tokio::test]
    async fn conflicts_need_force_or_merge() {
        let from = store(&[("k", b"new")]).await;
        let to = store(&[("k", b"old")]).await;
        let all = Glob::new("*").unwrap();
        let e = migrate(&from, &to, &all, MigrateOptions::default(), |_| ())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "key 'k' exists at the destination with a different value: use --force to replace it or --merge to keep it"
        );
        let merge = MigrateOptions {
            merge: true,
            ..Default::default()
        };
        assert_eq!(
            migrate(&from, &to, &all, merge, |_| ()).await.unwrap().kept,
            1
        );
        assert_eq!(&*to.get(&name("k")).await.unwrap(), b"old");
        let dry = MigrateOptions {
            force: true,
            dry_run: true,
            ..Default::default()
        };
        assert_eq!(
            migrate(&from, &to, &all, dry, |_| ())
                .await
                .unwrap()
                .replaced,
            1
        );
        assert_eq!(&*to.get(&name("k")).await.unwrap(), b"old");
        let force = MigrateOptions {
            force: true,
            ..Default::default()
        };
        assert_eq!(
            migrate(&from, &to, &all, force, |_| ())
                .await
                .unwrap()
                .replaced,
            1
        );
        assert_eq!(&*to.get(&name("k")).await.unwrap(), b"new");
        let both = MigrateOptions {
            force: true,
            merge: true,
            ..Default::default()
        };
        assert!(matches!(
            migrate(&from, &to, &all, both, |_| ()).await,
            Err(MigrateError::Conflicting)
        ));
    }

    #[tokio::test]
    async fn pages_through_large_stores() {
        let from = MemKeyStore::new();
        for i in 0..2500 {
            from.create(&name(&format!("k-{i:05}")), b"v")
                .await
                .unwrap();
        }
        let to = MemKeyStore::new();
        let glob = Glob::new("k-0[01]*").unwrap();
        let s = migrate(&from, &to, &glob, MigrateOptions::default(), |_| ())
            .await
            .unwrap();
        assert_eq!((s.matched, s.copied), (2000, 2000));
    }
}
