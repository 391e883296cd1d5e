//! KES key material, with no I/O: secret keys (AES-256 / ChaCha20), the
//! ciphertext formats Go KES ever wrote, the stored-key codec, DEK generation
//! and HMAC (kes-protocol.md §7); API keys (Ed25519) and the self-signed
//! certificate derived from one (§6); legacy OpenSSL PEM encryption of
//! private keys; RS256 signatures for a key store's OAuth token flow (`rsa`).
//!
//! All primitive cryptography (ring, the CSPRNG, the hand-written HChaCha20,
//! the RustCrypto block ciphers and MD5 of legacy PEM) stays inside this
//! crate; other crates only see the types re-exported here. The one exception
//! is the SHA-256 that names an identity, in `kes-types` (ARCHITECTURE.md).
//! Key bytes live in `Zeroizing` buffers and never appear in `Debug`,
//! `Display` or errors.
#![forbid(unsafe_code)]

pub mod apikey;
mod b64;
mod cipher;
mod ciphertext;
mod error;
mod key_version;
pub mod legacy_pem;
mod proto;
pub mod rsa;
mod secret_key;

pub use apikey::{ApiKey, ApiKeyError, CertificateOptions, GeneratedCertificate, Pkcs8Error};
pub use cipher::{Cipher, new_key_cipher};
pub use error::{
    CiphertextFormatError, CryptoError, DecryptError, EncodeError, KeyError, KeyFormatError,
};
pub use key_version::{Dek, KeyVersion};
pub use rsa::{RsaKeyError, RsaSigningKey};
pub use secret_key::{HmacKey, SecretKey};
