//! KES key material, with no I/O: secret keys (AES-256 / ChaCha20), the
//! ciphertext formats Go KES ever wrote, the stored-key codec, DEK generation
//! and HMAC (kes-protocol.md §7).
//!
//! All primitive cryptography (ring, the CSPRNG, the hand-written HChaCha20)
//! stays inside this crate; other crates only see the types re-exported here.
//! Key bytes live in `Zeroizing` buffers and never appear in `Debug`,
//! `Display` or errors.
#![forbid(unsafe_code)]

mod b64;
mod cipher;
mod ciphertext;
mod error;
mod key_version;
mod proto;
mod secret_key;

pub use cipher::{Cipher, new_key_cipher};
pub use error::{
    CiphertextFormatError, CryptoError, DecryptError, EncodeError, KeyError, KeyFormatError,
};
pub use key_version::{Dek, KeyVersion};
pub use secret_key::{HmacKey, SecretKey};
