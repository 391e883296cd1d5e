//! The Azure Key Vault key store (keystores.md §5): one secret per KES key,
//! named verbatim (Key Vault's alphabet is `[0-9a-zA-Z-]`, so a KES name
//! with `_` is refused by the vault), holding the stored-key text.
//!
//! The `keystore.azure.keyvault` block is decoded and validated into
//! [`AzureOptions`] in `config` (always built); where the access token
//! comes from (client secret, workload identity, managed identity, the
//! environment) is `credential`; the store type lives in `store`, the wire
//! details (secrets API 7.5, token answers) in `client`, the mapping of
//! error answers in `error` and the test fake in `fake`. The HTTPS
//! transport and the token session (renewal at half the lifetime, one new
//! token when a call answers 401) are shared in `transport`; the vault and
//! the token endpoints trust the system roots plus `SSL_CERT_FILE`.
//!
//! Behaviour kept from Go KES: create is check-then-set (Key Vault has no
//! create-if-absent); a create on a soft-deleted name purges it first and
//! retries through `409 ObjectIsBeingDeleted`; delete is soft delete then
//! purge and never says "not found"; a read takes the oldest version, so a
//! stray newer version written by someone else does not change the key;
//! listing returns every secret of the vault.
//!
//! Differences from Go KES, on purpose: creates of one name through one
//! store are serialized, so only one of them succeeds (across KES nodes
//! the check-then-set stays racy, as in Go); of versions created in the
//! same second the smaller id counts as the older; the first token is requested at start-up,
//! so a refused credential stops `kes server` with its reason (Go: at the
//! first request); the token is requested for the Key Vault scope directly
//! instead of after Key Vault's 401 challenge, so a vault on any host
//! works.

#[cfg(feature = "azure")]
mod client;
mod config;
#[cfg(feature = "azure")]
mod credential;
#[cfg(feature = "azure")]
mod error;
#[cfg(all(feature = "azure", any(test, feature = "testkit")))]
pub mod fake;
#[cfg(feature = "azure")]
mod store;

pub(crate) use self::config::decode;
pub use self::config::{AzureAuth, AzureOptions};
#[cfg(feature = "azure")]
pub use self::store::AzureKeyVaultStore;
