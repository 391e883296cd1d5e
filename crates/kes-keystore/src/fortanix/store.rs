//! The Fortanix DSM store type and its [`KeyStore`] impl: start-up (health
//! check, API-key authentication), the session, the five operations.

use std::time::Instant;

use async_trait::async_trait;
use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use kes_types::KeyName;
use zeroize::Zeroizing;

use super::client::{self, call};
use super::config::FortanixOptions;
use super::error::{self, BACKEND};
use crate::list::paginate;
use crate::transport::{
    self, CaMode, Call, Http, Login, Policy, Response, Scheme, Session, SessionClient, TlsFiles,
};
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The transport policy: Go KES's HTTP rules; `tls.ca` replaces the system
/// roots (keystores.md §9.1).
const POLICY: Policy = Policy {
    ca: CaMode::ReplaceSystem,
    ..transport::APPLIANCE
};
/// How the session token travels and what it is called.
const SCHEME: Scheme = Scheme {
    backend: BACKEND,
    header: AUTHORIZATION,
    token: "session token",
    session: "session",
};
/// Security objects asked for per listing page (the API's default).
const LIST_PAGE: usize = 100;

/// The API key, which authenticates a session (`Authorization: Basic`).
struct ApiKey(Zeroizing<String>);

#[async_trait]
impl Login for ApiKey {
    const SCHEME: Scheme = SCHEME;

    /// `POST /sys/v1/session/auth` with the API key.
    async fn login(&self, http: &Http) -> Result<Session, KeyStoreError> {
        let mut basic = Zeroizing::new(String::with_capacity(self.0.len() + 6));
        basic.push_str("Basic ");
        basic.push_str(&self.0);
        let auth = Call::new(Method::POST, call::AUTH)
            .secret_header(AUTHORIZATION, &basic)
            .map_err(|m| KeyStoreError::invalid_config(BACKEND, format!("credentials.key: {m}")))?;
        let resp = http.send(&auth).await?;
        match resp.status {
            StatusCode::OK => client::parse_auth(&resp),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(KeyStoreError::unauthorized(
                BACKEND,
                format!(
                    "authentication at {} with the API key (credentials.key) failed: HTTP {}: {}",
                    http.endpoint(),
                    resp.status.as_u16(),
                    error::error_text(&resp)
                ),
            )),
            _ => Err(error::parse_error("session auth", &resp)),
        }
    }
}

/// A Fortanix DSM account as a [`KeyStore`]: one `OPAQUE` security object
/// per key, named like the key, in the configured group (or the app's
/// default group).
///
/// Dropping the store stops its session renewal.
pub struct FortanixKeyStore {
    client: SessionClient<ApiKey>,
    group_id: Option<String>,
}

impl std::fmt::Debug for FortanixKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FortanixKeyStore")
            .field("endpoint", &self.client.http().endpoint())
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

impl FortanixKeyStore {
    /// Checks the service's health and authenticates with the API key.
    /// Errors name the problem: an endpoint that does not answer or is not
    /// healthy, a TLS failure, a refused API key.
    pub async fn connect(opts: FortanixOptions) -> Result<Self, KeyStoreError> {
        let tls = TlsFiles {
            ca: opts.ca.as_deref(),
            client: None,
        };
        let http = Http::new(BACKEND, &opts.endpoint, tls, POLICY)?;
        health(&http).await.map_err(|e| {
            e.map_message(|m| format!("start-up check of the endpoint failed: {m}"))
        })?;
        let client = SessionClient::connect(http, ApiKey(opts.api_key)).await?;
        Ok(Self {
            client,
            group_id: opts.group_id,
        })
    }

    /// Sends `call` with `body` (JSON) in the session.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Zeroizing<Vec<u8>>>,
    ) -> Result<Response, KeyStoreError> {
        let mut c = Call::new(method, path);
        if let Some(body) = body {
            c = c.json_body(body.to_vec());
        }
        self.client.send(&c).await
    }
}

/// `GET /sys/v1/health` (no session): 2xx means healthy.
async fn health(http: &Http) -> Result<(), KeyStoreError> {
    let resp = http.send(&Call::new(Method::GET, call::HEALTH)).await?;
    if resp.status.is_success() {
        return Ok(());
    }
    Err(error::parse_error(
        &format!("health check of {}", http.endpoint()),
        &resp,
    ))
}

#[async_trait]
impl KeyStore for FortanixKeyStore {
    fn description(&self) -> String {
        match &self.group_id {
            Some(g) => format!(
                "Fortanix SDKMS: {} (group {g})",
                self.client.http().endpoint()
            ),
            None => format!("Fortanix SDKMS: {}", self.client.http().endpoint()),
        }
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let started = Instant::now();
        health(self.client.http()).await?;
        Ok(Status {
            latency: started.elapsed(),
        })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let body = client::import_body(name.as_str(), self.group_id.as_deref(), value)?;
        let resp = self.send(Method::PUT, call::KEYS, Some(body)).await?;
        match resp.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            StatusCode::CONFLICT => Err(KeyStoreError::already_exists()),
            _ => Err(error::parse_error("import", &resp)),
        }
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let body = client::name_body(name.as_str())?;
        let resp = self.send(Method::POST, call::EXPORT, Some(body)).await?;
        match resp.status {
            StatusCode::OK => client::parse_export(&resp, name.as_str()),
            StatusCode::NOT_FOUND => Err(KeyStoreError::not_found()),
            _ => Err(error::parse_error("export", &resp)),
        }
    }

    /// Looks the object's id up by name (without its value), then deletes
    /// it by id.
    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let body = client::name_body(name.as_str())?;
        let resp = self.send(Method::POST, call::INFO, Some(body)).await?;
        let kid = match resp.status {
            StatusCode::OK => client::parse_kid(&resp)?,
            StatusCode::NOT_FOUND => return Err(KeyStoreError::not_found()),
            _ => return Err(error::parse_error("info", &resp)),
        };
        let resp = self
            .send(Method::DELETE, &client::key_path(&kid)?, None)
            .await?;
        match resp.status {
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(()),
            StatusCode::NOT_FOUND => Err(KeyStoreError::not_found()),
            _ => Err(error::parse_error("delete", &resp)),
        }
    }

    /// Pages through every security object in name order (`start` is
    /// exclusive, the listing ends on an empty page), then sorts and cuts.
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let mut names = Vec::new();
        let mut after = String::new();
        loop {
            let path = client::list_path(LIST_PAGE, &after);
            let resp = self
                .client
                .send(&Call::new(Method::GET, &path).listing())
                .await?;
            if resp.status != StatusCode::OK {
                return Err(error::parse_error("list", &resp));
            }
            let page = client::parse_list(&resp)?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            // The server's name order need not be bytewise; a page that
            // ends where the last one did would repeat forever.
            if last == after {
                return Err(KeyStoreError::backend(
                    BACKEND,
                    format!("list: the page after {after:?} ends at {last:?} again"),
                ));
            }
            names.extend(page.into_iter().filter(|n| n.starts_with(prefix)));
            after = last;
        }
        Ok(paginate(names, prefix, start, limit))
    }
}
