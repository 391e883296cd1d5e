//! How KMIP failures become [`KeyStoreError`]s, and the name the back end
//! carries in its errors: a batch item's Result Status / Result Reason /
//! Result Message ([`parse_error`]), and connection and framing problems.

use super::ttlv::reason;
use crate::KeyStoreError;

/// The name of this backend in errors.
pub(crate) const BACKEND: &str = "kmip";

/// The longest part of a server's Result Message kept in an error.
const MAX_MESSAGE: usize = 200;

/// The error for a failed batch item of operation `what`: Item Not Found
/// (and 2.0's Object Not Found) is `NotFound`, Permission Denied,
/// Authentication Not Successful (and 2.0's Not Authorised) are
/// `Unauthorized`, Object Already Exists is `AlreadyExists`, anything else
/// a backend error; the message names the operation, the reason and the
/// server's text (cut to [`MAX_MESSAGE`] characters).
pub(crate) fn parse_error(
    what: &str,
    status: u32,
    result_reason: Option<u32>,
    message: &str,
) -> KeyStoreError {
    let text: String = message.chars().take(MAX_MESSAGE).collect();
    let reason_text = match result_reason {
        Some(r) => format!("{} ({r:#x})", reason::name(r)),
        None => format!("result status {status} without a reason"),
    };
    let full = if text.is_empty() {
        format!("{what}: {reason_text}")
    } else {
        format!("{what}: {reason_text}: {text}")
    };
    match result_reason {
        Some(reason::ITEM_NOT_FOUND | reason::OBJECT_NOT_FOUND) => KeyStoreError::not_found(),
        Some(reason::OBJECT_ALREADY_EXISTS) => KeyStoreError::already_exists(),
        Some(
            reason::PERMISSION_DENIED
            | reason::AUTHENTICATION_NOT_SUCCESSFUL
            | reason::NOT_AUTHORISED,
        ) => KeyStoreError::unauthorized(BACKEND, full),
        _ => KeyStoreError::backend(BACKEND, full),
    }
}

/// The error for a transport failure (connect, TLS, read, write, timeout)
/// talking to `endpoint` during `what`: unreachable and temporary.
pub(crate) fn unreachable(
    endpoint: &str,
    what: &str,
    cause: impl std::fmt::Display,
) -> KeyStoreError {
    KeyStoreError::unreachable(BACKEND, format!("{what}: {endpoint}: {cause}"))
}

/// The error for an answer that is not the KMIP message `what` expects.
pub(crate) fn malformed(what: &str, problem: impl std::fmt::Display) -> KeyStoreError {
    KeyStoreError::backend(BACKEND, format!("{what}: malformed KMIP answer: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn reasons_are_mapped() {
        assert_eq!(
            parse_error("get", 1, Some(1), "nope").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            parse_error("register", 1, Some(0x18), "").kind(),
            ErrorKind::AlreadyExists
        );
        let e = parse_error("get 'k'", 1, Some(0x0C), "Could not locate object: 7");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            e.to_string(),
            "key store denied access: kmip: get 'k': Permission Denied (0xc): Could not locate object: 7"
        );
        let e = parse_error("locate", 1, Some(0x100), &"x".repeat(500));
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(!e.is_temporary());
        assert_eq!(
            e.message().len(),
            "locate: General Failure (0x100): ".len() + MAX_MESSAGE
        );
        assert_eq!(
            parse_error("get", 1, Some(0x37), "").kind(),
            ErrorKind::NotFound
        );
        let e = parse_error("get", 1, Some(0x39), "");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(
            e.to_string(),
            "key store denied access: kmip: get: Not Authorised (0x39)"
        );
        let e = parse_error("locate", 2, None, "");
        assert_eq!(
            e.to_string(),
            "kmip: locate: result status 2 without a reason"
        );
        let e = unreachable("h:5696", "connect", "connection refused");
        assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
    }
}
