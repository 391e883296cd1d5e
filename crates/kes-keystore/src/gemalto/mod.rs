//! The Thales CipherTrust Manager (formerly Gemalto KeySecure) key store:
//! KES's keys are vault secrets of data type `seed`, named verbatim.
//!
//! This module owns the options ([`KeySecureOptions`]), the authentication
//! (a long-lived refresh token exchanged for short-lived JWTs, renewed at half
//! their lifetime and on any 401) and the five operations. The wire details
//! live in `api`; the HTTPS transport (custom CA replacing the system roots,
//! timeouts, retries) is shared with the other appliance stores.
//!
//! Differences from Go KES, on purpose: `list` honours the prefix and `start`
//! contract of [`KeyStore::list`] and does not issue a trailing empty page
//! request; an expired JWT (401) triggers a new exchange and one retry.
//! As in Go KES, deleting a missing secret succeeds: CipherTrust answers 404
//! for both "missing" and "not allowed to see".

mod api;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use kes_types::KeyName;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::vendor_http::{CaMode, Call, Http, LIST_BODY_LIMIT, Response};
use crate::{KeyStore, KeyStoreError, ListPage, MAX_LIST, Status};

/// The name of this backend in errors.
const BACKEND: &str = "ciphertrust";
/// Wait before retrying a failed renewal (Go KES: 5 s).
const RENEW_RETRY: Duration = Duration::from_secs(5);
/// Shortest wait before a renewal (guards against a busy loop).
const MIN_RENEW_WAIT: Duration = Duration::from_millis(100);

/// Connection settings of a CipherTrust Manager / KeySecure appliance
/// (`keystore.gemalto.keysecure`, formerly `keys.gemalto.keysecure`).
#[derive(Clone, Default)]
pub struct KeySecureOptions {
    /// The appliance URL, e.g. `https://ciphertrust.example.com`.
    pub endpoint: String,
    /// The refresh token exchanged for short-lived JWTs.
    pub token: Zeroizing<String>,
    /// The domain the secrets live in; empty means the root domain.
    pub domain: String,
    /// A CA certificate file or directory that replaces the system roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for KeySecureOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecureOptions")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field("domain", &self.domain)
            .field("ca", &self.ca)
            .finish()
    }
}

/// A JWT and when to renew it.
struct Session {
    authorization: Zeroizing<String>,
    renew_at: Instant,
}

/// The state shared by the store and its renewal task.
struct Inner {
    http: Http,
    refresh_token: Zeroizing<String>,
    domain: String,
    session: ArcSwap<Session>,
    /// Serializes token exchanges so that concurrent 401s exchange once.
    login: Mutex<()>,
}

/// A CipherTrust Manager (KeySecure) as a [`KeyStore`].
///
/// Dropping the store stops its token renewal.
pub struct KeySecureKeyStore {
    inner: Arc<Inner>,
    renewal: JoinHandle<()>,
}

impl std::fmt::Debug for KeySecureKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecureKeyStore")
            .field("endpoint", &self.inner.http.endpoint())
            .field("domain", &self.inner.domain)
            .finish_non_exhaustive()
    }
}

impl Drop for KeySecureKeyStore {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

impl KeySecureKeyStore {
    /// Exchanges the refresh token for a first JWT and starts its renewal.
    /// Errors name the problem: a missing field, an unreachable appliance or
    /// TLS failure, a rejected refresh token or domain.
    pub async fn connect(opts: KeySecureOptions) -> Result<Self, KeyStoreError> {
        if opts.endpoint.trim().is_empty() {
            return Err(KeyStoreError::InvalidConfig(format!(
                "{BACKEND}: missing required field `endpoint`"
            )));
        }
        if opts.token.trim().is_empty() {
            return Err(KeyStoreError::InvalidConfig(format!(
                "{BACKEND}: missing required field `credentials.token` (the refresh token)"
            )));
        }
        let http = Http::new(
            BACKEND,
            &opts.endpoint,
            opts.ca.as_deref(),
            CaMode::ReplaceSystem,
        )?;
        let first = exchange(&http, &opts.token, &opts.domain).await?;
        let inner = Arc::new(Inner {
            http,
            refresh_token: opts.token,
            domain: opts.domain,
            session: ArcSwap::from_pointee(first),
            login: Mutex::new(()),
        });
        let renewal = tokio::spawn(renew_loop(Arc::downgrade(&inner)));
        Ok(Self { inner, renewal })
    }
}

impl Inner {
    /// Sends an authenticated call; on 401 exchanges the refresh token again
    /// (once) and resends.
    async fn authed(&self, call: Call<'_>) -> Result<Response, KeyStoreError> {
        let session = self.session.load_full();
        let resp = self.send_with(&call, &session.authorization).await?;
        if resp.status != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        self.relogin(&session).await?;
        let session = self.session.load_full();
        self.send_with(&call, &session.authorization).await
    }

    async fn send_with(&self, call: &Call<'_>, auth: &str) -> Result<Response, KeyStoreError> {
        let call = Call {
            method: call.method.clone(),
            path: call.path,
            headers: Vec::new(),
            body: call.body.clone(),
            json: call.json,
            limit: call.limit,
        }
        .secret_header(AUTHORIZATION, auth)
        .map_err(|m| backend(format!("jwt: {m}")))?;
        self.http.send(&call).await
    }

    /// Exchanges the refresh token again after a 401 unless another call
    /// already replaced the session `stale`.
    async fn relogin(&self, stale: &Arc<Session>) -> Result<(), KeyStoreError> {
        let _guard = self.login.lock().await;
        if !Arc::ptr_eq(&self.session.load_full(), stale) {
            return Ok(());
        }
        let fresh = exchange(&self.http, &self.refresh_token, &self.domain).await?;
        self.session.store(Arc::new(fresh));
        Ok(())
    }

    /// Exchanges the refresh token for a new JWT.
    async fn renew(&self) -> Result<(), KeyStoreError> {
        let _guard = self.login.lock().await;
        let fresh = exchange(&self.http, &self.refresh_token, &self.domain).await?;
        self.session.store(Arc::new(fresh));
        Ok(())
    }
}

/// Renews the JWT at half its lifetime until the store is dropped; failures
/// are retried every [`RENEW_RETRY`].
async fn renew_loop(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let at = strong.session.load().renew_at;
        drop(strong);
        tokio::time::sleep_until(at.into()).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        // A 401 exchange may have replaced the session meanwhile.
        if strong.session.load().renew_at > Instant::now() {
            continue;
        }
        if let Err(e) = strong.renew().await {
            tracing::warn!("{BACKEND}: cannot renew the JWT, retrying in {RENEW_RETRY:?}: {e}");
            drop(strong);
            tokio::time::sleep(RENEW_RETRY).await;
        }
    }
}

/// `POST /api/v1/auth/tokens`: refresh token → JWT.
async fn exchange(
    http: &Http,
    refresh_token: &str,
    domain: &str,
) -> Result<Session, KeyStoreError> {
    let body = api::token_body(refresh_token, domain)?;
    let call = Call::new(Method::POST, api::TOKENS_PATH).json_body(body.to_vec());
    let resp = http.send(&call).await?;
    match resp.status {
        StatusCode::OK | StatusCode::CREATED => {
            let jwt = api::parse_jwt(&resp)?;
            let lifetime = Duration::from_secs(jwt.duration);
            Ok(Session {
                authorization: jwt.authorization,
                renew_at: Instant::now() + (lifetime / 2).max(MIN_RENEW_WAIT),
            })
        }
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            let domain = if domain.is_empty() { "root" } else { domain };
            Err(KeyStoreError::Unauthorized(format!(
                "{BACKEND}: {} rejected the refresh token (credentials.token) for domain {domain:?}: HTTP {}: {}",
                http.endpoint(),
                resp.status.as_u16(),
                api::error_text(&resp)
            )))
        }
        _ => Err(api::unexpected("token exchange", &resp)),
    }
}

/// A backend error of this store.
fn backend(message: String) -> KeyStoreError {
    KeyStoreError::Backend {
        backend: BACKEND,
        message,
    }
}

#[async_trait]
impl KeyStore for KeySecureKeyStore {
    fn description(&self) -> String {
        if self.inner.domain.is_empty() {
            format!("CipherTrust Manager: {}", self.inner.http.endpoint())
        } else {
            format!(
                "CipherTrust Manager: {} (domain {})",
                self.inner.http.endpoint(),
                self.inner.domain
            )
        }
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        // Any HTTP answer of the endpoint means reachable (as in Go KES).
        let started = Instant::now();
        self.inner.http.send(&Call::new(Method::GET, "/")).await?;
        Ok(Status {
            latency: started.elapsed(),
        })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let body = api::create_body(name.as_str(), value)?;
        let call = Call::new(Method::POST, api::SECRETS_PATH).json_body(body.to_vec());
        let resp = self.inner.authed(call).await?;
        match resp.status {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            StatusCode::CONFLICT => Err(KeyStoreError::AlreadyExists),
            _ => Err(api::unexpected(&format!("create '{name}'"), &resp)),
        }
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let path = api::export_path(name.as_str());
        let resp = self.inner.authed(Call::new(Method::POST, &path)).await?;
        match resp.status {
            StatusCode::OK => api::parse_material(&resp),
            StatusCode::NOT_FOUND => Err(KeyStoreError::NotFound),
            _ => Err(api::unexpected(&format!("export '{name}'"), &resp)),
        }
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let path = api::delete_path(name.as_str());
        let resp = self.inner.authed(Call::new(Method::DELETE, &path)).await?;
        match resp.status {
            StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(api::unexpected(&format!("delete '{name}'"), &resp)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let limit = if limit == 0 {
            MAX_LIST
        } else {
            limit.min(MAX_LIST)
        };
        // CipherTrust has no name-ordered listing: fetch every page.
        let mut names = Vec::new();
        let mut skip: u64 = 0;
        loop {
            let path = api::list_path(skip);
            let call = Call::new(Method::GET, &path).limit(LIST_BODY_LIMIT);
            let resp = self.inner.authed(call).await?;
            if resp.status != StatusCode::OK {
                return Err(api::unexpected("list secrets", &resp));
            }
            let page = api::parse_list(&resp)?;
            if page.skip != skip {
                return Err(backend(format!(
                    "list secrets: asked for skip {skip}, the answer has skip {}",
                    page.skip
                )));
            }
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
        names.sort();
        names.dedup();
        let next = if names.len() > limit {
            names.truncate(limit + 1);
            names.pop()
        } else {
            None
        };
        Ok(ListPage { names, next })
    }
}
