//! TLS configuration of the client: the client certificate (from an API key
//! or from PEM files), the trusted server CAs (files, directories, the system
//! bundle, or none at all with `insecure`). ALPN (h2, http/1.1) is added by
//! the connector in `client.rs`.
//!
//! It must not weaken TLS beyond what the caller asked for: `insecure` skips
//! only the certificate chain and name checks, never the handshake signatures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kes_crypto::legacy_pem::{self, KeyFormat};
use kes_crypto::{ApiKey, CertificateOptions};
use kes_types::Identity;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// Well-known CA bundle locations, tried in order when no CA is configured.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// How the client proves its identity.
pub(crate) enum Credentials {
    /// A `kes:v1:` API key; the certificate is generated at build time.
    ApiKey(ApiKey),
    /// A PEM certificate (chain) file and a PEM private key file, with the
    /// password of a legacy-encrypted key.
    Files {
        cert: PathBuf,
        key: PathBuf,
        password: Option<Zeroizing<String>>,
    },
}

/// How the client checks the server.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServerTrust {
    /// CA files and directories; empty = system bundle.
    pub(crate) ca_paths: Vec<PathBuf>,
    /// Skip chain and name verification.
    pub(crate) insecure: bool,
}

/// The aws-lc-rs provider every rustls object of this crate uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the rustls client configuration; also returns the identity of the
/// client certificate (hex SHA-256 of its SPKI), when it can be computed.
pub(crate) fn client_config(
    creds: &Credentials,
    trust: &ServerTrust,
) -> Result<(ClientConfig, Option<Identity>), ConfigError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if trust.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerVerification { provider }))
    } else {
        builder.with_root_certificates(root_store(&trust.ca_paths)?)
    };
    let (chain, key) = client_identity(creds)?;
    let identity = chain.first().and_then(|c| Identity::of_certificate(c).ok());
    // ALPN (h2, http/1.1) is set by the hyper-rustls connector builder.
    Ok((builder.with_client_auth_cert(chain, key)?, identity))
}

fn client_identity(
    creds: &Credentials,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
    match creds {
        Credentials::ApiKey(key) => {
            let cert = key.certificate(&CertificateOptions::default())?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_pkcs8_der().to_vec()));
            Ok((vec![CertificateDer::from(cert.cert_der)], key))
        }
        Credentials::Files {
            cert,
            key,
            password,
        } => {
            let chain = read_certs(cert)?;
            if chain.is_empty() {
                return Err(ConfigError::Pem {
                    path: cert.clone(),
                    what: "no certificate found".into(),
                });
            }
            let pem = read(key)?;
            if legacy_pem::is_encrypted(&pem) {
                return Ok((chain, decrypt_key(key, &pem, password.as_deref())?));
            }
            let key = rustls_pemfile::private_key(&mut pem.as_slice())
                .map_err(|e| ConfigError::Pem {
                    path: key.clone(),
                    what: format!("malformed PEM: {e}"),
                })?
                .ok_or_else(|| ConfigError::Pem {
                    path: key.clone(),
                    what: "no PKCS#8, SEC1 or PKCS#1 private key found".into(),
                })?;
            Ok((chain, key))
        }
    }
}

/// Decrypts a legacy PEM-encrypted key file (`Proc-Type: 4,ENCRYPTED`).
fn decrypt_key(
    path: &Path,
    pem: &[u8],
    password: Option<&String>,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem_err = |what: String| ConfigError::Pem {
        path: path.to_owned(),
        what,
    };
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| pem_err("private key is encrypted: password required".into()))?;
    let mut key =
        legacy_pem::decrypt(pem, password.as_bytes()).map_err(|e| pem_err(e.to_string()))?;
    let der = std::mem::take(&mut *key.der);
    match key.format() {
        KeyFormat::Pkcs1 => Ok(PrivateKeyDer::Pkcs1(der.into())),
        KeyFormat::Sec1 => Ok(PrivateKeyDer::Sec1(der.into())),
        KeyFormat::Pkcs8 => Ok(PrivateKeyDer::Pkcs8(der.into())),
        KeyFormat::Other => Err(pem_err(format!(
            "unsupported private key type '{}'",
            key.label
        ))),
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(path)?;
    rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Pem {
            path: path.to_owned(),
            what: format!("malformed PEM: {e}"),
        })
}

/// Trusted roots from the given files/directories, or the system bundle.
fn root_store(paths: &[PathBuf]) -> Result<RootCertStore, ConfigError> {
    let mut store = RootCertStore::empty();
    if paths.is_empty() {
        for file in system_ca_files() {
            // A broken system bundle is not the caller's configuration error:
            // skip it and let the emptiness check below speak.
            if let Ok(certs) = read_certs(&file) {
                store.add_parsable_certificates(certs);
            }
            if !store.is_empty() {
                break;
            }
        }
        return if store.is_empty() {
            Err(ConfigError::NoRootCertificates)
        } else {
            Ok(store)
        };
    }
    for path in paths {
        let files = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ConfigError::ReadFile {
                path: path.clone(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        let before = store.len();
        for file in &files {
            let (_added, _ignored) = store.add_parsable_certificates(read_certs(file)?);
        }
        if store.len() == before {
            return Err(ConfigError::Pem {
                path: path.clone(),
                what: "no usable CA certificate found".into(),
            });
        }
    }
    Ok(store)
}

fn system_ca_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        files.push(PathBuf::from(f));
    }
    files.extend(SYSTEM_CA_FILES.iter().map(PathBuf::from));
    files
}

/// Accepts any server certificate but still verifies that the server holds
/// its private key (handshake signatures), like Go's `InsecureSkipVerify`.
/// Used for `insecure` clients (`kes -k`) and by the load tool.
#[derive(Debug)]
pub struct NoServerVerification {
    provider: Arc<CryptoProvider>,
}

impl NoServerVerification {
    /// A verifier that checks handshake signatures with `provider`'s
    /// algorithms and nothing else.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider }
    }
}

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
