//! The HashiCorp Vault / OpenBao key store (keystores.md §3).
//!
//! One K/V secret per KES key at `<engine>/<prefix>/<name>` holding a single
//! field named like the key whose value is the stored-key text, exactly as Go
//! KES writes it, so both can share a Vault path. K/V v1 and v2 are
//! supported (v2 writes with `cas: 0` and reads version 1), as is an
//! optional transit layer (the field then holds a `vault:vN:` ciphertext of
//! the base64 value; every key version `N` is accepted, unlike Go KES).
//!
//! The store owns two background tasks, aborted when it is dropped:
//! * token renewal: at half the TTL `renew-self`; when renewal fails, the
//!   token is not renewable or it approaches its max TTL, a fresh login;
//! * health probe every `status.ping`: tracks "sealed" (operations then
//!   fail fast) and logs reachability *changes* only.
//!
//! A 401/403 on an operation whose token Vault no longer accepts (revoked,
//! expired, or a restarted dev server) triggers one re-login and one retry.
//!
//! Differences from Go KES, on purpose: an empty or missing key directory
//! lists as empty (Go: error); a K/V v2 CAS conflict is "already exists"
//! (Go: generic error); creates of one name are serialized inside one store
//! (K/V v1 has no atomic create, so across KES replicas it stays racy);
//! connections are pooled (Go disables keep-alive).
//!
//! The `keystore.vault` block (also the older `keys.vault`) is decoded and
//! validated into [`VaultOptions`] in `config` (always built, so that a
//! build without the `vault` feature still checks the block); the store
//! type lives in `store`, Vault's request headers in `client`, the reading
//! of Vault's answers in `error` and the logins and token renewal in
//! `auth`. The HTTP transport is the one every remote store shares
//! (`crate::transport`), under Vault's policy declared in `store`
//! (`POLICY`: the timeouts of [`VaultOptions`], 1 MiB bodies, 32 MiB
//! listings, 64 requests in flight, no retries, the CA replacing the system
//! roots, the optional client certificate). Tests run against OpenBao, so
//! there is no `fake.rs`.

#[cfg(feature = "vault")]
mod auth;
#[cfg(feature = "vault")]
mod client;
mod config;
#[cfg(feature = "vault")]
mod error;
#[cfg(feature = "vault")]
mod store;

pub(crate) use self::config::decode;
pub use self::config::{
    AppRoleOptions, JwtSource, KubernetesOptions, KvVersion, LoginNamespace, TransitOptions,
    VaultAuth, VaultOptions, VaultTlsOptions,
};
#[cfg(feature = "vault")]
pub use self::store::{AuthStats, VaultKeyStore};
