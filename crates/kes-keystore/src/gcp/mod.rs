//! The Google Cloud Secret Manager key store (keystores.md): so far only its config block
//! (`keystore.gcp.secretmanager`), decoded and validated in `config`, so that a Go KES
//! config naming it loads and start-up then says the store is not
//! supported by this build.

mod config;

pub(crate) use self::config::decode;
pub use self::config::{GcpCredentials, GcpOptions};
