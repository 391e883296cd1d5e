//! Identities of TLS clients (spec §4.1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_types::{CertificateError, Identity, PeerError, identity_of_chain};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, PublicKeyData};

const ROOT_IDENTITY: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";

/// The certificate of the root API key
/// (`kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc`, common name
/// `root@play.min.io`), as `kes_crypto::ApiKey::certificate` makes it; that
/// crate's `tests/apikey.rs` checks the fixture is still what it makes.
fn root_cert() -> Vec<u8> {
    include_bytes!("data/root-api-key.der").to_vec()
}

/// A certificate for a fresh key with the given BasicConstraints, and the
/// identity computed from its SPKI.
fn cert_with(is_ca: IsCa) -> (Vec<u8>, Identity) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["example.test".to_owned()]).unwrap();
    params.is_ca = is_ca;
    let cert = params.self_signed(&key).unwrap();
    let id = Identity::of_spki(&key.subject_public_key_info());
    (cert.der().to_vec(), id)
}

fn ca() -> Vec<u8> {
    cert_with(IsCa::Ca(BasicConstraints::Unconstrained)).0
}

#[test]
fn root_certificate_identity() {
    let cert = root_cert();
    let id = Identity::of_certificate(&cert).unwrap();
    assert_eq!(id.as_str(), ROOT_IDENTITY);
    assert!(id.is_hex());
    // The identity is not the hash of the whole certificate.
    assert_ne!(Identity::of_spki(&cert), id);
    assert_eq!(identity_of_chain(&[&cert]).unwrap(), id);
}

#[test]
fn ca_certificates_are_skipped() {
    let leaf = root_cert();
    let ca1 = ca();
    let ca2 = ca();
    for chain in [
        vec![&leaf[..], &ca1[..]],
        vec![&ca1[..], &leaf[..]],
        vec![&ca1[..], &leaf[..], &ca2[..]],
    ] {
        assert_eq!(identity_of_chain(&chain).unwrap().as_str(), ROOT_IDENTITY);
    }
}

#[test]
fn certificates_without_basic_constraints_are_leaves() {
    let (no_bc, id) = cert_with(IsCa::NoCa);
    assert_eq!(identity_of_chain(&[&no_bc]).unwrap(), id);
    let (explicit, id) = cert_with(IsCa::ExplicitNoCa);
    assert_eq!(identity_of_chain(&[&explicit, &ca()]).unwrap(), id);
}

#[test]
fn only_ca_certificates_means_no_client_certificate() {
    let ca1 = ca();
    for chain in [vec![], vec![&ca1[..]], vec![&ca1[..], &ca1[..]]] {
        let err = identity_of_chain(&chain).unwrap_err();
        assert_eq!(err, PeerError::NoCertificate);
        assert_eq!(err.to_string(), "tls: client certificate is required");
    }
}

#[test]
fn self_signed_ca_true_client_certificate_is_skipped() {
    // The §4.1 trap: tooling that mints a client certificate with CA:TRUE.
    let der = include_bytes!("data/openssl-ed25519-ca.der");
    let id = Identity::of_certificate(der).unwrap();
    assert_eq!(
        id.as_str(),
        include_str!("data/openssl-ed25519.identity").trim()
    );
    let err = identity_of_chain(&[der]).unwrap_err();
    assert_eq!(err.to_string(), "tls: client certificate is required");
}

#[test]
fn openssl_leaf_certificate() {
    let der = include_bytes!("data/openssl-ed25519.der");
    let ca = include_bytes!("data/openssl-ed25519-ca.der");
    let expected = include_str!("data/openssl-ed25519.identity").trim();
    assert_eq!(identity_of_chain(&[der, ca]).unwrap().as_str(), expected);
}

#[test]
fn two_leaves_are_rejected() {
    let a = root_cert();
    let (b, _) = cert_with(IsCa::NoCa);
    let ca1 = ca();
    let err = identity_of_chain(&[&a, &ca1, &b]).unwrap_err();
    assert_eq!(err, PeerError::MoreThanOne);
    assert_eq!(
        err.to_string(),
        "tls: received more than one client certificate"
    );
    // The same certificate twice is still two certificates.
    assert_eq!(
        identity_of_chain(&[&a, &a]).unwrap_err(),
        PeerError::MoreThanOne
    );
}

#[test]
fn unparsable_certificates_are_reported_with_their_position() {
    let leaf = root_cert();
    let err = identity_of_chain(&[&leaf, b"garbage"]).unwrap_err();
    match &err {
        PeerError::Certificate {
            index: 1,
            source: CertificateError::Parse { .. },
        } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().starts_with(
            "tls: client certificate #1 of the chain: invalid certificate: cannot parse X.509 DER"
        ),
        "{err}"
    );

    let mut trailing = leaf.clone();
    trailing.extend_from_slice(&[0, 0, 0]);
    let err = identity_of_chain(&[&trailing]).unwrap_err();
    assert_eq!(
        err,
        PeerError::Certificate {
            index: 0,
            source: CertificateError::TrailingData { len: 3 }
        }
    );
    assert_eq!(
        Identity::of_certificate(&trailing).unwrap_err().to_string(),
        "invalid certificate: 3 trailing bytes after the DER certificate"
    );

    // Every truncation of a valid certificate fails without panicking.
    for n in 0..leaf.len() {
        assert!(Identity::of_certificate(&leaf[..n]).is_err(), "prefix {n}");
        assert!(identity_of_chain(&[&leaf[..n]]).is_err());
    }
}
