//! The one place where internal errors become API errors (spec §1.7).
//!
//! Handlers return [`Error`]; [`Error::to_api`] gives the exact status and
//! message clients match on, and [`Error::log`] says what (if anything) goes
//! to the error log. Internal causes (key-store messages, crypto failures)
//! are logged, never sent to the client.

use kes_keystore::{ErrorKind, KeyStoreError};

use crate::auth::AdminError;
use kes_types::api::{ApiError, errors};
use kes_types::name::NameError;
use kes_types::{KeyVersionId, VersionIdError};

use crate::level::Level;

/// Which key-store operation failed; decides the 502 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// create / import.
    Create,
    /// get (through the cache).
    Read,
    /// delete.
    Delete,
    /// list.
    List,
}

impl StoreOp {
    /// The client-facing 502 text of a failed operation.
    pub fn failure(self) -> &'static str {
        match self {
            Self::Create => "failed to create key",
            Self::Read => "failed to read key",
            Self::Delete => "failed to delete key",
            Self::List => "failed to list keys",
        }
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The identity may not perform the request.
    #[error("not authorized")]
    NotAllowed,
    /// The request needs a client identity and the peer has none.
    #[error("{0}")]
    NoIdentity(String),
    /// No such key.
    #[error("key does not exist")]
    KeyNotFound,
    /// The key exists already.
    #[error("key already exists")]
    KeyExists,
    /// No such policy.
    #[error("policy does not exist")]
    PolicyNotFound,
    /// Unknown identity.
    #[error("identity does not exist")]
    IdentityNotFound,
    /// Decryption failed (any reason: clients only learn that it failed).
    #[error("decryption failed: {0}")]
    Decrypt(String),
    /// The key has no such version.
    #[error("key version '{version}' of '{key}' does not exist")]
    VersionNotFound {
        /// Key name.
        key: String,
        /// The version asked for.
        version: KeyVersionId,
    },
    /// The version's key material was destroyed.
    #[error("key version '{version}' of '{key}' was removed")]
    VersionRemoved {
        /// Key name.
        key: String,
        /// The removed version.
        version: KeyVersionId,
    },
    /// The latest version cannot be removed.
    #[error(
        "key version '{version}' is the latest version of '{key}' and cannot be removed; rotate the key first"
    )]
    LatestVersion {
        /// Key name.
        key: String,
        /// The latest version.
        version: KeyVersionId,
    },
    /// The version that superseded this one is younger than the cache
    /// expiry: another node may still encrypt with this one.
    #[error(
        "key version '{version}' of '{key}' was superseded {age_secs} s ago; other KES nodes may \
         still use it for new ciphertexts until their cache expires: remove it after {wait_secs} s"
    )]
    RecentlySuperseded {
        /// Key name.
        key: String,
        /// The version to remove.
        version: KeyVersionId,
        /// Seconds since the next version was created.
        age_secs: u64,
        /// Seconds to wait before the removal is allowed.
        wait_secs: u64,
    },
    /// A malformed version in a request.
    #[error(transparent)]
    BadVersion(#[from] VersionIdError),
    /// Other rotations of the key kept winning the race.
    #[error("key '{0}' is being rotated concurrently; try again")]
    RotateConflict(String),
    /// The key has no HMAC key.
    #[error("key does not support HMAC")]
    HmacNotSupported,
    /// An invalid name or pattern in the path.
    #[error("{0}")]
    BadName(#[from] NameError),
    /// An invalid value of a query parameter the route reads; the client
    /// sees the reason.
    #[error("invalid query parameter '{param}': {reason}")]
    BadQuery {
        /// The parameter's name.
        param: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A request body that does not decode; the text is the route's message.
    #[error("{message}: {cause}")]
    BadBody {
        /// The route's canonical message.
        message: &'static str,
        /// Why (for the log only).
        cause: String,
    },
    /// A policy body that does not decode or holds an invalid pattern; the
    /// client sees the reason.
    #[error("invalid policy: {0}")]
    BadPolicy(String),
    /// A runtime policy change that the current policies do not allow.
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// Import with an unknown cipher.
    #[error("algorithm '{0}' is not supported")]
    UnsupportedCipher(String),
    /// Import with a key that is not 32 bytes.
    #[error("invalid key size for '{0}'")]
    InvalidKeySize(String),
    /// Legacy bulk decrypt with too many items.
    #[error("too many ciphertexts")]
    TooManyCiphertexts,
    /// A key-store operation failed.
    #[error("{}: {source}", op.failure())]
    Store {
        /// The operation.
        op: StoreOp,
        /// The cause.
        source: KeyStoreError,
    },
    /// A stored key could not be decoded.
    #[error("stored key '{name}' is invalid: {cause}")]
    StoredKey {
        /// Key name.
        name: String,
        /// Decoder message.
        cause: String,
    },
    /// Generating, encoding or using a key, or encoding a response, failed.
    #[error("{message}: {cause}")]
    Internal {
        /// The canonical 500 text.
        message: &'static str,
        /// The cause (never secret).
        cause: String,
    },
    /// `/v1/ready`: the key store is unreachable.
    #[error("{0}")]
    NotReachable(String),
    /// `/v1/ready`: the key store failed otherwise.
    #[error("key store is unavailable: {0}")]
    Unavailable(String),
    /// A request path that cannot be routed safely.
    #[error("{0}")]
    BadPath(String),
    /// Wrong method.
    #[error("received method '{got}' expected '{want}'")]
    Method {
        /// Received.
        got: String,
        /// Expected.
        want: &'static str,
    },
    /// The route's deadline passed.
    #[error("request timeout exceeded")]
    Timeout,
}

impl Error {
    /// The error as the client sees it.
    pub fn to_api(&self) -> ApiError {
        let canon = |(s, m): (u16, &str)| ApiError::new(s, m);
        match self {
            Self::NotAllowed => canon(errors::NOT_ALLOWED),
            Self::NoIdentity(msg) => ApiError::new(400, msg.as_str()),
            Self::KeyNotFound => canon(errors::KEY_NOT_FOUND),
            Self::KeyExists => canon(errors::KEY_EXISTS),
            Self::PolicyNotFound => canon(errors::POLICY_NOT_FOUND),
            Self::IdentityNotFound => canon(errors::IDENTITY_NOT_FOUND),
            Self::Decrypt(_) => canon(errors::DECRYPT),
            Self::HmacNotSupported => canon(errors::HMAC_NOT_SUPPORTED),
            Self::VersionNotFound { .. } => ApiError::new(404, self.to_string()),
            Self::VersionRemoved { .. } | Self::LatestVersion { .. } | Self::BadVersion(_) => {
                ApiError::new(400, self.to_string())
            }
            Self::RotateConflict(_) | Self::RecentlySuperseded { .. } => {
                ApiError::new(409, self.to_string())
            }
            Self::BadName(e) => ApiError::new(400, e.to_string()),
            Self::BadBody { message, .. } => ApiError::new(400, *message),
            Self::BadPolicy(_) | Self::BadQuery { .. } => ApiError::new(400, self.to_string()),
            Self::Admin(AdminError::PolicyNotFound) => canon(errors::POLICY_NOT_FOUND),
            Self::Admin(AdminError::IdentityNotFound) => canon(errors::IDENTITY_NOT_FOUND),
            Self::Admin(e @ AdminError::Admin(_)) => ApiError::new(400, e.to_string()),
            Self::UnsupportedCipher(_) | Self::InvalidKeySize(_) => {
                ApiError::new(406, self.to_string())
            }
            Self::TooManyCiphertexts => ApiError::new(400, "too many ciphertexts"),
            // No wildcard over the kinds: a new kind needs a decision here.
            Self::Store { op, source } => match source.kind() {
                ErrorKind::NotFound => canon(errors::KEY_NOT_FOUND),
                ErrorKind::AlreadyExists if *op == StoreOp::Create => canon(errors::KEY_EXISTS),
                ErrorKind::AlreadyExists
                | ErrorKind::Unreachable
                | ErrorKind::Unauthorized
                | ErrorKind::InvalidConfig
                | ErrorKind::Backend => ApiError::new(502, op.failure()),
            },
            Self::StoredKey { .. } => ApiError::new(502, "failed to read key"),
            Self::Internal { message, .. } => ApiError::new(500, *message),
            Self::NotReachable(_) => ApiError::new(504, "key store is not reachable"),
            Self::Unavailable(_) => ApiError::new(502, "key store is unavailable"),
            Self::BadPath(msg) => ApiError::new(400, msg.as_str()),
            Self::Method { .. } => ApiError::new(405, self.to_string()),
            Self::Timeout => ApiError::new(503, "request timeout exceeded"),
        }
    }

    /// The error-log level for this error, `None` when it is the client's
    /// fault and not worth logging.
    pub fn log_level(&self) -> Option<Level> {
        match self {
            Self::NotAllowed => Some(Level::DEBUG),
            Self::Store { source, .. } => match source.kind() {
                ErrorKind::NotFound | ErrorKind::AlreadyExists => None,
                ErrorKind::Unreachable
                | ErrorKind::Unauthorized
                | ErrorKind::InvalidConfig
                | ErrorKind::Backend => Some(Level::WARN),
            },
            Self::NotReachable(_) | Self::Unavailable(_) => Some(Level::WARN),
            Self::StoredKey { .. } | Self::Internal { .. } => Some(Level::ERROR),
            Self::Timeout => Some(Level::WARN),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_mapping() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (
                Error::NotAllowed,
                403,
                "not authorized: insufficient permissions",
            ),
            (Error::KeyNotFound, 404, "key does not exist"),
            (
                Error::Decrypt("tag".into()),
                400,
                "decryption failed: ciphertext is not authentic",
            ),
            (
                Error::Store {
                    op: StoreOp::Create,
                    source: KeyStoreError::already_exists(),
                },
                400,
                "key already exists",
            ),
            (
                Error::Store {
                    op: StoreOp::Delete,
                    source: KeyStoreError::new(ErrorKind::Unreachable, "down"),
                },
                502,
                "failed to delete key",
            ),
            (
                Error::UnsupportedCipher("DES".into()),
                406,
                "algorithm 'DES' is not supported",
            ),
            (
                Error::InvalidKeySize("AES256".into()),
                406,
                "invalid key size for 'AES256'",
            ),
            (
                Error::Method {
                    got: "HEAD".into(),
                    want: "GET",
                },
                405,
                "received method 'HEAD' expected 'GET'",
            ),
        ];
        for (e, status, msg) in cases {
            let api = e.to_api();
            assert_eq!((api.status, api.message.as_str()), (status, msg), "{e:?}");
        }
    }
}
