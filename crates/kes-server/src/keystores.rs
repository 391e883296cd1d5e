//! Turns the `keystore:` section of the config file into a connected
//! [`KeyStore`]: the one place that maps each back-end's config block onto
//! that back-end's own options type in `kes-keystore`. Each remote back end
//! is a cargo feature of this crate (`vault`, `aws`, `entrust`, `gemalto`);
//! the config of one that is compiled out still decodes, and connecting to
//! it is a start-up error naming the feature.

use std::sync::Arc;

#[cfg(feature = "aws")]
use kes_keystore::aws::{AwsOptions, AwsSecretsManagerKeyStore};
#[cfg(feature = "entrust")]
use kes_keystore::entrust::{EntrustKeyStore, KeyControlOptions};
use kes_keystore::fs::FsKeyStore;
#[cfg(feature = "gemalto")]
use kes_keystore::gemalto::{KeySecureKeyStore, KeySecureOptions};
#[cfg(feature = "vault")]
use kes_keystore::vault::{self, VaultKeyStore};
use kes_keystore::{ErrorKind, KeyStore, KeyStoreError};
#[cfg(any(feature = "aws", feature = "entrust", feature = "gemalto"))]
use zeroize::Zeroizing;

#[cfg(any(feature = "aws", feature = "vault"))]
use crate::config;
use crate::config::KeyStoreConfig;

/// Connects to the configured key store (logging in where the back-end
/// needs it). Errors name the back-end and what went wrong.
pub async fn connect(config: &KeyStoreConfig) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
    let not_built = |name: &str| {
        Err(KeyStoreError::new(
            ErrorKind::InvalidConfig,
            format!("the {name} key store is not supported by this build"),
        ))
    };
    /// A back end this build left out (its cargo feature is off).
    #[cfg(not(all(
        feature = "vault",
        feature = "aws",
        feature = "entrust",
        feature = "gemalto"
    )))]
    fn compiled_out(name: &str, feature: &str) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
        Err(KeyStoreError::new(
            ErrorKind::InvalidConfig,
            format!(
                "the {name} key store is not compiled into this build \
                 (build kes with the cargo feature `{feature}`)"
            ),
        ))
    }
    match config {
        KeyStoreConfig::Fs { path } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || FsKeyStore::open(path))
                .await
                .map_err(|e| KeyStoreError::backend("fs", format!("open task failed: {e}")))??;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "vault")]
        KeyStoreConfig::Vault(c) => Ok(Arc::new(VaultKeyStore::connect(vault_options(c)).await?)),
        #[cfg(not(feature = "vault"))]
        KeyStoreConfig::Vault(_) => compiled_out("HashiCorp Vault", "vault"),
        #[cfg(feature = "aws")]
        KeyStoreConfig::Aws(c) => Ok(Arc::new(
            AwsSecretsManagerKeyStore::connect(&aws_options(c)).await?,
        )),
        #[cfg(not(feature = "aws"))]
        KeyStoreConfig::Aws(_) => compiled_out("AWS SecretsManager", "aws"),
        #[cfg(feature = "gemalto")]
        KeyStoreConfig::Gemalto(c) => Ok(Arc::new(
            KeySecureKeyStore::connect(KeySecureOptions {
                endpoint: c.endpoint.clone(),
                token: Zeroizing::new(c.token.expose().to_owned()),
                domain: c.domain.clone(),
                ca: c.ca.clone(),
            })
            .await?,
        )),
        #[cfg(not(feature = "gemalto"))]
        KeyStoreConfig::Gemalto(_) => compiled_out("Gemalto KeySecure", "gemalto"),
        #[cfg(feature = "entrust")]
        KeyStoreConfig::Entrust(c) => Ok(Arc::new(
            EntrustKeyStore::connect(KeyControlOptions {
                endpoint: c.endpoint.clone(),
                vault_id: c.vault_id.clone(),
                box_id: c.box_id.clone(),
                username: c.username.clone(),
                password: Zeroizing::new(c.password.expose().to_owned()),
                ca: c.ca.clone(),
            })
            .await?,
        )),
        #[cfg(not(feature = "entrust"))]
        KeyStoreConfig::Entrust(_) => compiled_out("Entrust KeyControl", "entrust"),
        KeyStoreConfig::Fortanix(_) => not_built("Fortanix SDKMS"),
        KeyStoreConfig::Gcp(_) => not_built("GCP SecretManager"),
        KeyStoreConfig::Azure(_) => not_built("Azure KeyVault"),
    }
}

#[cfg(feature = "aws")]
fn aws_options(c: &config::AwsSecretsManagerConfig) -> AwsOptions {
    let creds = c.credentials.as_ref();
    AwsOptions {
        endpoint: c.endpoint.clone(),
        region: c.region.clone(),
        kms_key: c.kms_key.clone().unwrap_or_default(),
        access_key: creds.map(|k| k.access_key.clone()).unwrap_or_default(),
        secret_key: Zeroizing::new(
            creds
                .map(|k| k.secret_key.expose().to_owned())
                .unwrap_or_default(),
        ),
        session_token: Zeroizing::new(
            creds
                .and_then(|k| k.session_token.as_ref())
                .map(|t| t.expose().to_owned())
                .unwrap_or_default(),
        ),
    }
}

#[cfg(feature = "vault")]
fn vault_options(c: &config::VaultConfig) -> vault::VaultOptions {
    let auth = match &c.auth {
        config::VaultAuth::AppRole(a) => vault::VaultAuth::AppRole(vault::AppRoleOptions {
            engine: a.engine.clone(),
            namespace: vault::LoginNamespace::parse(&a.namespace),
            id: Zeroizing::new(a.id.clone()),
            secret: Zeroizing::new(a.secret.expose().to_owned()),
        }),
        config::VaultAuth::Kubernetes(k) => {
            vault::VaultAuth::Kubernetes(vault::KubernetesOptions {
                engine: k.engine.clone(),
                namespace: vault::LoginNamespace::parse(&k.namespace),
                role: k.role.clone(),
                jwt: match &k.jwt {
                    config::VaultJwt::Inline(s) => {
                        vault::JwtSource::Value(Zeroizing::new(s.expose().to_owned()))
                    }
                    config::VaultJwt::File(p) => vault::JwtSource::File(p.clone()),
                },
            })
        }
    };
    let mut opts = vault::VaultOptions::new(c.endpoint.clone(), auth);
    opts.engine = c.engine.clone();
    opts.version = match c.version {
        config::VaultVersion::V1 => vault::KvVersion::V1,
        config::VaultVersion::V2 => vault::KvVersion::V2,
    };
    opts.namespace = c.namespace.clone();
    opts.prefix = c.prefix.clone();
    opts.transit = c.transit.as_ref().map(|t| vault::TransitOptions {
        engine: t.engine.clone(),
        key: t.key.clone(),
    });
    opts.tls = vault::VaultTlsOptions {
        key: c.tls.key.clone(),
        cert: c.tls.cert.clone(),
        ca: c.tls.ca.clone(),
    };
    opts.status_ping = c.ping;
    opts
}
