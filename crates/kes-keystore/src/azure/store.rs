//! The Azure Key Vault store type and its [`KeyStore`] impl: one secret per
//! KES key, named verbatim, holding the stored-key text as its value (no
//! content type, no tags), as Go KES writes it.

use std::path::PathBuf;
use std::time::Instant;

use async_trait::async_trait;
use http::{Method, StatusCode};
use kes_types::KeyName;
use zeroize::Zeroizing;

use super::client::{self, VersionItem};
use super::config::AzureOptions;
use super::credential::{Credential, Env, unix_now};
use super::error::{
    BACKEND, BEING_DELETED, DELETED_BUT_RECOVERABLE, FORBIDDEN_BY_POLICY, is, parse_error,
};
use crate::list::paginate;
use crate::name_locks::NameLocks;
use crate::transport::{self, CaMode, Call, Http, Policy, Response, SessionClient, TlsFiles};
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The transport policy: Go KES's appliance timeouts and body limits; the
/// CA of `SSL_CERT_FILE` added to the system roots; retries as Go KES's
/// azcore policy starts them (200 ms plus up to 800 ms).
const POLICY: Policy = Policy {
    ca: CaMode::AddToSystem,
    ..transport::APPLIANCE
};
/// Purge attempts while a create finds the name soft-deleted (Go KES: 25).
const CREATE_PURGE_ATTEMPTS: u32 = 25;
/// Set attempts while the name is still being deleted (Go KES: 7).
const CREATE_SET_ATTEMPTS: u32 = 7;
/// Purge attempts after a delete (Go KES: 10).
const DELETE_PURGE_ATTEMPTS: u32 = 10;
/// Most pages of versions read to find a secret's oldest (Key Vault pages
/// hold 25: 1,000 versions). Go KES reads one page and refuses more.
const MAX_VERSION_PAGES: usize = 40;

/// An Azure Key Vault as a [`KeyStore`].
///
/// Dropping the store stops its token renewal.
pub struct AzureKeyVaultStore {
    client: SessionClient<Credential>,
    create_locks: NameLocks,
}

impl std::fmt::Debug for AzureKeyVaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureKeyVaultStore")
            .field("endpoint", &self.client.http().endpoint())
            .field("credential", &self.client.creds().describe())
            .finish_non_exhaustive()
    }
}

impl AzureKeyVaultStore {
    /// Obtains a first access token and starts its renewal, reading the
    /// credential variables and `SSL_CERT_FILE` from the process
    /// environment. Errors name the problem: an unreachable token endpoint
    /// or vault, a refused credential.
    pub async fn connect(opts: AzureOptions) -> Result<Self, KeyStoreError> {
        Self::connect_with_env(opts, &|name| std::env::var(name).ok()).await
    }

    /// [`Self::connect`] with the environment read from `env`.
    pub async fn connect_with_env(opts: AzureOptions, env: Env<'_>) -> Result<Self, KeyStoreError> {
        // The system roots plus the file named by SSL_CERT_FILE.
        let ca = env("SSL_CERT_FILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let tls = TlsFiles {
            ca: ca.as_deref(),
            client: None,
        };
        let http = Http::new(BACKEND, &opts.endpoint, tls, POLICY)?;
        let credential = Credential::new(&opts.auth, env, tls, POLICY)?;
        let client = SessionClient::connect(http, credential).await?;
        Ok(Self {
            client,
            create_locks: NameLocks::new(),
        })
    }

    /// Sends `call` with the session's token.
    async fn send(&self, call: &Call<'_>) -> Result<Response, KeyStoreError> {
        self.client.send(call).await
    }

    /// The oldest version of `name` (by `created`, then version id: the
    /// rule that makes "the key" well defined when two versions were
    /// created in the same second), following `nextLink` through at most
    /// [`MAX_VERSION_PAGES`] pages; `None` when the secret has none.
    async fn oldest_version(&self, name: &str) -> Result<Option<VersionItem>, KeyStoreError> {
        let what = format!("list versions of secret '{name}'");
        let mut path = client::versions_path(name);
        let mut oldest: Option<VersionItem> = None;
        for _ in 0..MAX_VERSION_PAGES {
            let resp = self.send(&Call::new(Method::GET, &path).listing()).await?;
            match resp.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(None),
                _ => return Err(parse_error(&what, &resp)),
            }
            let page = client::parse_versions(&resp, &what)?;
            for item in page.items {
                let older = oldest.as_ref().is_none_or(|o| {
                    (item.attributes.created, &item.version) < (o.attributes.created, &o.version)
                });
                if older {
                    oldest = Some(item);
                }
            }
            match page.next_link {
                Some(link) => path = client::next_path(self.client.http().endpoint(), &link)?,
                None => return Ok(oldest),
            }
        }
        Err(KeyStoreError::backend(
            BACKEND,
            format!("{what}: more than {MAX_VERSION_PAGES} pages of versions"),
        ))
    }

    /// Purges the soft-deleted `name`, trying up to `attempts` times while
    /// Key Vault answers 409 `ObjectIsBeingDeleted`. Returns the last
    /// answer.
    async fn purge(&self, name: &str, attempts: u32) -> Result<Response, KeyStoreError> {
        let path = client::purge_path(name);
        let mut attempt = 1;
        loop {
            let resp = self.send(&Call::new(Method::DELETE, &path)).await?;
            if attempt >= attempts || !is(&resp, StatusCode::CONFLICT, BEING_DELETED) {
                return Ok(resp);
            }
            attempt += 1;
            backoff().await;
        }
    }

    /// Sets `name` to `value` (a new secret, or a new version). A name that
    /// is soft-deleted is purged first, as Go KES does.
    async fn set(&self, name: &str, value: &[u8]) -> Result<Response, KeyStoreError> {
        let body = client::set_body(value)?;
        let path = client::secret_path(name);
        let put = || Call::new(Method::PUT, &path).json_body(body.to_vec());
        let mut resp = self.send(&put()).await?;
        let deleted = is(&resp, StatusCode::CONFLICT, DELETED_BUT_RECOVERABLE)
            || is(&resp, StatusCode::CONFLICT, BEING_DELETED);
        if !deleted {
            return Ok(resp);
        }
        let purged = self.purge(name, CREATE_PURGE_ATTEMPTS).await?;
        if is(&purged, StatusCode::FORBIDDEN, FORBIDDEN_BY_POLICY) {
            return Err(parse_error(&format!("purge secret '{name}'"), &purged));
        }
        for _ in 0..CREATE_SET_ATTEMPTS {
            resp = self.send(&put()).await?;
            if !is(&resp, StatusCode::CONFLICT, BEING_DELETED) {
                break;
            }
            backoff().await;
        }
        Ok(resp)
    }
}

/// Waits as the transport does before a retry: 200 ms plus up to 800 ms,
/// Go KES's purge loop.
async fn backoff() {
    tokio::time::sleep(POLICY.retry.delay()).await;
}

#[async_trait]
impl KeyStore for AzureKeyVaultStore {
    fn description(&self) -> String {
        format!(
            "Azure KeyVault: {} ({})",
            self.client.http().endpoint(),
            self.client.creds().describe()
        )
    }

    /// Any HTTP answer of the vault (usually 401 for a plain `GET /`)
    /// means reachable.
    async fn status(&self) -> Result<Status, KeyStoreError> {
        let start = Instant::now();
        self.client
            .http()
            .send(&Call::new(Method::GET, "/"))
            .await?;
        Ok(Status {
            latency: start.elapsed(),
        })
    }

    /// Check, then set: Key Vault has no create-if-absent. Creates of one
    /// name through this store are serialized; creates on several KES nodes
    /// at once stay racy, as in Go KES (each sets a version, and reads take
    /// the oldest).
    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let name = name.as_str();
        let _guard = self.create_locks.lock(name).await;
        let what = format!("create secret '{name}'");
        let resp = self
            .send(&Call::new(Method::GET, &client::latest_path(name)))
            .await?;
        match resp.status {
            StatusCode::OK => return Err(KeyStoreError::already_exists()),
            StatusCode::NOT_FOUND => {}
            _ => return Err(parse_error(&what, &resp)),
        }
        let resp = self.set(name, value).await?;
        if is(&resp, StatusCode::CONFLICT, DELETED_BUT_RECOVERABLE) {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!(
                    "{what}: the secret exists but is marked deleted: restore or purge it \
                     in the vault"
                ),
            ));
        }
        if resp.status != StatusCode::OK {
            return Err(parse_error(&what, &resp));
        }
        Ok(())
    }

    /// Reads the oldest version (Go KES's rule: a stray newer version
    /// written by someone else does not change the key).
    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let name = name.as_str();
        let Some(first) = self.oldest_version(name).await? else {
            return Err(KeyStoreError::not_found());
        };
        let what = format!("get secret '{name}' version {}", first.version);
        let resp = self
            .send(&Call::new(
                Method::GET,
                &client::version_path(name, &first.version),
            ))
            .await?;
        match resp.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(KeyStoreError::not_found()),
            _ => return Err(parse_error(&what, &resp)),
        }
        let secret = client::parse_secret(&resp, &what)?;
        if let Some(why) = secret
            .attributes
            .unusable(i64::try_from(unix_now()).unwrap_or(i64::MAX))
        {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!("{what}: the secret {why}"),
            ));
        }
        Ok(Zeroizing::new(secret.value.as_bytes().to_vec()))
    }

    /// Soft delete, then purge. Like Go KES it never reports "not found": a
    /// 404 may be a secret that is already soft-deleted, which the purge
    /// then removes; a purge still "being deleted" after the last attempt
    /// counts as done (Key Vault finishes it, and a create purges again).
    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let name = name.as_str();
        let resp = self
            .send(&Call::new(Method::DELETE, &client::secret_path(name)))
            .await?;
        if !matches!(resp.status, StatusCode::OK | StatusCode::NOT_FOUND) {
            return Err(parse_error(&format!("delete secret '{name}'"), &resp));
        }
        let resp = self.purge(name, DELETE_PURGE_ATTEMPTS).await?;
        match resp.status {
            StatusCode::OK | StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(()),
            _ if is(&resp, StatusCode::CONFLICT, BEING_DELETED) => Ok(()),
            _ => Err(parse_error(&format!("purge secret '{name}'"), &resp)),
        }
    }

    /// Pages through every secret of the vault (`nextLink`), then applies
    /// the listing contract. Non-KES secrets of the vault are listed too.
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let what = "list secrets";
        let mut names = Vec::new();
        let mut path = client::list_path();
        loop {
            let resp = self.send(&Call::new(Method::GET, &path).listing()).await?;
            if resp.status != StatusCode::OK {
                return Err(parse_error(what, &resp));
            }
            let page = client::parse_names(&resp, what)?;
            names.extend(page.items);
            match page.next_link {
                Some(link) => {
                    let next = client::next_path(self.client.http().endpoint(), &link)?;
                    // A vault that hands out the same page again would loop
                    // forever.
                    if next == path {
                        return Err(KeyStoreError::backend(
                            BACKEND,
                            format!("{what}: the next page is the same page again: {link}"),
                        ));
                    }
                    path = next;
                }
                None => break,
            }
        }
        Ok(paginate(names, prefix, start, limit))
    }
}
