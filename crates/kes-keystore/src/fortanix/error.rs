//! How Fortanix DSM's error answers (JSON `{"code", "message"}`, as 409
//! answers are, or plain text) become [`KeyStoreError`]s, and the name the
//! back end carries in its errors.

use serde_json::Value;

use crate::KeyStoreError;
use crate::transport::{self, Response, excerpt};

/// The name of this backend in errors.
pub(crate) const BACKEND: &str = "fortanix sdkms";

/// The message of an error answer: `message` of a JSON body, otherwise
/// the body text.
pub fn error_text(resp: &Response) -> String {
    serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(excerpt))
        .unwrap_or_else(|| resp.body_excerpt())
}

/// The error for an answer `call` did not expect (keystores.md §1):
/// 401/403 are `Unauthorized`, anything else a back-end error naming the
/// call, the status and Fortanix's message, temporary for a 5xx answer.
pub fn parse_error(call: &str, resp: &Response) -> KeyStoreError {
    transport::unexpected(BACKEND, call, resp, &error_text(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::transport::test_response as resp;

    #[test]
    fn json_and_text_answers_are_mapped() {
        let e = parse_error(
            "import",
            &resp(
                409,
                r#"{"code":"Conflict","message":"sobject already exists"}"#,
            ),
        );
        assert_eq!(
            e.to_string(),
            "fortanix sdkms: import: HTTP 409: sobject already exists"
        );
        let e = parse_error("export", &resp(400, "sobject is not exportable\n"));
        assert_eq!(
            e.to_string(),
            "fortanix sdkms: export: HTTP 400: sobject is not exportable"
        );
        assert!(!e.is_temporary(), "{e:?}");
        let e = parse_error("list", &resp(401, "Invalid session"));
        assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
        let e = parse_error("list", &resp(503, "busy"));
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
    }
}
