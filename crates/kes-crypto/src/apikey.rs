//! API keys (spec §6): the `kes:v1:` text form of an Ed25519 seed, its
//! identity, its PKCS#8 encoding, and the self-signed client certificate
//! derived from it.
//!
//! The seed lives in [`Zeroizing`] memory and never appears in `Debug` or in
//! errors; only `Display` (the API key text itself) and the PKCS#8 encodings
//! reveal it, on request. Certificates are deterministic: the serial number is
//! derived from the public key and `not_before`, and Ed25519 signatures are
//! deterministic, so the same key and start time give byte-identical DER.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm, SigningKey,
};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use kes_types::Identity;

/// The prefix of the current API key text format.
pub const API_KEY_PREFIX: &str = "kes:v1:";

/// The key-type byte of an Ed25519 API key (the only type defined).
const TYPE_ED25519: u8 = 0x00;

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo`; the 32-byte public key
/// follows (spec §6.2).
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
pub const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Default lifetime of a generated certificate (spec §6.3).
pub const DEFAULT_VALIDITY: Duration = Duration::days(90);

/// DER content of the Ed25519 algorithm OID 1.3.101.112.
const OID_ED25519: [u8; 3] = [0x2b, 0x65, 0x70];

/// Standard base64 with required padding. Trailing bits are tolerated like
/// Go's (non-strict) `base64.StdEncoding`, so that a malformed key fails on
/// its length, as in Go, rather than on its last character.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// An Ed25519 API key.
///
/// `Display` writes the key text (`kes:v1:` + base64 of `0x00 ‖ seed`), which
/// is a secret; `Debug` shows only the identity.
#[derive(Clone)]
pub struct ApiKey {
    seed: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl ApiKey {
    /// Parses an API key (spec §6.1): an optional `kes:v1:` prefix, then
    /// standard base64 (padding required) of exactly 33 bytes whose first byte
    /// is the type `0x00`.
    pub fn parse(s: &str) -> Result<ApiKey, ApiKeyError> {
        let (offset, b64) = match s.strip_prefix(API_KEY_PREFIX) {
            Some(rest) => (API_KEY_PREFIX.len(), rest),
            None => (0, s),
        };
        let raw = Zeroizing::new(
            B64.decode(b64)
                .map_err(|e| ApiKeyError::from_base64(e, offset))?,
        );
        if raw.len() != 33 {
            return Err(ApiKeyError::InvalidLength);
        }
        let (kind, seed) = raw.split_at(1);
        if kind != [TYPE_ED25519] {
            return Err(ApiKeyError::UnsupportedType);
        }
        let mut buf = Zeroizing::new([0u8; 32]);
        buf.copy_from_slice(seed);
        ApiKey::from_seed(buf)
    }

    /// Generates a new API key from the operating system's random source.
    pub fn generate() -> Result<ApiKey, ApiKeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(seed.as_mut())
            .map_err(|_| ApiKeyError::Random)?;
        ApiKey::from_seed(seed)
    }

    /// Wraps an Ed25519 seed (the RFC 8032 32-byte private key).
    pub fn from_seed(seed: Zeroizing<[u8; 32]>) -> Result<ApiKey, ApiKeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| ApiKeyError::InvalidSeed)?;
        let mut public = [0u8; 32];
        let pk = pair.public_key().as_ref();
        if pk.len() != public.len() {
            return Err(ApiKeyError::InvalidSeed);
        }
        public.copy_from_slice(pk);
        Ok(ApiKey { seed, public })
    }

    /// Reads a PEM `PRIVATE KEY` block holding a PKCS#8 Ed25519 key (v1, or
    /// v2 with a matching public key), as written by `kes identity new` or
    /// `openssl genpkey -algorithm ed25519`. Other PEM blocks before it (such
    /// as certificates) are skipped; other key types are rejected.
    pub fn from_pkcs8_pem(pem: &str) -> Result<ApiKey, ApiKeyError> {
        let der = pem_private_key(pem)?;
        let seed = pkcs8_ed25519_seed(&der)?;
        let key = ApiKey::from_seed(seed)?;
        if let Some(public) = pkcs8_public_key(&der)?
            && public != key.public
        {
            return Err(ApiKeyError::Pkcs8(Pkcs8Error::PublicKeyMismatch));
        }
        Ok(key)
    }

    /// The identity of this key: the SHA-256 of its Ed25519 SPKI (spec §6.2),
    /// equal to the identity of any certificate carrying the public key.
    pub fn identity(&self) -> Identity {
        Identity::of_spki(&self.spki_der())
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The DER `SubjectPublicKeyInfo` of the public key (44 bytes).
    pub fn spki_der(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ED25519_SPKI_PREFIX.len() + 32);
        out.extend_from_slice(&ED25519_SPKI_PREFIX);
        out.extend_from_slice(&self.public);
        out
    }

    /// The API key text (`kes:v1:…`) in zeroizing memory. `Display` writes
    /// the same text.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 33]);
        raw[0] = TYPE_ED25519;
        raw[1..].copy_from_slice(self.seed.as_ref());
        let mut out = Zeroizing::new(String::with_capacity(API_KEY_PREFIX.len() + 44));
        out.push_str(API_KEY_PREFIX);
        B64.encode_string(raw.as_ref(), &mut out);
        out
    }

    /// The private key as PKCS#8 v1 DER: the fixed Ed25519 prefix followed by
    /// the seed (48 bytes).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(ED25519_PKCS8_PREFIX.len() + 32));
        out.extend_from_slice(&ED25519_PKCS8_PREFIX);
        out.extend_from_slice(self.seed.as_ref());
        out
    }

    /// The private key as a PEM `PRIVATE KEY` block (PKCS#8 v1).
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        let der = self.to_pkcs8_der();
        let mut out = Zeroizing::new(String::with_capacity(128));
        out.push_str("-----BEGIN PRIVATE KEY-----\n");
        // 48 bytes encode to exactly 64 characters: one PEM line.
        B64.encode_string(der.as_slice(), &mut out);
        out.push_str("\n-----END PRIVATE KEY-----\n");
        out
    }

    /// A self-signed X.509 v3 client certificate for this key (spec §6.3).
    ///
    /// Deterministic: the same key and `not_before` (to the second) give
    /// byte-identical DER.
    pub fn certificate(
        &self,
        opts: &CertificateOptions,
    ) -> Result<GeneratedCertificate, ApiKeyError> {
        let not_before = opts
            .not_before
            .unwrap_or_else(OffsetDateTime::now_utc)
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .map_err(|_| ApiKeyError::Validity)?;
        let not_after = not_before
            .checked_add(opts.validity)
            .ok_or(ApiKeyError::Validity)?;
        if not_after < not_before {
            return Err(ApiKeyError::Validity);
        }

        let mut params = CertificateParams::default();
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(SerialNumber::from_slice(&self.serial(not_before)));
        let cn = match &opts.common_name {
            Some(cn) => cn.clone(),
            None => self.identity().into_string(),
        };
        let mut dn = DistinguishedName::new();
        // Like Go: PrintableString when the name allows it, UTF8String otherwise.
        let value = match rcgen::string::PrintableString::try_from(cn.as_str()) {
            Ok(p) => DnValue::PrintableString(p),
            Err(_) => DnValue::Utf8String(cn),
        };
        dn.push(DnType::CommonName, value);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        if opts.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        for ip in &opts.ip_addresses {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        for name in &opts.dns_names {
            let ia5 = rcgen::string::Ia5String::try_from(name.as_str())
                .map_err(|_| ApiKeyError::DnsName { name: name.clone() })?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }

        let signer = Signer::new(self)?;
        let cert = params
            .self_signed(&signer)
            .map_err(|source| ApiKeyError::Certificate { source })?;
        Ok(GeneratedCertificate {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_pem: self.to_pkcs8_pem(),
        })
    }

    /// The certificate serial: the first 16 bytes of
    /// SHA-256(public key ‖ not_before as big-endian Unix seconds), top bit
    /// cleared so the INTEGER stays positive.
    fn serial(&self, not_before: OffsetDateTime) -> [u8; 16] {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&self.public);
        ctx.update(&not_before.unix_timestamp().to_be_bytes());
        let sum = ctx.finish();
        let mut serial = [0u8; 16];
        serial.copy_from_slice(sum.as_ref().get(..16).unwrap_or(&[0u8; 16]));
        serial[0] &= 0x7f;
        serial
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("identity", &self.identity())
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl FromStr for ApiKey {
    type Err = ApiKeyError;

    fn from_str(s: &str) -> Result<Self, ApiKeyError> {
        ApiKey::parse(s)
    }
}

/// How [`ApiKey::certificate`] builds a certificate. The default is Go's
/// `GenerateCertificate`: CN = identity, valid from now for 90 days,
/// clientAuth only, no SANs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateOptions {
    /// Subject and issuer common name; the key's identity when `None`.
    pub common_name: Option<String>,
    /// Start of validity; now when `None`. Truncated to whole seconds.
    pub not_before: Option<OffsetDateTime>,
    /// How long the certificate is valid after `not_before`.
    pub validity: Duration,
    /// Also allow the certificate for TLS servers (serverAuth EKU).
    pub server_auth: bool,
    /// IP address SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// DNS name SANs.
    pub dns_names: Vec<String>,
}

impl Default for CertificateOptions {
    fn default() -> Self {
        CertificateOptions {
            common_name: None,
            not_before: None,
            validity: DEFAULT_VALIDITY,
            server_auth: false,
            ip_addresses: Vec::new(),
            dns_names: Vec::new(),
        }
    }
}

/// A certificate made by [`ApiKey::certificate`], with its private key.
#[derive(Clone)]
pub struct GeneratedCertificate {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate as a PEM `CERTIFICATE` block.
    pub cert_pem: String,
    /// The private key as a PEM `PRIVATE KEY` block (PKCS#8).
    pub key_pem: Zeroizing<String>,
}

impl fmt::Debug for GeneratedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why an API key could not be parsed, read, generated or turned into a
/// certificate. Never contains key material.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The decoded key is not 33 bytes long.
    #[error("invalid API key: invalid length")]
    InvalidLength,
    /// The type byte is not `0x00` (Ed25519).
    #[error("invalid API key: unsupported type")]
    UnsupportedType,
    /// A character that is not standard base64 (or misplaced padding).
    #[error("invalid API key: invalid base64 character {byte:#04x} at offset {offset}")]
    Base64Symbol {
        /// Offset of the character in the API key text.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The base64 text has an impossible length.
    #[error(
        "invalid API key: invalid base64 length: {len} symbols cannot encode whole bytes (missing padding?)"
    )]
    Base64Length {
        /// Number of base64 symbols before any padding.
        len: usize,
    },
    /// Padding is missing or malformed.
    #[error("invalid API key: invalid base64 padding (standard base64 with '=' padding required)")]
    Base64Padding,
    /// The random number generator failed.
    #[error("cannot generate API key: the system random number generator failed")]
    Random,
    /// The Ed25519 seed was rejected.
    #[error("invalid API key: not a valid Ed25519 seed")]
    InvalidSeed,
    /// A PEM or PKCS#8 private key could not be read.
    #[error("invalid private key: {0}")]
    Pkcs8(#[from] Pkcs8Error),
    /// `not_before + validity` is out of range or before `not_before`.
    #[error("invalid certificate validity: not_before + validity is out of range or negative")]
    Validity,
    /// A DNS SAN is not ASCII (IA5String).
    #[error("invalid certificate DNS name '{name}': not an ASCII (IA5) string")]
    DnsName {
        /// The rejected name.
        name: String,
    },
    /// rcgen refused to build the certificate.
    #[error("cannot generate certificate: {source}")]
    Certificate {
        /// The certificate builder's error.
        #[source]
        source: rcgen::Error,
    },
}

impl ApiKeyError {
    /// Maps a base64 error, shifting offsets by the stripped prefix.
    fn from_base64(e: base64::DecodeError, prefix: usize) -> ApiKeyError {
        match e {
            base64::DecodeError::InvalidByte(offset, byte)
            | base64::DecodeError::InvalidLastSymbol(offset, byte) => ApiKeyError::Base64Symbol {
                offset: offset.saturating_add(prefix),
                byte,
            },
            base64::DecodeError::InvalidLength(len) => ApiKeyError::Base64Length { len },
            base64::DecodeError::InvalidPadding => ApiKeyError::Base64Padding,
        }
    }
}

/// Why a PEM/PKCS#8 private key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs8Error {
    /// No `-----BEGIN … PRIVATE KEY-----` block was found.
    #[error("no PEM 'PRIVATE KEY' block found")]
    NoPemBlock,
    /// A private key block of another format (e.g. `RSA PRIVATE KEY`).
    #[error("unsupported PEM block '{label}': only PKCS#8 Ed25519 'PRIVATE KEY' is supported")]
    UnsupportedPemBlock {
        /// The block's label.
        label: String,
    },
    /// The block has no matching `-----END …-----` line.
    #[error("PEM block '{label}' has no END line")]
    UnterminatedPem {
        /// The block's label.
        label: String,
    },
    /// The block carries headers (legacy OpenSSL encryption).
    #[error("PEM block has headers: encrypted private keys are not supported")]
    PemHeaders,
    /// The block's body is not valid base64.
    #[error("PEM body is not valid base64: {reason}")]
    PemBase64 {
        /// What the decoder rejected (no key material).
        reason: String,
    },
    /// The DER structure is malformed.
    #[error("malformed PKCS#8 DER: {what}")]
    Malformed {
        /// Which element was wrong.
        what: &'static str,
    },
    /// The key is PKCS#8 but not Ed25519.
    #[error("unsupported private key algorithm {oid}: only Ed25519 (1.3.101.112) is supported")]
    Algorithm {
        /// The algorithm OID, dotted.
        oid: String,
    },
    /// The Ed25519 private key is not 32 bytes.
    #[error("Ed25519 private key must be 32 bytes, got {len}")]
    SeedLength {
        /// Length found.
        len: usize,
    },
    /// A PKCS#8 v2 public key does not belong to the private key.
    #[error("the public key does not match the private key")]
    PublicKeyMismatch,
}

/// Signs certificates with an API key through ring (deterministic Ed25519).
struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    fn new(key: &ApiKey) -> Result<Signer, ApiKeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(key.seed.as_ref())
            .map_err(|_| ApiKeyError::InvalidSeed)?;
        Ok(Signer { pair })
    }
}

impl PublicKeyData for Signer {
    fn der_bytes(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl SigningKey for Signer {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.pair.sign(msg).as_ref().to_vec())
    }
}

/// Finds the first PEM block whose label ends in `PRIVATE KEY` and returns
/// its decoded body, which must be a `PRIVATE KEY` (PKCS#8) block.
pub(crate) fn pem_private_key(pem: &str) -> Result<Zeroizing<Vec<u8>>, Pkcs8Error> {
    let mut lines = pem.lines().map(str::trim);
    let label = loop {
        let Some(line) = lines.next() else {
            return Err(Pkcs8Error::NoPemBlock);
        };
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if label.ends_with("PRIVATE KEY") {
            break label;
        }
    };
    if label != "PRIVATE KEY" {
        return Err(Pkcs8Error::UnsupportedPemBlock {
            label: label.to_owned(),
        });
    }
    let end = format!("-----END {label}-----");
    let mut body = Zeroizing::new(String::new());
    let mut terminated = false;
    for line in lines {
        if line == end {
            terminated = true;
            break;
        }
        if line.contains(':') {
            return Err(Pkcs8Error::PemHeaders);
        }
        body.push_str(line);
    }
    if !terminated {
        return Err(Pkcs8Error::UnterminatedPem {
            label: label.to_owned(),
        });
    }
    B64.decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| Pkcs8Error::PemBase64 {
            reason: e.to_string(),
        })
}

/// Reads one DER TLV: returns (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), Pkcs8Error> {
    const TRUNCATED: Pkcs8Error = Pkcs8Error::Malformed {
        what: "truncated element",
    };
    let (&tag, rest) = input.split_first().ok_or(TRUNCATED)?;
    let (&first, rest) = rest.split_first().ok_or(TRUNCATED)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(Pkcs8Error::Malformed {
                what: "unsupported length encoding",
            });
        }
        let bytes = rest.get(..n).ok_or(TRUNCATED)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest.get(n..).ok_or(TRUNCATED)?)
    };
    let contents = rest.get(..len).ok_or(TRUNCATED)?;
    let rest = rest.get(len..).ok_or(TRUNCATED)?;
    Ok((tag, contents, rest))
}

/// Reads a tagged element, requiring `tag`.
fn der_expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), Pkcs8Error> {
    let (t, contents, rest) = der_tlv(input).map_err(|_| Pkcs8Error::Malformed { what })?;
    if t != tag {
        return Err(Pkcs8Error::Malformed { what });
    }
    Ok((contents, rest))
}

/// The fields of a PKCS#8 `OneAsymmetricKey` after the private key:
/// returns (seed, trailing optional fields).
fn pkcs8_fields(der: &[u8]) -> Result<(&[u8], &[u8]), Pkcs8Error> {
    let (body, trailing) = der_expect(der, 0x30, "outer SEQUENCE")?;
    if !trailing.is_empty() {
        return Err(Pkcs8Error::Malformed {
            what: "trailing bytes after the outer SEQUENCE",
        });
    }
    let (version, rest) = der_expect(body, 0x02, "version INTEGER")?;
    if version != [0] && version != [1] {
        return Err(Pkcs8Error::Malformed {
            what: "version must be 0 or 1",
        });
    }
    let (alg, rest) = der_expect(rest, 0x30, "algorithm SEQUENCE")?;
    let (oid, params) = der_expect(alg, 0x06, "algorithm OID")?;
    if oid != OID_ED25519 {
        return Err(Pkcs8Error::Algorithm {
            oid: dotted_oid(oid),
        });
    }
    if !params.is_empty() {
        return Err(Pkcs8Error::Malformed {
            what: "Ed25519 algorithm must have no parameters",
        });
    }
    let (private, rest) = der_expect(rest, 0x04, "privateKey OCTET STRING")?;
    let (seed, extra) = der_expect(private, 0x04, "inner CurvePrivateKey OCTET STRING")?;
    if !extra.is_empty() {
        return Err(Pkcs8Error::Malformed {
            what: "trailing bytes in privateKey",
        });
    }
    Ok((seed, rest))
}

/// The Ed25519 seed of a PKCS#8 DER key.
fn pkcs8_ed25519_seed(der: &[u8]) -> Result<Zeroizing<[u8; 32]>, Pkcs8Error> {
    let (seed, _) = pkcs8_fields(der)?;
    if seed.len() != 32 {
        return Err(Pkcs8Error::SeedLength { len: seed.len() });
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(seed);
    Ok(out)
}

/// The optional PKCS#8 v2 `[1] publicKey` of a DER key.
fn pkcs8_public_key(der: &[u8]) -> Result<Option<[u8; 32]>, Pkcs8Error> {
    let (_, mut rest) = pkcs8_fields(der)?;
    while !rest.is_empty() {
        let (tag, contents, next) = der_tlv(rest)?;
        rest = next;
        match tag {
            // [0] IMPLICIT attributes: ignored.
            0xa0 => {}
            // [1] IMPLICIT BIT STRING: 0 unused bits, then the key.
            0x81 => {
                let key = contents.strip_prefix(&[0u8]).ok_or(Pkcs8Error::Malformed {
                    what: "publicKey BIT STRING has unused bits",
                })?;
                let key: [u8; 32] = key.try_into().map_err(|_| Pkcs8Error::Malformed {
                    what: "publicKey must be 32 bytes",
                })?;
                return Ok(Some(key));
            }
            _ => {
                return Err(Pkcs8Error::Malformed {
                    what: "unexpected element after privateKey",
                });
            }
        }
    }
    Ok(None)
}

/// Renders DER OID contents in dotted form (best effort, for messages).
fn dotted_oid(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = acc.saturating_mul(128).saturating_add(u64::from(b & 0x7f));
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    let mut out = String::new();
    for (i, arc) in arcs.iter().enumerate() {
        if i == 0 {
            let (a, b) = match *arc {
                x if x < 40 => (0, x),
                x if x < 80 => (1, x - 40),
                x => (2, x - 80),
            };
            out.push_str(&format!("{a}.{b}"));
        } else {
            out.push_str(&format!(".{arc}"));
        }
    }
    if out.is_empty() {
        out.push_str("<empty>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_oid_renders_common_algorithms() {
        assert_eq!(dotted_oid(&OID_ED25519), "1.3.101.112");
        assert_eq!(
            dotted_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]),
            "1.2.840.113549.1.1.1"
        );
        assert_eq!(dotted_oid(&[]), "<empty>");
    }

    #[test]
    fn der_tlv_never_panics_on_truncation() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x00],
            &[0x30, 0x85],
            &[0x30, 0x82, 0x01],
        ] {
            assert!(der_tlv(input).is_err());
        }
        let (tag, contents, rest) = der_tlv(&[0x04, 0x81, 0x01, 0xaa, 0xbb]).unwrap();
        assert_eq!((tag, contents, rest), (0x04, &[0xaa][..], &[0xbb][..]));
    }

    #[test]
    fn serial_has_top_bit_clear_and_depends_on_time() {
        let key = ApiKey::from_seed(Zeroizing::new([7u8; 32])).unwrap();
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let t1 = OffsetDateTime::from_unix_timestamp(1_700_000_001).unwrap();
        let s0 = key.serial(t0);
        assert_eq!(s0[0] & 0x80, 0);
        assert_ne!(s0, key.serial(t1));
        assert_eq!(s0, key.serial(t0));
    }
}
