//! How Vault's answers are read ([`VaultResponse`]: JSON bodies, and error
//! answers, `{"errors": [...]}` with a status, as [`KeyStoreError`]s), and
//! the name the back end carries in its errors.

use http::StatusCode;

use crate::KeyStoreError;
use crate::transport::Response;

/// The back-end name in this store's errors.
pub(crate) const BACKEND: &str = "vault";

/// Whether an error answer of Vault is worth trying again later: 429 (rate
/// limited) and 5xx except 501 (not implemented), as Vault's own client
/// retries them.
pub(crate) fn is_temporary_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// How a transport [`Response`] of Vault is read.
pub(crate) trait VaultResponse {
    /// The messages of Vault's `{"errors": [...]}` body, joined with `; `.
    fn error_messages(&self) -> String;
    /// Whether this is Vault's "nothing here" answer: 404 with an empty
    /// error list (as opposed to "no handler for route", a missing mount).
    fn is_plain_not_found(&self) -> bool;
    /// Whether Vault said there is no mount for the path.
    fn is_missing_mount(&self) -> bool;
    /// The error for an unexpected status of operation `what`.
    fn parse_error(self, what: &str) -> KeyStoreError;
}

impl VaultResponse for Response {
    fn error_messages(&self) -> String {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
            return String::from_utf8_lossy(&self.body)
                .trim()
                .chars()
                .take(200)
                .collect();
        };
        match v.get("errors").and_then(|e| e.as_array()) {
            Some(list) => list
                .iter()
                .filter_map(|m| m.as_str())
                .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("; "),
            None => String::new(),
        }
    }

    fn is_plain_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND && self.error_messages().is_empty()
    }

    fn is_missing_mount(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
            && self.error_messages().contains("no handler for route")
    }

    fn parse_error(self, what: &str) -> KeyStoreError {
        let status = self.status.as_u16();
        let msg = self.error_messages();
        let detail = if msg.is_empty() {
            format!("{what}: HTTP {status}")
        } else {
            format!("{what}: HTTP {status}: {msg}")
        };
        match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                KeyStoreError::unauthorized(BACKEND, detail)
            }
            StatusCode::SERVICE_UNAVAILABLE if msg.contains("sealed") => {
                KeyStoreError::unreachable(BACKEND, detail)
            }
            s => KeyStoreError::backend(BACKEND, detail).with_temporary(is_temporary_status(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::transport::test_response as resp;

    #[test]
    fn vault_error_bodies_are_classified() {
        assert!(resp(404, r#"{"errors":[]}"#).is_plain_not_found());
        let r = resp(
            404,
            r#"{"errors":["no handler for route \"kv9/x\". route entry not found."]}"#,
        );
        assert!(!r.is_plain_not_found());
        assert!(r.is_missing_mount());
        let e = resp(
            403,
            "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}",
        )
        .parse_error("read key");
        assert!(e.kind() == ErrorKind::Unauthorized, "{e:?}");
        assert!(
            e.to_string()
                .contains("1 error occurred: * permission denied"),
            "{e}"
        );
        let e = resp(503, r#"{"errors":["Vault is sealed"]}"#).parse_error("read key");
        assert!(e.is_unreachable(), "{e:?}");
        let e = resp(500, "oops").parse_error("list keys");
        assert_eq!(e.to_string(), "vault: list keys: HTTP 500: oops");
    }

    #[test]
    fn vault_error_answers_are_temporary_for_429_and_5xx() {
        let kind_and_flag = |status: u16, body: &str| {
            let e = resp(status, body).parse_error("read key");
            (e.kind(), e.is_temporary())
        };
        assert_eq!(kind_and_flag(500, "oops"), (ErrorKind::Backend, true));
        assert_eq!(kind_and_flag(502, ""), (ErrorKind::Backend, true));
        assert_eq!(kind_and_flag(429, ""), (ErrorKind::Backend, true));
        assert_eq!(kind_and_flag(501, ""), (ErrorKind::Backend, false));
        assert_eq!(kind_and_flag(400, ""), (ErrorKind::Backend, false));
        assert_eq!(kind_and_flag(412, ""), (ErrorKind::Backend, false));
        assert_eq!(kind_and_flag(403, ""), (ErrorKind::Unauthorized, false));
        assert_eq!(
            kind_and_flag(503, r#"{"errors":["Vault is sealed"]}"#),
            (ErrorKind::Unreachable, true)
        );
        let e = resp(403, r#"{"errors":["permission denied"]}"#).parse_error("read key");
        assert_eq!(e.backend_name(), Some("vault"));
        assert_eq!(
            e.to_string(),
            "key store denied access: vault: read key: HTTP 403: permission denied"
        );
    }
}
