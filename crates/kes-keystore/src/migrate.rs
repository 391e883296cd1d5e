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
//! with it, and the rules above apply to the key and its versions as one:
//! the destination holds "the same value" only if every entry it has
//! (`<key>`, `<key>-v1-`, `<key>-v2-`, … up to the first absent; versions
//! are dense) equals the source's and it has no version the source lacks.
//! Entries it lacks are copied (versions before the key, so an interrupted
//! run never leaves a rotated key's marker without its versions); `merge`
//! keeps all of another key, never adding the source's versions to it;
//! `force` replaces all of it, removing the versions the source does not
//! have. Versions are probed, not listed, since not every store lists them
//! (fs does not); listed version entries are not matched as keys. For a key
//! never rotated this costs one read of `<key>-v1-` on each side.

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

/// Copies one key and its versions (see the module docs for the rules).
/// The key and its versions are judged together: the destination holds
/// "the same key" only if every entry it has equals the source's, and it
/// has no version the source lacks; entries it lacks (an interrupted run)
/// are copied.
pub async fn copy_key(
    from: &dyn KeyStore,
    to: &dyn KeyStore,
    name: &str,
    opts: MigrateOptions,
) -> Result<Outcome, MigrateError> {
    let key = KeyName::new(name).map_err(|_| MigrateError::BadName(name.to_owned()))?;
    let source = Entries::read(from, &key, "read").await?;
    let Some(source_value) = source.key.as_deref() else {
        return Err(MigrateError::Key {
            op: "read",
            name: name.to_owned(),
            source: KeyStoreError::not_found(),
        });
    };
    let dest = Entries::read(to, &key, "check").await?;
    let differs = dest.key.as_deref().is_some_and(|d| !equal(d, source_value))
        || dest.versions.len() > source.versions.len()
        || dest
            .versions
            .iter()
            .zip(&source.versions)
            .any(|((_, d), (_, s))| !equal(d, s));
    let outcome = match (differs, &dest.key) {
        (false, Some(_)) if dest.versions.len() == source.versions.len() => {
            return Ok(Outcome::Identical);
        }
        (false, _) => Outcome::Copied,
        (true, _) if opts.merge => return Ok(Outcome::Kept),
        (true, _) if opts.force => Outcome::Replaced,
        (true, _) => return Err(MigrateError::Exists(name.to_owned())),
    };
    if opts.dry_run {
        return Ok(outcome);
    }
    // Versions first, so that an interrupted run never leaves a rotated
    // key's marker without its versions; then the destination's versions
    // the source does not have (`force`), highest first, so that what is
    // left stays dense; the key last.
    for (i, (v, value)) in source.versions.iter().enumerate() {
        let existing = dest.versions.get(i).map(|(_, d)| &d[..]);
        write_entry(to, &key.version_entry(*v), value, existing).await?;
    }
    for (v, _) in dest.versions.iter().skip(source.versions.len()).rev() {
        let entry = key.version_entry(*v);
        match to.delete(&entry).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(MigrateError::Key {
                    op: "replace",
                    name: entry.to_string(),
                    source,
                });
            }
        }
    }
    write_entry(to, &key, source_value, dest.key.as_ref().map(|d| &d[..])).await?;
    Ok(outcome)
}

/// A key's own entry and its versions (`<key>-v1-`, `<key>-v2-`, … up to
/// the first absent; versions are dense) in one store.
struct Entries {
    key: Option<Zeroizing<Vec<u8>>>,
    versions: Vec<(KeyVersionId, Zeroizing<Vec<u8>>)>,
}

impl Entries {
    /// Reads them; failures are reported as `op` (`read` at the source,
    /// `check` at the destination).
    async fn read(
        store: &dyn KeyStore,
        key: &KeyName,
        op: &'static str,
    ) -> Result<Self, MigrateError> {
        let mut versions = Vec::new();
        let mut next = Some(KeyVersionId::FIRST);
        while let Some(v) = next {
            match get(store, &key.version_entry(v), op).await? {
                Some(value) => versions.push((v, value)),
                None => break,
            }
            next = v.next();
        }
        let key = get(store, key, op).await?;
        Ok(Self { key, versions })
    }
}

/// The value of `entry`, `None` if absent.
async fn get(
    store: &dyn KeyStore,
    entry: &KeyName,
    op: &'static str,
) -> Result<Option<Zeroizing<Vec<u8>>>, MigrateError> {
    match store.get(entry).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MigrateError::Key {
            op,
            name: entry.to_string(),
            source,
        }),
    }
}

/// Makes `entry` hold `value` at the destination, which held `existing`:
/// nothing if equal, created if absent, replaced (delete, then create)
/// otherwise. A create that finds the entry written meanwhile by someone
/// else succeeds only if it holds `value`.
async fn write_entry(
    to: &dyn KeyStore,
    entry: &KeyName,
    value: &[u8],
    existing: Option<&[u8]>,
) -> Result<(), MigrateError> {
    let err = |op: &'static str| {
        move |source| MigrateError::Key {
            op,
            name: entry.to_string(),
            source,
        }
    };
    match existing {
        Some(v) if equal(v, value) => return Ok(()),
        Some(_) => match to.delete(entry).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(err("replace")(e)),
        },
        None => {}
    }
    match to.create(entry, value).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => match to.get(entry).await {
            Ok(v) if equal(&v, value) => Ok(()),
            Ok(_) => Err(MigrateError::Exists(entry.to_string())),
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

    /// A store holding `key` with `value` and the versions `versions`.
    async fn rotated(key: &str, value: &[u8], versions: &[&[u8]]) -> MemKeyStore {
        let s = store(&[(key, value)]).await;
        for (i, v) in versions.iter().enumerate() {
            let id = KeyVersionId::new(u32::try_from(i + 1).unwrap()).unwrap();
            s.create(&name(key).version_entry(id), v).await.unwrap();
        }
        s
    }

    /// The key's value and its versions' values in `s`.
    async fn entries(s: &MemKeyStore, key: &str) -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
        let e = Entries::read(s, &name(key), "check").await.unwrap();
        let key = e.key.map(|v| v.to_vec());
        (
            key,
            e.versions.into_iter().map(|(_, v)| v.to_vec()).collect(),
        )
    }

    /// A key and its versions are one: a destination that holds another
    /// rotated key of the name keeps all of it with `merge` (none of the
    /// source's versions is added to it), loses all of it with `force`
    /// (versions the source lacks are removed), and without either the run
    /// stops; a destination holding a prefix of the source's entries (an
    /// interrupted run) is completed.
    #[tokio::test]
    async fn a_key_and_its_versions_are_judged_together() {
        let from = rotated("k", b"marker", &[b"a1", b"a2", b"a3"]).await;
        let all = Glob::new("*").unwrap();
        let merge = MigrateOptions {
            merge: true,
            ..Default::default()
        };
        let force = MigrateOptions {
            force: true,
            ..Default::default()
        };

        let to = rotated("k", b"marker", &[b"b1", b"b2"]).await;
        let e = migrate(&from, &to, &all, MigrateOptions::default(), |_| ())
            .await
            .unwrap_err();
        assert!(matches!(e, MigrateError::Exists(ref n) if n == "k"), "{e}");
        assert_eq!(
            migrate(&from, &to, &all, merge, |_| ()).await.unwrap().kept,
            1
        );
        let kept = (
            Some(b"marker".to_vec()),
            vec![b"b1".to_vec(), b"b2".to_vec()],
        );
        assert_eq!(entries(&to, "k").await, kept);

        let to = rotated("k", b"marker", &[b"b1", b"b2", b"b3", b"b4"]).await;
        assert_eq!(
            migrate(&from, &to, &all, force, |_| ())
                .await
                .unwrap()
                .replaced,
            1
        );
        assert_eq!(entries(&to, "k").await, entries(&from, "k").await);
        let plain = store(&[("k", b"plain")]).await;
        let to = rotated("k", b"marker", &[b"b1"]).await;
        assert_eq!(
            migrate(&plain, &to, &all, force, |_| ())
                .await
                .unwrap()
                .replaced,
            1
        );
        assert_eq!(entries(&to, "k").await, (Some(b"plain".to_vec()), vec![]));

        let to = rotated("other", b"x", &[]).await;
        to.create(&name("k").version_entry(KeyVersionId::FIRST), b"a1")
            .await
            .unwrap();
        let s = migrate(&from, &to, &all, MigrateOptions::default(), |_| ())
            .await
            .unwrap();
        assert_eq!(s.copied, 1);
        assert_eq!(entries(&to, "k").await, entries(&from, "k").await);
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
