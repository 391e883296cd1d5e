//! Error types of kes-crypto, one enum per concern. No variant ever carries
//! key bytes, plaintexts or the text of a stored key: errors may be logged.

use thiserror::Error;

/// A secret key, HMAC key or cipher name was not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key material does not have the required length.
    #[error("secret key must be 32 bytes, got {got}")]
    InvalidLength {
        /// The length that was supplied.
        got: usize,
    },
    /// The cipher name is not one of the accepted spellings.
    #[error("unknown cipher '{0}'")]
    UnknownCipher(String),
}

/// Encryption (or DEK generation) failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The AEAD refused to seal, which only happens for absurdly large inputs.
    #[error("{cipher} encryption failed: plaintext of {len} bytes is too large")]
    Seal {
        /// The cipher in use ("AES256" or "ChaCha20").
        cipher: &'static str,
        /// The plaintext length.
        len: usize,
    },
}

/// Decryption failed. The HTTP layer always answers with the canonical
/// "ciphertext is not authentic" error; the variants only explain the cause
/// for logs and never contain secret material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The (normalised) ciphertext cannot even hold iv, nonce and tag.
    #[error("ciphertext is not authentic: {len} bytes is too short (need more than 28)")]
    TooShort {
        /// The length of the raw ciphertext.
        len: usize,
    },
    /// The AEAD rejected the ciphertext (wrong key, wrong context or tampered).
    #[error("ciphertext is not authentic")]
    NotAuthentic,
    /// The input looked like a legacy (JSON/MessagePack) ciphertext but did not
    /// parse as one; it was then tried as a raw ciphertext, which failed too.
    #[error("ciphertext is not authentic (not a valid legacy ciphertext either: {0})")]
    NotAuthenticLegacy(#[source] CiphertextFormatError),
}

/// Why a legacy ciphertext (JSON or MessagePack, §7.5) could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CiphertextFormatError {
    /// Not syntactically valid JSON, or not a JSON object.
    #[error("invalid JSON ciphertext: {0}")]
    Json(String),
    /// A JSON field has the wrong type.
    #[error("invalid JSON ciphertext: field '{field}' must be a string")]
    JsonFieldType {
        /// The offending field.
        field: &'static str,
    },
    /// A base64 field did not decode.
    #[error("invalid ciphertext: field '{field}' is not valid base64")]
    Base64 {
        /// The offending field.
        field: &'static str,
    },
    /// The JSON `aead` field names no supported algorithm.
    #[error("unknown aead '{0}'")]
    UnknownAead(String),
    /// The MessagePack algorithm string names no supported algorithm.
    #[error("unknown algorithm '{0}'")]
    UnknownAlgorithm(String),
    /// The iv is not 16 bytes.
    #[error("iv must be 16 bytes, got {got}")]
    IvLength {
        /// The length found.
        got: usize,
    },
    /// The nonce is not 12 bytes.
    #[error("nonce must be 12 bytes, got {got}")]
    NonceLength {
        /// The length found.
        got: usize,
    },
    /// The MessagePack structure is not the 5-element array of §7.5.2.
    #[error("invalid MessagePack ciphertext: {0}")]
    MsgPack(&'static str),
}

/// A key version cannot be encoded into the storage format.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Legacy keys have no HMAC key and cannot be written in the current format.
    #[error("cannot encode key version: no HMAC key")]
    MissingHmacKey,
}

/// A stored key value (§7.3) could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// Neither JSON nor valid base64.
    #[error("invalid key version: not JSON and not valid base64")]
    Base64,
    /// The protobuf message is malformed.
    #[error("invalid protobuf: {0}")]
    Protobuf(&'static str),
    /// The secret key sub-message is missing.
    #[error("invalid protobuf: missing secret key")]
    MissingSecretKey,
    /// The HMAC key sub-message is missing.
    #[error("invalid protobuf: missing HMAC key")]
    MissingHmacKey,
    /// Unknown secret-key type value.
    #[error("unknown key type {0}")]
    UnknownKeyType(u64),
    /// Unknown HMAC hash value.
    #[error("unknown hash type {0}")]
    UnknownHashType(u64),
    /// A secret or HMAC key does not have 32 bytes.
    #[error("{what} must be 32 bytes, got {got}")]
    KeyLength {
        /// "secret key" or "HMAC key".
        what: &'static str,
        /// The length found.
        got: usize,
    },
    /// The creation timestamp is out of range.
    #[error("invalid protobuf: created_at timestamp out of range")]
    Timestamp,
    /// `created_by` is not valid UTF-8.
    #[error("invalid protobuf: created_by is not valid UTF-8")]
    CreatedByUtf8,
    /// Legacy JSON that is not an object of the expected shape.
    #[error("invalid legacy key: {0}")]
    LegacyJson(String),
    /// A legacy JSON field has the wrong type.
    #[error("invalid legacy key: field '{field}' must be a string")]
    LegacyFieldType {
        /// The offending field.
        field: &'static str,
    },
    /// The legacy `bytes` field is not valid base64.
    #[error("invalid legacy key: field 'bytes' is not valid base64")]
    LegacyBase64,
    /// The legacy `algorithm` names no supported algorithm.
    #[error("invalid legacy key: unknown algorithm '{0}'")]
    LegacyAlgorithm(String),
    /// The legacy `created_at` is not an RFC 3339 time.
    #[error("invalid legacy key: created_at is not an RFC 3339 time")]
    LegacyCreatedAt,
}
