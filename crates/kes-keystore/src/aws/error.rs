//! How AWS SDK failures become [`KeyStoreError`]s: transport failures and
//! timeouts are `Unreachable`, refused or missing credentials `Unauthorized`,
//! everything else a `Backend` error naming the AWS error code, the HTTP
//! status and AWS's message. Operation-specific codes (exists, not found) are
//! matched by the callers before falling back to [`map_sdk_error`].

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::KeyStoreError;

/// The backend name in [`KeyStoreError::Backend`].
pub(crate) const BACKEND: &str = "aws";

/// AWS error codes meaning the request was not authenticated or not allowed.
const AUTH_CODES: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "ExpiredToken",
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "NotAuthorized",
];

/// The AWS error code of a service response (`ResourceExistsException`...),
/// if there is one.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    match err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => err.code(),
        _ => None,
    }
}

/// AWS's message of a service response, or the empty string.
pub(crate) fn message<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> &str {
    err.message().unwrap_or_default()
}

/// Maps a failed SDK call of operation `what` (e.g. `GetSecretValue of
/// 'my-key'`) to a [`KeyStoreError`].
pub(crate) fn map_sdk_error<E>(what: &str, err: &SdkError<E, HttpResponse>) -> KeyStoreError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::DispatchFailure(d) => {
            if let Some(cred) = find_credentials_error(err) {
                return KeyStoreError::Unauthorized(format!(
                    "{what}: cannot obtain AWS credentials: {}",
                    chain(cred)
                ));
            }
            let kind = if d.is_timeout() {
                "timed out"
            } else if d.is_io() {
                "connection failed"
            } else {
                "request could not be sent"
            };
            KeyStoreError::Unreachable(format!("{what}: {kind}: {}", source_chain(err)))
        }
        SdkError::TimeoutError(_) => {
            KeyStoreError::Unreachable(format!("{what}: timed out: {}", source_chain(err)))
        }
        SdkError::ConstructionFailure(_) => KeyStoreError::Backend {
            backend: BACKEND,
            message: format!("{what}: cannot build the request: {}", source_chain(err)),
        },
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let code = err.code();
            let msg = message(err);
            let status_txt = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
            let detail = match (code, msg.is_empty()) {
                (Some(c), false) => format!("{c}{status_txt}: {msg}"),
                (Some(c), true) => format!("{c}{status_txt}"),
                (None, false) => format!("HTTP error{status_txt}: {msg}"),
                (None, true) => {
                    format!("unexpected response{status_txt}: {}", source_chain(err))
                }
            };
            let auth = code.is_some_and(|c| AUTH_CODES.contains(&c))
                || (code.is_none() && matches!(status, Some(401 | 403)));
            if auth {
                KeyStoreError::Unauthorized(format!("{what}: AWS refused the request: {detail}"))
            } else {
                KeyStoreError::Backend {
                    backend: BACKEND,
                    message: format!("{what}: {detail}"),
                }
            }
        }
        _ => KeyStoreError::Backend {
            backend: BACKEND,
            message: format!("{what}: {}", source_chain(err)),
        },
    }
}

/// The credentials-provider error somewhere in the source chain of `err`.
fn find_credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// The sources of `err` (not `err` itself) joined with `": "`.
fn source_chain(err: &(dyn StdError + 'static)) -> String {
    err.source().map(chain).unwrap_or_else(|| err.to_string())
}

/// `err` and its sources joined with `": "`, skipping parts already
/// contained in the previous one.
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.last().is_some_and(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner: connection refused")]
    struct Inner;

    #[test]
    fn chain_joins_sources() {
        assert_eq!(chain(&Outer(Inner)), "outer: inner: connection refused");
    }

    #[test]
    fn finds_credentials_errors() {
        let e = CredentialsError::not_loaded("no providers in chain provided credentials");
        assert!(find_credentials_error(&e).is_some());
        assert!(find_credentials_error(&Outer(Inner)).is_none());
    }
}
