//! Vault's side of the wire: the headers every Vault request carries
//! (`X-Vault-Request`, the token, the namespace) on a [`Call`] of the shared
//! transport (`crate::transport`), which sends it under Vault's policy
//! (`POLICY` in `mod.rs`). The paths and bodies are built where they are
//! used (`mod.rs`, `auth.rs`); answers are read in `error.rs`.
//!
//! The token travels as a secret header: never logged or formatted.

use http::Method;
use http::header::{HeaderName, HeaderValue};

use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::Call;

/// The Vault token header.
const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-vault-token");
/// The Vault namespace header.
const NAMESPACE_HEADER: HeaderName = HeaderName::from_static("x-vault-namespace");
/// Sent by every Vault client (CSRF protection of the Vault UI).
const REQUEST_HEADER: HeaderName = HeaderName::from_static("x-vault-request");

/// A Vault request for `path` (below the endpoint, starting with `/v1/`):
/// `X-Vault-Request: true`, and `X-Vault-Token` and `X-Vault-Namespace`
/// when given.
pub(crate) fn call<'a>(
    method: Method,
    path: &'a str,
    token: Option<&str>,
    namespace: Option<&str>,
) -> Result<Call<'a>, KeyStoreError> {
    let mut call = Call::new(method, path).header(REQUEST_HEADER, HeaderValue::from_static("true"));
    if let Some(token) = token {
        call = call.secret_header(TOKEN_HEADER, token).map_err(|_| {
            KeyStoreError::backend(
                BACKEND,
                "vault token contains characters not allowed in a header",
            )
        })?;
    }
    if let Some(ns) = namespace {
        let v = HeaderValue::from_str(ns).map_err(|_| {
            KeyStoreError::invalid_config(BACKEND, format!("invalid namespace {ns:?}"))
        })?;
        call = call.header(NAMESPACE_HEADER, v);
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_carry_vaults_headers_and_a_sensitive_token() {
        let c = call(Method::GET, "/v1/kv/k", None, None).unwrap();
        let names: Vec<_> = c.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-vault-request"]);
        let c = call(Method::PUT, "/v1/kv/k", Some("s.token"), Some("ns1")).unwrap();
        let names: Vec<_> = c.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["x-vault-request", "x-vault-token", "x-vault-namespace"]
        );
        assert!(c.headers[1].1.is_sensitive());
        assert_eq!(c.headers[2].1, "ns1");
        let e = call(Method::GET, "/v1/kv/k", Some("bad\ntoken"), None)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "vault: vault token contains characters not allowed in a header"
        );
        assert!(!e.to_string().contains("bad"));
        let e = call(Method::GET, "/v1/kv/k", None, Some("a\nb"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("invalid namespace"), "{e}");
    }
}
