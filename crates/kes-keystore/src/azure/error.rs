//! How Azure Key Vault's error answers
//! (`{"error":{"code","message","innererror":{"code"}}}`) and the token
//! endpoints' (`{"error","error_description"}`) become [`KeyStoreError`]s,
//! and the name the back end carries in its errors.

use http::StatusCode;
use serde_json::Value;

use crate::KeyStoreError;
use crate::transport::{self, Response, excerpt};

/// The name of this backend in errors.
pub(crate) const BACKEND: &str = "azure";

/// Inner code of a secret that is soft-deleted and may be recovered.
pub(crate) const DELETED_BUT_RECOVERABLE: &str = "ObjectIsDeletedButRecoverable";
/// Inner code of a secret whose deletion is still in progress.
pub(crate) const BEING_DELETED: &str = "ObjectIsBeingDeleted";
/// Inner code of an access policy / RBAC denial.
pub(crate) const FORBIDDEN_BY_POLICY: &str = "ForbiddenByPolicy";

/// The codes and message of a Key Vault error answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    /// `error.code`, e.g. `Conflict`.
    pub code: String,
    /// `error.innererror.code`, e.g. `ObjectIsBeingDeleted`; empty if none.
    pub inner: String,
    /// `error.message`.
    pub message: String,
}

/// Reads the error body of `resp` (empty fields when it has none).
pub(crate) fn error_body(resp: &Response) -> ErrorBody {
    let Ok(v) = serde_json::from_slice::<Value>(&resp.body) else {
        return ErrorBody::default();
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    match v.get("error") {
        Some(e @ Value::Object(_)) => ErrorBody {
            code: text(e.get("code")),
            inner: text(e.get("innererror").and_then(|i| i.get("code"))),
            message: text(e.get("message")),
        },
        // The token endpoints: {"error": "invalid_client", "error_description": ".."}.
        Some(Value::String(code)) => ErrorBody {
            code: code.clone(),
            inner: String::new(),
            message: text(v.get("error_description")),
        },
        _ => ErrorBody::default(),
    }
}

/// Whether `resp` is a `status` answer whose inner code is `inner`.
pub(crate) fn is(resp: &Response, status: StatusCode, inner: &str) -> bool {
    resp.status == status && error_body(resp).inner == inner
}

/// The error for an answer `what` did not expect: 401/403 are
/// `Unauthorized`; anything else a backend error naming the operation, the
/// status, the codes and Key Vault's message; 408, 429 and 5xx are
/// temporary.
pub(crate) fn parse_error(what: &str, resp: &Response) -> KeyStoreError {
    let body = error_body(resp);
    let text = if body.code.is_empty() {
        resp.body_excerpt()
    } else {
        let codes = if body.inner.is_empty() {
            body.code
        } else {
            format!("{}/{}", body.code, body.inner)
        };
        format!("{codes}: {}", excerpt(&body.message))
    };
    let err = transport::unexpected(BACKEND, what, resp, &text);
    match resp.status {
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => err.with_temporary(true),
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::transport::test_response as resp;

    #[test]
    fn key_vault_errors_are_mapped() {
        let r = resp(
            409,
            r#"{"error":{"code":"Conflict","message":"Secret k is currently being deleted.","innererror":{"code":"ObjectIsBeingDeleted"}}}"#,
        );
        assert!(is(&r, StatusCode::CONFLICT, BEING_DELETED));
        let e = parse_error("set secret 'k'", &r);
        assert_eq!(
            e.to_string(),
            "azure: set secret 'k': HTTP 409: Conflict/ObjectIsBeingDeleted: Secret k is \
             currently being deleted."
        );
        assert!(!e.is_temporary());
        let e = parse_error(
            "get secret 'k'",
            &resp(
                403,
                r#"{"error":{"code":"Forbidden","message":"no","innererror":{"code":"ForbiddenByPolicy"}}}"#,
            ),
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let e = parse_error("list secrets", &resp(429, "slow down"));
        assert!(
            e.is_temporary() && e.to_string().contains("slow down"),
            "{e}"
        );
    }

    #[test]
    fn token_endpoint_errors_are_mapped() {
        let e = parse_error(
            "client credentials token",
            &resp(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
            ),
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(
            e.to_string().contains("invalid_client: AADSTS7000215"),
            "{e}"
        );
    }
}
