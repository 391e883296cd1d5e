//! The Fortanix DSM (SDKMS) key store (keystores.md): so far only its config block
//! (`keystore.fortanix.sdkms`), decoded and validated in `config`, so that a Go KES
//! config naming it loads and start-up then says the store is not
//! supported by this build.

mod config;

pub use self::config::FortanixOptions;
pub(crate) use self::config::decode;
