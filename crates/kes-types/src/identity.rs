//! Client identities (spec §4.1, §6.2).
//!
//! An identity is the lowercase hex SHA-256 of a certificate's DER
//! `SubjectPublicKeyInfo` — not of the whole certificate — so re-issuing a
//! certificate for the same key pair keeps the identity. This module owns the
//! [`Identity`] newtype, hashing an SPKI, reaching the SPKI inside one DER
//! certificate, and choosing the single client leaf out of a peer chain.
//!
//! It does no path validation and never looks at validity dates or key
//! usages: authentication is possession of the private key, proven by the TLS
//! handshake elsewhere.

use std::fmt;
use std::str::FromStr;

use ring::digest;
use serde::Serialize;
use x509_parser::error::X509Error;

use crate::name::{NameError, validate_identity};

/// Length of an identity computed from a public key: 64 hex characters.
pub const IDENTITY_HEX_LEN: usize = 64;

/// A client identity.
///
/// Computed identities ([`Identity::of_spki`], [`Identity::of_certificate`])
/// are 64 lowercase hex characters. Configured identities come from text:
/// [`FromStr`] applies the name rules of spec §1.8 (identities in URLs and in
/// policies), [`Identity::unvalidated`] accepts anything (the admin identity,
/// which Go compares as a plain string and which may be a placeholder such as
/// `disabled`). Comparison is exact string equality: configured identities
/// are not lower-cased.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Identity(String);

impl Identity {
    /// The identity of a DER `SubjectPublicKeyInfo`: lowercase hex SHA-256.
    pub fn of_spki(spki_der: &[u8]) -> Identity {
        let sum = digest::digest(&digest::SHA256, spki_der);
        Identity(hex_lower(sum.as_ref()))
    }

    /// The identity of one DER certificate: the hash of its raw
    /// `SubjectPublicKeyInfo`. Nothing else in the certificate is checked.
    pub fn of_certificate(cert_der: &[u8]) -> Result<Identity, CertificateError> {
        let cert = parse_certificate(cert_der)?;
        Ok(Identity::of_spki(cert.tbs_certificate.subject_pki.raw))
    }

    /// Wraps `s` without validation. For the admin identity, which Go never
    /// validates (any non-empty value; a non-hex one disables the admin).
    pub fn unvalidated(s: impl Into<String>) -> Identity {
        Identity(s.into())
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the identity and returns its text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Reports whether this is 64 lowercase hex characters, i.e. something a
    /// public key can hash to. The start-up banner prints `<disabled>` for an
    /// admin identity that is not.
    pub fn is_hex(&self) -> bool {
        self.0.len() == IDENTITY_HEX_LEN
            && self
                .0
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl FromStr for Identity {
    type Err = NameError;

    /// Parses an identity as it appears in a URL or a policy: the name rules
    /// of spec §1.8, with the 400 message Go sends for a bad one.
    fn from_str(s: &str) -> Result<Self, NameError> {
        validate_identity(s)?;
        Ok(Identity(s.to_owned()))
    }
}

impl AsRef<str> for Identity {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A DER certificate that could not be read far enough to find its public key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The bytes are not a DER X.509 certificate.
    #[error("invalid certificate: cannot parse X.509 DER: {source}")]
    Parse {
        /// What the X.509 parser rejected.
        #[source]
        source: X509Error,
    },
    /// The certificate parsed but was followed by more bytes.
    #[error("invalid certificate: {len} trailing bytes after the DER certificate")]
    TrailingData {
        /// How many bytes followed the certificate.
        len: usize,
    },
    /// The certificate carries an unreadable or duplicate BasicConstraints
    /// extension, so it cannot be told apart from a CA certificate.
    #[error("invalid certificate: cannot read the BasicConstraints extension: {source}")]
    BasicConstraints {
        /// What the X.509 parser rejected.
        #[source]
        source: X509Error,
    },
}

/// Why no identity could be taken from a TLS peer's certificate chain
/// (spec §4.1). `Display` of the first two variants is the exact text Go KES
/// sends with its 400 response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// No certificate, or only CA certificates, were presented.
    #[error("tls: client certificate is required")]
    NoCertificate,
    /// More than one non-CA certificate was presented.
    #[error("tls: received more than one client certificate")]
    MoreThanOne,
    /// A certificate of the chain could not be parsed.
    #[error("tls: client certificate #{index} of the chain: {source}")]
    Certificate {
        /// Zero-based position of the certificate in the presented chain.
        index: usize,
        /// Why it could not be parsed.
        #[source]
        source: CertificateError,
    },
}

/// The identity of a TLS client from the chain it presented (spec §4.1):
/// certificates whose BasicConstraints say `CA:TRUE` are skipped, exactly one
/// certificate must remain, and its SPKI hash is the identity.
///
/// Every certificate is parsed, so an unparsable one is reported even if it
/// would otherwise have been skipped.
pub fn identity_of_chain(chain: &[&[u8]]) -> Result<Identity, PeerError> {
    let mut leaf: Option<Identity> = None;
    for (index, der) in chain.iter().enumerate() {
        let wrap = |source| PeerError::Certificate { index, source };
        let cert = parse_certificate(der).map_err(wrap)?;
        let is_ca = cert
            .basic_constraints()
            .map_err(|source| wrap(CertificateError::BasicConstraints { source }))?
            .is_some_and(|bc| bc.value.ca);
        if is_ca {
            continue;
        }
        if leaf.is_some() {
            return Err(PeerError::MoreThanOne);
        }
        leaf = Some(Identity::of_spki(cert.tbs_certificate.subject_pki.raw));
    }
    leaf.ok_or(PeerError::NoCertificate)
}

/// Parses exactly one DER certificate.
fn parse_certificate(
    der: &[u8],
) -> Result<x509_parser::certificate::X509Certificate<'_>, CertificateError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((rest, _)) if !rest.is_empty() => {
            Err(CertificateError::TrailingData { len: rest.len() })
        }
        Ok((_, cert)) => Ok(cert),
        Err(x509_parser::nom::Err::Error(source) | x509_parser::nom::Err::Failure(source)) => {
            Err(CertificateError::Parse { source })
        }
        Err(x509_parser::nom::Err::Incomplete(_)) => Err(CertificateError::Parse {
            source: X509Error::InvalidCertificate,
        }),
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_spki_is_lowercase_sha256_hex() {
        // SHA-256 of the empty string.
        assert_eq!(
            Identity::of_spki(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn of_spki_vector_6_5() {
        let spki = hex_decode(
            "302a300506032b6570032100a06f6aa534af7404add2f025e748a9cf6f7abf1a7cbd458e12b37c4cd107269e",
        );
        let id = Identity::of_spki(&spki);
        assert_eq!(
            id.as_str(),
            "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb"
        );
        assert!(id.is_hex());
    }

    #[test]
    fn is_hex() {
        assert!(!Identity::unvalidated("disabled").is_hex());
        assert!(!Identity::unvalidated("").is_hex());
        assert!(!Identity::unvalidated("A".repeat(64)).is_hex());
        assert!(!Identity::unvalidated("a".repeat(63)).is_hex());
        assert!(!Identity::unvalidated("a".repeat(65)).is_hex());
        assert!(!Identity::unvalidated("g".repeat(64)).is_hex());
        assert!(Identity::unvalidated("0123456789abcdef".repeat(4)).is_hex());
    }

    #[test]
    fn from_str_applies_name_rules() {
        assert_eq!("disabled".parse::<Identity>().unwrap().as_str(), "disabled");
        let err = "a/b".parse::<Identity>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "identity 'a/b' is empty, too long or contains invalid characters"
        );
        assert!("".parse::<Identity>().is_err());
    }

    #[test]
    fn display_debug_serialize() {
        let id = Identity::unvalidated("abc");
        assert_eq!(id.to_string(), "abc");
        assert_eq!(format!("{id:?}"), "\"abc\"");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
    }

    #[test]
    fn garbage_certificate_is_a_parse_error() {
        let err = Identity::of_certificate(b"not a certificate").unwrap_err();
        assert!(matches!(err, CertificateError::Parse { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("invalid certificate: cannot parse X.509 DER: ")
        );
        assert!(Identity::of_certificate(&[]).is_err());
    }

    #[test]
    fn empty_chain_requires_a_certificate() {
        let err = identity_of_chain(&[]).unwrap_err();
        assert_eq!(err, PeerError::NoCertificate);
        assert_eq!(err.to_string(), "tls: client certificate is required");
        assert_eq!(
            PeerError::MoreThanOne.to_string(),
            "tls: received more than one client certificate"
        );
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
