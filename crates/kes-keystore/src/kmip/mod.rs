//! The KMIP key store (OASIS KMIP 1.0–1.4 and 2.0, TTLV over mutual TLS):
//! each KES key is one Secret Data object (opaque bytes, the stored value)
//! whose Name attribute is `<prefix><key name>`.
//!
//! `create` is Locate by name, then Register when nothing has the name;
//! `get` is Locate + Get; `delete` is Revoke + Destroy of every object of
//! the name; `list` is Locate of every object and Get Attributes (Name),
//! filtered by the prefix, sorted and paged here. KMIP has no
//! create-if-absent: creates of one name are serialized within a store, but
//! across KES nodes the check-then-register is racy (as for Vault K/V v1 and
//! Azure); see `KmipKeyStore::create`. The protocol version is the
//! configured one or negotiated with Discover Versions (2.0 first). 1.x and
//! 2.0 share one code path: the few payloads that differ (attributes in an
//! Attributes structure in 2.0, Attribute Name/Value pairs in 1.x) switch
//! on the version in `client`.
//!
//! The block is decoded and validated into [`KmipOptions`] in `config`
//! (always built), the TTLV codec is `ttlv`, the connections, messages and
//! answers `client`, the mapping of Result Reasons to errors `error`, and
//! the operations `store`. The TLS config is the shared transport's (the
//! CA replaces the system roots; the client certificate is required). The
//! tests run against a real PyKMIP server (`kes-testpeers::pykmip`).
//!
//! Go KES has no KMIP store.

#[cfg(feature = "kmip")]
mod client;
mod config;
#[cfg(feature = "kmip")]
mod error;
#[cfg(feature = "kmip")]
mod store;
#[cfg(feature = "kmip")]
pub mod ttlv;

pub use self::config::KmipOptions;
pub(crate) use self::config::decode;
#[cfg(feature = "kmip")]
pub use self::store::KmipKeyStore;
