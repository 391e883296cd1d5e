//! From a config file to [`Settings`]: loads and validates the file
//! (`crate::config`), connects the key store, and maps the config's types
//! onto the server's. Used at start-up and on every SIGHUP.

use std::path::Path;

use zeroize::Zeroizing;

use crate::api::routes::RouteOverride;
use crate::auth::PolicySpec;
use crate::config::{ConfigError, ServerConfig, TlsAuth};
use crate::run::{Loaded, ServerError};
use crate::state::Settings;
use crate::tls::{CertSource, ClientAuth, TlsSettings};

/// Loads `path` into settings. `auth_flag` is the deprecated `--auth`
/// flag: `on` upgrades a config that leaves `tls.auth` at its default (`off`)
/// to verification, as pre-2024 servers did.
pub async fn load(path: &Path, auth_flag: Option<bool>) -> Result<Loaded, ServerError> {
    let config = load_checked(path).await?;
    from_config(config, auth_flag).await
}

/// Reads and validates the file, then its TLS files.
async fn load_checked(path: &Path) -> Result<ServerConfig, ServerError> {
    let path = path.to_owned();
    let config = tokio::task::spawn_blocking(move || {
        let config = crate::config::load(&path)?;
        check_tls_files(&config)?;
        Ok::<_, ConfigError>(config)
    })
    .await??;
    Ok(config)
}

/// Reads the TLS files the config names: certificate, private key and
/// `tls.ca` — the CA in every client-auth mode, as Go KES does, so a typo
/// does not wait to surface until someone turns verification on. A
/// problem is a config error naming the file, line and field, like every
/// other; the files are read again when the TLS config is built.
fn check_tls_files(config: &ServerConfig) -> Result<(), ConfigError> {
    use crate::tls::server_config::{load_ca, read_cert_chain, read_private_key};
    let tls = &config.tls;
    let invalid = |line, field, e: crate::tls::TlsError| config.invalid(line, field, e.to_string());
    read_cert_chain(&tls.cert).map_err(|e| invalid(tls.lines.cert, "tls.cert", e))?;
    let password = tls.password.as_ref().map(|p| p.expose());
    read_private_key(&tls.key, password).map_err(|e| invalid(tls.lines.key, "tls.key", e))?;
    if let Some(ca) = &tls.ca {
        load_ca(ca).map_err(|e| invalid(tls.lines.ca, "tls.ca", e))?;
    }
    Ok(())
}

/// Loads `path` and connects only its key store (`kes migrate`). The rest
/// of the file must be valid too, as for `kes server`; the config's
/// warnings are returned for the caller to print.
pub async fn load_keystore(
    path: &Path,
) -> Result<(std::sync::Arc<dyn kes_keystore::KeyStore>, Vec<String>), ServerError> {
    let path = path.to_owned();
    let config = tokio::task::spawn_blocking(move || crate::config::load(&path)).await??;
    let store = connect(&config).await?;
    Ok((store, config.warnings))
}

/// Connects the config's key store and, when `hsm:` is configured, wraps
/// it in the HSM seal (which fails if the seal key is missing and not to be
/// created).
async fn connect(
    config: &ServerConfig,
) -> Result<std::sync::Arc<dyn kes_keystore::KeyStore>, ServerError> {
    let store = config
        .keystore
        .connect()
        .await
        .map_err(ServerError::KeyStore)?;
    match &config.hsm {
        Some(hsm) => hsm.seal(store).await.map_err(ServerError::KeyStore),
        None => Ok(store),
    }
}

/// Loads only the TLS settings of `path` (the periodic certificate re-read
/// does not reconnect the key store).
pub async fn load_tls(path: &Path, auth_flag: Option<bool>) -> Result<TlsSettings, ServerError> {
    let config = load_checked(path).await?;
    Ok(tls_settings(&config, auth_flag))
}

fn tls_settings(config: &ServerConfig, auth_flag: Option<bool>) -> TlsSettings {
    let auth = match (config.tls.auth, auth_flag) {
        (TlsAuth::On, _) | (TlsAuth::Off, Some(true)) => ClientAuth::On {
            ca: config.tls.ca.clone(),
        },
        (TlsAuth::Off, _) => ClientAuth::Off,
    };
    TlsSettings {
        source: CertSource::Files {
            cert: config.tls.cert.clone(),
            key: config.tls.key.clone(),
            password: config
                .tls
                .password
                .as_ref()
                .filter(|p| !p.is_empty())
                .map(|p| Zeroizing::new(p.expose().to_owned())),
        },
        auth,
        optional_client_cert: false,
    }
}

/// Maps a validated config onto settings, connecting the key store (which
/// logs in where the back-end needs it).
pub async fn from_config(
    config: ServerConfig,
    auth_flag: Option<bool>,
) -> Result<Loaded, ServerError> {
    let store = connect(&config).await?;
    let tls = tls_settings(&config, auth_flag);
    let settings = Settings {
        admin: config.admin,
        tls,
        policies: config
            .policies
            .into_iter()
            .map(|(name, p)| {
                (
                    name,
                    PolicySpec {
                        allow: p.allow,
                        deny: p.deny,
                        identities: p.identities,
                    },
                )
            })
            .collect(),
        api: config
            .api
            .into_iter()
            .map(|(path, a)| {
                (
                    path,
                    RouteOverride {
                        skip_auth: a.skip_auth,
                        timeout: a.timeout,
                    },
                )
            })
            .collect(),
        cache: crate::cache::CacheConfig {
            any: config.cache.any,
            unused: config.cache.unused,
            offline: config.cache.offline,
        },
        error_level: config.log.error,
        audit_level: config.log.audit,
        keys: config.keys,
        rotations: config.rotations,
        store,
    };
    Ok(Loaded {
        settings,
        address: config.address,
        warnings: config.warnings,
    })
}
