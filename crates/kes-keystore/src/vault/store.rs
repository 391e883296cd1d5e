//! The Vault key store type and its [`KeyStore`] impl: storage layout,
//! create locks, health probe and token renewal tasks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{Method, StatusCode};
use kes_types::KeyName;
use serde::Serialize;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::auth::{self, Lease, Token};
use super::client;
use super::config::{self, KvVersion, TransitOptions, VaultAuth, VaultOptions};
use super::error::{BACKEND, VaultResponse};
use crate::list::paginate;
use crate::name_locks::NameLocks;
use crate::transport::{BodyLimit, CaMode, Http, Policy, Response, Retry, TlsFiles};
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The health endpoint with the query Vault clients use so that sealed,
/// uninitialised and standby nodes answer 2xx with a JSON body.
const HEALTH_PATH: &str = "/v1/sys/health?uninitcode=299&sealedcode=299&standbycode=299&drsecondarycode=299&performancestandbycode=299";
/// Vault's transport policy (the rules are in `crate::transport`). The
/// timeouts are the defaults of [`VaultOptions`], which may set others.
/// No retries in the transport: a call is sent once (the store logs in
/// again once after a 401/403 for a dead token).
const POLICY: Policy = Policy {
    connect_timeout: config::DEFAULT_CONNECT_TIMEOUT,
    request_timeout: config::DEFAULT_REQUEST_TIMEOUT,
    body_limit: 1 << 20,
    list_body_limit: 32 << 20,
    retry: Retry::NONE,
    max_in_flight: Some(64),
    pool_max_idle: 32,
    pool_idle_timeout: Duration::from_secs(60),
    ca: CaMode::ReplaceSystem,
};
/// Longest wait between two failed re-login attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Wait before a renewal when the token TTL is unknown (zero).
const NO_TTL_RECHECK: Duration = Duration::from_secs(60);

/// Health states, stored in an `AtomicU8`.
const HEALTH_UNKNOWN: u8 = 0;
const HEALTH_OK: u8 = 1;
const HEALTH_SEALED: u8 = 2;
const HEALTH_UNREACHABLE: u8 = 3;

/// Counters of the token lifecycle (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthStats {
    /// Successful logins, the one at start-up included.
    pub logins: u64,
    /// Successful `renew-self` calls.
    pub renewals: u64,
}

/// A [`KeyStore`] backed by a Vault or OpenBao K/V engine.
pub struct VaultKeyStore {
    inner: Arc<Inner>,
    _tasks: Tasks,
}

impl std::fmt::Debug for VaultKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyStore")
            .field("endpoint", &self.inner.opts.endpoint)
            .field("engine", &self.inner.opts.engine)
            .field("version", &self.inner.opts.version)
            .field("namespace", &self.inner.opts.namespace)
            .field("prefix", &self.inner.opts.prefix)
            .finish_non_exhaustive()
    }
}

/// Aborts the background tasks when the store is dropped.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The state shared between the store and its background tasks.
struct Inner {
    opts: VaultOptions,
    http: Http,
    token: ArcSwap<Token>,
    login_lock: tokio::sync::Mutex<()>,
    create_locks: NameLocks,
    health: AtomicU8,
    sealed: AtomicBool,
    logins: AtomicU64,
    renewals: AtomicU64,
}

impl VaultKeyStore {
    /// Logs in, checks that the K/V engine is mounted, and starts token
    /// renewal and the health probe. `opts` are taken as given (the config
    /// decoder validated them; see [`VaultOptions::new`] for code).
    ///
    /// Fails with `Unreachable` when Vault cannot be
    /// reached, `Unauthorized` when the login is refused and
    /// `InvalidConfig` for bad options or a missing mount.
    pub async fn connect(opts: VaultOptions) -> Result<Self, KeyStoreError> {
        let tls = TlsFiles {
            ca: opts.tls.ca.as_deref(),
            client: opts.tls.cert.as_deref().zip(opts.tls.key.as_deref()),
        };
        let policy = Policy {
            connect_timeout: opts.connect_timeout,
            request_timeout: opts.request_timeout,
            ..POLICY
        };
        let http = Http::new(BACKEND, &opts.endpoint, tls, policy)?;
        let lease = auth::login(&http, &opts).await?;
        let token = token_from(lease, 1)?;
        let inner = Arc::new(Inner {
            opts,
            http,
            token: ArcSwap::from_pointee(token),
            login_lock: tokio::sync::Mutex::new(()),
            create_locks: NameLocks::new(),
            health: AtomicU8::new(HEALTH_UNKNOWN),
            sealed: AtomicBool::new(false),
            logins: AtomicU64::new(1),
            renewals: AtomicU64::new(0),
        });
        inner.check_mount().await?;
        let renew = tokio::spawn(renew_loop(Arc::clone(&inner)));
        let health = tokio::spawn(health_loop(Arc::clone(&inner)));
        Ok(Self {
            inner,
            _tasks: Tasks(vec![renew, health]),
        })
    }

    /// How many logins and token renewals happened so far.
    pub fn auth_stats(&self) -> AuthStats {
        AuthStats {
            logins: self.inner.logins.load(Ordering::Relaxed),
            renewals: self.inner.renewals.load(Ordering::Relaxed),
        }
    }
}

/// Builds a token from a login lease.
fn token_from(lease: Lease, generation: u64) -> Result<Token, KeyStoreError> {
    let value = lease
        .token
        .ok_or_else(|| KeyStoreError::backend(BACKEND, "login response has no client token"))?;
    Ok(Token {
        value,
        ttl: lease.ttl,
        login_ttl: lease.ttl,
        renewable: lease.renewable,
        obtained: Instant::now(),
        generation,
    })
}

/// `{"<name>": "<value>"}`, serialized without an intermediate copy.
type Field<'a> = BTreeMap<&'a str, &'a str>;

/// The K/V v2 write body.
#[derive(Serialize)]
struct V2Write<'a> {
    options: Cas,
    data: Field<'a>,
}

/// K/V v2 write options: `cas: 0` = only if the secret does not exist.
#[derive(Serialize)]
struct Cas {
    cas: u64,
}

impl Inner {
    /// The namespace header of K/V and transit calls.
    fn namespace(&self) -> Option<&str> {
        Some(self.opts.namespace.as_str()).filter(|ns| !ns.is_empty())
    }

    /// The namespace header of login and token calls.
    fn login_namespace(&self) -> Option<&str> {
        match &self.opts.auth {
            VaultAuth::AppRole(a) => a.namespace.resolve(&self.opts.namespace),
            VaultAuth::Kubernetes(k) => k.namespace.resolve(&self.opts.namespace),
        }
    }

    /// `<engine>/<infix>/<prefix>/<name>` as a `/v1/...` path; `infix` is
    /// `data` or `metadata` for K/V v2.
    fn key_path(&self, infix: Option<&str>, name: &str) -> String {
        let mut p = format!("/v1/{}/", self.opts.engine);
        if let Some(i) = infix {
            p.push_str(i);
            p.push('/');
        }
        if !self.opts.prefix.is_empty() {
            p.push_str(&self.opts.prefix);
            p.push('/');
        }
        p.push_str(name);
        p
    }

    /// Path of a key's data (read, write).
    fn data_path(&self, name: &str) -> String {
        match self.opts.version {
            KvVersion::V1 => self.key_path(None, name),
            KvVersion::V2 => self.key_path(Some("data"), name),
        }
    }

    /// Path of the key directory's listing.
    fn list_path(&self) -> String {
        let mut p = match self.opts.version {
            KvVersion::V1 => self.key_path(None, ""),
            KvVersion::V2 => self.key_path(Some("metadata"), ""),
        };
        p.push_str("?list=true");
        p
    }

    /// Human-readable location of a key, for errors.
    fn location(&self, name: &str) -> String {
        if self.opts.prefix.is_empty() {
            format!("{}/{name}", self.opts.engine)
        } else {
            format!("{}/{}/{name}", self.opts.engine, self.opts.prefix)
        }
    }

    /// Sends an authenticated K/V or transit call. On 401/403 checks whether
    /// the token is still valid; if not, logs in again and retries once.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        limit: BodyLimit,
    ) -> Result<Response, KeyStoreError> {
        if self.sealed.load(Ordering::Relaxed) {
            return Err(KeyStoreError::unreachable(BACKEND, "key store is sealed"));
        }
        let token = self.token.load_full();
        let resp = self.send(&token, method.clone(), path, body, limit).await?;
        if !matches!(
            resp.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Ok(resp);
        }
        // A policy denial with a valid token is final; a dead token is not.
        if auth::token_is_valid(&self.http, &token.value, self.login_namespace()).await? {
            return Ok(resp);
        }
        tracing::info!(
            "vault: token rejected by {}, logging in again",
            self.http.endpoint()
        );
        self.relogin(token.generation).await?;
        let token = self.token.load_full();
        self.send(&token, method, path, body, limit).await
    }

    /// One HTTP call with the given token.
    async fn send(
        &self,
        token: &Token,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        limit: BodyLimit,
    ) -> Result<Response, KeyStoreError> {
        let mut call = client::call(method, path, Some(&token.value), self.namespace())?;
        if let Some(body) = body {
            call = call.json_body(body.to_vec());
        }
        call.limit = limit;
        self.http.send(&call).await
    }

    /// Logs in again unless another task already replaced token `seen`.
    async fn relogin(&self, seen: u64) -> Result<(), KeyStoreError> {
        let _guard = self.login_lock.lock().await;
        let current = self.token.load();
        if current.generation != seen {
            return Ok(());
        }
        let generation = current.generation.wrapping_add(1);
        drop(current);
        let lease = auth::login(&self.http, &self.opts).await?;
        self.token.store(Arc::new(token_from(lease, generation)?));
        self.logins.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Start-up check: the K/V engine must be mounted and of the configured
    /// version. Failures other than a definite mismatch are ignored (the
    /// token's policy may not allow these reads).
    async fn check_mount(&self) -> Result<(), KeyStoreError> {
        let resp = self
            .call(Method::GET, &self.list_path(), None, BodyLimit::Listing)
            .await?;
        if matches!(
            resp.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            // Vault cannot tell "not mounted" from "not allowed" here.
            tracing::warn!(
                "vault: the token may not list {}: {} (is the engine mounted and does the policy allow list?)",
                self.location("").trim_end_matches('/'),
                resp.error_messages()
            );
        }
        if resp.is_missing_mount() {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                format!(
                    "no secrets engine is mounted at {}/ on {} (engine {:?}): {}",
                    self.opts.engine,
                    self.http.endpoint(),
                    self.opts.engine,
                    resp.error_messages()
                ),
            ));
        }
        let path = format!("/v1/sys/internal/ui/mounts/{}", self.opts.engine);
        let Ok(resp) = self
            .call(Method::GET, &path, None, BodyLimit::Ordinary)
            .await
        else {
            return Ok(());
        };
        if !resp.status.is_success() {
            return Ok(());
        }
        let Ok(v) = resp.json(BACKEND, "mount lookup") else {
            return Ok(());
        };
        let data = &v["data"];
        let kind = data["type"].as_str().unwrap_or_default();
        if kind.is_empty() {
            return Ok(());
        }
        if kind != "kv" && kind != "generic" {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                format!(
                    "the engine mounted at {}/ is of type {kind:?}, not a K/V engine",
                    self.opts.engine
                ),
            ));
        }
        let mounted = match data["options"]["version"].as_str() {
            Some("2") => KvVersion::V2,
            _ => KvVersion::V1,
        };
        if mounted != self.opts.version {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                format!(
                    "the K/V engine at {}/ is version {}, but version {} is configured",
                    self.opts.engine,
                    version_name(mounted),
                    version_name(self.opts.version)
                ),
            ));
        }
        Ok(())
    }

    /// Calls the health endpoint (without token or namespace header) and
    /// records the outcome.
    async fn health(&self) -> Result<Duration, KeyStoreError> {
        let start = Instant::now();
        let (state, result) = self.probe_health().await;
        let latency = start.elapsed();
        self.sealed.store(state == HEALTH_SEALED, Ordering::Relaxed);
        let old = self.health.swap(state, Ordering::Relaxed);
        if old != state {
            match &result {
                Ok(()) if old == HEALTH_UNKNOWN => {}
                Ok(()) => tracing::info!("vault: {} is reachable again", self.http.endpoint()),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        result.map(|()| latency)
    }

    /// One health request, mapped per keystores.md §3.4: the new health
    /// state and the outcome.
    async fn probe_health(&self) -> (u8, Result<(), KeyStoreError>) {
        let unreachable = |m: &str| {
            Err(KeyStoreError::unreachable(
                BACKEND,
                format!("{}: {m}", self.http.endpoint()),
            ))
        };
        let sent = match client::call(Method::GET, HEALTH_PATH, None, None) {
            Ok(call) => self.http.send(&call).await,
            Err(e) => Err(e),
        };
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return (HEALTH_UNREACHABLE, Err(e)),
        };
        if !resp.status.is_success() {
            let msg = resp.error_messages();
            let sep = if msg.is_empty() { "" } else { ": " };
            let status = resp.status.as_u16();
            return (
                HEALTH_UNREACHABLE,
                unreachable(&format!("health check answered HTTP {status}{sep}{msg}")),
            );
        }
        let v = match resp.json(BACKEND, "health check") {
            Ok(v) => v,
            Err(e) => return (HEALTH_UNREACHABLE, Err(e)),
        };
        if v["initialized"].as_bool() == Some(false) {
            return (HEALTH_SEALED, unreachable("vault is not initialized"));
        }
        if v["sealed"].as_bool() == Some(true) {
            return (HEALTH_SEALED, unreachable("vault is sealed"));
        }
        (HEALTH_OK, Ok(()))
    }

    /// Encrypts the stored-key value with the transit key.
    async fn transit_encrypt(
        &self,
        t: &TransitOptions,
        value: &[u8],
    ) -> Result<Zeroizing<String>, KeyStoreError> {
        let what = format!("transit encrypt with {}/keys/{}", t.engine, t.key);
        let plaintext = Zeroizing::new(BASE64.encode(value));
        let body = Zeroizing::new(
            serde_json::to_vec(&Field::from([("plaintext", plaintext.as_str())]))
                .map_err(|e| KeyStoreError::backend(BACKEND, format!("{what}: {e}")))?,
        );
        let path = format!("/v1/{}/encrypt/{}", t.engine, t.key);
        let resp = self
            .call(Method::POST, &path, Some(&body), BodyLimit::Ordinary)
            .await?;
        if !resp.status.is_success() {
            return Err(resp.parse_error(&what));
        }
        let v = resp.json(BACKEND, &what)?;
        let ct = v["data"]["ciphertext"].as_str().unwrap_or_default();
        if !is_transit_ciphertext(ct) {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!("{what}: response has no vault:vN: ciphertext"),
            ));
        }
        Ok(Zeroizing::new(ct.to_owned()))
    }

    /// Decrypts a `vault:vN:` value with the transit key.
    async fn transit_decrypt(
        &self,
        name: &str,
        ciphertext: &str,
    ) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let Some(t) = &self.opts.transit else {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!(
                    "key {} is transit-encrypted but no transit key is configured",
                    self.location(name)
                ),
            ));
        };
        let what = format!("transit decrypt with {}/keys/{}", t.engine, t.key);
        let body = serde_json::to_vec(&Field::from([("ciphertext", ciphertext)]))
            .map_err(|e| KeyStoreError::backend(BACKEND, format!("{what}: {e}")))?;
        let path = format!("/v1/{}/decrypt/{}", t.engine, t.key);
        let resp = self
            .call(Method::POST, &path, Some(&body), BodyLimit::Ordinary)
            .await?;
        if !resp.status.is_success() {
            return Err(resp.parse_error(&what));
        }
        let v = resp.json(BACKEND, &what)?;
        let Some(pt) = v["data"]["plaintext"].as_str() else {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!("{what}: response has no data.plaintext"),
            ));
        };
        BASE64.decode(pt).map(Zeroizing::new).map_err(|_| {
            KeyStoreError::backend(BACKEND, format!("{what}: data.plaintext is not base64"))
        })
    }

    /// Reads the field `name` of the secret; `Ok(None)` when there is none.
    async fn read_field(
        &self,
        name: &str,
        path: &str,
    ) -> Result<Option<Zeroizing<String>>, KeyStoreError> {
        let what = format!("read key {}", self.location(name));
        let resp = self
            .call(Method::GET, path, None, BodyLimit::Ordinary)
            .await?;
        if resp.status == StatusCode::NOT_FOUND && !resp.is_missing_mount() {
            return Ok(None);
        }
        if resp.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !resp.status.is_success() {
            return Err(resp.parse_error(&what));
        }
        let v = resp.json(BACKEND, &what)?;
        let data = match self.opts.version {
            KvVersion::V1 => &v["data"],
            KvVersion::V2 => &v["data"]["data"],
        };
        if data.is_null() {
            // A soft-deleted K/V v2 version: no value to return.
            return Ok(None);
        }
        match data.get(name) {
            Some(serde_json::Value::String(s)) => Ok(Some(Zeroizing::new(s.clone()))),
            Some(_) => Err(KeyStoreError::backend(
                BACKEND,
                format!("{what}: field {name:?} is not a string"),
            )),
            None => Err(KeyStoreError::backend(
                BACKEND,
                format!("{what}: secret has no field {name:?}"),
            )),
        }
    }
}

/// Marks a field value that holds base64 of arbitrary bytes.
///
/// KES values are ASCII text (base64, or legacy JSON) and are stored as they
/// are, exactly like Go KES does. Values that a JSON string cannot carry
/// (invalid UTF-8), or that would be mistaken for a transit ciphertext or
/// for this encoding, are stored as this marker followed by their base64.
/// Go KES never writes such values, so nothing it wrote is misread.
const BINARY_MARKER: &str = "kes:base64:";

/// The field value for `value` when no transit key is configured.
fn encode_plain(value: &[u8]) -> Zeroizing<String> {
    match std::str::from_utf8(value) {
        Ok(s) if !s.starts_with(BINARY_MARKER) && !is_transit_ciphertext(s) => {
            Zeroizing::new(s.to_owned())
        }
        _ => {
            let mut out = Zeroizing::new(String::from(BINARY_MARKER));
            BASE64.encode_string(value, &mut out);
            out
        }
    }
}

/// The value bytes of a field value that is not a transit ciphertext.
fn decode_plain(stored: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    match stored.strip_prefix(BINARY_MARKER) {
        Some(b64) => BASE64
            .decode(b64)
            .map(Zeroizing::new)
            .map_err(|_| "value has the binary marker but is not base64"),
        None => Ok(Zeroizing::new(stored.as_bytes().to_vec())),
    }
}

/// `v1` / `v2`.
fn version_name(v: KvVersion) -> &'static str {
    match v {
        KvVersion::V1 => "v1",
        KvVersion::V2 => "v2",
    }
}

/// Whether `s` looks like `vault:v<digits>:<rest>`.
fn is_transit_ciphertext(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("vault:v") else {
        return false;
    };
    match rest.split_once(':') {
        Some((n, ct)) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !ct.is_empty(),
        None => false,
    }
}

/// Renews the token at about half its TTL; logs in again when renewal fails,
/// the token is not renewable, or it is about to reach its max TTL.
async fn renew_loop(inner: Arc<Inner>) {
    let mut failures: u32 = 0;
    loop {
        let token = inner.token.load_full();
        if failures > 0 {
            let wait = Duration::from_secs(1u64 << failures.min(5)).min(MAX_BACKOFF);
            tokio::time::sleep(wait).await;
        } else if token.ttl.is_zero() {
            // A non-expiring token: nothing to renew, but a re-login may
            // replace it with one that expires.
            tokio::time::sleep(NO_TTL_RECHECK).await;
            continue;
        } else {
            let due = token.obtained + token.ttl / 2;
            tokio::time::sleep_until(due.into()).await;
        }
        let current = inner.token.load_full();
        if failures == 0 && current.generation != token.generation {
            continue; // replaced by a re-login meanwhile
        }
        let renewed = if current.renewable && failures == 0 {
            match auth::renew_self(&inner.http, &current.value, inner.login_namespace()).await {
                // A renewal that no longer restores half the login TTL means
                // the max TTL is near: log in instead.
                Ok(lease) if lease.ttl >= current.login_ttl / 2 && !lease.ttl.is_zero() => {
                    Some(lease)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::debug!("vault: token renewal failed: {e}");
                    None
                }
            }
        } else {
            None
        };
        if let Some(lease) = renewed {
            inner.token.store(Arc::new(Token {
                value: current.value.clone(),
                ttl: lease.ttl,
                login_ttl: current.login_ttl,
                renewable: lease.renewable,
                obtained: Instant::now(),
                generation: current.generation,
            }));
            inner.renewals.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match inner.relogin(current.generation).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!("vault: login succeeded again");
                }
                failures = 0;
            }
            Err(e) => {
                if failures == 0 {
                    tracing::warn!("vault: token renewal and re-login failed: {e}");
                }
                failures = failures.saturating_add(1);
            }
        }
    }
}

/// Probes the health endpoint every `status.ping`.
async fn health_loop(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(inner.opts.status_ping);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = inner.health().await;
    }
}

#[async_trait]
impl KeyStore for VaultKeyStore {
    fn description(&self) -> String {
        format!("Hashicorp Vault: {}", self.inner.opts.endpoint)
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let latency = self.inner.health().await?;
        Ok(Status { latency })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let inner = &*self.inner;
        let name = name.as_str();
        let what = format!("create key {}", inner.location(name));
        let _guard = inner.create_locks.lock(name).await;
        let path = inner.data_path(name);
        if inner.read_field(name, &path).await?.is_some() {
            return Err(KeyStoreError::already_exists());
        }
        let stored = match &inner.opts.transit {
            Some(t) => inner.transit_encrypt(t, value).await?,
            None => encode_plain(value),
        };
        let stored = stored.as_str();
        let field = Field::from([(name, stored)]);
        let body = match inner.opts.version {
            KvVersion::V1 => serde_json::to_vec(&field),
            KvVersion::V2 => serde_json::to_vec(&V2Write {
                options: Cas { cas: 0 },
                data: field,
            }),
        };
        let body = Zeroizing::new(
            body.map_err(|e| KeyStoreError::backend(BACKEND, format!("{what}: {e}")))?,
        );
        let resp = inner
            .call(Method::PUT, &path, Some(&body), BodyLimit::Ordinary)
            .await?;
        if resp.status.is_success() {
            return Ok(());
        }
        if resp.status == StatusCode::BAD_REQUEST && resp.error_messages().contains("check-and-set")
        {
            return Err(KeyStoreError::already_exists());
        }
        Err(resp.parse_error(&what))
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let inner = &*self.inner;
        let name = name.as_str();
        let path = match inner.opts.version {
            KvVersion::V1 => inner.data_path(name),
            KvVersion::V2 => format!("{}?version=1", inner.data_path(name)),
        };
        let Some(stored) = inner.read_field(name, &path).await? else {
            return Err(KeyStoreError::not_found());
        };
        if is_transit_ciphertext(&stored) {
            return inner.transit_decrypt(name, &stored).await;
        }
        decode_plain(&stored).map_err(|m| {
            KeyStoreError::backend(BACKEND, format!("read key {}: {m}", inner.location(name)))
        })
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let inner = &*self.inner;
        let name = name.as_str();
        let path = match inner.opts.version {
            KvVersion::V1 => inner.key_path(None, name),
            KvVersion::V2 => inner.key_path(Some("metadata"), name),
        };
        let resp = inner
            .call(Method::DELETE, &path, None, BodyLimit::Ordinary)
            .await?;
        if resp.status.is_success() || resp.is_plain_not_found() {
            return Ok(());
        }
        Err(resp.parse_error(&format!("delete key {}", inner.location(name))))
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let inner = &*self.inner;
        let what = format!("list keys in {}/", inner.location("").trim_end_matches('/'));
        let resp = inner
            .call(Method::GET, &inner.list_path(), None, BodyLimit::Listing)
            .await?;
        if resp.status == StatusCode::NOT_FOUND && !resp.is_missing_mount() {
            return Ok(ListPage::default()); // Vault's answer for an empty directory
        }
        if !resp.status.is_success() {
            return Err(resp.parse_error(&what));
        }
        let v = resp.json(BACKEND, &what)?;
        let keys = match v["data"]["keys"].as_array() {
            Some(keys) => keys,
            None if v["data"]["keys"].is_null() => return Ok(ListPage::default()),
            None => {
                return Err(KeyStoreError::backend(
                    BACKEND,
                    format!("{what}: data.keys is not a list"),
                ));
            }
        };
        let names = keys
            .iter()
            .filter_map(|k| k.as_str())
            .filter(|k| !k.ends_with('/') && k.starts_with(prefix) && *k >= start)
            .map(str::to_owned);
        Ok(paginate(names, prefix, start, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transit_ciphertexts_are_recognised() {
        assert!(is_transit_ciphertext("vault:v1:abc"));
        assert!(is_transit_ciphertext("vault:v12:abc"));
        assert!(!is_transit_ciphertext("vault:v:abc"));
        assert!(!is_transit_ciphertext("vault:vx:abc"));
        assert!(!is_transit_ciphertext("vault:v1:"));
        assert!(!is_transit_ciphertext("CiQKIAABAgMEBQYHCAkKCwwN"));
    }

    #[test]
    fn plain_values_round_trip_and_kes_text_is_stored_verbatim() {
        let kes = b"CiQKIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fEAESJAog";
        assert_eq!(encode_plain(kes).as_bytes(), kes);
        let legacy = br#"{"bytes":"AAAA","algorithm":"AES256"}"#;
        assert_eq!(encode_plain(legacy).as_bytes(), legacy);
        let cases: [&[u8]; 5] = [
            &[0xff, 0xfe, 0x00, 0xc3, 0x28],
            b"vault:v1:looks-like-transit",
            b"kes:base64:looks-like-the-marker",
            &[0],
            b"",
        ];
        for v in cases {
            let stored = encode_plain(v);
            assert_eq!(decode_plain(&stored).unwrap().as_slice(), v);
            assert!(!is_transit_ciphertext(&stored));
        }
        assert!(decode_plain("kes:base64:!!").is_err());
    }

    #[test]
    fn write_bodies_match_go_kes() {
        let field = Field::from([("my-key", "VALUE")]);
        assert_eq!(
            serde_json::to_string(&field).unwrap(),
            r#"{"my-key":"VALUE"}"#
        );
        let v2 = V2Write {
            options: Cas { cas: 0 },
            data: field,
        };
        assert_eq!(
            serde_json::to_string(&v2).unwrap(),
            r#"{"options":{"cas":0},"data":{"my-key":"VALUE"}}"#
        );
    }
}
