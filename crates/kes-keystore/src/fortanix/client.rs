//! The wire format of the Fortanix DSM (SDKMS) REST API as KES uses it:
//! the call paths, the JSON request bodies and the parsing of answers
//! (error answers are mapped in `error.rs`).
//!
//! Pure functions without I/O, so that every mapping is unit-tested. A key
//! is an `OPAQUE` security object named like the key whose value is the
//! stored-key text (sent base64-encoded, as the API wants every value), as
//! Go KES writes it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{Response, Session, query_escape, to_json};

/// The calls of the API: paths and the names used in errors.
pub mod call {
    /// `GET`: 204 when the service is up.
    pub const HEALTH: &str = "/sys/v1/health";
    /// `POST` with `Authorization: Basic <API key>`: a session token.
    pub const AUTH: &str = "/sys/v1/session/auth";
    /// `PUT`: import a security object; `GET`: list them.
    pub const KEYS: &str = "/crypto/v1/keys";
    /// `POST {"name"}`: a security object with its value.
    pub const EXPORT: &str = "/crypto/v1/keys/export";
    /// `POST {"name"}`: a security object without its value.
    pub const INFO: &str = "/crypto/v1/keys/info";
}

/// Session lifetime assumed when the answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// The import body: `{"obj_type": "OPAQUE", "name": N, "group_id": G
/// (omitted when none), "key_ops": ["EXPORT", "APPMANAGEABLE"],
/// "value": base64(V), "enabled": true}`.
pub fn import_body(
    name: &str,
    group_id: Option<&str>,
    value: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        obj_type: &'a str,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        group_id: Option<&'a str>,
        key_ops: [&'a str; 2],
        value: &'a str,
        enabled: bool,
    }
    let data = Zeroizing::new(STANDARD.encode(value));
    to_json(
        BACKEND,
        &Body {
            obj_type: "OPAQUE",
            name,
            group_id,
            key_ops: ["EXPORT", "APPMANAGEABLE"],
            value: &data,
            enabled: true,
        },
    )
    .map(Zeroizing::new)
}

/// `{"name": N}` (export, info).
pub fn name_body(name: &str) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        name: &'a str,
    }
    to_json(BACKEND, &Body { name }).map(Zeroizing::new)
}

/// The path of security object `kid`; the id must be a UUID-like token.
pub fn key_path(kid: &str) -> Result<String, KeyStoreError> {
    if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("security object id {kid:?} is not a key id"),
        ));
    }
    Ok(format!("{}/{kid}", call::KEYS))
}

/// One page of the listing in name order: at most `limit` objects whose
/// names come after `start` (exclusive; empty: from the first).
pub fn list_path(limit: usize, start: &str) -> String {
    let mut path = format!("{}?sort=name:asc&limit={limit}", call::KEYS);
    if !start.is_empty() {
        path.push_str("&start=");
        path.push_str(&query_escape(start));
    }
    path
}

/// The session of an auth answer
/// `{"token_type": "Bearer", "expires_in": <s>, "access_token": .., "entity_id": ..}`.
pub fn parse_auth(resp: &Response) -> Result<Session, KeyStoreError> {
    let v = resp.json(BACKEND, call::AUTH)?;
    Session::from_token_answer(&v, DEFAULT_LIFETIME).ok_or_else(|| {
        KeyStoreError::backend(
            BACKEND,
            format!("{}: answer has no access_token", call::AUTH),
        )
    })
}

/// The stored value of an export answer: `value` base64-decoded; a
/// disabled object is an error.
pub fn parse_export(resp: &Response, name: &str) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let v = resp.json(BACKEND, call::EXPORT)?;
    if v.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("security object {name:?} is disabled"),
        ));
    }
    let Some(value) = v.get("value").and_then(Value::as_str) else {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("{}: answer for {name:?} has no value", call::EXPORT),
        ));
    };
    STANDARD.decode(value).map(Zeroizing::new).map_err(|e| {
        KeyStoreError::backend(
            BACKEND,
            format!("{}: value of {name:?} is not base64: {e}", call::EXPORT),
        )
    })
}

/// The key id (`kid`) of an info answer.
pub fn parse_kid(resp: &Response) -> Result<String, KeyStoreError> {
    let v = resp.json(BACKEND, call::INFO)?;
    v.get("kid")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            KeyStoreError::backend(BACKEND, format!("{}: answer has no kid", call::INFO))
        })
}

/// The names of one listing page (a JSON array of security objects), in
/// answer order; objects without a name are skipped.
pub fn parse_list(resp: &Response) -> Result<Vec<String>, KeyStoreError> {
    let v = resp.json(BACKEND, call::KEYS)?;
    let Some(items) = v.as_array() else {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("{}: listing is not a JSON array", call::KEYS),
        ));
    };
    Ok(items
        .iter()
        .filter_map(|o| o.get("name").and_then(Value::as_str))
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_response as resp;
    use serde_json::json;

    #[test]
    fn requests_match_the_api() {
        let body = import_body("k", None, b"hello").unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"obj_type": "OPAQUE", "name": "k", "key_ops": ["EXPORT", "APPMANAGEABLE"],
                   "value": "aGVsbG8=", "enabled": true})
        );
        let body = import_body("k", Some("g-1"), b"x").unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["group_id"], "g-1");
        assert_eq!(
            String::from_utf8(name_body("k").unwrap().to_vec()).unwrap(),
            r#"{"name":"k"}"#
        );
        assert_eq!(
            list_path(100, ""),
            "/crypto/v1/keys?sort=name:asc&limit=100"
        );
        assert_eq!(
            list_path(2, "a b"),
            "/crypto/v1/keys?sort=name:asc&limit=2&start=a%20b"
        );
        assert_eq!(
            key_path("0b7c0a4e-1c3a-4c6e-9a5c-1f2e3d4c5b6a").unwrap(),
            "/crypto/v1/keys/0b7c0a4e-1c3a-4c6e-9a5c-1f2e3d4c5b6a"
        );
        assert!(key_path("../sys").is_err());
        assert!(key_path("").is_err());
    }

    #[test]
    fn answers_are_parsed() {
        let s = parse_auth(&resp(
            200,
            r#"{"token_type":"Bearer","expires_in":600,"access_token":"t0k","entity_id":"app"}"#,
        ))
        .unwrap();
        assert_eq!(s.token(), "Bearer t0k");
        assert!(parse_auth(&resp(200, r#"{"expires_in":1}"#)).is_err());

        let v = parse_export(
            &resp(200, r#"{"kid":"1","value":"aGVsbG8=","enabled":true}"#),
            "k",
        )
        .unwrap();
        assert_eq!(v.as_slice(), b"hello");
        let e =
            parse_export(&resp(200, r#"{"value":"aGVsbG8=","enabled":false}"#), "k").unwrap_err();
        assert!(e.to_string().contains("is disabled"), "{e}");
        let e = parse_export(&resp(200, r#"{"enabled":true}"#), "k").unwrap_err();
        assert!(e.to_string().contains("has no value"), "{e}");

        assert_eq!(
            parse_kid(&resp(200, r#"{"kid":"abc","name":"k"}"#)).unwrap(),
            "abc"
        );
        assert!(parse_kid(&resp(200, "{}")).is_err());

        let names = parse_list(&resp(
            200,
            r#"[{"name":"b","kid":"1"},{"kid":"2"},{"name":"a"}]"#,
        ))
        .unwrap();
        assert_eq!(names, ["b", "a"]);
        assert!(parse_list(&resp(200, r#"{"items":[]}"#)).is_err());
    }
}
