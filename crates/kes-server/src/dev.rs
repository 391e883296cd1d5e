//! `kes server --dev` (spec §10.3): an in-memory key store, a fresh
//! self-signed ECDSA P-256 certificate for `localhost` / `127.0.0.1` / `::1`
//! (serverAuth, 90 days), a fresh API key whose identity is the admin, the
//! default client-certificate mode, and cache timers 5 m / 30 s / off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kes_crypto::ApiKey;
use kes_keystore::mem::MemKeyStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::cache::CacheConfig;
use crate::level::Level;
use crate::run::ServerError;
use crate::state::Settings;
use crate::tls::{CertSource, ClientAuth, TlsSettings};

/// Dev settings and the banner lines that go with them.
pub struct Dev {
    /// The settings.
    pub settings: Settings,
    /// Extra banner lines (`API Key`).
    pub banner: Vec<(String, String)>,
    /// The admin API key (printed in the banner; kept for tests).
    pub api_key: ApiKey,
}

impl std::fmt::Debug for Dev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dev")
            .field("admin", &self.settings.admin)
            .finish_non_exhaustive()
    }
}

/// A fresh self-signed server certificate for local use.
pub fn self_signed_server_cert()
-> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), ServerError> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
    let err = |e: rcgen::Error| ServerError::DevCert(e.to_string());
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(90);
    let cert = params.self_signed(&key).map_err(err)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key))
}

/// Builds the dev-mode settings.
pub fn settings() -> Result<Dev, ServerError> {
    let api_key = ApiKey::generate().map_err(|e| ServerError::DevCert(e.to_string()))?;
    let admin = api_key.identity().to_string();
    let (cert, key) = self_signed_server_cert()?;
    let settings = Settings {
        admin: admin.clone(),
        tls: TlsSettings {
            source: CertSource::Memory {
                chain: vec![cert],
                key,
            },
            auth: ClientAuth::Off,
            optional_client_cert: false,
        },
        policies: BTreeMap::new(),
        api: BTreeMap::new(),
        cache: CacheConfig {
            any: Duration::from_secs(300),
            unused: Duration::from_secs(30),
            offline: Duration::ZERO,
        },
        error_level: Level::INFO,
        audit_level: Level::INFO,
        keys: Vec::new(),
        rotations: Vec::new(),
        store: Arc::new(MemKeyStore::new()),
    };
    let banner = vec![("API Key".to_owned(), api_key.encode().to_string())];
    Ok(Dev {
        settings,
        banner,
        api_key,
    })
}
