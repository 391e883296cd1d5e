//! The key-store joint of KES: the [`KeyStore`] trait every backend
//! implements, its error type, and the backends themselves.
//!
//! A key store is a flat map from key name to opaque bytes (the stored-key
//! text of `kes-crypto`). Backends never parse values, never know about
//! policies, HTTP routes or crypto; they create (only if absent), get, delete
//! and list, and report their status. The server puts a cache in front.
//!
//! The `keystore:` section of the config file is decoded here too
//! ([`config`]): each back end's folder owns its block. `fs` and `mem` are
//! always built; each remote back end is a cargo feature of the same name
//! (`vault`, `aws`, `entrust`, `gemalto`, `azure`, `gcp`, `fortanix`,
//! `kmip`), off by
//! default; its config is
//! built either way. The HSM seal ([`seal`], `hsm:` in the config file)
//! wraps any of them; it needs the cargo feature `hsm`.
#![forbid(unsafe_code)]

use std::time::Duration;

use async_trait::async_trait;
use kes_types::KeyName;
use zeroize::Zeroizing;

pub mod aws;
pub mod azure;
pub mod config;
pub mod entrust;
mod error;
pub mod fortanix;
pub mod fs;
pub mod gcp;
pub mod gemalto;
pub mod kmip;
mod list;
pub mod mem;
pub mod migrate;
#[cfg(any(feature = "vault", feature = "azure", feature = "kmip"))]
mod name_locks;
pub mod seal;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
#[cfg(any(
    feature = "vault",
    feature = "entrust",
    feature = "gemalto",
    feature = "azure",
    feature = "gcp",
    feature = "fortanix",
    feature = "kmip"
))]
mod transport;
pub mod vault;

pub use config::KeyStoreConfig;
pub use error::{ErrorKind, KeyStoreError};

/// The most names one [`KeyStore::list`] call returns (Go KES uses 1024).
pub const MAX_LIST: usize = 1024;

/// What [`KeyStore::status`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Round-trip time of the status probe.
    pub latency: Duration,
}

/// One page of a listing: sorted names and, when the listing was cut, the
/// first name not returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Names in bytewise order, all starting with the requested prefix.
    pub names: Vec<String>,
    /// The next name to continue from; `None` when the listing is complete.
    pub next: Option<String>,
}

/// How long a create that met another node's create of the same object
/// (a KMIP key, the HSM seal's key: both found two where they made one)
/// waits before it tries again, the `n`-th time (from 1); `took` is how
/// long the attempt that met the other took. Two creates meet again only
/// if they start within about that time of each other, so the pause is
/// random over at least four times it (and at least 200 ms), doubling with
/// `n` up to 4 s, plus 50 ms: a second meeting has odds of about 1 in 2,
/// then 1 in 4, 1 in 8, whatever the peer's latency.
#[cfg(any(feature = "kmip", feature = "hsm"))]
pub(crate) fn step_back(n: u32, took: Duration) -> Duration {
    let base = took.saturating_mul(4).max(Duration::from_millis(200));
    let spread = base
        .saturating_mul(1 << n.saturating_sub(1).min(4))
        .min(Duration::from_secs(4));
    Duration::from_millis(50) + spread.mul_f64(rand::random::<f64>())
}

/// A persistent map from key names to stored-key values.
///
/// Implementations must be safe to call concurrently. `create` must never
/// overwrite: of several concurrent creates of one name exactly one succeeds
/// and the others get [`ErrorKind::AlreadyExists`]; a crash never leaves a
/// half-written value behind.
#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug + 'static {
    /// A one-line description for the start-up banner, e.g. `Filesystem: /keys`.
    fn description(&self) -> String;

    /// Checks that the store is reachable and measures the latency.
    async fn status(&self) -> Result<Status, KeyStoreError>;

    /// Stores `value` under `name` if, and only if, no such key exists.
    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError>;

    /// Returns the value stored under `name`.
    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError>;

    /// Removes `name`. Stores that cannot tell may succeed for a missing key;
    /// the others return [`ErrorKind::NotFound`].
    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError>;

    /// Lists names starting with `prefix`, sorted bytewise, at most `limit`
    /// (and at most [`MAX_LIST`]) of them, starting at the first name that is
    /// `>= start` (empty = from the beginning). A `limit` of 0 means [`MAX_LIST`].
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError>;
}
