//! How CipherTrust Manager's error answers (`{"code": N, "codeDesc": ".."}`
//! or plain text) become [`KeyStoreError`]s, and the name the back end
//! carries in its errors.

use serde_json::Value;

use crate::KeyStoreError;
use crate::transport::{self, Response, excerpt};

/// The name of this backend in errors.
pub(crate) const BACKEND: &str = "ciphertrust";

/// The message of an error answer: `codeDesc (code N)` from a JSON body,
/// otherwise the body text.
pub fn error_text(resp: &Response) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(&resp.body)
        && let Some(desc) = v.get("codeDesc").and_then(Value::as_str)
    {
        return match v.get("code").and_then(Value::as_i64) {
            Some(code) => format!("{} (code {code})", excerpt(desc)),
            None => excerpt(desc),
        };
    }
    resp.body_excerpt()
}

/// The error for an answer `what` did not expect: 401/403 are
/// `Unauthorized`, anything else a backend error naming the
/// operation, the status and the appliance's message.
pub fn parse_error(what: &str, resp: &Response) -> KeyStoreError {
    transport::unexpected(BACKEND, what, resp, &error_text(resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::transport::test_response as resp;

    #[test]
    fn errors_are_mapped() {
        let e = parse_error(
            "export 'k'",
            &resp(
                500,
                r#"{"code":1,"codeDesc":"NCERRInternalServerError: oops"}"#,
            ),
        );
        assert_eq!(
            e.to_string(),
            "ciphertrust: export 'k': HTTP 500: NCERRInternalServerError: oops (code 1)"
        );
        let e = parse_error("list secrets", &resp(401, "Token is expired"));
        assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
        assert!(e.to_string().contains("Token is expired"), "{e}");
    }

    #[test]
    fn only_5xx_answers_are_temporary() {
        let e = parse_error("export 'k'", &resp(503, "busy"));
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
        assert_eq!(e.backend_name(), Some("ciphertrust"));
        let e = parse_error("export 'k'", &resp(400, "bad"));
        assert!(e.kind() == ErrorKind::Backend && !e.is_temporary(), "{e:?}");
        let e = parse_error("list secrets", &resp(401, "Token is expired"));
        assert!(!e.is_temporary(), "{e:?}");
    }
}
