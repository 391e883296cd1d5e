//! Shared vocabulary of KES, with no I/O: validated names and listing patterns,
//! policies and their path matching, client identities (SHA-256 of a
//! certificate's public key), and the JSON wire types of the HTTP API together
//! with its canonical error values. API keys and legacy PEM encryption need
//! crypto primitives and live in `kes-crypto`.
//!
//! Everything here is pure: the server, the client and the command line build
//! on these types so that the three agree on the wire contract.
#![forbid(unsafe_code)]

pub mod api;
pub mod glob;
pub mod identity;
pub mod name;
pub mod policy;

pub use glob::{Glob, GlobError};
pub use identity::{CertificateError, Identity, PeerError, identity_of_chain};
pub use name::{KeyName, KeyVersionId, ListPattern, NameError, PolicyName, VersionIdError};
pub use policy::{PathPattern, PatternError, Policy};
