//! The wire format of Azure Key Vault's secrets REST API (api-version 7.5)
//! and of the Microsoft identity platform's token answers, as KES uses
//! them: request paths and bodies, and the parsing of answers (error
//! answers are mapped in `error.rs`).
//!
//! Pure functions without I/O, so that every mapping is unit-tested.

use serde_json::Value;
use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{Response, query_escape};

/// The REST API version every call names.
pub(crate) const API_VERSION: &str = "7.5";
/// The OAuth 2.0 scope of a Key Vault token (v2 endpoints).
pub(crate) const SCOPE: &str = "https://vault.azure.net/.default";
/// The resource of a Key Vault token (managed identity endpoints).
pub(crate) const RESOURCE: &str = "https://vault.azure.net";

/// An `application/x-www-form-urlencoded` body of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> Zeroizing<Vec<u8>> {
    let text = Zeroizing::new(
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", query_escape(v)))
            .collect::<Vec<_>>()
            .join("&"),
    );
    Zeroizing::new(text.as_bytes().to_vec())
}

/// `GET` the latest version of secret `name`.
pub(crate) fn latest_path(name: &str) -> String {
    format!("/secrets/{name}/?api-version={API_VERSION}")
}

/// `GET` version `version` of secret `name`.
pub(crate) fn version_path(name: &str, version: &str) -> String {
    format!("/secrets/{name}/{version}?api-version={API_VERSION}")
}

/// `PUT` (set) or `DELETE` (soft delete) secret `name`.
pub(crate) fn secret_path(name: &str) -> String {
    format!("/secrets/{name}?api-version={API_VERSION}")
}

/// `GET` the versions of secret `name` (first page).
pub(crate) fn versions_path(name: &str) -> String {
    format!("/secrets/{name}/versions?api-version={API_VERSION}")
}

/// `DELETE` (purge) the soft-deleted secret `name`.
pub(crate) fn purge_path(name: &str) -> String {
    format!("/deletedsecrets/{name}?api-version={API_VERSION}")
}

/// `GET` the first page of the secrets listing.
pub(crate) fn list_path() -> String {
    format!("/secrets?api-version={API_VERSION}")
}

/// `{"value": "<stored key text>"}`. Stored-key values are ASCII; anything
/// that is not UTF-8 cannot be a secret value.
pub(crate) fn set_body(value: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let text = std::str::from_utf8(value).map_err(|_| {
        KeyStoreError::backend(BACKEND, "a Key Vault secret value must be UTF-8 text")
    })?;
    let body = serde_json::json!({ "value": text });
    serde_json::to_vec(&body)
        .map(Zeroizing::new)
        .map_err(|e| KeyStoreError::backend(BACKEND, format!("cannot encode a request: {e}")))
}

fn malformed(what: &str, why: &str) -> KeyStoreError {
    KeyStoreError::backend(BACKEND, format!("{what}: malformed answer: {why}"))
}

/// The attributes of a secret version that decide whether it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attributes {
    /// `enabled`.
    pub enabled: bool,
    /// `created`, Unix seconds.
    pub created: i64,
    /// `nbf` (not before), Unix seconds.
    pub not_before: Option<i64>,
    /// `exp` (expires), Unix seconds.
    pub expires: Option<i64>,
}

impl Attributes {
    fn parse(v: Option<&Value>) -> Self {
        let num = |k: &str| v.and_then(|a| a.get(k)).and_then(Value::as_i64);
        Self {
            enabled: v
                .and_then(|a| a.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(true),
            created: num("created").unwrap_or_default(),
            not_before: num("nbf"),
            expires: num("exp"),
        }
    }

    /// Why the version may not be used at Unix time `now`, if it may not.
    pub(crate) fn unusable(&self, now: i64) -> Option<&'static str> {
        if !self.enabled {
            Some("is disabled")
        } else if self.not_before.is_some_and(|t| t > now) {
            Some("is not valid yet (nbf)")
        } else if self.expires.is_some_and(|t| t <= now) {
            Some("has expired (exp)")
        } else {
            None
        }
    }
}

/// A secret version as Key Vault returns it.
pub(crate) struct SecretBundle {
    /// The value.
    pub value: Zeroizing<String>,
    /// Its attributes.
    pub attributes: Attributes,
}

/// The last path segment of a Key Vault object id
/// (`https://v.vault.azure.net/secrets/<name>/<version>`).
fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// Parses a secret bundle `{"value","id","attributes"}`.
pub(crate) fn parse_secret(resp: &Response, what: &str) -> Result<SecretBundle, KeyStoreError> {
    let v = resp.json(BACKEND, what)?;
    let value = v
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, "no \"value\""))?;
    Ok(SecretBundle {
        value: Zeroizing::new(value.to_owned()),
        attributes: Attributes::parse(v.get("attributes")),
    })
}

/// One version in a versions listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionItem {
    /// The version id.
    pub version: String,
    /// Its attributes.
    pub attributes: Attributes,
}

/// A page of a listing: the items and the `nextLink`, if any.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The absolute URL of the next page.
    pub next_link: Option<String>,
}

fn parse_page<T>(
    resp: &Response,
    what: &str,
    item: impl Fn(&Value) -> Option<T>,
) -> Result<Page<T>, KeyStoreError> {
    let v = resp.json(BACKEND, what)?;
    let items = match v.get("value") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(item).collect(),
        Some(_) => return Err(malformed(what, "\"value\" is not a list")),
    };
    let next_link = v
        .get("nextLink")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    Ok(Page { items, next_link })
}

/// Parses a versions page `{"value":[{"id","attributes"}],"nextLink"}`.
pub(crate) fn parse_versions(
    resp: &Response,
    what: &str,
) -> Result<Page<VersionItem>, KeyStoreError> {
    parse_page(resp, what, |item| {
        let id = item.get("id")?.as_str()?;
        Some(VersionItem {
            version: last_segment(id).to_owned(),
            attributes: Attributes::parse(item.get("attributes")),
        })
    })
}

/// Parses a secrets page `{"value":[{"id": ".../secrets/<name>"}],"nextLink"}`
/// into names.
pub(crate) fn parse_names(resp: &Response, what: &str) -> Result<Page<String>, KeyStoreError> {
    parse_page(resp, what, |item| {
        let name = last_segment(item.get("id")?.as_str()?);
        (!name.is_empty()).then(|| name.to_owned())
    })
}

/// The path and query of `next_link` below `endpoint`. A link to another
/// origin is refused: the store's token never leaves its vault. Origins
/// compare by scheme, host (case-insensitive) and port, the default port
/// written or not (Key Vault writes `https://<vault>.vault.azure.net:443/...`).
pub(crate) fn next_path(endpoint: &str, next_link: &str) -> Result<String, KeyStoreError> {
    let refused = || {
        KeyStoreError::backend(
            BACKEND,
            format!("list secrets: the next page is not on {endpoint}: {next_link}"),
        )
    };
    let (base, base_path) = origin(endpoint).ok_or_else(refused)?;
    let (link, link_path) = origin(next_link).ok_or_else(refused)?;
    if base != link || !link_path.starts_with(&base_path) {
        return Err(refused());
    }
    Ok(link_path)
}

/// The origin (scheme, lower-case host, port) of an `http(s)` URL and its
/// path with query (at least `/`).
fn origin(url: &str) -> Option<((String, String, u16), String)> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(default);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Some(((scheme, host, port), path))
}

/// An access token and its lifetime in seconds.
pub(crate) struct Token {
    /// The token (sent as `Bearer <token>`).
    pub access_token: Zeroizing<String>,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Parses a token answer: `{"access_token", "expires_in"}` (a number from
/// the identity platform, a string from managed identity endpoints) or,
/// without `expires_in`, `"expires_on"` (Unix seconds) given Unix time
/// `now`.
pub(crate) fn parse_token(resp: &Response, what: &str, now: u64) -> Result<Token, KeyStoreError> {
    let v = resp.json(BACKEND, what)?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| malformed(what, "no \"access_token\""))?;
    let seconds = |k: &str| match v.get(k) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let expires_in = match (seconds("expires_in"), seconds("expires_on")) {
        (Some(n), _) => n,
        (None, Some(at)) => at.saturating_sub(now),
        (None, None) => return Err(malformed(what, "no \"expires_in\" or \"expires_on\"")),
    };
    Ok(Token {
        access_token: Zeroizing::new(token.to_owned()),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_response as resp;

    #[test]
    fn paths_name_the_api_version() {
        assert_eq!(latest_path("k"), "/secrets/k/?api-version=7.5");
        assert_eq!(version_path("k", "v1"), "/secrets/k/v1?api-version=7.5");
        assert_eq!(purge_path("k"), "/deletedsecrets/k?api-version=7.5");
    }

    #[test]
    fn forms_are_escaped() {
        let f = form(&[("a", "x y&z"), ("scope", SCOPE)]);
        assert_eq!(
            std::str::from_utf8(&f).unwrap(),
            "a=x%20y%26z&scope=https%3A%2F%2Fvault.azure.net%2F.default"
        );
    }

    #[test]
    fn bundles_and_pages_are_parsed() {
        let b = parse_secret(
            &resp(
                200,
                r#"{"value":"c2VjcmV0","id":"https://v/secrets/k/abc","attributes":{"enabled":true,"created":5,"exp":10}}"#,
            ),
            "get",
        )
        .unwrap();
        assert_eq!(b.value.as_str(), "c2VjcmV0");
        assert_eq!(b.attributes.unusable(9), None);
        assert_eq!(b.attributes.unusable(10), Some("has expired (exp)"));
        let p = parse_versions(
            &resp(
                200,
                r#"{"value":[{"id":"https://v/secrets/k/b","attributes":{"created":2}},{"id":"https://v/secrets/k/a","attributes":{"created":1,"enabled":false}}],"nextLink":null}"#,
            ),
            "versions",
        )
        .unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[1].version, "a");
        assert_eq!(p.items[1].attributes.unusable(0), Some("is disabled"));
        assert_eq!(p.next_link, None);
        let n = parse_names(
            &resp(
                200,
                r#"{"value":[{"id":"https://v/secrets/one"},{"id":"https://v/secrets/two"}],"nextLink":"https://v/secrets?api-version=7.5&$skiptoken=2"}"#,
            ),
            "list",
        )
        .unwrap();
        assert_eq!(n.items, ["one", "two"]);
        assert_eq!(
            next_path("https://v", n.next_link.as_deref().unwrap()).unwrap(),
            "/secrets?api-version=7.5&$skiptoken=2"
        );
        assert!(next_path("https://v", "https://evil/secrets").is_err());
        assert_eq!(
            next_path(
                "https://kv.vault.azure.net",
                "https://KV.vault.azure.net:443/secrets?api-version=7.5&$skiptoken=x"
            )
            .unwrap(),
            "/secrets?api-version=7.5&$skiptoken=x"
        );
        assert!(next_path("https://v", "http://v/secrets").is_err());
        assert!(next_path("https://v:8443", "https://v/secrets").is_err());
        assert!(parse_secret(&resp(200, "{}"), "get").is_err());
    }

    #[test]
    fn tokens_are_parsed_in_every_shape() {
        let t = parse_token(
            &resp(
                200,
                r#"{"token_type":"Bearer","expires_in":3599,"access_token":"t1"}"#,
            ),
            "token",
            0,
        )
        .unwrap();
        assert_eq!((t.access_token.as_str(), t.expires_in), ("t1", 3599));
        let t = parse_token(
            &resp(200, r#"{"access_token":"t2","expires_in":"60"}"#),
            "token",
            0,
        )
        .unwrap();
        assert_eq!(t.expires_in, 60);
        let t = parse_token(
            &resp(200, r#"{"access_token":"t3","expires_on":"1100"}"#),
            "token",
            1000,
        )
        .unwrap();
        assert_eq!(t.expires_in, 100);
        assert!(parse_token(&resp(200, r#"{"access_token":""}"#), "token", 0).is_err());
    }

    #[test]
    fn set_body_needs_text() {
        assert_eq!(set_body(b"abc").unwrap().as_slice(), br#"{"value":"abc"}"#);
        assert!(set_body(&[0xff]).is_err());
    }
}
