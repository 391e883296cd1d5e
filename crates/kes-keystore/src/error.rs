//! The one error type of every key-store operation, [`KeyStoreError`]: what
//! kind of failure it is ([`ErrorKind`], which the server maps to an HTTP
//! answer), whether trying again soon may succeed ([`is_temporary`]), which
//! back end failed and a message naming the call and the cause.
//!
//! The error is `Clone`, so one failure can be handed to several waiters
//! (the server's single-flight cache does). Causes are kept as a rendered
//! chain inside the message ("cannot connect to https://vault:8200
//! (/v1/...): client error (Connect): tcp connect error: Connection
//! refused"), written where the failure happens and the endpoint and path are
//! known:
//! nothing downstream inspects a cause, and a string keeps the error cheap to
//! clone and the log line whole. Messages never contain key material or
//! credentials.
//!
//! [`is_temporary`]: KeyStoreError::is_temporary

use std::fmt;

/// What kind of failure a [`KeyStoreError`] is.
///
/// Deliberately not `#[non_exhaustive]`: the server matches it without a
/// wildcard (the error→HTTP mapping, the log level), so adding a kind is a
/// compile error there until someone decides how the new kind is answered,
/// instead of silently falling into a default arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No key with that name.
    NotFound,
    /// A key with that name exists already (nothing was written).
    AlreadyExists,
    /// The store could not be reached (connection refused, timeout, DNS,
    /// sealed...).
    Unreachable,
    /// The store rejected our credentials or denied the call.
    Unauthorized,
    /// The configuration of the store is invalid.
    InvalidConfig,
    /// Any other failure of the back end.
    Backend,
}

impl ErrorKind {
    /// Whether errors of this kind are temporary unless their constructor
    /// says otherwise: only [`ErrorKind::Unreachable`] is.
    fn temporary_by_default(self) -> bool {
        matches!(self, Self::Unreachable)
    }
}

/// The error of a key-store operation: its [`ErrorKind`], whether it is
/// [temporary](KeyStoreError::is_temporary), the back end that failed and a
/// message naming the call and the cause. `Clone`, so that one failure can
/// be handed to several waiters. The cause is a rendered chain inside the
/// message, never key material or credentials.
///
/// Built with [`KeyStoreError::not_found`], [`KeyStoreError::already_exists`]
/// or one of the per-kind constructors that name the back end
/// ([`KeyStoreError::unreachable`], [`KeyStoreError::unauthorized`],
/// [`KeyStoreError::invalid_config`], [`KeyStoreError::backend`]), and
/// adjusted with [`KeyStoreError::with_temporary`].
///
/// Its text is the kind's fixed text, then `<back end>: ` when a back end
/// is named, then the message:
///
/// | kind | text |
/// | --- | --- |
/// | `NotFound` | `key does not exist` |
/// | `AlreadyExists` | `key already exists` |
/// | `Unreachable` | `key store is not reachable: vault: <message>` |
/// | `Unauthorized` | `key store denied access: vault: <message>` |
/// | `InvalidConfig` | `invalid key store config: vault: <message>` |
/// | `Backend` | `vault: <message>` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStoreError {
    kind: ErrorKind,
    temporary: bool,
    backend: Option<&'static str>,
    message: String,
}

impl KeyStoreError {
    /// An error of `kind` with `message`, naming no back end (for wrappers,
    /// caches and test doubles; back ends use the constructors naming
    /// themselves). Temporary if `kind` is [`ErrorKind::Unreachable`].
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            temporary: kind.temporary_by_default(),
            backend: None,
            message: message.into(),
        }
    }

    /// `kind` with `message`, raised by `backend`.
    fn of(kind: ErrorKind, backend: &'static str, message: impl Into<String>) -> Self {
        Self {
            backend: Some(backend),
            ..Self::new(kind, message)
        }
    }

    /// No key with that name.
    pub fn not_found() -> Self {
        Self::new(ErrorKind::NotFound, "")
    }

    /// A key with that name exists already.
    pub fn already_exists() -> Self {
        Self::new(ErrorKind::AlreadyExists, "")
    }

    /// `backend` could not be reached; temporary unless marked otherwise.
    pub fn unreachable(backend: &'static str, message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Unreachable, backend, message)
    }

    /// `backend` rejected our credentials or denied the call.
    pub fn unauthorized(backend: &'static str, message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Unauthorized, backend, message)
    }

    /// The configuration of `backend` is invalid.
    pub fn invalid_config(backend: &'static str, message: impl Into<String>) -> Self {
        Self::of(ErrorKind::InvalidConfig, backend, message)
    }

    /// Any other failure of `backend`; persistent unless marked temporary
    /// (a 5xx answer, throttling).
    pub fn backend(backend: &'static str, message: impl Into<String>) -> Self {
        Self::of(ErrorKind::Backend, backend, message)
    }

    /// The same error, marked temporary (`true`: trying again soon may
    /// succeed) or persistent (`false`).
    #[must_use]
    pub fn with_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }

    /// The same error with its message replaced by `f(message)` (to add
    /// where or what to a lower layer's error).
    #[must_use]
    pub fn map_message(mut self, f: impl FnOnce(String) -> String) -> Self {
        self.message = f(self.message);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether trying the same call again soon may succeed: the store was
    /// unreachable or timed out, answered 5xx, or throttled us. Not found,
    /// exists, denied and bad config are never temporary.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// Whether the error means the store is unreachable (network-level), as
    /// opposed to a failed operation. `/v1/ready` answers 504 for these.
    pub fn is_unreachable(&self) -> bool {
        self.kind == ErrorKind::Unreachable
    }

    /// The back end that failed (`fs`, `vault`, `aws`...), if named.
    pub fn backend_name(&self) -> Option<&'static str> {
        self.backend
    }

    /// The message: the call that failed and why, without the kind's text
    /// and the back end's name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for KeyStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lead = match self.kind {
            ErrorKind::NotFound => return f.write_str("key does not exist"),
            ErrorKind::AlreadyExists => return f.write_str("key already exists"),
            ErrorKind::Unreachable => "key store is not reachable: ",
            ErrorKind::Unauthorized => "key store denied access: ",
            ErrorKind::InvalidConfig => "invalid key store config: ",
            ErrorKind::Backend => "",
        };
        f.write_str(lead)?;
        if let Some(backend) = self.backend {
            write!(f, "{backend}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyStoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_kind_then_backend_then_message() {
        let cases = [
            (KeyStoreError::not_found(), "key does not exist"),
            (KeyStoreError::already_exists(), "key already exists"),
            (
                KeyStoreError::unreachable("vault", "cannot reach x"),
                "key store is not reachable: vault: cannot reach x",
            ),
            (
                KeyStoreError::unauthorized("aws", "GetSecretValue: denied"),
                "key store denied access: aws: GetSecretValue: denied",
            ),
            (
                KeyStoreError::invalid_config("fs", "the key directory path is empty"),
                "invalid key store config: fs: the key directory path is empty",
            ),
            (
                KeyStoreError::backend("vault", "list keys: HTTP 500: oops"),
                "vault: list keys: HTTP 500: oops",
            ),
            (
                KeyStoreError::new(ErrorKind::Unreachable, "connection refused"),
                "key store is not reachable: connection refused",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
        }
    }

    #[test]
    fn temporary_follows_the_kind_unless_marked() {
        assert!(KeyStoreError::unreachable("fs", "x").is_temporary());
        assert!(KeyStoreError::new(ErrorKind::Unreachable, "x").is_temporary());
        assert!(!KeyStoreError::backend("fs", "x").is_temporary());
        assert!(!KeyStoreError::not_found().is_temporary());
        assert!(!KeyStoreError::already_exists().is_temporary());
        assert!(!KeyStoreError::unauthorized("fs", "x").is_temporary());
        assert!(!KeyStoreError::invalid_config("fs", "x").is_temporary());
        let e = KeyStoreError::backend("vault", "HTTP 502").with_temporary(true);
        assert!(e.is_temporary());
        let e = KeyStoreError::unreachable("x", "TLS handshake failed").with_temporary(false);
        assert!(!e.is_temporary() && e.is_unreachable());
    }

    #[test]
    fn clone_keeps_kind_backend_message_and_temporary_flag() {
        let e = KeyStoreError::backend("vault", "read key: HTTP 503: busy").with_temporary(true);
        let c = e.clone();
        assert_eq!(c, e);
        assert_eq!(c.kind(), ErrorKind::Backend);
        assert_eq!(c.backend_name(), Some("vault"));
        assert_eq!(c.message(), "read key: HTTP 503: busy");
        assert!(c.is_temporary());
        assert_eq!(c.to_string(), e.to_string());
    }

    #[test]
    fn map_message_keeps_everything_else() {
        let e = KeyStoreError::unreachable("aws", "timed out")
            .with_temporary(false)
            .map_message(|m| format!("ListSecrets: {m}"));
        assert_eq!(e.kind(), ErrorKind::Unreachable);
        assert!(!e.is_temporary());
        assert_eq!(
            e.to_string(),
            "key store is not reachable: aws: ListSecrets: timed out"
        );
    }
}
