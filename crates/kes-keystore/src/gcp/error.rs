//! How Google's error answers (`{"error": {"code", "message", "status"}}`,
//! AIP-193) become [`KeyStoreError`]s, and the name the back end carries in
//! its errors.

use http::StatusCode;
use serde_json::Value;

use crate::KeyStoreError;
use crate::transport::{self, Response, excerpt};

/// The name of this backend in errors.
pub(crate) const BACKEND: &str = "gcp secretmanager";

/// The `status` (e.g. `NOT_FOUND`) and `message` of a Google error answer;
/// `None` when the body is not one.
fn google_error(resp: &Response) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(&resp.body).ok()?;
    let err = v.get("error")?;
    let status = err.get("status").and_then(Value::as_str).unwrap_or("");
    let message = err.get("message").and_then(Value::as_str).unwrap_or("");
    Some((status.to_owned(), excerpt(message)))
}

/// The error text of an answer: `STATUS: message` from a Google error body,
/// otherwise the body itself.
pub fn error_text(resp: &Response) -> String {
    match google_error(resp) {
        Some((status, message)) if !status.is_empty() => format!("{status}: {message}"),
        Some((_, message)) if !message.is_empty() => message,
        _ => resp.body_excerpt(),
    }
}

/// The error for an answer `call` did not expect (keystores.md §1): 401/403
/// (`UNAUTHENTICATED`, `PERMISSION_DENIED`) are `Unauthorized`, anything
/// else a back-end error naming the call, the status and Google's message,
/// temporary for a 5xx answer and for 429 (`RESOURCE_EXHAUSTED`: quota).
pub fn parse_error(call: &str, resp: &Response) -> KeyStoreError {
    let e = transport::unexpected(BACKEND, call, resp, &error_text(resp));
    if resp.status == StatusCode::TOO_MANY_REQUESTS {
        e.with_temporary(true)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::transport::test_response as resp;

    #[test]
    fn google_errors_are_mapped() {
        let e = parse_error(
            "AccessSecretVersion",
            &resp(
                400,
                r#"{"error":{"code":400,"message":"Cannot access secret version in state DISABLED.","status":"FAILED_PRECONDITION"}}"#,
            ),
        );
        assert_eq!(
            e.to_string(),
            "gcp secretmanager: AccessSecretVersion: HTTP 400: FAILED_PRECONDITION: Cannot access \
             secret version in state DISABLED."
        );
        assert!(e.kind() == ErrorKind::Backend && !e.is_temporary(), "{e:?}");
        let e = parse_error(
            "ListSecrets",
            &resp(
                403,
                r#"{"error":{"code":403,"message":"Permission 'secretmanager.secrets.list' denied","status":"PERMISSION_DENIED"}}"#,
            ),
        );
        assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
        assert!(e.to_string().contains("PERMISSION_DENIED"), "{e}");
        let e = parse_error("CreateSecret", &resp(429, r#"{"error":{"code":429}}"#));
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
        let e = parse_error("CreateSecret", &resp(502, "<html>bad gateway</html>"));
        assert!(e.is_temporary(), "{e:?}");
        assert!(
            e.to_string()
                .ends_with("HTTP 502: <html>bad gateway</html>"),
            "{e}"
        );
    }
}
