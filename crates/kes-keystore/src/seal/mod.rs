//! The HSM seal (`hsm:` in the config file): a [`KeyStore`] decorator
//! that seals every value written to any key store with an AES-256 key kept
//! inside a PKCS#11 token, so the store only ever holds sealed values and a
//! leaked directory, Vault or bucket reveals nothing.
//!
//! * **Format.** A sealed value is the ASCII text
//!   `kes-sealed:v1:` + base64(IV ‖ ciphertext ‖ tag): AES-256-GCM
//!   (`CKM_AES_GCM` through `C_Encrypt`/`C_Decrypt`), a random 96-bit IV
//!   per value, a 128-bit tag, and the associated data
//!   `kes-sealed:v1:` ‖ key name, so a value copied under another name (or
//!   re-labelled with another format version) fails to unseal.
//! * **Reads.** `get` unseals; a value without the header (written before
//!   the seal was configured) is refused with an error saying so, unless
//!   `allow_unsealed: true` (migration: such values are read as they are,
//!   and `kes migrate` into a sealed store seals them). `delete`, `list`
//!   pass through; `status` also checks that the token answers.
//! * **Seal key.** Found by label (`key:`) as an AES secret key on the
//!   token; `kes server` refuses to start when it is missing, unless
//!   `create: true`, which generates it as a token object that is
//!   sensitive and never extractable, for encrypt/decrypt only.
//! * **Sessions.** One PKCS#11 context per module per process; a pool of
//!   logged-in sessions behind a mutex, each used by one blocking thread at
//!   a time (every call runs in `spawn_blocking`, at most 16 at once, so at
//!   most 16 sessions are open); a lost session or login is replaced and
//!   the call retried once (`pkcs11`).
//! * **Secrets.** The PIN is kept in a zeroizing type and never appears in
//!   a log or an error; unsealed values are returned in `Zeroizing`.
//! * **Hot path.** The server's key cache sits above the store, so a key is
//!   unsealed once per cache miss; DEK generation and decryption of cached
//!   keys never reach the HSM.
//!
//! The config block ([`config`]) is always built; the store and the HSM
//! client need the cargo feature `hsm` (the `cryptoki` crate, which loads
//! the module and wraps its C interface safely). Go KES cannot read sealed
//! values.
//!
//! [`KeyStore`]: crate::KeyStore

pub mod config;
#[cfg(feature = "hsm")]
mod pkcs11;
#[cfg(feature = "hsm")]
mod store;

pub use config::{HsmConfig, TokenSelector, decode};
#[cfg(feature = "hsm")]
pub use store::{SEALED_PREFIX, SealedKeyStore};
