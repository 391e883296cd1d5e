//! How KeyControl's error answers (`{"error": "<text>"}`) become
//! [`KeyStoreError`]s, and the name the back end carries in its errors.

use http::StatusCode;
use serde_json::Value;

use super::client::Op;
use crate::KeyStoreError;
use crate::transport::{self, Response, excerpt};

/// The name of this backend in errors.
pub(crate) const BACKEND: &str = "entrust keycontrol";

/// The error text of `CheckoutSecret`/`DeleteSecret` for a missing secret.
pub const SECRET_NOT_FOUND: &str = "Secret not found";

/// The `error` text of an error answer, or the body itself.
pub fn error_text(resp: &Response) -> String {
    serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(excerpt))
        .unwrap_or_else(|| resp.body_excerpt())
}

/// Whether the answer is KeyControl's "Secret not found".
pub fn is_secret_not_found(resp: &Response) -> bool {
    resp.status == StatusCode::NOT_FOUND && error_text(resp).eq_ignore_ascii_case(SECRET_NOT_FOUND)
}

/// The error for an answer `op` did not expect: 401/403 are
/// `Unauthorized`, anything else a backend error naming the
/// call, the status and the appliance's message.
pub fn parse_error(op: Op, resp: &Response) -> KeyStoreError {
    transport::unexpected(BACKEND, op.name(), resp, &error_text(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::transport::test_response as resp;

    #[test]
    fn errors_are_mapped() {
        assert!(is_secret_not_found(&resp(
            404,
            r#"{"error":"Secret not found"}"#
        )));
        assert!(!is_secret_not_found(&resp(
            404,
            r#"{"error":"Box not found"}"#
        )));
        assert!(!is_secret_not_found(&resp(
            500,
            r#"{"error":"Secret not found"}"#
        )));
        let e = parse_error(Op::Checkout, &resp(404, r#"{"error":"Box not found"}"#));
        assert_eq!(
            e.to_string(),
            "entrust keycontrol: CheckoutSecret: HTTP 404: Box not found"
        );
        let e = parse_error(Op::List, &resp(403, r#"{"error":"Permission denied"}"#));
        assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
        let e = parse_error(Op::Create, &resp(502, "<html>bad gateway</html>"));
        assert_eq!(
            e.to_string(),
            "entrust keycontrol: CreateSecret: HTTP 502: <html>bad gateway</html>"
        );
    }

    #[test]
    fn only_5xx_answers_are_temporary() {
        let e = parse_error(Op::Create, &resp(502, "<html>bad gateway</html>"));
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
        assert_eq!(e.backend_name(), Some("entrust keycontrol"));
        let e = parse_error(Op::Checkout, &resp(404, r#"{"error":"Box not found"}"#));
        assert!(e.kind() == ErrorKind::Backend && !e.is_temporary(), "{e:?}");
        let e = parse_error(Op::List, &resp(403, r#"{"error":"Permission denied"}"#));
        assert!(!e.is_temporary(), "{e:?}");
    }
}
