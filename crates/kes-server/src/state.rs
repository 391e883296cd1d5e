//! The server and its immutable state snapshot.
//!
//! [`ServerState`] holds everything a request needs that a reload may
//! change: policies, routes, key cache (and thereby the key store), TLS
//! config. It is built completely (and `keys:` are pre-created) before it is
//! swapped in atomically, so a failed reload changes nothing and in-flight
//! requests finish on the snapshot they started with. [`Server`] adds what
//! lives as long as the process: the logger, the metrics, the start time,
//! the shutdown signal, and the policy changes made through the API
//! ([`RuntimeChanges`]), which every new snapshot gets applied.
//!
//! Every swap of the snapshot (reload, TLS re-read, a runtime policy
//! change) happens under one lock, so none of them can undo another.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arc_swap::ArcSwap;
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
use kes_types::KeyName;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::api::routes::{RouteOverride, RouteTable};
use crate::auth::{AdminError, AuthError, PolicySet, PolicySpec, RuntimeChanges};
use crate::cache::{CacheConfig, KeyCache};
use crate::level::Level;
use crate::log::Logger;
use crate::metrics::Metrics;
use crate::tls::{TlsError, TlsSettings};
use crate::versions::{Key, KeyLoader, KeyRotation};
use kes_crypto::{KeyVersion, new_key_cipher};

/// Everything needed to build a [`ServerState`]: the validated content of a
/// config file (or of `--dev`, or of a test), with the key store connected.
#[derive(Debug)]
pub struct Settings {
    /// The admin identity, or a placeholder such as `disabled`.
    pub admin: String,
    /// TLS certificate and client-auth mode (`optional_client_cert` is
    /// derived from the routes and need not be set).
    pub tls: TlsSettings,
    /// Policies by name.
    pub policies: BTreeMap<String, PolicySpec>,
    /// `api:` overrides by route path.
    pub api: BTreeMap<String, RouteOverride>,
    /// Key-cache timers.
    pub cache: CacheConfig,
    /// Error-log threshold.
    pub error_level: Level,
    /// Audit-log threshold.
    pub audit_level: Level,
    /// Keys to create at start-up and on reload.
    pub keys: Vec<KeyName>,
    /// Keys rotated on a schedule (docs/key-versions.md §7).
    pub rotations: Vec<KeyRotation>,
    /// The connected key store.
    pub store: Arc<dyn KeyStore>,
}

/// Errors building the server state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Invalid policies or admin.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Invalid TLS files or settings.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A `keys:` entry could not be created.
    #[error("failed to create key '{name}': {source}")]
    CreateKey {
        /// The key.
        name: String,
        /// The key-store error.
        source: KeyStoreError,
    },
    /// A new key could not be encoded.
    #[error("failed to create key '{name}': {cause}")]
    EncodeKey {
        /// The key.
        name: String,
        /// The encoder's message.
        cause: String,
    },
}

/// The immutable per-configuration state of a running server.
#[derive(Clone)]
pub struct ServerState {
    /// Admin and policies in effect: the config's with the runtime changes.
    pub policies: Arc<PolicySet>,
    /// Admin and policies of the config alone.
    pub config_policies: Arc<PolicySet>,
    /// Routes with `api:` overrides.
    pub routes: Arc<RouteTable>,
    /// Key cache in front of the key store.
    pub cache: Arc<KeyCache<Key>>,
    /// TLS configuration for new handshakes.
    pub tls: Arc<rustls::ServerConfig>,
    /// Key-store description for the banner.
    pub store_description: String,
    /// Log thresholds of this configuration.
    pub levels: (Level, Level),
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("policies", &self.policies)
            .field("store", &self.store_description)
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// Builds a state from `settings`, creating the `keys:` that do not exist.
    pub async fn build(settings: Settings) -> Result<Self, StateError> {
        let policies = PolicySet::new(&settings.admin, &settings.policies)?;
        let routes = RouteTable::new(settings.api.iter().map(|(k, v)| (k.as_str(), *v)));
        let mut tls = settings.tls;
        tls.optional_client_cert = routes.any_skip_auth();
        let tls = crate::tls::server_config(&tls)?;
        for name in &settings.keys {
            create_key(settings.store.as_ref(), name, policies.admin()).await?;
        }
        let store_description = settings.store.description();
        let cache = KeyCache::new(settings.store, settings.cache, KeyLoader);
        crate::versions::schedule_rotations(&cache, settings.rotations, policies.admin());
        let policies = Arc::new(policies);
        Ok(Self {
            config_policies: policies.clone(),
            policies,
            routes: Arc::new(routes),
            cache,
            tls,
            store_description,
            levels: (settings.error_level, settings.audit_level),
        })
    }
}

async fn create_key(store: &dyn KeyStore, name: &KeyName, admin: &str) -> Result<(), StateError> {
    let key = KeyVersion::generate(new_key_cipher(), Some(admin.to_owned()));
    let encoded = key.encode().map_err(|e| StateError::EncodeKey {
        name: name.to_string(),
        cause: e.to_string(),
    })?;
    match crate::versions::create(store, name, &encoded).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StateError::CreateKey {
            name: name.to_string(),
            source,
        }),
    }
}

/// A running server: the current state plus process-lifetime parts.
pub struct Server {
    state: ArcSwap<ServerState>,
    /// Policy changes made through the API; also the lock every swap of
    /// `state` holds.
    runtime: Mutex<RuntimeChanges>,
    logger: Arc<Logger>,
    metrics: Arc<Metrics>,
    started_at: OffsetDateTime,
    started_rfc3339: String,
    start: Instant,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("started_at", &self.started_rfc3339)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Builds the first state and the server around it, logging to
    /// stderr/stdout.
    pub async fn new(settings: Settings) -> Result<Arc<Self>, StateError> {
        let logger = Logger::new(settings.error_level, settings.audit_level);
        Self::with_logger(settings, logger).await
    }

    /// Like [`Server::new`] with a given logger (tests capture its output).
    pub async fn with_logger(
        settings: Settings,
        logger: Arc<Logger>,
    ) -> Result<Arc<Self>, StateError> {
        // Key-store events go to this server's error log from now on
        // (including those queued while its key store was connected).
        crate::log::bridge::attach(&logger);
        let state = ServerState::build(settings).await?;
        let started_at = OffsetDateTime::now_utc();
        Ok(Arc::new(Self {
            state: ArcSwap::from_pointee(state),
            runtime: Mutex::new(RuntimeChanges::default()),
            metrics: Arc::new(Metrics::with_log_counters(logger.log_counters().clone())),
            logger,
            started_rfc3339: rfc3339(started_at),
            started_at,
            start: Instant::now(),
            shutdown: watch::channel(false).0,
        }))
    }

    /// Builds a new state from `settings` and swaps it in; on error the
    /// current state stays. Open connections keep working and use the new
    /// state from their next request on. Runtime policy changes are kept
    /// and applied to the new config; what no longer fits is logged.
    pub async fn reload(&self, settings: Settings) -> Result<(), StateError> {
        let (error_level, audit_level) = (settings.error_level, settings.audit_level);
        let mut state = ServerState::build(settings).await?;
        let runtime = self.lock_runtime();
        state.policies = Arc::new(state.config_policies.with_changes(&runtime, |warning| {
            self.logger.error(Level::WARN, &warning, &[])
        }));
        self.logger.set_levels(error_level, audit_level);
        self.state.store(Arc::new(state));
        Ok(())
    }

    /// Replaces only the TLS configuration (certificate, key, CA, client
    /// auth mode); the 15-minute certificate re-read of spec §8.5.
    pub fn reload_tls(&self, mut tls: TlsSettings) -> Result<(), StateError> {
        let _runtime = self.lock_runtime();
        let current = self.state();
        tls.optional_client_cert = current.routes.any_skip_auth();
        let config = crate::tls::server_config(&tls)?;
        let mut next = (*current).clone();
        next.tls = config;
        self.state.store(Arc::new(next));
        Ok(())
    }

    /// Changes the policies at run time: `change` edits the runtime
    /// changes, given the policies in effect; if it succeeds, the new
    /// policies are in effect for every request that starts afterwards.
    pub fn administer<T>(
        &self,
        change: impl FnOnce(&mut RuntimeChanges, &PolicySet) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let mut runtime = self.lock_runtime();
        let current = self.state();
        let mut next_changes = runtime.clone();
        let value = change(&mut next_changes, &current.policies)?;
        let mut next = (*current).clone();
        next.policies = Arc::new(current.config_policies.with_changes(&next_changes, |_| ()));
        self.state.store(Arc::new(next));
        *runtime = next_changes;
        Ok(value)
    }

    fn lock_runtime(&self) -> MutexGuard<'_, RuntimeChanges> {
        // The guarded value is only replaced whole, after a change
        // succeeded, so a panic elsewhere cannot leave it half-changed.
        self.runtime.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state snapshot.
    pub fn state(&self) -> Arc<ServerState> {
        self.state.load_full()
    }

    /// The logger.
    pub fn logger(&self) -> &Arc<Logger> {
        &self.logger
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// When the server started.
    pub fn started_at(&self) -> OffsetDateTime {
        self.started_at
    }

    /// The start time as Go renders it in JSON (RFC 3339, nanoseconds).
    pub fn started_rfc3339(&self) -> &str {
        &self.started_rfc3339
    }

    /// Time since start.
    pub fn uptime(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Signals long-lived responses (log streams) and connections to end.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that changes to `true` when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Formats a time like Go's `time.Time` JSON encoding: RFC 3339 with
/// nanoseconds, trailing zeros trimmed.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_format() {
        let t = time::macros::datetime!(2024-01-12 10:39:20.886816 UTC);
        assert_eq!(rfc3339(t), "2024-01-12T10:39:20.886816Z");
        let t = time::macros::datetime!(2024-01-12 10:39:20 UTC);
        assert_eq!(rfc3339(t), "2024-01-12T10:39:20Z");
    }
}
