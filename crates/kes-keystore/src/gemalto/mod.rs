//! The Thales CipherTrust Manager (formerly Gemalto KeySecure) key store:
//! KES's keys are vault secrets of data type `seed`, named verbatim.
//!
//! The store (`store`) owns how a JWT is obtained (a long-lived refresh token
//! exchanged for short-lived JWTs; a renewal is a new exchange) and the five
//! operations. The block is decoded and validated into [`KeySecureOptions`] in
//! `config` (always built), the wire
//! details in `client`, the mapping of error answers in `error` and the test
//! fake in `fake`; the HTTPS transport (under the store's `POLICY`: custom
//! CA replacing the system roots, timeouts, retries) and the session
//! handling (renewal at half the lifetime, one new exchange when a call
//! answers 401) are shared in `transport`.
//!
//! Differences from Go KES, on purpose: `list` honours the prefix and `start`
//! contract of [`crate::KeyStore::list`] and does not issue a trailing empty page
//! request; an expired JWT (401) triggers a new exchange and one retry.
//! As in Go KES, deleting a missing secret succeeds: CipherTrust answers 404
//! for both "missing" and "not allowed to see".

#[cfg(feature = "gemalto")]
mod client;
mod config;
#[cfg(feature = "gemalto")]
mod error;
#[cfg(all(feature = "gemalto", any(test, feature = "testkit")))]
pub mod fake;
#[cfg(feature = "gemalto")]
mod store;

pub use self::config::KeySecureOptions;
pub(crate) use self::config::decode;
#[cfg(feature = "gemalto")]
pub use self::store::KeySecureKeyStore;
