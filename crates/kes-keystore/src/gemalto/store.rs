//! The CipherTrust Manager / KeySecure store type and its [`KeyStore`] impl: login, session
//! renewal and the five operations.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use kes_types::KeyName;
use zeroize::Zeroizing;

use crate::list::paginate;
use crate::transport::{
    self, CaMode, Call, Http, Login, Policy, Scheme, Session, SessionClient, TlsFiles,
};
use crate::{KeyStore, KeyStoreError, ListPage, Status};

use super::client;
use super::config::KeySecureOptions;
use super::error::{self, BACKEND};

/// The transport policy: Go KES's appliance rules, the CA replacing the
/// system roots.
const POLICY: Policy = Policy {
    ca: CaMode::ReplaceSystem,
    ..transport::APPLIANCE
};

/// The session header and what the token and session are called.
const SCHEME: Scheme = Scheme {
    backend: BACKEND,
    header: AUTHORIZATION,
    token: "jwt",
    session: "JWT",
};

/// The refresh token and domain, exchanged for JWTs.
struct Creds {
    refresh_token: Zeroizing<String>,
    domain: String,
}

#[async_trait]
impl Login for Creds {
    const SCHEME: Scheme = SCHEME;

    async fn login(&self, http: &Http) -> Result<Session, KeyStoreError> {
        exchange(http, &self.refresh_token, &self.domain).await
    }
}

/// A CipherTrust Manager (KeySecure) as a [`KeyStore`].
///
/// Dropping the store stops its token renewal.
pub struct KeySecureKeyStore {
    client: SessionClient<Creds>,
}

impl std::fmt::Debug for KeySecureKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecureKeyStore")
            .field("endpoint", &self.client.http().endpoint())
            .field("domain", &self.client.creds().domain)
            .finish_non_exhaustive()
    }
}

impl KeySecureKeyStore {
    /// Exchanges the refresh token for a first JWT and starts its renewal.
    /// Errors name the problem: a missing field, an unreachable appliance or
    /// TLS failure, a rejected refresh token or domain.
    pub async fn connect(opts: KeySecureOptions) -> Result<Self, KeyStoreError> {
        let tls = TlsFiles {
            ca: opts.ca.as_deref(),
            client: None,
        };
        let http = Http::new(BACKEND, &opts.endpoint, tls, POLICY)?;
        let creds = Creds {
            refresh_token: opts.token,
            domain: opts.domain,
        };
        let client = SessionClient::connect(http, creds).await?;
        Ok(Self { client })
    }
}

/// `POST /api/v1/auth/tokens`: refresh token → JWT.
async fn exchange(
    http: &Http,
    refresh_token: &str,
    domain: &str,
) -> Result<Session, KeyStoreError> {
    let body = client::token_body(refresh_token, domain)?;
    let call = Call::new(Method::POST, client::TOKENS_PATH).json_body(body.to_vec());
    let resp = http.send(&call).await?;
    match resp.status {
        StatusCode::OK | StatusCode::CREATED => {
            let jwt = client::parse_jwt(&resp)?;
            Ok(Session::new(
                jwt.authorization,
                Duration::from_secs(jwt.duration),
            ))
        }
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let domain = if domain.is_empty() { "root" } else { domain };
            Err(KeyStoreError::unauthorized(
                BACKEND,
                format!(
                    "{} rejected the refresh token (credentials.token) for domain {domain:?}: HTTP {}: {}",
                    http.endpoint(),
                    resp.status.as_u16(),
                    error::error_text(&resp)
                ),
            ))
        }
        _ => Err(error::parse_error("token exchange", &resp)),
    }
}

#[async_trait]
impl KeyStore for KeySecureKeyStore {
    fn description(&self) -> String {
        if self.client.creds().domain.is_empty() {
            format!("CipherTrust Manager: {}", self.client.http().endpoint())
        } else {
            format!(
                "CipherTrust Manager: {} (domain {})",
                self.client.http().endpoint(),
                self.client.creds().domain
            )
        }
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        // Any HTTP answer of the endpoint means reachable (as in Go KES).
        let started = Instant::now();
        self.client
            .http()
            .send(&Call::new(Method::GET, "/"))
            .await?;
        Ok(Status {
            latency: started.elapsed(),
        })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let body = client::create_body(name.as_str(), value)?;
        let call = Call::new(Method::POST, client::SECRETS_PATH).json_body(body.to_vec());
        let resp = self.client.send(&call).await?;
        match resp.status {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            StatusCode::CONFLICT => Err(KeyStoreError::already_exists()),
            _ => Err(error::parse_error(&format!("create '{name}'"), &resp)),
        }
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let path = client::export_path(name.as_str());
        let resp = self.client.send(&Call::new(Method::POST, &path)).await?;
        match resp.status {
            StatusCode::OK => client::parse_material(&resp),
            StatusCode::NOT_FOUND => Err(KeyStoreError::not_found()),
            _ => Err(error::parse_error(&format!("export '{name}'"), &resp)),
        }
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let path = client::delete_path(name.as_str());
        let resp = self.client.send(&Call::new(Method::DELETE, &path)).await?;
        match resp.status {
            StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(error::parse_error(&format!("delete '{name}'"), &resp)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        // CipherTrust has no name-ordered listing: fetch every page.
        let mut names = Vec::new();
        let mut skip: u64 = 0;
        loop {
            let path = client::list_path(skip);
            let call = Call::new(Method::GET, &path).listing();
            let resp = self.client.send(&call).await?;
            if resp.status != StatusCode::OK {
                return Err(error::parse_error("list secrets", &resp));
            }
            let page = client::parse_list(&resp)?;
            if page.skip != skip {
                return Err(KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "list secrets: asked for skip {skip}, the answer has skip {}",
                        page.skip
                    ),
                ));
            }
            // Filter per page so foreign secrets are not held.
            names.extend(
                page.names
                    .into_iter()
                    .filter(|n| n.starts_with(prefix) && n.as_str() >= start),
            );
            skip += u64::try_from(page.count).unwrap_or(u64::MAX);
            if page.count == 0 || skip >= page.total {
                break;
            }
        }
        Ok(paginate(names, prefix, start, limit))
    }
}
