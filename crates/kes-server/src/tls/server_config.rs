//! Building the rustls server configuration: certificate and key from PEM
//! files (spec §9.3 file rules) or from memory (dev mode), the SAN
//! requirement (§1.1), TLS 1.2+, ALPN `h2` + `http/1.1`, and the client
//! certificate verifier chosen from the client-auth mode (§4.3).
//!
//! Nothing here logs or returns key material: errors name files and what was
//! wrong with them, never their content.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kes_crypto::legacy_pem::{self, KeyFormat, LegacyPemError};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use super::verifier::AnyClientCert;

/// Where the server certificate and private key come from.
pub enum CertSource {
    /// PEM files (`tls.cert`, `tls.key`, optional `tls.password`).
    Files {
        /// Certificate chain file: one or more `CERTIFICATE` blocks, nothing else.
        cert: PathBuf,
        /// Private key file: the first `*PRIVATE KEY` block is used.
        key: PathBuf,
        /// Password of a legacy-encrypted PEM key.
        password: Option<Zeroizing<String>>,
    },
    /// An in-memory certificate (dev mode, tests).
    Memory {
        /// DER certificate chain, leaf first.
        chain: Vec<CertificateDer<'static>>,
        /// DER private key.
        key: PrivateKeyDer<'static>,
    },
}

impl std::fmt::Debug for CertSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files {
                cert,
                key,
                password,
            } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
            Self::Memory { chain, .. } => f
                .debug_struct("Memory")
                .field("chain_len", &chain.len())
                .field("key", &"<redacted>")
                .finish(),
        }
    }
}

impl Clone for CertSource {
    fn clone(&self) -> Self {
        match self {
            Self::Files {
                cert,
                key,
                password,
            } => Self::Files {
                cert: cert.clone(),
                key: key.clone(),
                password: password.clone(),
            },
            Self::Memory { chain, key } => Self::Memory {
                chain: chain.clone(),
                key: key.clone_key(),
            },
        }
    }
}

/// Client-certificate verification (`tls.auth`, spec §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `off` (default): any client certificate is accepted without chain,
    /// expiry or usage checks; the handshake signature is still verified.
    Off,
    /// `on`: the chain must verify against `ca` (a file or a directory of
    /// PEM certificates) or the system roots when `ca` is `None`.
    On {
        /// CA file or directory.
        ca: Option<PathBuf>,
    },
}

/// Everything needed to build the TLS server config.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Certificate and key.
    pub source: CertSource,
    /// Client-certificate mode.
    pub auth: ClientAuth,
    /// True when some route has `skip_auth`: a client certificate is then
    /// requested but not required (and verified only if given, mode `on`).
    pub optional_client_cert: bool,
}

/// Errors building the TLS configuration. Texts name the file and the
/// problem; the spec's messages (§9.3) appear verbatim.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("failed to read '{path}': {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A PEM file is malformed.
    #[error("invalid PEM in '{path}': {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("invalid tls config: no certificate in '{0}'")]
    NoCertificate(PathBuf),
    /// The certificate file holds something other than certificates.
    #[error(
        "invalid certificate file '{path}': found a {kind} block, only CERTIFICATE blocks are allowed"
    )]
    NotOnlyCertificates {
        /// The file.
        path: PathBuf,
        /// The kind of block found.
        kind: &'static str,
    },
    /// The key file holds no private key.
    #[error("invalid tls config: no private key in '{0}'")]
    NoPrivateKey(PathBuf),
    /// A legacy-encrypted key and no password.
    #[error("https: private key is encrypted: password required")]
    PasswordRequired,
    /// A legacy-encrypted key (`Proc-Type: 4,ENCRYPTED`) that cannot be
    /// decrypted: wrong password, unknown cipher, malformed headers.
    #[error("invalid private key '{path}': {source}")]
    LegacyPem {
        /// The key file.
        path: PathBuf,
        /// What was wrong (never the password).
        source: LegacyPemError,
    },
    /// A PKCS#8 `ENCRYPTED PRIVATE KEY`.
    #[error("private key in '{0}' is an encrypted PKCS#8 key, which is not supported")]
    Pkcs8EncryptionUnsupported(PathBuf),
    /// The leaf certificate does not parse.
    #[error("invalid TLS certificate: {0}")]
    BadCertificate(String),
    /// The leaf certificate has no DNS/IP SAN.
    #[error("invalid TLS certificate: certificate does not contain any DNS or IP address as SAN")]
    NoSan,
    /// The private key is of an unsupported type or does not match the certificate.
    #[error("invalid TLS private key: {0}")]
    BadKey(String),
    /// The CA file/directory is unusable.
    #[error("invalid tls.ca '{path}': {reason}")]
    Ca {
        /// The file or directory.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No system root certificates were found for `tls.auth: on` without `tls.ca`.
    #[error(
        "invalid tls config: tls.auth is on but no tls.ca is set and no system root certificates were found"
    )]
    NoSystemRoots,
    /// rustls rejected the configuration.
    #[error("invalid TLS configuration: {0}")]
    Rustls(String),
}

/// The crypto provider used for every TLS connection of the server:
/// rustls's aws-lc-rs provider (assembly X25519, P-256, AES-GCM and SHA-2;
/// measured ≈ 15–25 % less CPU per full handshake than ring, BENCHMARKS.md),
/// with its cipher suites in the server's preference order (see
/// [`suite_rank`]). Key-exchange groups keep the provider's list, and the
/// client's order decides among them, so a client offering the hybrid
/// post-quantum `X25519MLKEM768` gets it.
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| suite_rank(s.suite()));
    Arc::new(provider)
}

/// The server's cipher-suite preference (lower first; the sort is stable,
/// so suites of equal rank keep the provider's order): AES-128-GCM, then
/// AES-256-GCM, then ChaCha20-Poly1305, in both TLS 1.3 and TLS 1.2 — the
/// order Go's TLS server uses on machines with AES instructions. The
/// server's order wins over the client's (`ignore_client_order`), which
/// also keeps the TLS 1.3 key schedule on SHA-256 (cheaper than the
/// SHA-384 of AES-256-GCM) for clients such as rustls that list AES-256
/// first. Every suite is AEAD with forward secrecy.
fn suite_rank(suite: rustls::CipherSuite) -> u8 {
    use rustls::CipherSuite as S;
    match suite {
        S::TLS13_AES_128_GCM_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 0,
        S::TLS13_AES_256_GCM_SHA384
        | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 1,
        _ => 2,
    }
}

/// Builds the server configuration from `settings`.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let (chain, key) = match &settings.source {
        CertSource::Files {
            cert,
            key,
            password,
        } => (
            read_cert_chain(cert)?,
            read_private_key(key, password.as_ref().map(|p| p.as_str()))?,
        ),
        CertSource::Memory { chain, key } => (chain.clone(), key.clone_key()),
    };
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::BadCertificate("empty certificate chain".into()))?;
    check_san(leaf)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| TlsError::BadKey(format!("key does not match the certificate: {e}")))?;

    let verifier: Arc<dyn ClientCertVerifier> = match &settings.auth {
        ClientAuth::Off => Arc::new(AnyClientCert::new(
            !settings.optional_client_cert,
            &provider,
        )),
        ClientAuth::On { ca } => {
            let roots = match ca {
                Some(path) => load_ca(path)?,
                None => system_roots()?,
            };
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .clear_root_hint_subjects();
            if settings.optional_client_cert {
                builder = builder.allow_unauthenticated();
            }
            builder
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?
        }
    };

    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(FixedCert(Arc::new(certified))));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    // One TLS 1.3 session ticket per full handshake, as Go's server sends
    // (rustls sends two by default); Go clients cache one per server. Each
    // ticket costs a key derivation, an encryption and a cache insert:
    // ≈ 8 µs of server CPU per handshake (BENCHMARKS.md).
    config.send_tls13_tickets = 1;
    Ok(Arc::new(config))
}

/// Serves one certificate for every handshake; replaced wholesale (with the
/// whole server config) on reload.
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_items(path: &Path, bytes: &[u8]) -> Result<Vec<rustls_pemfile::Item>, TlsError> {
    rustls_pemfile::read_all(&mut &bytes[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

fn item_kind(item: &rustls_pemfile::Item) -> &'static str {
    use rustls_pemfile::Item;
    match item {
        Item::X509Certificate(_) => "CERTIFICATE",
        Item::SubjectPublicKeyInfo(_) => "PUBLIC KEY",
        Item::Pkcs1Key(_) => "RSA PRIVATE KEY",
        Item::Pkcs8Key(_) => "PRIVATE KEY",
        Item::Sec1Key(_) => "EC PRIVATE KEY",
        Item::Crl(_) => "X509 CRL",
        Item::Csr(_) => "CERTIFICATE REQUEST",
        _ => "non-certificate",
    }
}

/// Reads a certificate chain file: one or more `CERTIFICATE` blocks and
/// nothing else (§9.3).
pub fn read_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    if contains(&bytes, b"PRIVATE KEY-----") {
        return Err(TlsError::NotOnlyCertificates {
            path: path.to_owned(),
            kind: "PRIVATE KEY",
        });
    }
    let mut chain = Vec::new();
    for item in pem_items(path, &bytes)? {
        match item {
            rustls_pemfile::Item::X509Certificate(c) => chain.push(c),
            other => {
                return Err(TlsError::NotOnlyCertificates {
                    path: path.to_owned(),
                    kind: item_kind(&other),
                });
            }
        }
    }
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(chain)
}

/// Reads the first private key of a PEM file (which may also hold
/// certificates). A legacy-encrypted key (`Proc-Type: 4,ENCRYPTED`) is
/// decrypted with `password`; an empty password counts as none, as in Go.
pub fn read_private_key(
    path: &Path,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = Zeroizing::new(read_file(path)?);
    if legacy_pem::is_encrypted(&bytes) {
        let password = password
            .filter(|p| !p.is_empty())
            .ok_or(TlsError::PasswordRequired)?;
        let key = legacy_pem::decrypt(&bytes, password.as_bytes()).map_err(|source| {
            TlsError::LegacyPem {
                path: path.to_owned(),
                source,
            }
        })?;
        return decrypted_key_der(path, key);
    }
    if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(TlsError::Pkcs8EncryptionUnsupported(path.to_owned()));
    }
    for item in pem_items(path, &bytes)? {
        match item {
            rustls_pemfile::Item::Pkcs1Key(k) => return Ok(PrivateKeyDer::Pkcs1(k)),
            rustls_pemfile::Item::Pkcs8Key(k) => return Ok(PrivateKeyDer::Pkcs8(k)),
            rustls_pemfile::Item::Sec1Key(k) => return Ok(PrivateKeyDer::Sec1(k)),
            _ => {}
        }
    }
    Err(TlsError::NoPrivateKey(path.to_owned()))
}

/// The rustls form of a decrypted key, chosen by its PEM label.
fn decrypted_key_der(
    path: &Path,
    mut key: legacy_pem::DecryptedKey,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let der = std::mem::take(&mut *key.der);
    Ok(match key.format() {
        KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(der.into()),
        KeyFormat::Sec1 => PrivateKeyDer::Sec1(der.into()),
        KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(der.into()),
        KeyFormat::Other => {
            return Err(TlsError::BadKey(format!(
                "unsupported private key type '{}' in '{}'",
                key.label,
                path.display()
            )));
        }
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Requires at least one DNS or IP SAN in the leaf certificate (§1.1).
fn check_san(leaf: &CertificateDer<'_>) -> Result<(), TlsError> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| TlsError::BadCertificate(e.to_string()))?;
    let has = san.is_some_and(|san| {
        san.value
            .general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName(_) | GeneralName::IPAddress(_)))
    });
    if has { Ok(()) } else { Err(TlsError::NoSan) }
}

/// Loads `tls.ca`: a PEM file, or a directory whose regular files are all
/// PEM certificates (non-recursive). Go starts the pool from the system
/// roots; so do we when they can be found.
pub fn load_ca(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = system_roots().unwrap_or_else(|_| RootCertStore::empty());
    let ca_err = |reason: String| TlsError::Ca {
        path: path.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| ca_err(e.to_string()))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| ca_err(e.to_string()))? {
            let entry = entry.map_err(|e| ca_err(e.to_string()))?;
            let ft = entry.file_type().map_err(|e| ca_err(e.to_string()))?;
            if ft.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut added = 0usize;
    for file in files {
        let chain = read_cert_chain(&file).map_err(|e| ca_err(e.to_string()))?;
        for cert in chain {
            roots
                .add(cert)
                .map_err(|e| ca_err(format!("'{}': {e}", file.display())))?;
            added += 1;
        }
    }
    if added == 0 {
        return Err(ca_err("no CA certificates found".into()));
    }
    Ok(roots)
}

/// The system root certificates, read from `SSL_CERT_FILE` or the usual
/// bundle locations of Linux distributions.
pub fn system_roots() -> Result<RootCertStore, TlsError> {
    const BUNDLES: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    ];
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        candidates.push(PathBuf::from(file));
    }
    candidates.extend(BUNDLES.iter().map(PathBuf::from));
    for path in candidates {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &bytes[..]).flatten() {
            // Bundles hold the odd certificate webpki cannot parse; skip it
            // as every TLS stack does.
            let _ = roots.add(cert);
        }
        if !roots.is_empty() {
            return Ok(roots);
        }
    }
    Err(TlsError::NoSystemRoots)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenSSL-made fixtures of kes-crypto (see their README).
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../kes-crypto/tests/data/legacy-pem")
            .join(name)
    }

    #[test]
    fn openssl_encrypted_keys_decrypt_with_the_password() {
        let cases = [
            ("ec-aes256.pem", "ec.der"),
            ("rsa-des3.pem", "rsa.der"),
            ("rsa-aes128.pem", "rsa.der"),
            ("pkcs8-aes256.pem", "ec.pkcs8.der"),
        ];
        for (file, plain) in cases {
            let key = read_private_key(&fixture(file), Some("secret")).unwrap();
            let want = std::fs::read(fixture(plain)).unwrap();
            assert_eq!(key.secret_der(), &want[..], "{file}");
        }
        let key = read_private_key(&fixture("ec-aes256.pem"), Some("secret")).unwrap();
        assert!(matches!(key, PrivateKeyDer::Sec1(_)));
        let key = read_private_key(&fixture("rsa-des3.pem"), Some("secret")).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs1(_)));
    }

    #[test]
    fn encrypted_key_errors() {
        let path = fixture("rsa-aes128.pem");
        for none in [None, Some("")] {
            let err = read_private_key(&path, none).unwrap_err();
            assert_eq!(
                err.to_string(),
                "https: private key is encrypted: password required"
            );
        }
        let err = read_private_key(&path, Some("wrong")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid private key '{}': private key decryption failed: wrong password or corrupted key",
                path.display()
            )
        );
        assert!(!format!("{err:?}").contains("wrong\""));
    }

    #[test]
    fn openssl_key_and_certificate_build_a_server_config() {
        let settings = TlsSettings {
            source: CertSource::Files {
                cert: fixture("ec.crt"),
                key: fixture("ec-aes256.pem"),
                password: Some(Zeroizing::new("secret".into())),
            },
            auth: ClientAuth::Off,
            optional_client_cert: false,
        };
        server_config(&settings).unwrap();
    }
}
