//! The Fortanix DSM (SDKMS) key store (`keystore.fortanix.sdkms`,
//! keystores.md §9): one `OPAQUE` security object per key, named like the
//! key, exportable, holding the stored-key text (Go KES's layout, so both
//! can share one account).
//!
//! The block is decoded and validated into [`FortanixOptions`] in `config`
//! (always built); the store (`store`) owns start-up (health check, API-key
//! authentication) and the five operations, the wire details are in
//! `client`, the mapping of error answers (JSON `{"code", "message"}` or
//! plain text) in `error` and the test fake in `fake`. The HTTPS transport
//! (under the store's `POLICY`: `tls.ca` replaces the system roots, Go KES's
//! timeouts and retries) and the session (renewed by a new authentication
//! at half its lifetime, one new authentication when a call answers 401)
//! are shared in `transport`.
//!
//! Differences from Go KES, on purpose: calls run in a session
//! (`POST /sys/v1/session/auth`, then `Authorization: Bearer`) instead of
//! sending the API key with every call; `delete` looks the object up with
//! `keys/info` instead of exporting its value; `list` pages with an
//! exclusive `start` until an empty page (Go KES never advances `start`)
//! and honours the prefix and `start` contract of
//! [`crate::KeyStore::list`]. Like Go KES, a listing names every security
//! object the app can see, also those KES did not write.

#[cfg(feature = "fortanix")]
mod client;
mod config;
#[cfg(feature = "fortanix")]
mod error;
#[cfg(all(feature = "fortanix", any(test, feature = "testkit")))]
pub mod fake;
#[cfg(feature = "fortanix")]
mod store;

pub use self::config::FortanixOptions;
pub(crate) use self::config::decode;
#[cfg(feature = "fortanix")]
pub use self::store::FortanixKeyStore;
