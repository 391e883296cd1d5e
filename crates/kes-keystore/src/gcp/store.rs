//! The Google Cloud Secret Manager store type and its [`KeyStore`] impl:
//! start-up (reachability, the service account's first token), the five
//! operations over the REST API v1.

use std::time::Instant;

use async_trait::async_trait;
use http::{Method, StatusCode};
use kes_types::KeyName;
use zeroize::Zeroizing;

use super::auth::TokenSource;
use super::client::{self, op};
use super::config::GcpOptions;
use super::error::{self, BACKEND};
use crate::list::paginate;
use crate::transport::{self, CaMode, Call, Http, Policy, Response, SessionClient, TlsFiles};
use crate::{ErrorKind, KeyStore, KeyStoreError, ListPage, Status};

/// The transport policy of the API and the token endpoint: Go KES's HTTP
/// rules (two retries of 5xx answers and dropped connections). The config
/// has no CA: the system roots are trusted (`SSL_CERT_FILE` /
/// `SSL_CERT_DIR` when set, as rustls-native-certs reads them).
const POLICY: Policy = Policy {
    ca: CaMode::AddToSystem,
    ..transport::APPLIANCE
};
/// The endpoint when the config names none.
pub const DEFAULT_ENDPOINT: &str = "https://secretmanager.googleapis.com";
/// Most secrets asked for per ListSecrets call (the API's maximum).
const LIST_PAGE: usize = 25_000;

/// How calls are authenticated.
enum Auth {
    /// An emulator (`http://` endpoint) without credentials: no token.
    None(Box<Http>),
    /// An access token, renewed by the shared session.
    Token(SessionClient<TokenSource>),
}

impl Auth {
    fn http(&self) -> &Http {
        match self {
            Auth::None(http) => http,
            Auth::Token(s) => s.http(),
        }
    }

    async fn send(&self, call: &Call<'_>) -> Result<Response, KeyStoreError> {
        match self {
            Auth::None(http) => http.send(call).await,
            Auth::Token(s) => s.send(call).await,
        }
    }
}

/// A Google Cloud project's Secret Manager as a [`KeyStore`]: one secret
/// per key, named like the key, the value in its version 1.
///
/// Dropping the store stops its token renewal.
pub struct GcpKeyStore {
    auth: Auth,
    project: String,
}

impl std::fmt::Debug for GcpKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("GcpKeyStore");
        d.field("endpoint", &self.auth.http().endpoint())
            .field("project", &self.project);
        if let Auth::Token(s) = &self.auth {
            d.field("tokens", s.creds());
        }
        d.finish_non_exhaustive()
    }
}

impl GcpKeyStore {
    /// Checks that the endpoint answers and obtains the first access token:
    /// from the configured service account, or, without `credentials`,
    /// from application default credentials read from the process
    /// environment (an `http://` endpoint without credentials is an
    /// emulator: no token). Errors name the problem: an endpoint that does
    /// not answer, a bad private key, key file or token URI, refused
    /// credentials, no metadata server.
    pub async fn connect(opts: GcpOptions) -> Result<Self, KeyStoreError> {
        let endpoint = opts.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let http = Http::new(BACKEND, endpoint, TlsFiles::default(), POLICY)?;
        let source = match &opts.credentials {
            Some(creds) => Some(TokenSource::configured(creds, &opts.scopes, POLICY)?),
            None if http.endpoint().starts_with("http://") => None,
            None => Some(TokenSource::application_default(
                &opts.scopes,
                POLICY,
                &|name| std::env::var(name).ok(),
            )?),
        };
        probe(&http).await.map_err(|e| {
            e.map_message(|m| format!("start-up check of the endpoint failed: {m}"))
        })?;
        let auth = match source {
            Some(source) => Auth::Token(SessionClient::connect(http, source).await?),
            None => Auth::None(Box::new(http)),
        };
        Ok(Self {
            auth,
            project: opts.project_id,
        })
    }

    /// Deletes secret `name`; `Ok(false)` if there is none.
    async fn delete_secret(&self, name: &str) -> Result<bool, KeyStoreError> {
        let path = client::secret_path(&self.project, name);
        let resp = self.auth.send(&Call::new(Method::DELETE, &path)).await?;
        match resp.status {
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(error::parse_error(op::DELETE, &resp)),
        }
    }

    /// DestroySecretVersion: wipes the value of version `version` of `name`.
    async fn destroy_version(&self, name: &str, version: u32) -> Result<(), KeyStoreError> {
        let path = client::destroy_path(&self.project, name, version);
        let call = Call::new(Method::POST, &path).json_body(b"{}".to_vec());
        let resp = self.auth.send(&call).await?;
        if resp.status == StatusCode::OK {
            Ok(())
        } else {
            Err(error::parse_error(op::DESTROY, &resp))
        }
    }
}

/// `GET /` on the endpoint without a token: any HTTP answer means reachable
/// (Go KES's status probe).
async fn probe(http: &Http) -> Result<(), KeyStoreError> {
    http.send(&Call::new(Method::GET, "/")).await.map(drop)
}

#[async_trait]
impl KeyStore for GcpKeyStore {
    fn description(&self) -> String {
        format!(
            "GCP SecretManager: {} (project {})",
            self.auth.http().endpoint(),
            self.project
        )
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let started = Instant::now();
        probe(self.auth.http()).await?;
        Ok(Status {
            latency: started.elapsed(),
        })
    }

    /// CreateSecret (automatic replication), then AddSecretVersion. The
    /// key is version 1, so of several creates of one name the one whose
    /// version is 1 wins; one that got another version (a racing create
    /// added version 1 first) destroys it and answers "already exists".
    /// A secret without version 1, left by a create interrupted between its
    /// two calls (by a crash, or by Go KES, which leaves it when the second
    /// call fails: the key then "exists" but cannot be read), is taken over
    /// by the next create instead of blocking the name. For the same reason
    /// a failed second call leaves the empty secret in place: deleting it
    /// could delete the key of a create that took it over meanwhile.
    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let path = client::create_path(&self.project, name.as_str());
        let call = Call::new(Method::POST, &path).json_body(client::create_body());
        let resp = self.auth.send(&call).await?;
        match resp.status {
            StatusCode::OK => {}
            StatusCode::CONFLICT => match self.get(name).await {
                // No version 1: take the secret over.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                // Version 1 exists, also when it cannot be read (disabled,
                // destroyed: a lasting refusal).
                Ok(_) => return Err(KeyStoreError::already_exists()),
                Err(e) if e.kind() == ErrorKind::Backend && !e.is_temporary() => {
                    return Err(KeyStoreError::already_exists());
                }
                Err(e) => return Err(e),
            },
            _ => return Err(error::parse_error(op::CREATE, &resp)),
        }
        let path = client::add_version_path(&self.project, name.as_str());
        let body = client::add_version_body(value);
        let call = Call::new(Method::POST, &path).json_body(body.to_vec());
        let resp = self.auth.send(&call).await?;
        if resp.status != StatusCode::OK {
            return Err(error::parse_error(op::ADD_VERSION, &resp));
        }
        let version = client::parse_version(&resp)?;
        if version == client::VERSION {
            return Ok(());
        }
        if let Err(e) = self.destroy_version(name.as_str(), version).await {
            tracing::warn!(
                "{BACKEND}: cannot destroy version {version} of {name}, which lost the create \
                 to version 1: {e}"
            );
        }
        Err(KeyStoreError::already_exists())
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let path = client::access_path(&self.project, name.as_str());
        let resp = self.auth.send(&Call::new(Method::GET, &path)).await?;
        match resp.status {
            StatusCode::OK => client::parse_access(&resp),
            StatusCode::NOT_FOUND => Err(KeyStoreError::not_found()),
            _ => Err(error::parse_error(op::ACCESS, &resp)),
        }
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        if self.delete_secret(name.as_str()).await? {
            Ok(())
        } else {
            Err(KeyStoreError::not_found())
        }
    }

    /// ListSecrets has no name order or prefix filter: every page is
    /// fetched, then sorted and cut.
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let mut names = Vec::new();
        let mut token = String::new();
        loop {
            let path = client::list_path(&self.project, LIST_PAGE, &token);
            let resp = self
                .auth
                .send(&Call::new(Method::GET, &path).listing())
                .await?;
            if resp.status != StatusCode::OK {
                return Err(error::parse_error(op::LIST, &resp));
            }
            let page = client::parse_list(&resp)?;
            names.extend(page.names.into_iter().filter(|n| n.starts_with(prefix)));
            match page.next_token {
                Some(next) if next == token => {
                    return Err(KeyStoreError::backend(
                        BACKEND,
                        format!("{} returned the pageToken it was given", op::LIST),
                    ));
                }
                Some(next) => token = next,
                None => break,
            }
        }
        Ok(paginate(names, prefix, start, limit))
    }
}
