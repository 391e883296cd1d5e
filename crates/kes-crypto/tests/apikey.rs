//! API keys (spec §6): text format, identities, PKCS#8, certificates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use kes_crypto::apikey::Pkcs8Error;
use kes_crypto::{ApiKey, ApiKeyError, CertificateOptions};
use kes_types::{Identity, identity_of_chain};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

const ROOT_API_KEY: &str = "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc";
const ROOT_IDENTITY: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";

/// §6.5: API key, SPKI hex (None for root.key), identity.
const VECTORS: &[(&str, Option<&str>, &str)] = &[
    (
        "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
        Some(
            "302a300506032b6570032100a06f6aa534af7404add2f025e748a9cf6f7abf1a7cbd458e12b37c4cd107269e",
        ),
        "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb",
    ),
    (
        "kes:v1:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA1TuJ",
        Some(
            "302a300506032b65700321006b67de08276c1753855076b5108ed97eb5b97e80f7245fb3c8ddb167716ff383",
        ),
        "ab785e3b95d80d72cc9c27cb9fde886a0bf9068a69d40e3bd08a54e68c3f2bf7",
    ),
    (
        "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs",
        Some(
            "302a300506032b657003210097c655cdfa5829dcbf4d1e791f125ea552f0342cce061bf1d9976c5f7f7cafa7",
        ),
        "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6",
    ),
    (ROOT_API_KEY, None, ROOT_IDENTITY),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

#[test]
fn vectors_6_5_api_key_to_spki_to_identity() {
    for &(text, spki, identity) in VECTORS {
        let key = ApiKey::parse(text).unwrap();
        if let Some(spki) = spki {
            assert_eq!(hex(&key.spki_der()), spki, "{text}");
            assert_eq!(hex(&key.public_key()), spki[24..], "{text}");
        }
        assert_eq!(key.identity().as_str(), identity, "{text}");
        assert_eq!(Identity::of_spki(&key.spki_der()).as_str(), identity);
        assert_eq!(key.to_string(), text);
        assert_eq!(key.encode().as_str(), text);
    }
}

#[test]
fn parse_round_trips() {
    for text in [
        "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs",
        "kes:v1:AM0F5TP43FYEShMzA42f2drFYGnBOiNx7UH4DK0nm08E",
    ] {
        let key: ApiKey = text.parse().unwrap();
        assert_eq!(key.to_string(), text);
        assert_eq!(text.len(), 51);
    }
}

#[test]
fn parse_accepts_bare_base64() {
    let key = ApiKey::parse("AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs").unwrap();
    assert_eq!(
        key.to_string(),
        "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs"
    );
}

#[test]
fn parse_must_fail_rows() {
    // A foreign prefix is not stripped, so its ':' is not base64.
    let err = ApiKey::parse("v1:AM0F5TP43FYEShMzA42f2drFYGnBOiNx7UH4DK0nm08E").unwrap_err();
    assert_eq!(
        err,
        ApiKeyError::Base64Symbol {
            offset: 2,
            byte: b':'
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid API key: invalid base64 character 0x3a at offset 2"
    );
    let err = ApiKey::parse("kes:AM0F5TP43FYEShMzA42f2drFYGnBOiNx7UH4DK0nm08E").unwrap_err();
    assert_eq!(
        err,
        ApiKeyError::Base64Symbol {
            offset: 3,
            byte: b':'
        }
    );
    let err = ApiKey::parse("kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW").unwrap_err();
    assert_eq!(err, ApiKeyError::UnsupportedType);
    assert_eq!(err.to_string(), "invalid API key: unsupported type");
}

#[test]
fn parse_length_and_base64_errors() {
    for short in [
        "kes:v1:",
        "",
        "kes:v1:AAAA",
        "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAsAAAA",
    ] {
        let err = ApiKey::parse(short).unwrap_err();
        assert_eq!(err, ApiKeyError::InvalidLength, "{short}");
        assert_eq!(err.to_string(), "invalid API key: invalid length");
    }
    // Offsets count from the start of the whole text, prefix included.
    let err = ApiKey::parse("kes:v1:AGaV6VXHasF0FnaB60WdCOeT!8eTIDikL4zlN16c8NAs").unwrap_err();
    assert_eq!(
        err,
        ApiKeyError::Base64Symbol {
            offset: 7 + 24,
            byte: b'!'
        }
    );
    // Missing padding is an error (standard base64 requires it).
    let err = ApiKey::parse("kes:v1:AAAAAA").unwrap_err();
    assert_eq!(err, ApiKeyError::Base64Padding);
    assert!(
        err.to_string()
            .starts_with("invalid API key: invalid base64 padding")
    );
    // URL-safe alphabet is rejected.
    let err = ApiKey::parse("kes:v1:AD9E7FSYWrMD-VjhI6q545cYT9YOyFxZb7UnjEepYDRc").unwrap_err();
    assert!(
        matches!(err, ApiKeyError::Base64Symbol { byte: b'-', .. }),
        "{err:?}"
    );
    // A lone symbol cannot encode a byte.
    let err = ApiKey::parse("kes:v1:A").unwrap_err();
    assert!(matches!(err, ApiKeyError::Base64Length { .. }), "{err:?}");
}

#[test]
fn parse_errors_never_contain_key_material() {
    let text = "kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW";
    let err = ApiKey::parse(text).unwrap_err();
    assert!(!err.to_string().contains("sbDv"));
    assert!(!format!("{err:?}").contains("sbDv"));
}

#[test]
fn debug_redacts_the_seed() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let dbg = format!("{key:?}");
    assert!(dbg.contains(ROOT_IDENTITY), "{dbg}");
    assert!(dbg.contains("<redacted>"), "{dbg}");
    assert!(!dbg.contains("AD9E7FSY"), "{dbg}");
    // The seed in hex must not appear either.
    assert!(!dbg.contains("3f44ec54"), "{dbg}");
}

#[test]
fn generate_gives_distinct_parseable_keys() {
    let a = ApiKey::generate().unwrap();
    let b = ApiKey::generate().unwrap();
    assert_ne!(a.identity(), b.identity());
    let text = a.to_string();
    assert!(text.starts_with("kes:v1:A"));
    assert_eq!(text.len(), 51);
    let again = ApiKey::parse(&text).unwrap();
    assert_eq!(again.identity(), a.identity());
    assert_eq!(again.public_key(), a.public_key());
}

#[test]
fn pkcs8_der_is_fixed_prefix_and_seed() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let der = key.to_pkcs8_der();
    assert_eq!(der.len(), 48);
    assert_eq!(hex(&der[..16]), "302e020100300506032b657004220420");
    assert_eq!(
        hex(&der[16..]),
        "3f44ec54985ab303f958e123aab9e397184fd60ec85c596fb5278c47a960345c"
    );
}

#[test]
fn root_key_file_converts_to_the_root_api_key() {
    let pem = include_str!("data/root.key");
    let key = ApiKey::from_pkcs8_pem(pem).unwrap();
    assert_eq!(key.to_string(), ROOT_API_KEY);
    assert_eq!(key.identity().as_str(), ROOT_IDENTITY);
    // And back: our PEM is the same file.
    assert_eq!(key.to_pkcs8_pem().as_str(), pem);
}

#[test]
fn openssl_ed25519_key_gives_openssl_identity() {
    let key = ApiKey::from_pkcs8_pem(include_str!("data/openssl-ed25519.key")).unwrap();
    let expected = include_str!("data/openssl-ed25519.identity").trim();
    assert_eq!(key.identity().as_str(), expected);
    let cert = include_bytes!("data/openssl-ed25519.der");
    assert_eq!(Identity::of_certificate(cert).unwrap().as_str(), expected);
}

#[test]
fn pkcs8_pem_round_trips_for_random_keys() {
    for _ in 0..8 {
        let key = ApiKey::generate().unwrap();
        let back = ApiKey::from_pkcs8_pem(&key.to_pkcs8_pem()).unwrap();
        assert_eq!(back.to_string(), key.to_string());
    }
}

#[test]
fn pkcs8_pem_skips_certificates_and_accepts_crlf() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let cert = key.certificate(&CertificateOptions::default()).unwrap();
    let bundle = format!("{}{}", cert.cert_pem, key.to_pkcs8_pem().as_str()).replace('\n', "\r\n");
    let back = ApiKey::from_pkcs8_pem(&bundle).unwrap();
    assert_eq!(back.to_string(), ROOT_API_KEY);
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[test]
fn pkcs8_v2_with_public_key() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let v1 = key.to_pkcs8_der();
    // OneAsymmetricKey v2: version 1, + [1] publicKey BIT STRING.
    let mut body = vec![0x02, 0x01, 0x01];
    body.extend_from_slice(&v1[5..]);
    body.extend_from_slice(&[0x81, 0x21, 0x00]);
    body.extend_from_slice(&key.public_key());
    let mut der = vec![0x30, body.len() as u8];
    der.extend_from_slice(&body);
    let back = ApiKey::from_pkcs8_pem(&pem("PRIVATE KEY", &der)).unwrap();
    assert_eq!(back.to_string(), ROOT_API_KEY);

    // A public key of another key pair is rejected.
    let other = ApiKey::generate().unwrap().public_key();
    let n = der.len();
    der[n - 32..].copy_from_slice(&other);
    let err = ApiKey::from_pkcs8_pem(&pem("PRIVATE KEY", &der)).unwrap_err();
    assert_eq!(err, ApiKeyError::Pkcs8(Pkcs8Error::PublicKeyMismatch));
}

#[test]
fn pkcs8_pem_rejections() {
    let err = ApiKey::from_pkcs8_pem("").unwrap_err();
    assert_eq!(err, ApiKeyError::Pkcs8(Pkcs8Error::NoPemBlock));
    assert_eq!(
        err.to_string(),
        "invalid private key: no PEM 'PRIVATE KEY' block found"
    );

    let err = ApiKey::from_pkcs8_pem(include_str!("data/ec-p256-sec1.key")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid private key: unsupported PEM block 'EC PRIVATE KEY': only PKCS#8 Ed25519 'PRIVATE KEY' is supported"
    );

    let err = ApiKey::from_pkcs8_pem(include_str!("data/ec-p256-pkcs8.key")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid private key: unsupported private key algorithm 1.2.840.10045.2.1: only Ed25519 (1.3.101.112) is supported"
    );

    let err = ApiKey::from_pkcs8_pem(include_str!("data/x25519.key")).unwrap_err();
    assert_eq!(
        err,
        ApiKeyError::Pkcs8(Pkcs8Error::Algorithm {
            oid: "1.3.101.110".into()
        })
    );

    let unterminated = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEID9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc\n";
    let err = ApiKey::from_pkcs8_pem(unterminated).unwrap_err();
    assert!(
        matches!(err, ApiKeyError::Pkcs8(Pkcs8Error::UnterminatedPem { .. })),
        "{err:?}"
    );

    let encrypted =
        "-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END PRIVATE KEY-----\n";
    let err = ApiKey::from_pkcs8_pem(encrypted).unwrap_err();
    assert_eq!(err, ApiKeyError::Pkcs8(Pkcs8Error::PemHeaders));

    let bad_b64 = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
    let err = ApiKey::from_pkcs8_pem(bad_b64).unwrap_err();
    assert!(
        matches!(err, ApiKeyError::Pkcs8(Pkcs8Error::PemBase64 { .. })),
        "{err:?}"
    );

    // Truncated DER.
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let der = key.to_pkcs8_der();
    let err = ApiKey::from_pkcs8_pem(&pem("PRIVATE KEY", &der[..40])).unwrap_err();
    assert!(
        matches!(err, ApiKeyError::Pkcs8(Pkcs8Error::Malformed { .. })),
        "{err:?}"
    );
    // A 31-byte seed.
    let mut short = der[..47].to_vec();
    short[1] = 0x2d;
    short[13] = 0x21;
    short[15] = 0x1f;
    let err = ApiKey::from_pkcs8_pem(&pem("PRIVATE KEY", &short)).unwrap_err();
    assert_eq!(err, ApiKeyError::Pkcs8(Pkcs8Error::SeedLength { len: 31 }));
    assert_eq!(
        err.to_string(),
        "invalid private key: Ed25519 private key must be 32 bytes, got 31"
    );
}

#[test]
fn certificate_identity_equals_api_key_identity() {
    for &(text, _, identity) in VECTORS {
        let key = ApiKey::parse(text).unwrap();
        let cert = key.certificate(&CertificateOptions::default()).unwrap();
        assert_eq!(
            Identity::of_certificate(&cert.cert_der).unwrap().as_str(),
            identity
        );
        assert_eq!(
            identity_of_chain(&[&cert.cert_der]).unwrap().as_str(),
            identity
        );
        assert_eq!(cert.key_pem.as_str(), key.to_pkcs8_pem().as_str());
    }
}

#[test]
fn certificate_is_deterministic() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let opts = CertificateOptions {
        not_before: Some(at(1_700_000_000)),
        ..CertificateOptions::default()
    };
    let a = key.certificate(&opts).unwrap();
    let b = key.certificate(&opts).unwrap();
    assert_eq!(a.cert_der, b.cert_der);
    assert_eq!(a.cert_pem, b.cert_pem);

    // Sub-second parts do not change the certificate.
    let c = key
        .certificate(&CertificateOptions {
            not_before: Some(at(1_700_000_000) + Duration::milliseconds(750)),
            ..CertificateOptions::default()
        })
        .unwrap();
    assert_eq!(a.cert_der, c.cert_der);

    let d = key
        .certificate(&CertificateOptions {
            not_before: Some(at(1_700_000_001)),
            ..CertificateOptions::default()
        })
        .unwrap();
    assert_ne!(a.cert_der, d.cert_der);
}

#[test]
fn certificate_fields_follow_6_3() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let not_before = at(1_700_000_000);
    let generated = key
        .certificate(&CertificateOptions {
            not_before: Some(not_before),
            ..CertificateOptions::default()
        })
        .unwrap();
    assert!(
        generated
            .cert_pem
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let (rest, cert) =
        x509_parser::certificate::X509Certificate::from_der(&generated.cert_der).unwrap();
    assert!(rest.is_empty());

    assert_eq!(cert.version(), x509_parser::x509::X509Version::V3);
    let cn = |name: &x509_parser::x509::X509Name<'_>| {
        let cns: Vec<_> = name
            .iter_common_name()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(name.iter().count(), 1, "only one RDN");
        cns
    };
    assert_eq!(cn(cert.subject()), [ROOT_IDENTITY]);
    assert_eq!(cn(cert.issuer()), [ROOT_IDENTITY]);
    assert_eq!(cert.validity().not_before.timestamp(), 1_700_000_000);
    assert_eq!(
        cert.validity().not_after.timestamp(),
        1_700_000_000 + 90 * 24 * 3600
    );

    // Serial: SHA-256(public key ‖ not_before) truncated to 16 bytes, top bit clear.
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&key.public_key());
    ctx.update(&1_700_000_000i64.to_be_bytes());
    let mut serial = ctx.finish().as_ref()[..16].to_vec();
    serial[0] &= 0x7f;
    let raw = cert.raw_serial();
    let raw = raw.strip_prefix(&[0u8]).unwrap_or(raw);
    let expected: &[u8] = {
        let first = serial.iter().position(|&b| b != 0).unwrap_or(serial.len());
        &serial[first..]
    };
    assert_eq!(raw, expected);

    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature());
    assert_eq!(ku.value.flags, 1, "digitalSignature only");
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.client_auth);
    assert!(!eku.value.server_auth);
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical);
    assert!(!bc.value.ca);
    assert!(cert.subject_alternative_name().unwrap().is_none());

    // Signed by the key itself with Ed25519.
    assert_eq!(
        cert.signature_algorithm.algorithm,
        x509_parser::oid_registry::OID_SIG_ED25519
    );
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key.public_key())
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .unwrap();
}

#[test]
fn certificate_options() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let generated = key
        .certificate(&CertificateOptions {
            common_name: Some("kes-server".into()),
            not_before: Some(at(1_800_000_000)),
            validity: Duration::days(365),
            server_auth: true,
            ip_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            dns_names: vec!["localhost".into(), "kes.example".into()],
        })
        .unwrap();
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(&generated.cert_der).unwrap();
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, ["kes-server"]);
    assert_eq!(
        cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp(),
        365 * 24 * 3600
    );
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.client_auth && eku.value.server_auth);
    let san = cert.subject_alternative_name().unwrap().unwrap();
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("dns:{d}"),
            GeneralName::IPAddress(ip) => format!("ip:{ip:?}"),
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        ["ip:[127, 0, 0, 1]", "dns:localhost", "dns:kes.example"]
    );
    // Identity does not depend on the certificate's contents.
    assert_eq!(
        Identity::of_certificate(&generated.cert_der)
            .unwrap()
            .as_str(),
        ROOT_IDENTITY
    );
    for ext in cert.extensions() {
        if let ParsedExtension::UnsupportedExtension { .. } = ext.parsed_extension() {
            panic!("unexpected extension {}", ext.oid);
        }
    }
}

#[test]
fn certificate_rejects_bad_options() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let err = key
        .certificate(&CertificateOptions {
            dns_names: vec!["bücher.example".into()],
            ..CertificateOptions::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid certificate DNS name 'bücher.example': not an ASCII (IA5) string"
    );
    let err = key
        .certificate(&CertificateOptions {
            validity: Duration::days(-1),
            ..CertificateOptions::default()
        })
        .unwrap_err();
    assert_eq!(err, ApiKeyError::Validity);
    let err = key
        .certificate(&CertificateOptions {
            validity: Duration::MAX,
            ..CertificateOptions::default()
        })
        .unwrap_err();
    assert_eq!(err, ApiKeyError::Validity);
}

#[test]
fn generated_certificate_debug_redacts_the_key() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let generated = key.certificate(&CertificateOptions::default()).unwrap();
    let dbg = format!("{generated:?}");
    assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
    assert!(dbg.contains("<redacted>"));
}
#[test]
fn reissuing_keeps_the_identity() {
    let key = ApiKey::parse(ROOT_API_KEY).unwrap();
    let a = key.certificate(&CertificateOptions::default()).unwrap();
    let b = key
        .certificate(&CertificateOptions {
            common_name: Some("other".into()),
            server_auth: true,
            ..CertificateOptions::default()
        })
        .unwrap();
    assert_ne!(a.cert_der, b.cert_der);
    assert_eq!(
        Identity::of_certificate(&a.cert_der).unwrap(),
        Identity::of_certificate(&b.cert_der).unwrap()
    );
}

/// kes-types's identity tests read the root API key's certificate from a
/// fixture (kes-types cannot make one); it must stay what this crate makes.
#[test]
fn kes_types_root_certificate_fixture_is_ours() {
    let fixture: &[u8] = include_bytes!("../../kes-types/tests/data/root-api-key.der");
    let cert = ApiKey::parse(ROOT_API_KEY)
        .unwrap()
        .certificate(&CertificateOptions {
            common_name: Some("root@play.min.io".into()),
            not_before: Some(at(ROOT_FIXTURE_NOT_BEFORE)),
            ..CertificateOptions::default()
        })
        .unwrap();
    assert_eq!(cert.cert_der, fixture);
}

/// `not_before` of kes-types's `tests/data/root-api-key.der` (2026-01-01).
const ROOT_FIXTURE_NOT_BEFORE: i64 = 1_767_225_600;
