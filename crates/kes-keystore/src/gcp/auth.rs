//! The OAuth 2.0 JWT-bearer token flow of a service account (RFC 7523,
//! Google's "OAuth 2.0 for server to server applications"): an RS256-signed
//! assertion `{iss: client_email, scope, aud: token_uri, iat, exp}` with
//! `kid` = `private_key_id`, exchanged at the token endpoint
//! (`credentials.token_uri`, default Google's) for an access token that
//! travels as `Authorization: Bearer ..`.
//!
//! Without `credentials` (and not an emulator), application default
//! credentials as Google's libraries find them: the service-account key file
//! named by `GOOGLE_APPLICATION_CREDENTIALS`, else the metadata server of
//! the VM or GKE node (`GCE_METADATA_HOST`, default
//! `metadata.google.internal`), which hands out the attached service
//! account's tokens. Other credential types (gcloud user credentials,
//! workload identity federation files) are refused with a message.
//!
//! [`TokenSource`] implements the shared [`Login`], so the transport's
//! session renews the token at half its lifetime and fetches a new one once
//! when a call answers 401. The signature itself is `kes-crypto`'s
//! ([`RsaSigningKey`]); the key is parsed once, at start-up.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use kes_crypto::RsaSigningKey;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::config::{DEFAULT_TOKEN_URI, GcpCredentials};
use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{
    self, Call, Http, Login, Policy, Response, Scheme, Session, TlsFiles, query_escape,
};

/// The scope asked for when the config names none (what Google's client
/// libraries use for Secret Manager).
pub const DEFAULT_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The grant type of the token request (RFC 7523 §2.1).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of an assertion (Google accepts at most one hour).
const ASSERTION_LIFETIME: i64 = 3600;
/// The metadata server's host when `GCE_METADATA_HOST` does not name one.
pub const METADATA_HOST: &str = "metadata.google.internal";
/// The metadata server's token path (the default service account).
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The header every metadata request carries.
const METADATA_FLAVOR: HeaderName = HeaderName::from_static("metadata-flavor");
/// Token lifetime assumed when the answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// How the access token travels and what it is called.
const SCHEME: Scheme = Scheme {
    backend: BACKEND,
    header: AUTHORIZATION,
    token: "access token",
    session: "access token",
};

/// A service account that obtains access tokens at its token endpoint.
pub(crate) struct ServiceAccount {
    email: String,
    key_id: String,
    key: RsaSigningKey,
    scope: String,
    token_uri: String,
    /// The path (and query) of `token_uri` below `token_http`'s origin.
    token_path: String,
    /// The transport to the token endpoint's origin.
    token_http: Http,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads the private key and sets up the transport to the token
    /// endpoint. A bad key or token URI is `InvalidConfig` naming the field,
    /// after `origin` (`credentials.`, or the key file).
    pub fn new(
        creds: &GcpCredentials,
        scopes: &[String],
        policy: Policy,
        origin: &str,
    ) -> Result<Self, KeyStoreError> {
        let key = RsaSigningKey::from_pkcs8_pem(&creds.private_key).map_err(|e| {
            KeyStoreError::invalid_config(BACKEND, format!("{origin}private_key: {e}"))
        })?;
        let token_uri = creds
            .token_uri
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        let (token_origin, token_path) = split_uri(&token_uri, origin)?;
        let token_http = Http::new(BACKEND, &token_origin, TlsFiles::default(), policy)?;
        let scope = if scopes.is_empty() {
            DEFAULT_SCOPE.to_owned()
        } else {
            scopes.join(" ")
        };
        Ok(Self {
            email: creds.client_email.clone(),
            key_id: creds.private_key_id.clone(),
            key,
            scope,
            token_uri,
            token_path,
            token_http,
        })
    }

    /// The signed JWT assertion, issued at `now` (Unix seconds).
    fn assertion(&self, now: i64) -> Result<Zeroizing<String>, KeyStoreError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = json!({
            "iss": self.email,
            "scope": self.scope,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let mut jwt = Zeroizing::new(URL_SAFE_NO_PAD.encode(header.to_string()));
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut jwt);
        let sig = self.key.sign_rs256(jwt.as_bytes()).map_err(|e| {
            KeyStoreError::backend(BACKEND, format!("signing the token request: {e}"))
        })?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut jwt);
        Ok(jwt)
    }

    /// The error for a refused or failed token request.
    fn token_error(&self, resp: &Response) -> KeyStoreError {
        let v: Option<Value> = serde_json::from_slice(&resp.body).ok();
        let field = |name: &str| {
            v.as_ref()
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(transport::excerpt)
        };
        let text = match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e,
            _ => resp.body_excerpt(),
        };
        let what = format!(
            "token request to {} for service account {}",
            self.token_uri, self.email
        );
        match resp.status {
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                KeyStoreError::unauthorized(
                    BACKEND,
                    format!(
                        "{what} refused (HTTP {}): {text} (check credentials.private_key, \
                         private_key_id and client_email)",
                        resp.status.as_u16()
                    ),
                )
            }
            _ => transport::unexpected(BACKEND, &what, resp, &text),
        }
    }
}

impl ServiceAccount {
    /// Exchanges a fresh assertion for an access token.
    async fn token(&self) -> Result<Session, KeyStoreError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let assertion = self.assertion(now)?;
        let mut body = Zeroizing::new(format!(
            "grant_type={}&assertion=",
            query_escape(GRANT_TYPE)
        ));
        body.push_str(&assertion);
        let call = Call::new(Method::POST, &self.token_path)
            .raw_body(body.as_bytes().to_vec())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        let resp = self.token_http.send(&call).await?;
        if resp.status != StatusCode::OK {
            return Err(self.token_error(&resp));
        }
        parse_token(&resp, &self.token_uri)
    }
}

/// The session of a token answer
/// `{"access_token": .., "expires_in": <seconds>, "token_type": "Bearer"}`.
fn parse_token(resp: &Response, token_uri: &str) -> Result<Session, KeyStoreError> {
    let v: Value = serde_json::from_slice(&resp.body).map_err(|e| {
        KeyStoreError::backend(
            BACKEND,
            format!("token answer of {token_uri} is not valid JSON: {e}"),
        )
    })?;
    Session::from_token_answer(&v, DEFAULT_LIFETIME).ok_or_else(|| {
        KeyStoreError::backend(
            BACKEND,
            format!("token answer of {token_uri} has no access_token"),
        )
    })
}

/// The metadata server of the VM or GKE node the server runs on.
#[derive(Debug)]
pub(crate) struct MetadataServer {
    http: Http,
    /// The token path, with the configured scopes.
    path: String,
}

impl MetadataServer {
    /// The metadata server at `host` (`host[:port]`), asked for `scopes`
    /// (none: the account's own).
    fn new(host: &str, scopes: &[String], policy: Policy) -> Result<Self, KeyStoreError> {
        let http = Http::new(
            BACKEND,
            &format!("http://{host}"),
            TlsFiles::default(),
            policy,
        )
        .map_err(|e| e.map_message(|m| format!("GCE_METADATA_HOST: {m}")))?;
        let mut path = METADATA_TOKEN_PATH.to_owned();
        if !scopes.is_empty() {
            let escaped: Vec<String> = scopes.iter().map(|s| query_escape(s)).collect();
            path.push_str("?scopes=");
            path.push_str(&escaped.join(","));
        }
        Ok(Self { http, path })
    }

    /// Asks the metadata server for an access token.
    async fn token(&self) -> Result<Session, KeyStoreError> {
        let call = Call::new(Method::GET, &self.path)
            .header(METADATA_FLAVOR, HeaderValue::from_static("Google"));
        let resp = self.http.send(&call).await.map_err(|e| {
            e.map_message(|m| {
                format!(
                    "no credentials configured and the metadata server does not answer (set \
                     keystore.gcp.secretmanager.credentials, or GOOGLE_APPLICATION_CREDENTIALS \
                     to a service-account key file): {m}"
                )
            })
        })?;
        if resp.status != StatusCode::OK {
            let what = format!(
                "token request to the metadata server {}",
                self.http.endpoint()
            );
            return Err(transport::unexpected(
                BACKEND,
                &what,
                &resp,
                &resp.body_excerpt(),
            ));
        }
        parse_token(&resp, self.http.endpoint())
    }
}

/// Where the access tokens come from.
#[derive(Debug)]
pub(crate) enum TokenSource {
    /// A service-account key (`credentials`, or the key file of
    /// `GOOGLE_APPLICATION_CREDENTIALS`).
    ServiceAccount(Box<ServiceAccount>),
    /// The metadata server.
    Metadata(Box<MetadataServer>),
}

#[async_trait]
impl Login for TokenSource {
    const SCHEME: Scheme = SCHEME;

    async fn login(&self, _: &Http) -> Result<Session, KeyStoreError> {
        match self {
            TokenSource::ServiceAccount(a) => a.token().await,
            TokenSource::Metadata(m) => m.token().await,
        }
    }
}

impl TokenSource {
    /// The service account of the config's `credentials`.
    pub fn configured(
        creds: &GcpCredentials,
        scopes: &[String],
        policy: Policy,
    ) -> Result<Self, KeyStoreError> {
        ServiceAccount::new(creds, scopes, policy, "credentials.")
            .map(|a| Self::ServiceAccount(Box::new(a)))
    }

    /// Application default credentials, with the environment read through
    /// `env`: the key file of `GOOGLE_APPLICATION_CREDENTIALS`, else the
    /// metadata server (`GCE_METADATA_HOST`).
    pub fn application_default(
        scopes: &[String],
        policy: Policy,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, KeyStoreError> {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(file) = set("GOOGLE_APPLICATION_CREDENTIALS") {
            let origin = format!("GOOGLE_APPLICATION_CREDENTIALS file {file}: ");
            let creds = key_file(Path::new(&file), &origin)?;
            return ServiceAccount::new(&creds, scopes, policy, &origin)
                .map(|a| Self::ServiceAccount(Box::new(a)));
        }
        let host = set("GCE_METADATA_HOST").unwrap_or_else(|| METADATA_HOST.to_owned());
        MetadataServer::new(&host, scopes, policy).map(|m| Self::Metadata(Box::new(m)))
    }
}

/// The credentials of a service-account key file (the JSON Google issues);
/// errors start with `origin`.
fn key_file(path: &Path, origin: &str) -> Result<GcpCredentials, KeyStoreError> {
    let invalid = |m: String| KeyStoreError::invalid_config(BACKEND, format!("{origin}{m}"));
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| invalid(format!("cannot read it: {e}")))?,
    );
    let v: Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not a JSON key file: {e}")))?;
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match field("type").as_deref() {
        Some("service_account") => {}
        other => {
            return Err(invalid(format!(
                "credential type {:?} is not supported (only \"service_account\" key files; \
                 or set keystore.gcp.secretmanager.credentials)",
                other.unwrap_or("")
            )));
        }
    }
    let required = |name: &str| field(name).ok_or_else(|| invalid(format!("no {name}")));
    Ok(GcpCredentials {
        client_email: required("client_email")?,
        client_id: field("client_id").unwrap_or_default(),
        private_key_id: required("private_key_id")?,
        private_key: Zeroizing::new(required("private_key")?),
        token_uri: field("token_uri"),
    })
}

/// Splits a token URI into its origin (`scheme://host[:port]`) and the path
/// with query; errors start with `origin` (where the URI came from).
fn split_uri(uri: &str, origin: &str) -> Result<(String, String), KeyStoreError> {
    let invalid = |why: &str| {
        KeyStoreError::invalid_config(BACKEND, format!("{origin}token_uri {uri:?}: {why}"))
    };
    let parsed: http::Uri = uri
        .parse()
        .map_err(|e| invalid(&format!("not a URL: {e}")))?;
    let (Some(scheme), Some(authority)) = (parsed.scheme_str(), parsed.authority()) else {
        return Err(invalid("not an absolute URL"));
    };
    if !matches!(scheme, "https" | "http") {
        return Err(invalid("must start with https://"));
    }
    let path = parsed
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    Ok((format!("{scheme}://{authority}"), path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::fake::{FakeGoogle, FakeGoogleConfig};
    use crate::transport::test_response as resp;

    const KEY: &str = include_str!("../../tests/data/gcp-test-key.pem");

    fn creds(token_uri: Option<&str>) -> GcpCredentials {
        GcpCredentials {
            client_email: "kes@proj.iam.gserviceaccount.com".into(),
            client_id: "1234".into(),
            private_key_id: "kid-1".into(),
            private_key: Zeroizing::new(KEY.into()),
            token_uri: token_uri.map(str::to_owned),
        }
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertions_have_the_shape_google_expects() {
        let sa =
            ServiceAccount::new(&creds(None), &[], transport::APPLIANCE, "credentials.").unwrap();
        let jwt = sa.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
        );
        assert_eq!(
            decode(parts[1]),
            json!({
                "iss": "kes@proj.iam.gserviceaccount.com",
                "scope": DEFAULT_SCOPE,
                "aud": DEFAULT_TOKEN_URI,
                "iat": 1_700_000_000,
                "exp": 1_700_003_600,
            })
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 256);

        let scopes = ["a".to_owned(), "b".to_owned()];
        let sa = ServiceAccount::new(
            &creds(Some("http://127.0.0.1:1/tok?x=1")),
            &scopes,
            transport::APPLIANCE,
            "credentials.",
        )
        .unwrap();
        assert_eq!(sa.token_path, "/tok?x=1");
        let claims = decode(sa.assertion(0).unwrap().split('.').nth(1).unwrap());
        assert_eq!(claims["scope"], "a b");
        assert_eq!(claims["aud"], "http://127.0.0.1:1/tok?x=1");
    }

    #[test]
    fn bad_keys_and_token_uris_name_the_field() {
        let mut c = creds(None);
        c.private_key = Zeroizing::new(
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".into(),
        );
        let e = ServiceAccount::new(&c, &[], transport::APPLIANCE, "credentials.").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid key store config: gcp secretmanager: credentials.private_key: unsupported \
             PEM block 'RSA PRIVATE KEY': a PKCS#8 'PRIVATE KEY' block is required"
        );
        for uri in ["ftp://h/t", "/token", "not a url"] {
            let e =
                ServiceAccount::new(&creds(Some(uri)), &[], transport::APPLIANCE, "credentials.")
                    .unwrap_err();
            assert!(e.to_string().contains("credentials.token_uri"), "{e}");
        }
    }

    #[test]
    fn token_answers_are_parsed() {
        let s = parse_token(
            &resp(
                200,
                r#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#,
            ),
            "u",
        )
        .unwrap();
        assert_eq!(s.token(), "Bearer ya29.x");
        let e = parse_token(&resp(200, r#"{"expires_in":1}"#), "u")
            .err()
            .unwrap();
        assert!(e.to_string().contains("no access_token"), "{e}");
        let sa =
            ServiceAccount::new(&creds(None), &[], transport::APPLIANCE, "credentials.").unwrap();
        let e = sa.token_error(&resp(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        ));
        assert!(e.kind() == crate::ErrorKind::Unauthorized, "{e:?}");
        assert!(
            e.to_string()
                .contains("refused (HTTP 400): invalid_grant: Invalid JWT Signature."),
            "{e}"
        );
        let e = sa.token_error(&resp(503, "down"));
        assert!(e.is_temporary(), "{e:?}");
    }

    /// A transport the token sources ignore (they have their own).
    fn unused_http() -> Http {
        Http::new(
            BACKEND,
            "http://127.0.0.1:1",
            TlsFiles::default(),
            transport::APPLIANCE,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn without_credentials_the_metadata_server_hands_out_tokens() {
        let google = FakeGoogle::start(FakeGoogleConfig::default())
            .await
            .unwrap();
        let host = google.metadata_host();
        let env = |k: &str| (k == "GCE_METADATA_HOST").then(|| host.clone());
        let scopes = ["s1".to_owned(), "s 2".to_owned()];
        let src = TokenSource::application_default(&scopes, transport::APPLIANCE, &env).unwrap();
        assert!(matches!(src, TokenSource::Metadata(_)), "{src:?}");
        let s = src.login(&unused_http()).await.unwrap();
        assert!(
            s.token().starts_with("Bearer ya29.fake-1-"),
            "{}",
            s.token()
        );
        assert_eq!(google.metadata_scopes().as_deref(), Some("s1,s 2"));

        let env = |k: &str| (k == "GCE_METADATA_HOST").then(|| "127.0.0.1:1".to_owned());
        let src = TokenSource::application_default(&[], transport::APPLIANCE, &env).unwrap();
        let e = src.login(&unused_http()).await.err().unwrap();
        assert!(e.is_unreachable(), "{e:?}");
        assert!(
            e.to_string()
                .contains("no credentials configured and the metadata server does not answer"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn google_application_credentials_names_a_key_file() {
        let google = FakeGoogle::start(FakeGoogleConfig::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sa.json");
        let file = path.to_str().unwrap().to_owned();
        let env = |k: &str| (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| file.clone());
        let adc = || TokenSource::application_default(&[], transport::APPLIANCE, &env);
        std::fs::write(
            &path,
            json!({
                "type": "service_account", "project_id": "p", "private_key_id": "kid-9",
                "private_key": KEY, "client_email": "sa@p.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": google.token_uri(),
            })
            .to_string(),
        )
        .unwrap();
        let src = adc().unwrap();
        src.login(&unused_http()).await.unwrap();
        let a = google.last_assertion().unwrap();
        assert_eq!(a.header["kid"], "kid-9");
        assert_eq!(a.claims["iss"], "sa@p.iam.gserviceaccount.com");

        for (text, want) in [
            (
                r#"{"type":"authorized_user","refresh_token":"r"}"#,
                "credential type \"authorized_user\" is not supported",
            ),
            ("{not json", "not a JSON key file"),
            (
                r#"{"type":"service_account","client_email":"e","private_key_id":"k"}"#,
                "no private_key",
            ),
            (
                r#"{"type":"service_account","client_email":"e","private_key_id":"k","private_key":"x"}"#,
                "private_key: no PEM 'PRIVATE KEY' block found",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = adc().err().unwrap();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidConfig);
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("GOOGLE_APPLICATION_CREDENTIALS file {file}: ")),
                "{msg}"
            );
            assert!(msg.contains(want), "{msg}");
        }
        std::fs::remove_file(&path).unwrap();
        let e = adc().err().unwrap();
        assert!(e.to_string().contains("cannot read it"), "{e}");
    }
}
