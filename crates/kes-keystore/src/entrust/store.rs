//! The Entrust KeyControl store type and its [`KeyStore`] impl: login, session
//! renewal and the five operations.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::header::HeaderName;
use http::{Method, StatusCode};
use kes_types::KeyName;
use zeroize::Zeroizing;

use super::client::{self, Op};
use super::config::KeyControlOptions;
use super::error::{self, BACKEND};
use crate::list::{effective_limit, paginate};
use crate::transport::{
    self, BodyLimit, CaMode, Call, Http, Login, Policy, Response, Scheme, Session, SessionClient,
    TlsFiles,
};
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The transport policy: Go KES's appliance rules, the CA added to the
/// system roots.
const POLICY: Policy = Policy {
    ca: CaMode::AddToSystem,
    ..transport::APPLIANCE
};
/// The session header and what the token and session are called.
const SCHEME: Scheme = Scheme {
    backend: BACKEND,
    header: AUTH_HEADER,
    token: "access token",
    session: "session",
};
/// The session header of every call after login.
const AUTH_HEADER: HeaderName = HeaderName::from_static("x-vault-auth");
/// Lifetime assumed when the appliance does not say (Go KES: 5 minutes).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Most secrets asked for per `ListSecretIds` call.
const LIST_PAGE: usize = 1000;

/// The vault user's credentials and how they log in and renew.
struct Creds {
    vault_id: String,
    username: String,
    password: Zeroizing<String>,
}

#[async_trait]
impl Login for Creds {
    const SCHEME: Scheme = SCHEME;

    async fn login(&self, http: &Http) -> Result<Session, KeyStoreError> {
        login(http, &self.vault_id, &self.username, &self.password).await
    }

    /// Renews the session, or logs in again if the renewal fails.
    async fn renew(&self, http: &Http, current: &Session) -> Result<Session, KeyStoreError> {
        match renew(http, current.token()).await {
            Ok(s) => Ok(s),
            Err(e) => {
                tracing::warn!("{BACKEND}: renewing the session failed, logging in again: {e}");
                self.login(http).await
            }
        }
    }
}

/// An Entrust KeyControl box as a [`KeyStore`].
///
/// Dropping the store stops its session renewal.
pub struct EntrustKeyStore {
    client: SessionClient<Creds>,
    box_id: String,
}

impl std::fmt::Debug for EntrustKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let creds = self.client.creds();
        f.debug_struct("EntrustKeyStore")
            .field("endpoint", &self.client.http().endpoint())
            .field("vault_id", &creds.vault_id)
            .field("box_id", &self.box_id)
            .field("username", &creds.username)
            .finish_non_exhaustive()
    }
}

impl EntrustKeyStore {
    /// Logs in to the vault, checks that the box exists and starts the
    /// session renewal. Errors name the problem: a missing field, an
    /// unreachable appliance or TLS failure, wrong credentials, an unknown
    /// vault or box.
    pub async fn connect(opts: KeyControlOptions) -> Result<Self, KeyStoreError> {
        let tls = TlsFiles {
            ca: opts.ca.as_deref(),
            client: None,
        };
        let http = Http::new(BACKEND, &opts.endpoint, tls, POLICY)?;
        let KeyControlOptions {
            vault_id,
            box_id,
            username,
            password,
            ..
        } = opts;
        let creds = Creds {
            vault_id,
            username,
            password,
        };
        let client = SessionClient::connect(http, creds).await?;
        let store = Self { client, box_id };
        store.get_box().await?;
        Ok(store)
    }

    /// `POST /vault/1.0/GetBox/`: the status probe and the start-up check of
    /// the box id.
    async fn get_box(&self) -> Result<(), KeyStoreError> {
        let body = client::box_body(&self.box_id)?;
        let resp = self.authed(Op::GetBox, body, BodyLimit::Ordinary).await?;
        if resp.status == StatusCode::OK {
            return Ok(());
        }
        Err(match resp.status {
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => KeyStoreError::invalid_config(
                BACKEND,
                format!(
                    "box_id {:?}: no such box in vault {} (HTTP {}: {})",
                    self.box_id,
                    self.client.creds().vault_id,
                    resp.status.as_u16(),
                    error::error_text(&resp)
                ),
            ),
            _ => error::parse_error(Op::GetBox, &resp),
        })
    }

    /// Sends `op` with `body` in the current session.
    async fn authed(
        &self,
        op: Op,
        body: Vec<u8>,
        limit: BodyLimit,
    ) -> Result<Response, KeyStoreError> {
        let mut call = Call::new(Method::POST, op.path()).raw_body(body);
        call.limit = limit;
        self.client.send(&call).await
    }
}

/// `POST /vault/1.0/Login/<vault_id>/` with username and password.
async fn login(
    http: &Http,
    vault_id: &str,
    username: &str,
    password: &str,
) -> Result<Session, KeyStoreError> {
    let path = format!("/vault/1.0/Login/{vault_id}/");
    let call = Call::new(Method::POST, &path).json_body(client::login_body(username, password)?);
    let resp = http.send(&call).await?;
    match resp.status {
        StatusCode::OK => session_from(&resp, Op::Login),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(KeyStoreError::unauthorized(
            BACKEND,
            format!(
                "login to vault {vault_id} as user {username:?} failed: wrong username or password (HTTP {}: {})",
                resp.status.as_u16(),
                error::error_text(&resp)
            ),
        )),
        StatusCode::NOT_FOUND => Err(KeyStoreError::invalid_config(
            BACKEND,
            format!(
                "vault_id {vault_id:?}: no such vault at {} (HTTP 404: {})",
                http.endpoint(),
                error::error_text(&resp)
            ),
        )),
        _ => Err(error::parse_error(Op::Login, &resp)),
    }
}

/// `POST /vault/1.0/Renew/` with the current token.
async fn renew(http: &Http, token: &str) -> Result<Session, KeyStoreError> {
    let call = Call::new(Method::POST, Op::Renew.path())
        .secret_header(AUTH_HEADER, token)
        .map_err(|m| KeyStoreError::backend(BACKEND, format!("access token: {m}")))?;
    let resp = http.send(&call).await?;
    if resp.status != StatusCode::OK {
        return Err(error::parse_error(Op::Renew, &resp));
    }
    session_from(&resp, Op::Renew)
}

/// The session of a login or renewal answer.
fn session_from(resp: &Response, op: Op) -> Result<Session, KeyStoreError> {
    let grant = client::parse_token(resp, op)?;
    let lifetime = match grant.expires_at {
        Some(at) => {
            let left = at - time::OffsetDateTime::now_utc();
            Duration::try_from(left)
                .ok()
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_LIFETIME)
        }
        None => DEFAULT_LIFETIME,
    };
    Ok(Session::new(grant.token, lifetime))
}

#[async_trait]
impl KeyStore for EntrustKeyStore {
    fn description(&self) -> String {
        format!(
            "Entrust KeyControl: {} (vault {}, box {})",
            self.client.http().endpoint(),
            self.client.creds().vault_id,
            self.box_id
        )
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let started = Instant::now();
        self.get_box().await?;
        Ok(Status {
            latency: started.elapsed(),
        })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let body = client::create_body(&self.box_id, name.as_str(), value)?;
        let resp = self.authed(Op::Create, body, BodyLimit::Ordinary).await?;
        match resp.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            StatusCode::CONFLICT => Err(KeyStoreError::already_exists()),
            _ => Err(error::parse_error(Op::Create, &resp)),
        }
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let body = client::secret_body(&self.box_id, name.as_str())?;
        let resp = self.authed(Op::Checkout, body, BodyLimit::Ordinary).await?;
        match resp.status {
            StatusCode::OK => client::parse_secret(&resp),
            _ if error::is_secret_not_found(&resp) => Err(KeyStoreError::not_found()),
            _ => Err(error::parse_error(Op::Checkout, &resp)),
        }
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let body = client::secret_body(&self.box_id, name.as_str())?;
        let resp = self.authed(Op::Delete, body, BodyLimit::Ordinary).await?;
        match resp.status {
            StatusCode::OK | StatusCode::NO_CONTENT => Ok(()),
            _ if error::is_secret_not_found(&resp) => Err(KeyStoreError::not_found()),
            _ => Err(error::parse_error(Op::Delete, &resp)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let limit = effective_limit(limit);
        // KeyControl lists in name order from `next_ctx` on: begin at the
        // later of prefix and start, stop after the prefix range ends.
        let begin = if start > prefix { start } else { prefix };
        let mut token = client::start_token(&self.box_id, begin)?;
        let mut names: Vec<String> = Vec::new();
        'pages: loop {
            let want = (limit + 1 - names.len()).min(LIST_PAGE);
            let body = client::list_body(&self.box_id, want, &token)?;
            let resp = self.authed(Op::List, body, BodyLimit::Listing).await?;
            if resp.status != StatusCode::OK {
                return Err(error::parse_error(Op::List, &resp));
            }
            let page = client::parse_list(&resp)?;
            for name in page.names {
                if name.as_str() < begin {
                    continue;
                }
                if !name.starts_with(prefix) {
                    // Past the end of the prefix range (names come sorted).
                    break 'pages;
                }
                names.push(name);
            }
            names.sort();
            names.dedup();
            if names.len() > limit {
                break;
            }
            match page.next_token {
                Some(next) if next != token => token = next,
                Some(_) => {
                    return Err(KeyStoreError::backend(
                        BACKEND,
                        "ListSecretIds returned the same next_token it was given",
                    ));
                }
                None => break,
            }
        }
        // Every name collected is in range; this sorts and cuts the page.
        Ok(paginate(names, prefix, start, limit))
    }
}
