//! The rustls client configuration: client certificate (API key or PEM
//! files), server verification (CA file or `--insecure`), ALPN and session
//! resumption.
//!
//! rustls's aws-lc-rs provider, like the rest of the workspace; one
//! key-exchange group (`--kx-group`, X25519 by default) so that handshake
//! figures say which group they measured.

use std::path::Path;
use std::sync::Arc;

use kes_client::NoServerVerification;
use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::cli::{BenchConfig, ClientIdentity};
use crate::error::BenchError;

/// ALPN id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Builds the client TLS configuration for `cfg`.
///
/// Resumption is disabled unless `cfg.resume`, so `--new-conn` measures full
/// handshakes (certificate exchange and signatures on both sides).
pub fn client_config(cfg: &BenchConfig) -> Result<Arc<ClientConfig>, BenchError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(name) = &cfg.cipher_suite {
        let wanted = name.to_ascii_uppercase();
        let known: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        provider
            .cipher_suites
            .retain(|s| format!("{:?}", s.suite()) == wanted);
        if provider.cipher_suites.is_empty() {
            return Err(BenchError::Config(format!(
                "--cipher-suite {name:?} is not one of {}",
                known.join(", ")
            )));
        }
    }
    let known: Vec<String> = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS
        .iter()
        .map(|g| format!("{:?}", g.name()))
        .collect();
    provider.kx_groups = rustls::crypto::aws_lc_rs::ALL_KX_GROUPS
        .iter()
        .filter(|g| format!("{:?}", g.name()).eq_ignore_ascii_case(&cfg.kx_group))
        .copied()
        .collect();
    if provider.kx_groups.is_empty() {
        return Err(BenchError::Config(format!(
            "--kx-group {:?} is not one of {}",
            cfg.kx_group,
            known.join(", ")
        )));
    }
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(BenchError::Tls)?;
    let builder = if cfg.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerVerification::new(provider)))
    } else {
        let Some(path) = &cfg.cacert else {
            return Err(BenchError::Config(
                "give --cacert <file> to verify the server, or --insecure".into(),
            ));
        };
        let mut roots = RootCertStore::empty();
        for cert in read_certs(path)? {
            roots.add(cert).map_err(BenchError::Tls)?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match &cfg.identity {
        ClientIdentity::None => builder.with_no_client_auth(),
        ClientIdentity::ApiKey(key) => {
            let generated = key
                .certificate(&kes_crypto::CertificateOptions::default())
                .map_err(BenchError::ApiKey)?;
            let private = PrivateKeyDer::from_pem_slice(generated.key_pem.as_bytes())
                .map_err(|e| BenchError::Config(format!("API key private key PEM: {e}")))?;
            builder
                .with_client_auth_cert(vec![CertificateDer::from(generated.cert_der)], private)
                .map_err(BenchError::Tls)?
        }
        ClientIdentity::Files { cert, key } => {
            let chain = read_certs(cert)?;
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| BenchError::Pem {
                path: key.clone(),
                what: format!("no usable private key: {e}"),
            })?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(BenchError::Tls)?
        }
    };
    config.alpn_protocols = if cfg.http2 {
        vec![ALPN_H2.to_vec()]
    } else {
        vec![ALPN_HTTP11.to_vec()]
    };
    if !cfg.resume {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// Writes the API key's generated client certificate and private key to
/// `dir/client.crt` and `dir/client.key` (0600, created fresh: an existing
/// file is an error), for tools such as oha that need PEM files.
pub fn export_certificate(cfg: &BenchConfig, dir: &Path) -> Result<(), BenchError> {
    let ClientIdentity::ApiKey(key) = &cfg.identity else {
        return Err(BenchError::Config("--export-cert needs --api-key".into()));
    };
    let generated = key
        .certificate(&kes_crypto::CertificateOptions::default())
        .map_err(BenchError::ApiKey)?;
    write_new(&dir.join("client.crt"), generated.cert_pem.as_bytes())?;
    write_new(&dir.join("client.key"), generated.key_pem.as_bytes())
}

fn write_new(path: &Path, data: &[u8]) -> Result<(), BenchError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io_error = |e: std::io::Error| BenchError::Pem {
        path: path.to_path_buf(),
        what: format!("cannot write: {e}"),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error)?;
    file.write_all(data).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// The server name to send (SNI) and verify.
pub fn server_name(name: &str) -> Result<ServerName<'static>, BenchError> {
    ServerName::try_from(name.to_string()).map_err(|_| BenchError::ServerName(name.to_string()))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, BenchError> {
    let pem_error = |what: String| BenchError::Pem {
        path: path.to_path_buf(),
        what,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(format!("invalid certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block".into()));
    }
    Ok(certs)
}
