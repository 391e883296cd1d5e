//! The compatibility vectors of kes-protocol.md §7.3 (stored keys) and §7.9
//! (ciphertexts), including every must-fail row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kes_crypto::{Cipher, DecryptError, HmacKey, KeyVersion, SecretKey};
use time::macros::datetime;

const Z: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const K2: &str = "dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=";
const P0: &str = "AAAAAAAAAAAAAAAAAAAAAA==";
const P1: &str = "CLcJoykFCWZDkEIiUq9bJRqwCwW9ZDvdgu8EMA==";
const A1: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn key(cipher: Cipher, b64key: &str) -> SecretKey {
    SecretKey::from_slice(cipher, &b64(b64key)).unwrap()
}

/// A typed key version (as stored by any version that wrote an algorithm).
fn typed(cipher: Cipher, b64key: &str) -> KeyVersion {
    let alg = match cipher {
        Cipher::Aes256 => "AES256",
        Cipher::ChaCha20 => "ChaCha20",
    };
    KeyVersion::decode(format!(r#"{{"bytes":"{b64key}","algorithm":"{alg}"}}"#).as_bytes()).unwrap()
}

// ---------------------------------------------------------------- §7.3 keys

const PB_VECTOR: &str = "CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa9HgQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy";
const PB_HEX: &str = "0a240a20c8871bb5eb37de05bb06e5249a2be1fedfeab6ea025ec3c2c2da888a32cf40f6100112240a209cb5e5e32a9ae1c8d94dc49bb14eac36737c90ff40456917c1adb461065af47810011a0c08d8ad84ad061080faeea603224033656366636466333866636265313431616532366131303330663831653936623735333336356134363736306165366235373836393861393763353966643232";
const ROOT_ID: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";

#[test]
fn legacy_key_all_zero() {
    let kv = KeyVersion::decode(format!(r#"{{"bytes":"{Z}"}}"#).as_bytes()).unwrap();
    assert_eq!(kv.key.cipher(), Cipher::Aes256);
    assert!(kv.hmac.is_none());
    assert!(kv.created_at.is_none());
    assert_eq!(kv.created_at_rfc3339(), "0001-01-01T00:00:00Z");
    assert!(kv.created_by.is_none());
    // Key bytes: a ciphertext made with Z decrypts (R1).
    assert_eq!(
        kv.decrypt(&b64(R1), b"").unwrap().as_slice(),
        b64(P0).as_slice()
    );
}

#[test]
fn legacy_key_last_byte_one() {
    let kv =
        KeyVersion::decode(br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE="}"#).unwrap();
    let mut expected = [0u8; 32];
    expected[31] = 1;
    assert_eq!(kv.key.cipher(), Cipher::Aes256);
    assert_same_key(&kv.key, &SecretKey::new(Cipher::Aes256, expected));
}

#[test]
fn legacy_key_random_bytes() {
    let kv =
        KeyVersion::decode(br#"{"bytes":"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E="}"#).unwrap();
    let expected = hex("27caa63b2115d9c7b6ca8002fb9b7463b0923ff853329a4bed71e9027c9cfb41");
    assert_eq!(kv.key.cipher(), Cipher::Aes256);
    assert_same_key(
        &kv.key,
        &SecretKey::from_slice(Cipher::Aes256, &expected).unwrap(),
    );
}

#[test]
fn legacy_key_with_metadata_aes() {
    let kv = KeyVersion::decode(br#"{"bytes":"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E=","algorithm":"AES256-GCM_SHA256","created_at":"2009-11-10T23:00:00Z","created_by":"40235905b7b83e0537a002db523cd019d6709b899adc249c957860cd00fa9f78"}"#).unwrap();
    assert_eq!(kv.key.cipher(), Cipher::Aes256);
    assert_eq!(kv.created_at, Some(datetime!(2009-11-10 23:00:00 UTC)));
    assert_eq!(kv.created_at_rfc3339(), "2009-11-10T23:00:00Z");
    assert_eq!(
        kv.created_by.as_deref(),
        Some("40235905b7b83e0537a002db523cd019d6709b899adc249c957860cd00fa9f78")
    );
    assert!(kv.hmac.is_none());
}

#[test]
fn legacy_key_with_metadata_chacha() {
    let kv = KeyVersion::decode(br#"{"bytes":"9ew6BCae3+13sniOUwttEJ62amg98YXc0OW0WBhNiCY=","algorithm":"XCHACHA20-POLY1305","created_at":"2009-11-10T23:00:00Z","created_by":"189d9de5331e3ee8abe9e4bd40d474ad621d79ccf83a711f6ac68050eb15a52a"}"#).unwrap();
    assert_eq!(kv.key.cipher(), Cipher::ChaCha20);
    let expected = hex("f5ec3a04269edfed77b2788e530b6d109eb66a683df185dcd0e5b458184d8826");
    assert_same_key(
        &kv.key,
        &SecretKey::from_slice(Cipher::ChaCha20, &expected).unwrap(),
    );
    assert_eq!(kv.created_at, Some(datetime!(2009-11-10 23:00:00 UTC)));
    assert_eq!(
        kv.created_by.as_deref(),
        Some("189d9de5331e3ee8abe9e4bd40d474ad621d79ccf83a711f6ac68050eb15a52a")
    );
}

#[test]
fn protobuf_key_vector() {
    let kv = KeyVersion::decode(PB_VECTOR.as_bytes()).unwrap();
    assert_eq!(kv.key.cipher(), Cipher::Aes256);
    assert_same_key(
        &kv.key,
        &SecretKey::from_slice(
            Cipher::Aes256,
            &b64("yIcbtes33gW7BuUkmivh/t/qtuoCXsPCwtqIijLPQPY="),
        )
        .unwrap(),
    );
    let hmac = HmacKey::from_slice(&hex(
        "9cb5e5e32a9ae1c8d94dc49bb14eac36737c90ff40456917c1adb461065af478",
    ))
    .unwrap();
    assert_eq!(
        kv.hmac(b"root access key"),
        Some(hmac.sum(b"root access key"))
    );
    let t = kv.created_at.unwrap();
    assert_eq!(t.unix_timestamp(), 1705055960);
    assert_eq!(t.nanosecond(), 886816000);
    assert_eq!(kv.created_at_rfc3339(), "2024-01-12T10:39:20.886816Z");
    assert_eq!(kv.created_by.as_deref(), Some(ROOT_ID));
}

#[test]
fn protobuf_key_vector_byte_exact_round_trip() {
    assert_eq!(b64(PB_VECTOR), hex(PB_HEX));
    assert_eq!(hex(PB_HEX).len(), 156);
    let kv = KeyVersion::decode(PB_VECTOR.as_bytes()).unwrap();
    let encoded = kv.encode().unwrap();
    assert_eq!(std::str::from_utf8(&encoded).unwrap(), PB_VECTOR);

    // And built from scratch rather than decoded.
    let mut fresh = KeyVersion::import(
        Cipher::Aes256,
        &hex("c8871bb5eb37de05bb06e5249a2be1fedfeab6ea025ec3c2c2da888a32cf40f6"),
        Some(ROOT_ID.to_owned()),
    )
    .unwrap();
    fresh.hmac = Some(
        HmacKey::from_slice(&hex(
            "9cb5e5e32a9ae1c8d94dc49bb14eac36737c90ff40456917c1adb461065af478",
        ))
        .unwrap(),
    );
    fresh.created_at = Some(datetime!(2024-01-12 10:39:20.886816 UTC));
    assert_eq!(
        std::str::from_utf8(&fresh.encode().unwrap()).unwrap(),
        PB_VECTOR
    );
}

#[test]
fn encode_fails_without_hmac_key() {
    let mut kv = KeyVersion::generate(Cipher::Aes256, None);
    kv.hmac = None;
    assert_eq!(
        kv.encode().unwrap_err().to_string(),
        "cannot encode key version: no HMAC key"
    );
}

#[test]
fn protobuf_requires_secret_key() {
    // Only the HMAC key sub-message (field 2) of the vector.
    let raw = hex(PB_HEX);
    let hmac_only = &raw[38..76];
    assert_eq!(hmac_only[0], 0x12);
    let text = STANDARD.encode(hmac_only);
    assert_eq!(
        KeyVersion::decode(text.as_bytes()).unwrap_err().to_string(),
        "invalid protobuf: missing secret key"
    );
}

#[test]
fn malformed_legacy_keys_fail() {
    for bad in [
        r#""bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
        r#"{bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
        r#"{"bytes""AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#,
        r#""bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=""#,
    ] {
        assert!(KeyVersion::decode(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn generated_keys_round_trip_through_storage() {
    for cipher in [Cipher::Aes256, Cipher::ChaCha20] {
        let kv = KeyVersion::generate(cipher, Some(ROOT_ID.into()));
        let text = kv.encode().unwrap();
        assert!(text.iter().all(|b| b.is_ascii_graphic()));
        let back = KeyVersion::decode(&text).unwrap();
        assert_eq!(back.key.cipher(), cipher);
        assert_eq!(back.created_at, kv.created_at);
        assert_eq!(back.created_by, kv.created_by);
        assert_eq!(back.hmac(b"m"), kv.hmac(b"m"));
        let ct = kv.encrypt(b"hello", b"ctx").unwrap();
        assert_eq!(back.decrypt(&ct, b"ctx").unwrap().as_slice(), b"hello");
        assert_eq!(back.encode().unwrap(), text);
    }
}

fn assert_same_key(a: &SecretKey, b: &SecretKey) {
    assert_eq!(a.cipher(), b.cipher());
    let ct = b.encrypt(b"probe", b"").unwrap();
    assert_eq!(a.decrypt(&ct, b"").unwrap().as_slice(), b"probe");
}

// ---------------------------------------------------------- §7.9 ciphertexts

const J1: &str = r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#;
const J2: &str = r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#;
const J3: &str = r#"{"aead":"ChaCha20Poly1305","id":"66687aadf862bd776c8fc18b8e9f8e20","iv":"EC0eZp7Pqt+LnkOae5xaAg==","nonce":"X1ejXKmH/ugFZPkk","bytes":"wIGBTDs6aOvsqJfekZ0PYRT/OHyFX2TXqeNwl1SLXOI="}"#;
const M1: &str = "lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ=";
const M2: &str = "lbJYQ0hBQ0hBMjAtUE9MWTEzMDXZIDY2Njg3YWFkZjg2MmJkNzc2YzhmYzE4YjhlOWY4ZTIwxBBAr+aptD4x2+qfOhiErbnkxAxYs8RmNC1JJXD1hiHEIJ2KqM0jjkME7ndx8nyVseesN83Np0rM5ejVUun+fNFu";
const R1: &str = "zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc";
const R2: &str = "s2gmfQHeGdlyL8x1yEWSACUV3GrSoz3t160hugMgzKWgyqesXDVUJ5Dw5Mt076rR1PNiU9X4YjLH14D8a81t2r2xsz4gVZac";
const R3: &str = "gO4woRIswAJdjUjW7z2ApsSQxJlwB24yjLrmH4eI7sB0uh5nfEJfk9ybTPFft5FRFaZCVBmzhx7OJs9n0WWtxH3sySIxecIK";

/// (name, type, key, aad, ciphertext bytes, plaintext)
type Vector = (
    &'static str,
    Cipher,
    &'static str,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
);

fn must_succeed() -> Vec<Vector> {
    vec![
        (
            "J1",
            Cipher::Aes256,
            Z,
            vec![],
            J1.as_bytes().to_vec(),
            b64(P0),
        ),
        (
            "J2",
            Cipher::ChaCha20,
            Z,
            vec![],
            J2.as_bytes().to_vec(),
            b64(P0),
        ),
        (
            "J3",
            Cipher::ChaCha20,
            Z,
            vec![],
            J3.as_bytes().to_vec(),
            b64(P0),
        ),
        ("M1", Cipher::Aes256, Z, vec![], b64(M1), b64(P0)),
        ("M2", Cipher::ChaCha20, Z, vec![], b64(M2), b64(P0)),
        ("R1", Cipher::Aes256, Z, vec![], b64(R1), b64(P0)),
        ("R2", Cipher::Aes256, K2, b64(A1), b64(R2), b64(P1)),
        ("R3", Cipher::ChaCha20, K2, b64(A1), b64(R3), b64(P1)),
    ]
}

#[test]
fn decrypt_vectors_succeed() {
    for (name, cipher, k, aad, ct, pt) in must_succeed() {
        let got = key(cipher, k)
            .decrypt(&ct, &aad)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.as_slice(), pt.as_slice(), "{name}");
        let got = typed(cipher, k)
            .decrypt(&ct, &aad)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.as_slice(), pt.as_slice(), "{name} via KeyVersion");
        // A typed key of the other type fails (§7.7.2).
        let other = match cipher {
            Cipher::Aes256 => Cipher::ChaCha20,
            Cipher::ChaCha20 => Cipher::Aes256,
        };
        assert!(
            key(other, k).decrypt(&ct, &aad).is_err(),
            "{name} other type"
        );
        assert!(
            typed(other, k).decrypt(&ct, &aad).is_err(),
            "{name} other type"
        );
    }
}

#[test]
fn decrypt_vectors_as_base64_api_ciphertexts() {
    // Over the HTTP API, M1..R3 arrive as exactly these base64 strings.
    assert_eq!(
        b64(R1),
        hex(
            "cf07438077919481519c9efe0c886cfe46bb1852b608549f0c42ea835542c93433679f28ecc01dba930b93766394ca366540f095d2f6a38d670160dc"
        )
    );
}

#[test]
fn decrypt_vectors_with_wrong_context_fail() {
    for (name, cipher, k, aad, ct, _) in must_succeed() {
        let mut wrong = aad.clone();
        wrong.push(0);
        assert!(key(cipher, k).decrypt(&ct, &wrong).is_err(), "{name}");
    }
}

#[test]
fn untyped_legacy_key_decrypts_chacha_json_j2() {
    let kv = KeyVersion::decode(format!(r#"{{"bytes":"{Z}"}}"#).as_bytes()).unwrap();
    assert_eq!(kv.key.cipher(), Cipher::Aes256);
    for (name, ct) in [
        ("J2", J2.as_bytes().to_vec()),
        ("J3", J3.as_bytes().to_vec()),
        ("M2", b64(M2)),
        ("J1", J1.as_bytes().to_vec()),
        ("M1", b64(M1)),
        ("R1", b64(R1)),
    ] {
        let pt = kv
            .decrypt(&ct, b"")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pt.as_slice(), b64(P0).as_slice(), "{name}");
    }
    // A typed AES key does not get the leniency; neither does a bare SecretKey.
    assert!(
        typed(Cipher::Aes256, Z)
            .decrypt(J2.as_bytes(), b"")
            .is_err()
    );
    assert!(key(Cipher::Aes256, Z).decrypt(J2.as_bytes(), b"").is_err());
    // Untyped keys still cannot open raw ChaCha ciphertexts (no algorithm named).
    let chacha_raw = key(Cipher::ChaCha20, Z).encrypt(b"x", b"").unwrap();
    assert!(kv.decrypt(&chacha_raw, b"").is_err());
}

#[test]
fn decrypt_must_fail_vectors() {
    let rows: [(&str, Cipher, &str); 7] = [
        (
            "F1",
            Cipher::Aes256,
            r#"{"aead":"AES-256-GCM","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#,
        ),
        (
            "F2",
            Cipher::Aes256,
            r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"EjOY4JKqjIrPmQ5z1KSR8zlhggY=","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#,
        ),
        (
            "F3",
            Cipher::ChaCha20,
            r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"SXAbms731/c=","bytes":"cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE="}"#,
        ),
        (
            "F4",
            Cipher::Aes256,
            r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"efY+4kYF9n8=","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#,
        ),
        (
            "F5",
            Cipher::Aes256,
            r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"QTza1g5oX3f9cGJMbY1xJwWPj1F7R2VnNl6XpFKYQy0="}"#,
        ),
        (
            "F6",
            Cipher::ChaCha20,
            r#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"8/kHMnCMs3h9NZ2a","bytes":"TTi8pkO+Jh1JWAHvPxZeUk/iVoBPUCE4ZSVGBy3fW2s="}"#,
        ),
        (
            "F7",
            Cipher::Aes256,
            r#"{"aead":"AES-256-GCM-HMAC-SHA-256" "iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#,
        ),
    ];
    for (name, cipher, ct) in rows {
        let err = key(cipher, Z).decrypt(ct.as_bytes(), b"").unwrap_err();
        assert!(
            err.to_string().starts_with("ciphertext is not authentic"),
            "{name}: {err}"
        );
        assert!(
            typed(cipher, Z).decrypt(ct.as_bytes(), b"").is_err(),
            "{name}"
        );
        // Untyped legacy key: still fails.
        let untyped = KeyVersion::decode(format!(r#"{{"bytes":"{Z}"}}"#).as_bytes()).unwrap();
        assert!(
            untyped.decrypt(ct.as_bytes(), b"").is_err(),
            "{name} untyped"
        );
    }
    // The reason for the structural rows is kept for logs.
    let f1 = key(Cipher::Aes256, Z)
        .decrypt(rows_f1().as_bytes(), b"")
        .unwrap_err();
    assert!(
        f1.to_string().contains("unknown aead 'AES-256-GCM'"),
        "{f1}"
    );
    let f2 = r#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"EjOY4JKqjIrPmQ5z1KSR8zlhggY=","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#;
    let e = key(Cipher::Aes256, Z)
        .decrypt(f2.as_bytes(), b"")
        .unwrap_err();
    assert!(e.to_string().contains("iv must be 16 bytes, got 20"), "{e}");
    let e = key(Cipher::Aes256, Z)
        .decrypt(
            J1.replace("gu0mGwUkwcvMEoi5", "efY+4kYF9n8=").as_bytes(),
            b"",
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("nonce must be 12 bytes, got 8"),
        "{e}"
    );
}

fn rows_f1() -> &'static str {
    r#"{"aead":"AES-256-GCM","iv":"xLxIN3tSCkg2xMafuvwUwg==","nonce":"gu0mGwUkwcvMEoi5","bytes":"WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc="}"#
}

#[test]
fn legacy_id_is_ignored() {
    // v0.22 rejected a mismatching id; current behaviour accepts it (§7.7.3).
    let ct = J1.replacen('{', r#"{"id":"00010203040506070809101112131415","#, 1);
    let pt = key(Cipher::Aes256, Z).decrypt(ct.as_bytes(), b"").unwrap();
    assert_eq!(pt.as_slice(), b64(P0).as_slice());
}

#[test]
fn short_raw_ciphertexts_fail() {
    for len in [0usize, 1, 16, 28] {
        assert_eq!(
            key(Cipher::Aes256, Z)
                .decrypt(&vec![0u8; len], b"")
                .unwrap_err(),
            DecryptError::TooShort { len }
        );
    }
}

#[test]
fn secret_key_encrypt_round_trips() {
    let cases = [
        (Cipher::Aes256, Z, b64(P0), vec![]),
        (Cipher::Aes256, K2, b64(P0), vec![]),
        (Cipher::Aes256, K2, b64(P1), b64(A1)),
        (Cipher::ChaCha20, K2, b64(P1), b64(A1)),
    ];
    for (cipher, k, pt, aad) in cases {
        let k = key(cipher, k);
        let a = k.encrypt(&pt, &aad).unwrap();
        let b = k.encrypt(&pt, &aad).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), pt.len() + 44);
        assert_eq!(k.decrypt(&a, &aad).unwrap().as_slice(), pt.as_slice());
        assert_eq!(k.decrypt(&b, &aad).unwrap().as_slice(), pt.as_slice());
    }
}

#[test]
fn raw_ciphertext_starting_with_legacy_marker_still_decrypts() {
    // §7.5.4: a raw ciphertext whose first byte is 0x95 or '{' must decrypt.
    let k = key(Cipher::ChaCha20, K2);
    let mut seen = [false; 2];
    for _ in 0..20_000 {
        let ct = k.encrypt(b"", b"").unwrap();
        let idx = match ct[0] {
            0x95 => 0,
            b'{' => 1,
            _ => continue,
        };
        assert_eq!(k.decrypt(&ct, b"").unwrap().as_slice(), b"");
        seen[idx] = true;
        if seen == [true, true] {
            break;
        }
    }
    assert!(seen.iter().any(|s| *s));
}
