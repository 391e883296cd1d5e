//! The wire format of the Secret Manager REST API v1 as KES uses it: the
//! call names and paths, the JSON request bodies and the parsing of answers
//! (error answers are mapped in `error.rs`).
//!
//! Pure functions without I/O, so that every mapping is unit-tested. Key
//! names (`[0-9A-Za-z_-]`) and project IDs (checked by the config decoder)
//! go into paths verbatim.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{Response, query_escape};

/// The version KES writes and reads: the first (Go KES reads version 1, so
/// a newer version added by someone else does not change the key).
pub const VERSION: u32 = 1;

/// The calls of the API, by their RPC names (used in errors).
pub mod op {
    /// `POST /v1/projects/<p>/secrets?secretId=<name>`
    pub const CREATE: &str = "CreateSecret";
    /// `POST /v1/projects/<p>/secrets/<name>:addVersion`
    pub const ADD_VERSION: &str = "AddSecretVersion";
    /// `GET /v1/projects/<p>/secrets/<name>/versions/1:access`
    pub const ACCESS: &str = "AccessSecretVersion";
    /// `POST /v1/projects/<p>/secrets/<name>/versions/<n>:destroy`
    pub const DESTROY: &str = "DestroySecretVersion";
    /// `DELETE /v1/projects/<p>/secrets/<name>`
    pub const DELETE: &str = "DeleteSecret";
    /// `GET /v1/projects/<p>/secrets?pageSize=..&pageToken=..`
    pub const LIST: &str = "ListSecrets";
}

/// `/v1/projects/<project>/secrets`
pub fn secrets_path(project: &str) -> String {
    format!("/v1/projects/{project}/secrets")
}

/// The CreateSecret path for `name`.
pub fn create_path(project: &str, name: &str) -> String {
    format!("{}?secretId={name}", secrets_path(project))
}

/// The path of secret `name` (DeleteSecret).
pub fn secret_path(project: &str, name: &str) -> String {
    format!("{}/{name}", secrets_path(project))
}

/// The AddSecretVersion path for `name`.
pub fn add_version_path(project: &str, name: &str) -> String {
    format!("{}:addVersion", secret_path(project, name))
}

/// The AccessSecretVersion path of version [`VERSION`] of `name`.
pub fn access_path(project: &str, name: &str) -> String {
    format!("{}/versions/{VERSION}:access", secret_path(project, name))
}

/// The DestroySecretVersion path of version `version` of `name`.
pub fn destroy_path(project: &str, name: &str, version: u32) -> String {
    format!("{}/versions/{version}:destroy", secret_path(project, name))
}

/// The ListSecrets path for one page of at most `page_size` secrets,
/// continuing at `token` (empty: the first page).
pub fn list_path(project: &str, page_size: usize, token: &str) -> String {
    let mut path = format!("{}?pageSize={page_size}", secrets_path(project));
    if !token.is_empty() {
        path.push_str("&pageToken=");
        path.push_str(&query_escape(token));
    }
    path
}

/// `{"replication": {"automatic": {}}}` (CreateSecret; no labels, as Go KES).
pub fn create_body() -> Vec<u8> {
    json!({"replication": {"automatic": {}}})
        .to_string()
        .into_bytes()
}

/// `{"payload": {"data": base64(value)}}` (AddSecretVersion).
pub fn add_version_body(value: &[u8]) -> Zeroizing<Vec<u8>> {
    let data = Zeroizing::new(STANDARD.encode(value));
    let mut body = Zeroizing::new(Vec::with_capacity(data.len() + 24));
    body.extend_from_slice(br#"{"payload":{"data":""#);
    body.extend_from_slice(data.as_bytes());
    body.extend_from_slice(br#""}}"#);
    body
}

/// The stored value of an AccessSecretVersion answer
/// (`{"payload": {"data": "<base64>"}}`).
pub fn parse_access(resp: &Response) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let v = resp.json(BACKEND, op::ACCESS)?;
    let Some(data) = v.pointer("/payload/data").and_then(Value::as_str) else {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("{}: answer has no payload.data", op::ACCESS),
        ));
    };
    STANDARD.decode(data).map(Zeroizing::new).map_err(|e| {
        KeyStoreError::backend(
            BACKEND,
            format!("{}: payload.data is not base64: {e}", op::ACCESS),
        )
    })
}

/// The number of the version an AddSecretVersion answer names
/// (`{"name": "projects/<p>/secrets/<id>/versions/<n>", ...}`).
pub fn parse_version(resp: &Response) -> Result<u32, KeyStoreError> {
    let v = resp.json(BACKEND, op::ADD_VERSION)?;
    let name = v.get("name").and_then(Value::as_str).unwrap_or("");
    name.rsplit_once("/versions/")
        .and_then(|(_, n)| n.parse().ok())
        .ok_or_else(|| {
            KeyStoreError::backend(
                BACKEND,
                format!(
                    "{}: version name {name:?} is not projects/<p>/secrets/<id>/versions/<n>",
                    op::ADD_VERSION
                ),
            )
        })
}

/// One page of ListSecrets: the secret IDs (the last segment of each
/// `projects/<p>/secrets/<id>` name) and the token of the next page.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecretPage {
    /// The secret IDs, in answer order.
    pub names: Vec<String>,
    /// The `nextPageToken`, when more pages follow.
    pub next_token: Option<String>,
}

/// Parses `{"secrets": [{"name": ..}], "nextPageToken": ..}` (both may be
/// missing: an empty project answers `{}`).
pub fn parse_list(resp: &Response) -> Result<SecretPage, KeyStoreError> {
    let v = resp.json(BACKEND, op::LIST)?;
    let mut page = SecretPage::default();
    match v.get("secrets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                match name.rsplit_once("/secrets/") {
                    Some((_, id)) if !id.is_empty() => page.names.push(id.to_owned()),
                    _ => {
                        return Err(KeyStoreError::backend(
                            BACKEND,
                            format!(
                                "{}: secret name {name:?} is not projects/<p>/secrets/<id>",
                                op::LIST
                            ),
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!("{}: `secrets` is not a list", op::LIST),
            ));
        }
    }
    page.next_token = v
        .get("nextPageToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_response as resp;

    #[test]
    fn paths_and_bodies_match_the_api() {
        assert_eq!(
            create_path("my-proj", "k1"),
            "/v1/projects/my-proj/secrets?secretId=k1"
        );
        assert_eq!(
            add_version_path("p", "k1"),
            "/v1/projects/p/secrets/k1:addVersion"
        );
        assert_eq!(
            access_path("p", "k1"),
            "/v1/projects/p/secrets/k1/versions/1:access"
        );
        assert_eq!(secret_path("p", "k1"), "/v1/projects/p/secrets/k1");
        assert_eq!(
            destroy_path("p", "k1", 2),
            "/v1/projects/p/secrets/k1/versions/2:destroy"
        );
        assert_eq!(
            list_path("p", 100, ""),
            "/v1/projects/p/secrets?pageSize=100"
        );
        assert_eq!(
            list_path("p", 2, "a+b/c="),
            "/v1/projects/p/secrets?pageSize=2&pageToken=a%2Bb%2Fc%3D"
        );
        assert_eq!(
            String::from_utf8(create_body()).unwrap(),
            r#"{"replication":{"automatic":{}}}"#
        );
        let body = add_version_body(b"hello");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"payload": {"data": "aGVsbG8="}}));
    }

    #[test]
    fn answers_are_parsed() {
        let v = parse_access(&resp(
            200,
            r#"{"name":"projects/1/secrets/k/versions/1","payload":{"data":"aGVsbG8=","dataCrc32c":"1"}}"#,
        ))
        .unwrap();
        assert_eq!(v.as_slice(), b"hello");
        let e = parse_access(&resp(200, r#"{"payload":{}}"#)).unwrap_err();
        assert!(e.to_string().contains("no payload.data"), "{e}");
        let e = parse_access(&resp(200, r#"{"payload":{"data":"***"}}"#)).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");

        let added = r#"{"name":"projects/123/secrets/k/versions/2","state":"ENABLED"}"#;
        assert_eq!(parse_version(&resp(200, added)).unwrap(), 2);
        for bad in [
            r#"{}"#,
            r#"{"name":"projects/1/secrets/k"}"#,
            r#"{"name":"x/versions/-1"}"#,
        ] {
            let e = parse_version(&resp(200, bad)).unwrap_err();
            assert!(e.to_string().contains("is not projects/"), "{e}");
        }

        let p = parse_list(&resp(
            200,
            r#"{"secrets":[{"name":"projects/123/secrets/b"},{"name":"projects/123/secrets/a"}],"nextPageToken":"T","totalSize":3}"#,
        ))
        .unwrap();
        assert_eq!(p.names, ["b", "a"]);
        assert_eq!(p.next_token.as_deref(), Some("T"));
        assert_eq!(parse_list(&resp(200, "{}")).unwrap(), SecretPage::default());
        assert!(parse_list(&resp(200, r#"{"secrets":[{"name":"x"}]}"#)).is_err());
        assert!(parse_list(&resp(200, r#"{"secrets":3}"#)).is_err());
    }
}
