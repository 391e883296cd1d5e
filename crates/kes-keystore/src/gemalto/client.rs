//! The wire format of the CipherTrust Manager REST API as KES uses it: the
//! token exchange body and answer and the secret calls' bodies and answers
//! (error answers are mapped in `error.rs`).
//!
//! Pure functions without I/O, so that every mapping is unit-tested.

use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{Response, to_json};

/// The token exchange path.
pub const TOKENS_PATH: &str = "/api/v1/auth/tokens";
/// The secrets collection path.
pub const SECRETS_PATH: &str = "/api/v1/vault/secrets";
/// Secrets per listing page (Go KES: 200).
pub const PAGE_SIZE: usize = 200;

/// A JWT of the token exchange.
pub struct Jwt {
    /// `Bearer <jwt>`, the `Authorization` value.
    pub authorization: Zeroizing<String>,
    /// The lifetime in seconds (> 0).
    pub duration: u64,
}

/// One page of the secrets listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecretPage {
    /// The `skip` the server answered.
    pub skip: u64,
    /// The total number of secrets.
    pub total: u64,
    /// The names on this page (empty names dropped).
    pub names: Vec<String>,
    /// How many resources the page had (also those without a name).
    pub count: usize,
}

/// `{"grant_type":"refresh_token","refresh_token":T,"domain":D}` (the
/// domain is always sent, possibly empty).
pub fn token_body(refresh_token: &str, domain: &str) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        grant_type: &'a str,
        refresh_token: &'a str,
        domain: &'a str,
    }
    to_json(
        BACKEND,
        &Body {
            grant_type: "refresh_token",
            refresh_token,
            domain,
        },
    )
    .map(Zeroizing::new)
}

/// Parses `{"token_type":"Bearer","jwt":..,"duration":<seconds>}`.
pub fn parse_jwt(resp: &Response) -> Result<Jwt, KeyStoreError> {
    let v = resp.json(BACKEND, "token exchange")?;
    let jwt = match v.get("jwt").and_then(Value::as_str) {
        Some(j) if !j.is_empty() => j,
        _ => {
            return Err(KeyStoreError::backend(
                BACKEND,
                "token exchange: answer has no jwt",
            ));
        }
    };
    let token_type = v.get("token_type").and_then(Value::as_str).unwrap_or("");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("token exchange: token_type is {token_type:?}, want \"Bearer\""),
        ));
    }
    let duration = match v.get("duration").and_then(Value::as_u64) {
        Some(d) if d > 0 => d,
        _ => {
            return Err(KeyStoreError::backend(
                BACKEND,
                "token exchange: duration is missing or not a positive number of seconds",
            ));
        }
    };
    Ok(Jwt {
        authorization: Zeroizing::new(format!("Bearer {jwt}")),
        duration,
    })
}

/// `{"dataType":"seed","material":V,"name":N}`; the value must be text.
pub fn create_body(name: &str, value: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "dataType")]
        data_type: &'a str,
        material: &'a str,
        name: &'a str,
    }
    let material = std::str::from_utf8(value).map_err(|e| {
        KeyStoreError::backend(
            BACKEND,
            format!(
                "create '{name}': the value is not UTF-8 text (CipherTrust secrets hold text): {e}"
            ),
        )
    })?;
    to_json(
        BACKEND,
        &Body {
            data_type: "seed",
            material,
            name,
        },
    )
    .map(Zeroizing::new)
}

/// `POST` path exporting secret `name`.
pub fn export_path(name: &str) -> String {
    format!("{SECRETS_PATH}/{name}/export?type=name")
}

/// `DELETE` path of secret `name`.
pub fn delete_path(name: &str) -> String {
    format!("{SECRETS_PATH}/{name}?type=name")
}

/// `GET` path of the listing page starting at `skip`.
pub fn list_path(skip: u64) -> String {
    format!("{SECRETS_PATH}?limit={PAGE_SIZE}&skip={skip}")
}

/// Parses `{"material": ".."}` of an export.
pub fn parse_material(resp: &Response) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let v = resp.json(BACKEND, "export")?;
    match v.get("material").and_then(Value::as_str) {
        Some(m) => Ok(Zeroizing::new(m.as_bytes().to_vec())),
        None => Err(KeyStoreError::backend(
            BACKEND,
            "export: answer has no material",
        )),
    }
}

/// Parses `{"skip":k,"total":T,"resources":[{"name":..}]}`.
pub fn parse_list(resp: &Response) -> Result<SecretPage, KeyStoreError> {
    let v = resp.json(BACKEND, "list secrets")?;
    let number = |field: &str| {
        v.get(field).and_then(Value::as_u64).ok_or_else(|| {
            KeyStoreError::backend(
                BACKEND,
                format!("list secrets: answer has no numeric `{field}`"),
            )
        })
    };
    let mut page = SecretPage {
        skip: number("skip")?,
        total: number("total")?,
        ..SecretPage::default()
    };
    match v.get("resources") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            page.count = items.len();
            page.names = items
                .iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str))
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
        }
        Some(_) => {
            return Err(KeyStoreError::backend(
                BACKEND,
                "list secrets: `resources` is not a list",
            ));
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_response as resp;

    #[test]
    fn request_bodies_match_the_api() {
        assert_eq!(
            String::from_utf8(token_body("rt", "").unwrap().to_vec()).unwrap(),
            r#"{"grant_type":"refresh_token","refresh_token":"rt","domain":""}"#
        );
        assert_eq!(
            String::from_utf8(create_body("k", b"text").unwrap().to_vec()).unwrap(),
            r#"{"dataType":"seed","material":"text","name":"k"}"#
        );
        let e = create_body("k", &[0xff]).err().unwrap();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        assert_eq!(export_path("k"), "/api/v1/vault/secrets/k/export?type=name");
        assert_eq!(delete_path("k"), "/api/v1/vault/secrets/k?type=name");
        assert_eq!(list_path(400), "/api/v1/vault/secrets?limit=200&skip=400");
    }

    #[test]
    fn jwt_answers_are_checked() {
        let j = parse_jwt(&resp(
            200,
            r#"{"jwt":"abc","duration":300,"token_type":"Bearer","client_id":"c"}"#,
        ))
        .unwrap();
        assert_eq!(j.authorization.as_str(), "Bearer abc");
        assert_eq!(j.duration, 300);
        for (body, want) in [
            (
                r#"{"jwt":"","duration":300,"token_type":"Bearer"}"#,
                "no jwt",
            ),
            (
                r#"{"jwt":"a","duration":0,"token_type":"Bearer"}"#,
                "duration",
            ),
            (
                r#"{"jwt":"a","duration":300,"token_type":"Basic"}"#,
                "token_type",
            ),
        ] {
            let e = parse_jwt(&resp(200, body)).err().unwrap();
            assert!(e.to_string().contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn listings_and_exports_are_parsed() {
        let p = parse_list(&resp(
            200,
            r#"{"skip":0,"limit":200,"total":3,"resources":[{"name":"a"},{"name":""},{"id":"x"}]}"#,
        ))
        .unwrap();
        assert_eq!((p.skip, p.total, p.count), (0, 3, 3));
        assert_eq!(p.names, ["a"]);
        assert!(parse_list(&resp(200, r#"{"total":3}"#)).is_err());
        let m = parse_material(&resp(200, r#"{"id":"1","material":"abc"}"#)).unwrap();
        assert_eq!(m.as_slice(), b"abc");
        assert!(parse_material(&resp(200, "{}")).is_err());
    }
}
