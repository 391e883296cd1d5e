//! Vault authentication: AppRole and Kubernetes logins, `renew-self`, and
//! `lookup-self` (used to tell an invalid token from a policy denial).
//!
//! Tokens live in [`Token`], whose value is zeroized on drop and never
//! printed; the renewal schedule itself is in `store.rs` (it needs the store).

use std::fmt;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;
use zeroize::Zeroizing;

use super::client;
use super::config::{JwtSource, LoginNamespace, VaultAuth, VaultOptions};
use super::error::{BACKEND, VaultResponse, is_temporary_status};
use crate::KeyStoreError;
use crate::transport::Http;

impl LoginNamespace {
    /// The namespace header to send for a login, given the store namespace.
    pub(crate) fn resolve<'a>(&'a self, store: &'a str) -> Option<&'a str> {
        match self {
            Self::Inherit if store.is_empty() => None,
            Self::Inherit => Some(store),
            Self::Root => None,
            Self::Named(ns) => Some(ns),
        }
    }
}

impl JwtSource {
    /// Returns the token, reading the file if it is one (at every login, so
    /// that a rotated service-account token is picked up).
    pub(crate) fn load(&self) -> Result<Zeroizing<String>, KeyStoreError> {
        match self {
            Self::Value(v) => Ok(v.clone()),
            Self::File(path) => {
                let raw = std::fs::read_to_string(path).map_err(|e| {
                    KeyStoreError::invalid_config(
                        BACKEND,
                        format!("cannot read kubernetes jwt file {}: {e}", path.display()),
                    )
                })?;
                let raw = Zeroizing::new(raw);
                Ok(Zeroizing::new(raw.trim().to_owned()))
            }
        }
    }
}

/// A Vault token and what Vault said about it.
pub(crate) struct Token {
    /// The token (`X-Vault-Token`).
    pub value: Zeroizing<String>,
    /// Its TTL when obtained or last renewed; zero = does not expire.
    pub ttl: Duration,
    /// The TTL of the login that produced it (renewals shrink towards max TTL).
    pub login_ttl: Duration,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
    /// When `ttl` was measured.
    pub obtained: Instant,
    /// Incremented on every login; lets concurrent re-logins collapse.
    pub generation: u64,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("renewable", &self.renewable)
            .field("generation", &self.generation)
            .finish()
    }
}

/// What a login or renewal returned.
pub(crate) struct Lease {
    /// The token (only set by a login).
    pub token: Option<Zeroizing<String>>,
    /// Lease duration.
    pub ttl: Duration,
    /// Whether the token is renewable.
    pub renewable: bool,
}

/// Human-readable name of the auth method, for errors and logs.
pub(crate) fn method_name(opts: &VaultOptions) -> String {
    match &opts.auth {
        VaultAuth::AppRole(a) => format!("approle login at auth/{}", a.engine),
        VaultAuth::Kubernetes(k) => format!("kubernetes login at auth/{}", k.engine),
    }
}

/// Logs in with the configured method and returns the new token.
pub(crate) async fn login(http: &Http, opts: &VaultOptions) -> Result<Lease, KeyStoreError> {
    let what = method_name(opts);
    let (path, body, namespace) = match &opts.auth {
        VaultAuth::AppRole(a) => {
            let body = Zeroizing::new(
                json!({ "role_id": a.id.as_str(), "secret_id": a.secret.as_str() }).to_string(),
            );
            (
                format!("/v1/auth/{}/login", a.engine),
                body,
                a.namespace.resolve(&opts.namespace),
            )
        }
        VaultAuth::Kubernetes(k) => {
            let jwt = k.jwt.load()?;
            let body = Zeroizing::new(json!({ "role": k.role, "jwt": jwt.as_str() }).to_string());
            (
                format!("/v1/auth/{}/login", k.engine),
                body,
                k.namespace.resolve(&opts.namespace),
            )
        }
    };
    let call =
        client::call(Method::PUT, &path, None, namespace)?.json_body(body.as_bytes().to_vec());
    let resp = http.send(&call).await.map_err(|e| {
        if e.is_unreachable() {
            e.map_message(|m| format!("{what}: {m}"))
        } else {
            e
        }
    })?;
    if !resp.status.is_success() {
        let status = resp.status.as_u16();
        let msg = resp.error_messages();
        let detail = format!("{what} failed: HTTP {status}: {msg}");
        return Err(if resp.is_missing_mount() {
            KeyStoreError::invalid_config(
                BACKEND,
                format!("{what} failed: no auth method is mounted there ({msg})"),
            )
        } else if matches!(status, 400 | 401 | 403) {
            KeyStoreError::unauthorized(BACKEND, detail)
        } else if status == 503 {
            KeyStoreError::unreachable(BACKEND, detail)
        } else {
            KeyStoreError::backend(BACKEND, detail).with_temporary(is_temporary_status(resp.status))
        });
    }
    let v = resp.json(BACKEND, &what)?;
    let lease = parse_auth(&v).ok_or_else(|| {
        KeyStoreError::backend(
            BACKEND,
            format!("{what}: response has no auth.client_token"),
        )
    })?;
    if lease.token.is_none() {
        return Err(KeyStoreError::backend(
            BACKEND,
            format!("{what}: response has no auth.client_token"),
        ));
    }
    Ok(lease)
}

/// `PUT /v1/auth/token/renew-self`: extends the token, returns the new lease.
pub(crate) async fn renew_self(
    http: &Http,
    token: &str,
    namespace: Option<&str>,
) -> Result<Lease, KeyStoreError> {
    let call = client::call(
        Method::PUT,
        "/v1/auth/token/renew-self",
        Some(token),
        namespace,
    )?
    .json_body(br#"{"increment":0}"#.to_vec());
    let resp = http.send(&call).await?;
    if !resp.status.is_success() {
        return Err(resp.parse_error("token renewal"));
    }
    let v = resp.json(BACKEND, "token renewal")?;
    parse_auth(&v)
        .ok_or_else(|| KeyStoreError::backend(BACKEND, "token renewal: response has no auth data"))
}

/// `GET /v1/auth/token/lookup-self`: `Ok(true)` if the token is valid,
/// `Ok(false)` if Vault rejects it.
pub(crate) async fn token_is_valid(
    http: &Http,
    token: &str,
    namespace: Option<&str>,
) -> Result<bool, KeyStoreError> {
    let call = client::call(
        Method::GET,
        "/v1/auth/token/lookup-self",
        Some(token),
        namespace,
    )?;
    let resp = http.send(&call).await?;
    Ok(resp.status.is_success())
}

/// Reads the `auth` envelope of a login or renewal response.
fn parse_auth(v: &serde_json::Value) -> Option<Lease> {
    let auth = v.get("auth")?;
    if auth.is_null() {
        return None;
    }
    let token = auth
        .get("client_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(|t| Zeroizing::new(t.to_owned()));
    let ttl = auth
        .get("lease_duration")
        .and_then(|d| d.as_u64())
        .unwrap_or(0);
    let renewable = auth
        .get("renewable")
        .and_then(|r| r.as_bool())
        .unwrap_or(false);
    Some(Lease {
        token,
        ttl: Duration::from_secs(ttl),
        renewable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_envelope_is_parsed() {
        let v =
            json!({"auth": {"client_token": "s.abc", "lease_duration": 3600, "renewable": true}});
        let l = parse_auth(&v).unwrap();
        assert_eq!(l.token.unwrap().as_str(), "s.abc");
        assert_eq!(l.ttl, Duration::from_secs(3600));
        assert!(l.renewable);
        assert!(parse_auth(&json!({"auth": null})).is_none());
        assert!(parse_auth(&json!({"data": {}})).is_none());
    }

    #[test]
    fn login_namespace_resolves_as_go_does() {
        assert_eq!(LoginNamespace::Inherit.resolve("ns1"), Some("ns1"));
        assert_eq!(LoginNamespace::Inherit.resolve(""), None);
        assert_eq!(LoginNamespace::Root.resolve("ns1"), None);
        assert_eq!(
            LoginNamespace::Named("other".into()).resolve("ns1"),
            Some("other")
        );
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = Token {
            value: Zeroizing::new("s.secret-token".into()),
            ttl: Duration::ZERO,
            login_ttl: Duration::ZERO,
            renewable: false,
            obtained: Instant::now(),
            generation: 1,
        };
        assert!(!format!("{t:?}").contains("secret-token"));
    }
}
