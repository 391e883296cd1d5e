//! The legacy PEM decryption against key files written by OpenSSL
//! (fixtures and the commands that made them: `tests/data/legacy-pem/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use kes_crypto::legacy_pem::{self, KeyFormat, LegacyCipher, LegacyPemError};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/legacy-pem")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn openssl_fixtures_decrypt_to_openssl_plaintext() {
    let cases = [
        (
            "ec-aes256.pem",
            "ec.der",
            LegacyCipher::Aes256Cbc,
            KeyFormat::Sec1,
        ),
        (
            "rsa-des.pem",
            "rsa.der",
            LegacyCipher::DesCbc,
            KeyFormat::Pkcs1,
        ),
        (
            "rsa-des3.pem",
            "rsa.der",
            LegacyCipher::DesEde3Cbc,
            KeyFormat::Pkcs1,
        ),
        (
            "rsa-aes128.pem",
            "rsa.der",
            LegacyCipher::Aes128Cbc,
            KeyFormat::Pkcs1,
        ),
        (
            "rsa-aes192.pem",
            "rsa.der",
            LegacyCipher::Aes192Cbc,
            KeyFormat::Pkcs1,
        ),
        (
            "pkcs8-aes256.pem",
            "ec.pkcs8.der",
            LegacyCipher::Aes256Cbc,
            KeyFormat::Pkcs8,
        ),
    ];
    for (file, plain, cipher, format) in cases {
        let pem = fixture(file);
        assert!(legacy_pem::is_encrypted(&pem), "{file}");
        let enc = legacy_pem::find_encrypted(&pem).unwrap().unwrap();
        assert_eq!(enc.cipher(), cipher, "{file}");
        let key = enc.decrypt(b"secret").unwrap();
        assert_eq!(key.format(), format, "{file}");
        assert_eq!(&key.der[..], &fixture(plain)[..], "{file}");
    }
}

#[test]
fn wrong_password_is_reported_precisely() {
    for file in [
        "ec-aes256.pem",
        "rsa-des.pem",
        "rsa-des3.pem",
        "rsa-aes128.pem",
        "pkcs8-aes256.pem",
    ] {
        let err = legacy_pem::decrypt(&fixture(file), b"wrong").unwrap_err();
        assert_eq!(err, LegacyPemError::WrongPassword, "{file}");
        assert_eq!(
            err.to_string(),
            "private key decryption failed: wrong password or corrupted key"
        );
    }
}

#[test]
fn re_encrypted_fixture_round_trips() {
    let der = fixture("rsa.der");
    let pem = legacy_pem::encrypt_aes256("RSA PRIVATE KEY", &der, b"other").unwrap();
    let key = legacy_pem::decrypt(pem.as_bytes(), b"other").unwrap();
    assert_eq!(key.label, "RSA PRIVATE KEY");
    assert_eq!(&key.der[..], &der[..]);
}

#[test]
fn certificates_before_the_key_are_skipped() {
    let mut pem = fixture("ec.crt");
    pem.extend(fixture("ec-aes256.pem"));
    let key = legacy_pem::decrypt(&pem, b"secret").unwrap();
    assert_eq!(&key.der[..], &fixture("ec.der")[..]);
}
