//! Temporary stand-in for `kes_types::ApiKey` until that lands on `main`:
//! parses `kes:v1:` API keys (§6.1), derives their identity (§6.2) and the
//! self-signed Ed25519 client certificate (§6.3). Replaced by the real type at
//! merge time; it exists only so the client compiles and is tested meanwhile.

use base64::Engine as _;
use zeroize::Zeroizing;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410).
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Why an API key or its certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// Not base64 or not 33 bytes.
    #[error("invalid API key: invalid length")]
    Length,
    /// Type byte is not 0 (Ed25519).
    #[error("invalid API key: unsupported type")]
    Type,
    /// Certificate generation failed.
    #[error("failed to generate API-key certificate: {0}")]
    Certificate(#[from] rcgen::Error),
}

/// A `kes:v1:` API key (an Ed25519 seed).
pub struct ApiKey {
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Options of [`ApiKey::certificate`] (none needed by the client).
#[derive(Debug, Default, Clone)]
pub struct CertificateOptions {}

/// A certificate made from an API key.
pub struct GeneratedCertificate {
    /// DER certificate.
    pub cert_der: Vec<u8>,
    /// PEM certificate.
    pub cert_pem: String,
    /// PKCS#8 PEM private key.
    pub key_pem: Zeroizing<String>,
}

impl ApiKey {
    /// Parses `kes:v1:<base64>` (prefix optional).
    pub fn parse(s: &str) -> Result<Self, ApiKeyError> {
        let b64 = s.strip_prefix("kes:v1:").unwrap_or(s);
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| ApiKeyError::Length)?,
        );
        let (kind, seed) = raw.split_first().ok_or(ApiKeyError::Length)?;
        if seed.len() != 32 {
            return Err(ApiKeyError::Length);
        }
        if *kind != 0 {
            return Err(ApiKeyError::Type);
        }
        let mut pkcs8 = Zeroizing::new(PKCS8_PREFIX.to_vec());
        pkcs8.extend_from_slice(seed);
        Ok(Self { pkcs8 })
    }

    fn key_pair(&self) -> Result<rcgen::KeyPair, ApiKeyError> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(self.pkcs8.as_slice());
        Ok(rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &der,
            &rcgen::PKCS_ED25519,
        )?)
    }

    /// Hex SHA-256 of the public key's SPKI.
    pub fn identity(&self) -> Result<String, ApiKeyError> {
        let kp = self.key_pair()?;
        let mut spki = SPKI_PREFIX.to_vec();
        spki.extend_from_slice(kp.public_key_raw());
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        Ok(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Self-signed client certificate per §6.3.
    pub fn certificate(
        &self,
        _opts: &CertificateOptions,
    ) -> Result<GeneratedCertificate, ApiKeyError> {
        let kp = self.key_pair()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, self.identity()?);
        params.distinguished_name = dn;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now;
        params.not_after = now + time::Duration::days(90);
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(rcgen::SerialNumber::from(serial.to_vec()));
        let cert = params.self_signed(&kp)?;
        Ok(GeneratedCertificate {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(kp.serialize_pem()),
        })
    }
}
