//! The wire format of the KeyControl Secrets Vault API as KES uses it: the
//! call paths, the JSON request bodies and the parsing of answers (error
//! answers are mapped in `error.rs`).
//!
//! Pure functions without I/O, so that every mapping is unit-tested.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{Response, to_json};

/// The calls of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `Login/<vault_id>/`
    Login,
    /// `Renew/`
    Renew,
    /// `GetBox/`
    GetBox,
    /// `CreateSecret/`
    Create,
    /// `CheckoutSecret/`
    Checkout,
    /// `DeleteSecret/`
    Delete,
    /// `ListSecretIds/`
    List,
}

impl Op {
    /// The request path (all calls are `POST`); for [`Op::Login`] the prefix
    /// before the vault id.
    pub fn path(self) -> &'static str {
        match self {
            Op::Login => "/vault/1.0/Login/",
            Op::Renew => "/vault/1.0/Renew/",
            Op::GetBox => "/vault/1.0/GetBox/",
            Op::Create => "/vault/1.0/CreateSecret/",
            Op::Checkout => "/vault/1.0/CheckoutSecret/",
            Op::Delete => "/vault/1.0/DeleteSecret/",
            Op::List => "/vault/1.0/ListSecretIds/",
        }
    }

    /// The call's name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Login => "Login",
            Op::Renew => "Renew",
            Op::GetBox => "GetBox",
            Op::Create => "CreateSecret",
            Op::Checkout => "CheckoutSecret",
            Op::Delete => "DeleteSecret",
            Op::List => "ListSecretIds",
        }
    }
}

/// A token grant of `Login` or `Renew`.
pub struct TokenGrant {
    /// The access token (`X-Vault-Auth`).
    pub token: Zeroizing<String>,
    /// When it expires, if the appliance said.
    pub expires_at: Option<time::OffsetDateTime>,
}

/// One page of `ListSecretIds`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecretPage {
    /// The names of the non-expired secrets, non-empty, in answer order.
    pub names: Vec<String>,
    /// The token for the next page, if any.
    pub next_token: Option<String>,
}

/// `{"username": .., "password": ..}` (zeroized after sending is not
/// possible with the HTTP stack; the buffer is dropped right away).
pub fn login_body(username: &str, password: &str) -> Result<Vec<u8>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        username: &'a str,
        password: &'a str,
    }
    to_json(BACKEND, &Body { username, password })
}

/// `{"box_id": B}` (GetBox).
pub fn box_body(box_id: &str) -> Result<Vec<u8>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        box_id: &'a str,
    }
    to_json(BACKEND, &Body { box_id })
}

/// `{"box_id": B, "name": N, "secret_data": base64(V)}` (CreateSecret).
pub fn create_body(box_id: &str, name: &str, value: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        box_id: &'a str,
        name: &'a str,
        secret_data: &'a str,
    }
    let data = Zeroizing::new(STANDARD.encode(value));
    to_json(
        BACKEND,
        &Body {
            box_id,
            name,
            secret_data: &data,
        },
    )
}

/// `{"box_id": B, "secret_id": N}` (CheckoutSecret, DeleteSecret).
pub fn secret_body(box_id: &str, name: &str) -> Result<Vec<u8>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        box_id: &'a str,
        secret_id: &'a str,
    }
    to_json(
        BACKEND,
        &Body {
            box_id,
            secret_id: name,
        },
    )
}

/// The `next_token` that makes KeyControl list from `name` on:
/// base64 of `{"box_id": B, "next_ctx": name}`; empty for "from the start".
pub fn start_token(box_id: &str, name: &str) -> Result<String, KeyStoreError> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        box_id: &'a str,
        next_ctx: &'a str,
    }
    if name.is_empty() {
        return Ok(String::new());
    }
    Ok(STANDARD.encode(to_json(
        BACKEND,
        &Ctx {
            box_id,
            next_ctx: name,
        },
    )?))
}

/// `{"box_id": B, "max_items": n, "next_token": T}` (T omitted when empty).
pub fn list_body(box_id: &str, max_items: usize, token: &str) -> Result<Vec<u8>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        box_id: &'a str,
        max_items: usize,
        #[serde(skip_serializing_if = "str::is_empty")]
        next_token: &'a str,
    }
    to_json(
        BACKEND,
        &Body {
            box_id,
            max_items,
            next_token: token,
        },
    )
}

/// Parses `{"access_token": .., "expires_at": "<RFC 3339>"}`.
pub fn parse_token(resp: &Response, op: Op) -> Result<TokenGrant, KeyStoreError> {
    let v = resp.json(BACKEND, op.name())?;
    let token = match v.get("access_token").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Zeroizing::new(t.to_owned()),
        _ => {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!("{}: answer has no access_token", op.name()),
            ));
        }
    };
    let expires_at = match v.get("expires_at").and_then(Value::as_str) {
        None | Some("") => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    KeyStoreError::backend(
                        BACKEND,
                        format!(
                            "{}: expires_at {s:?} is not an RFC 3339 time: {e}",
                            op.name()
                        ),
                    )
                })?,
        ),
    };
    Ok(TokenGrant { token, expires_at })
}

/// Parses `{"secret_data": "<base64>"}` into the stored value.
pub fn parse_secret(resp: &Response) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let v = resp.json(BACKEND, Op::Checkout.name())?;
    let Some(data) = v.get("secret_data").and_then(Value::as_str) else {
        return Err(KeyStoreError::backend(
            BACKEND,
            "CheckoutSecret: answer has no secret_data",
        ));
    };
    STANDARD.decode(data).map(Zeroizing::new).map_err(|e| {
        KeyStoreError::backend(
            BACKEND,
            format!("CheckoutSecret: secret_data is not base64: {e}"),
        )
    })
}

/// Parses `{"secrets": [{"name": .., "expired": bool}], "next_token": ..}`;
/// the `secrets` key is matched case-insensitively (as Go's decoder does),
/// expired secrets and empty names are skipped.
pub fn parse_list(resp: &Response) -> Result<SecretPage, KeyStoreError> {
    let v = resp.json(BACKEND, Op::List.name())?;
    let Some(obj) = v.as_object() else {
        return Err(KeyStoreError::backend(
            BACKEND,
            "ListSecretIds: answer is not a JSON object",
        ));
    };
    let field = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let mut page = SecretPage::default();
    match field("secrets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str).unwrap_or("");
                let expired = item
                    .get("expired")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if !name.is_empty() && !expired {
                    page.names.push(name.to_owned());
                }
            }
        }
        Some(_) => {
            return Err(KeyStoreError::backend(
                BACKEND,
                "ListSecretIds: `secrets` is not a list",
            ));
        }
    }
    page.next_token = field("next_token")
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
    fn request_bodies_match_the_api() {
        assert_eq!(
            String::from_utf8(create_body("b1", "k", b"hello").unwrap()).unwrap(),
            r#"{"box_id":"b1","name":"k","secret_data":"aGVsbG8="}"#
        );
        assert_eq!(
            String::from_utf8(secret_body("b1", "k").unwrap()).unwrap(),
            r#"{"box_id":"b1","secret_id":"k"}"#
        );
        assert_eq!(
            String::from_utf8(list_body("b1", 256, "").unwrap()).unwrap(),
            r#"{"box_id":"b1","max_items":256}"#
        );
        assert_eq!(
            String::from_utf8(list_body("b1", 2, "T").unwrap()).unwrap(),
            r#"{"box_id":"b1","max_items":2,"next_token":"T"}"#
        );
        let t = start_token("b1", "my-").unwrap();
        let ctx: Value = serde_json::from_slice(&STANDARD.decode(t).unwrap()).unwrap();
        assert_eq!(ctx, serde_json::json!({"box_id": "b1", "next_ctx": "my-"}));
        assert_eq!(start_token("b1", "").unwrap(), "");
    }

    #[test]
    fn token_answers_are_parsed() {
        let g = parse_token(
            &resp(
                200,
                r#"{"is_user":true,"box_admin":false,"appliance_id":"a","access_token":"tok","expires_at":"2023-03-22T16:34:34.021762Z","admin":true,"user":"admin"}"#,
            ),
            Op::Login,
        )
        .unwrap();
        assert_eq!(g.token.as_str(), "tok");
        assert_eq!(g.expires_at.unwrap().unix_timestamp(), 1_679_502_874);
        let g = parse_token(&resp(200, r#"{"access_token":"tok"}"#), Op::Renew).unwrap();
        assert!(g.expires_at.is_none());
        let e = parse_token(&resp(200, r#"{"access_token":""}"#), Op::Login)
            .err()
            .unwrap();
        assert!(e.to_string().contains("no access_token"), "{e}");
        let e = parse_token(
            &resp(200, r#"{"access_token":"t","expires_at":"soon"}"#),
            Op::Login,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("RFC 3339"), "{e}");
    }

    #[test]
    fn listings_skip_expired_and_empty_names() {
        let p = parse_list(&resp(
            200,
            r#"{"Secrets":[{"name":"a","expired":false},{"name":"b","expired":true},{"name":""},{"name":"c"}],"next_token":"N"}"#,
        ))
        .unwrap();
        assert_eq!(p.names, ["a", "c"]);
        assert_eq!(p.next_token.as_deref(), Some("N"));
        let p = parse_list(&resp(200, r#"{"secrets":null,"next_token":""}"#)).unwrap();
        assert_eq!(p, SecretPage::default());
        assert!(parse_list(&resp(200, r#"{"secrets":3}"#)).is_err());
    }

    #[test]
    fn secrets_are_decoded_once() {
        let v = parse_secret(&resp(200, r#"{"secret_data":"aGVsbG8="}"#)).unwrap();
        assert_eq!(v.as_slice(), b"hello");
        let e = parse_secret(&resp(200, r#"{"secret_data":"***"}"#)).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
    }
}
