//! The TLS side of the transport: the rustls client config of one store,
//! built from its [`TlsFiles`] (CA file or directory, optional client
//! certificate and key) and its policy's [`CaMode`]. Every problem with a
//! file is an `InvalidConfig` error naming the config field and the path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::KeyStoreError;

/// How a configured CA relates to the system trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaMode {
    /// The CA is trusted in addition to the system roots (Entrust).
    AddToSystem,
    /// The CA replaces the system roots (CipherTrust, Vault).
    ReplaceSystem,
}

/// The TLS files a store's config names.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TlsFiles<'a> {
    /// A PEM CA file or a directory of PEM files (`tls.ca`).
    pub ca: Option<&'a Path>,
    /// The client certificate chain (`tls.cert`) and its private key
    /// (`tls.key`), both PEM, for mutual TLS.
    pub client: Option<(&'a Path, &'a Path)>,
}

/// Builds the rustls client config: TLS 1.2+ on aws-lc-rs, the roots of
/// [`root_store`] and the client certificate, if any.
pub(crate) fn client_config(
    backend: &'static str,
    files: TlsFiles<'_>,
    mode: CaMode,
) -> Result<rustls::ClientConfig, KeyStoreError> {
    let invalid = |m: String| KeyStoreError::invalid_config(backend, m);
    let roots = root_store(backend, files.ca, mode)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("tls: {e}")))?
        .with_root_certificates(roots);
    let Some((cert, key)) = files.client else {
        return Ok(builder.with_no_client_auth());
    };
    let chain = read_certs(backend, "tls.cert", cert)?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "tls.cert: no PEM certificate found in {}",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        invalid(format!(
            "tls.key: cannot read a PEM private key from {}: {e}",
            key.display()
        ))
    })?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| invalid(format!("tls.cert/tls.key: {e}")))
}

/// What to add to the message of a failed TLS handshake: a hint when the
/// server's certificate is not trusted or the server refused ours.
pub(crate) fn handshake_hint(e: &rustls::Error) -> &'static str {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_) => {
            " (the server's certificate is not trusted: set `tls.ca` to the CA certificate that issued it)"
        }
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::UnknownCA
            | A::CertificateRequired
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => " (the server refused the client certificate `tls.cert`)",
        _ => "",
    }
}

/// The trusted roots: the system roots when no CA is given or `mode` adds
/// to them, plus every certificate of the CA file or directory (`tls.ca`),
/// which must hold at least one.
fn root_store(
    backend: &'static str,
    ca: Option<&Path>,
    mode: CaMode,
) -> Result<RootCertStore, KeyStoreError> {
    let mut roots = RootCertStore::empty();
    if ca.is_none() || mode == CaMode::AddToSystem {
        for cert in rustls_native_certs::load_native_certs().certs {
            // Skip system certificates rustls cannot parse, as Go does.
            let _ = roots.add(cert);
        }
    }
    if let Some(ca) = ca {
        let mut added = 0usize;
        for file in ca_files(backend, ca)? {
            for cert in read_certs(backend, "tls.ca", &file)? {
                roots.add(cert).map_err(|e| {
                    KeyStoreError::invalid_config(
                        backend,
                        format!("tls.ca: invalid certificate in {}: {e}", file.display()),
                    )
                })?;
                added += 1;
            }
        }
        if added == 0 {
            return Err(KeyStoreError::invalid_config(
                backend,
                format!("tls.ca: no PEM certificate found in {}", ca.display()),
            ));
        }
    }
    Ok(roots)
}

/// The CA file itself, or the regular files of a CA directory.
fn ca_files(backend: &'static str, ca: &Path) -> Result<Vec<PathBuf>, KeyStoreError> {
    let meta = std::fs::metadata(ca).map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("tls.ca: cannot read {}: {e}", ca.display()),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![ca.to_path_buf()]);
    }
    let entries = std::fs::read_dir(ca).map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("tls.ca: cannot list {}: {e}", ca.display()),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// All PEM certificates of one file, named in errors by its config `field`.
fn read_certs(
    backend: &'static str,
    field: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, KeyStoreError> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("{field}: cannot read {}: {e}", path.display()),
        )
    })?;
    iter.collect::<Result<Vec<_>, _>>().map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("{field}: invalid PEM in {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn ca_only(ca: &Path) -> TlsFiles<'_> {
        TlsFiles {
            ca: Some(ca),
            client: None,
        }
    }

    #[test]
    fn ca_problems_are_config_errors() {
        let e = client_config(
            "x",
            ca_only(Path::new("/nonexistent/ca.pem")),
            CaMode::ReplaceSystem,
        )
        .unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
        assert!(
            e.to_string()
                .contains("tls.ca: cannot read /nonexistent/ca.pem"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = client_config("x", ca_only(dir.path()), CaMode::ReplaceSystem).unwrap_err();
        assert!(e.to_string().contains("tls.ca: no PEM certificate"), "{e}");
    }

    #[test]
    fn client_certificate_problems_are_config_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        let (cert_pem, key_pem) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
        std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
        std::fs::write(&empty, "").unwrap();
        let with = |c: &Path, k: &Path| {
            client_config(
                "x",
                TlsFiles {
                    ca: None,
                    client: Some((c, k)),
                },
                CaMode::ReplaceSystem,
            )
        };
        assert!(with(&cert_pem, &key_pem).is_ok());
        let e = with(Path::new("/nonexistent/c.pem"), &key_pem).unwrap_err();
        assert!(e.to_string().contains("tls.cert: cannot read"), "{e}");
        let e = with(&empty, &key_pem).unwrap_err();
        assert!(
            e.to_string().contains("tls.cert: no PEM certificate"),
            "{e}"
        );
        let e = with(&cert_pem, &empty).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
        assert!(
            e.to_string()
                .contains("tls.key: cannot read a PEM private key"),
            "{e}"
        );
    }
}
