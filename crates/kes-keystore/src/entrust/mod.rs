//! The Entrust KeyControl key store (the "Secrets Vault" / PASM vault REST
//! API): one box of one vault holds KES's keys as secrets named verbatim.
//!
//! The store (`store`) owns how a session is obtained (login with username and
//! password) and renewed (`Renew`, or a fresh login when the renewal fails),
//! and the five operations. The block is decoded and validated into
//! [`KeyControlOptions`] in `config` (always built), the wire details are
//! in `client`, the mapping of error answers in `error` and the test fake
//! in `fake`; the HTTPS transport (under the store's `POLICY`: custom CA
//! added to the system roots, timeouts, retries) and the session handling
//! (renewal at half the remaining lifetime, one re-login when a call
//! answers 401) are shared in `transport`.
//!
//! Differences from Go KES, on purpose: missing credentials are a config
//! error instead of a crash; listings never contain empty names; a failed
//! renewal is retried every 5 s instead of never again; `list` honours the
//! prefix and `start` contract of [`crate::KeyStore::list`].

#[cfg(feature = "entrust")]
mod client;
mod config;
#[cfg(feature = "entrust")]
mod error;
#[cfg(all(feature = "entrust", any(test, feature = "testkit")))]
pub mod fake;
#[cfg(feature = "entrust")]
mod store;

pub use self::config::KeyControlOptions;
pub(crate) use self::config::decode;
#[cfg(feature = "entrust")]
pub use self::store::EntrustKeyStore;
