//! Shared vocabulary of KES, with no I/O: validated names and listing patterns,
//! policies and their path matching, client identities, API keys (and the
//! self-signed certificate derived from one), and the JSON wire types of the
//! HTTP API together with its canonical error values.
//!
//! Everything here is pure: the server, the client and the command line build
//! on these types so that the three agree on the wire contract.
#![forbid(unsafe_code)]

pub mod api;
pub mod apikey;
pub mod glob;
pub mod identity;
pub mod legacy_pem;
pub mod name;
pub mod policy;

pub use apikey::{ApiKey, ApiKeyError, CertificateOptions, GeneratedCertificate, Pkcs8Error};
pub use glob::{Glob, GlobError};
pub use identity::{CertificateError, Identity, PeerError, identity_of_chain};
pub use name::{KeyName, ListPattern, NameError, PolicyName};
pub use policy::{PathPattern, PatternError, Policy};
