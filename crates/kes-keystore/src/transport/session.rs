//! The token session shared by the appliance key stores, Fortanix and GCP
//! (whose login is the service account's token request): one access token
//! held in an [`ArcSwap`], sent as a secret header on every call, renewed by
//! a background task at half its lifetime (failed renewals retried every
//! [`RENEW_RETRY`]) and replaced once, under a lock, when a call answers 401.
//!
//! How a token is obtained and renewed, the header it travels in and the
//! words used in errors are vendor-specific: each store implements
//! [`Login`] for its credentials and keeps nothing else of the session.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::StatusCode;
use http::header::HeaderName;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::{Call, Http, Response};
use crate::KeyStoreError;

/// Wait before retrying a failed renewal (Go KES: 5 s).
const RENEW_RETRY: Duration = Duration::from_secs(5);
/// Shortest wait before a renewal (guards against a busy loop).
const MIN_RENEW_WAIT: Duration = Duration::from_millis(100);

/// An access token and when to renew it.
pub(crate) struct Session {
    token: Zeroizing<String>,
    renew_at: Instant,
}

impl Session {
    /// A token valid for `lifetime` from now, renewed at half of it.
    pub fn new(token: Zeroizing<String>, lifetime: Duration) -> Self {
        Self {
            token,
            renew_at: Instant::now() + (lifetime / 2).max(MIN_RENEW_WAIT),
        }
    }

    /// `Bearer <access_token>`, valid for `lifetime` from now.
    pub fn bearer(access_token: &str, lifetime: Duration) -> Self {
        let mut token = Zeroizing::new(String::with_capacity(access_token.len() + 7));
        token.push_str("Bearer ");
        token.push_str(access_token);
        Self::new(token, lifetime)
    }

    /// The bearer session of an OAuth 2.0 token answer (RFC 6749 §5.1):
    /// a non-empty `access_token`, valid for `expires_in` seconds, or for
    /// `default` when that is absent or 0. `None` without a token (the
    /// caller names the call in its error).
    pub fn from_token_answer(answer: &serde_json::Value, default: Duration) -> Option<Self> {
        let token = answer
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())?;
        let lifetime = answer
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .filter(|s| *s > 0)
            .map_or(default, Duration::from_secs);
        Some(Self::bearer(token, lifetime))
    }

    /// The token, as sent in the [`Scheme::header`].
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// How a vendor's session travels and what it is called.
pub(crate) struct Scheme {
    /// The name of the backend in errors and logs.
    pub backend: &'static str,
    /// The header the token travels in.
    pub header: HeaderName,
    /// What the token is called in errors ("access token", "jwt").
    pub token: &'static str,
    /// What the session is called in renewal warnings ("session", "JWT").
    pub session: &'static str,
}

/// How one vendor obtains and renews its sessions.
#[async_trait]
pub(crate) trait Login: Send + Sync + 'static {
    /// The vendor's header and names.
    const SCHEME: Scheme;

    /// Obtains a fresh session from the credentials.
    async fn login(&self, http: &Http) -> Result<Session, KeyStoreError>;

    /// Replaces `current` before it expires; by default a fresh login.
    async fn renew(&self, http: &Http, current: &Session) -> Result<Session, KeyStoreError> {
        let _ = current;
        self.login(http).await
    }
}

/// The state shared by a [`SessionClient`] and its renewal task.
struct Shared<L> {
    http: Http,
    creds: L,
    session: ArcSwap<Session>,
    /// Serializes logins and renewals so that concurrent 401s log in once.
    login: Mutex<()>,
}

/// An HTTPS client that authenticates every call with a renewed session.
///
/// Dropping it stops the renewal.
pub(crate) struct SessionClient<L: Login> {
    shared: Arc<Shared<L>>,
    renewal: JoinHandle<()>,
}

impl<L: Login> Drop for SessionClient<L> {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

impl<L: Login> SessionClient<L> {
    /// Logs in with `creds` and starts the renewal.
    pub async fn connect(http: Http, creds: L) -> Result<Self, KeyStoreError> {
        let first = creds.login(&http).await?;
        let shared = Arc::new(Shared {
            http,
            creds,
            session: ArcSwap::from_pointee(first),
            login: Mutex::new(()),
        });
        let renewal = tokio::spawn(renew_loop(Arc::downgrade(&shared)));
        Ok(Self { shared, renewal })
    }

    /// The transport, for unauthenticated calls.
    pub fn http(&self) -> &Http {
        &self.shared.http
    }

    /// The credentials.
    pub fn creds(&self) -> &L {
        &self.shared.creds
    }

    /// Sends `call` with the session token; on 401 logs in again (once) and
    /// resends.
    pub async fn send(&self, call: &Call<'_>) -> Result<Response, KeyStoreError> {
        let session = self.shared.session.load_full();
        let resp = self.send_with(call, &session).await?;
        if resp.status != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        self.shared.relogin(&session).await?;
        let session = self.shared.session.load_full();
        self.send_with(call, &session).await
    }

    async fn send_with(
        &self,
        call: &Call<'_>,
        session: &Session,
    ) -> Result<Response, KeyStoreError> {
        let call = call
            .clone()
            .secret_header(L::SCHEME.header, session.token())
            .map_err(|m| {
                KeyStoreError::backend(L::SCHEME.backend, format!("{}: {m}", L::SCHEME.token))
            })?;
        self.shared.http.send(&call).await
    }
}

impl<L: Login> Shared<L> {
    /// Logs in again after a 401 unless another call already replaced the
    /// session `stale`.
    async fn relogin(&self, stale: &Arc<Session>) -> Result<(), KeyStoreError> {
        let _guard = self.login.lock().await;
        if !Arc::ptr_eq(&self.session.load_full(), stale) {
            return Ok(());
        }
        let fresh = self.creds.login(&self.http).await?;
        self.session.store(Arc::new(fresh));
        Ok(())
    }

    /// Renews the session.
    async fn renew(&self) -> Result<(), KeyStoreError> {
        let _guard = self.login.lock().await;
        let current = self.session.load_full();
        let fresh = self.creds.renew(&self.http, &current).await?;
        self.session.store(Arc::new(fresh));
        Ok(())
    }
}

/// Renews the session at half its lifetime until the client is dropped;
/// failures are retried every [`RENEW_RETRY`].
async fn renew_loop<L: Login>(shared: Weak<Shared<L>>) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let at = strong.session.load().renew_at;
        drop(strong);
        tokio::time::sleep_until(at.into()).await;
        let Some(strong) = shared.upgrade() else {
            return;
        };
        // A 401 re-login may have replaced the session meanwhile.
        if strong.session.load().renew_at > Instant::now() {
            continue;
        }
        if let Err(e) = strong.renew().await {
            tracing::warn!(
                "{}: cannot renew the {}, retrying in {RENEW_RETRY:?}: {e}",
                L::SCHEME.backend,
                L::SCHEME.session
            );
            drop(strong);
            tokio::time::sleep(RENEW_RETRY).await;
        }
    }
}
