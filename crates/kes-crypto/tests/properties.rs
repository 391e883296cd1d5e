//! Property tests: encrypt/decrypt round trips for both ciphers, every kind
//! of corruption fails authentication, and arbitrary input to the decoders
//! returns an error instead of panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kes_crypto::{Cipher, KeyVersion, SecretKey};
use proptest::prelude::*;

/// The decode paths under test (the libFuzzer targets of the same decoders
/// live in `crates/kes-fuzz`).
mod fuzzing {
    use kes_crypto::{Cipher, KeyVersion, SecretKey};

    /// Ciphertext detection, parsing and decryption with both key types and
    /// an untyped legacy key.
    pub fn decode_ciphertext(data: &[u8]) {
        for cipher in [Cipher::Aes256, Cipher::ChaCha20] {
            let _ = SecretKey::new(cipher, [0u8; 32]).decrypt(data, b"");
        }
        let kv = KeyVersion::decode(br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#)
            .unwrap();
        let _ = kv.decrypt(data, b"");
    }

    /// The stored-key decoder and, on success, re-encoding.
    pub fn decode_key_version(data: &[u8]) {
        if let Ok(kv) = KeyVersion::decode(data) {
            let _ = kv.encode();
            let _ = kv.created_at_rfc3339();
        }
    }
}

fn cipher() -> impl Strategy<Value = Cipher> {
    prop_oneof![Just(Cipher::Aes256), Just(Cipher::ChaCha20)]
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn round_trip(c in cipher(), k in any::<[u8; 32]>(),
                  pt in proptest::collection::vec(any::<u8>(), 0..512),
                  aad in proptest::collection::vec(any::<u8>(), 0..64)) {
        let key = SecretKey::new(c, k);
        let ct = key.encrypt(&pt, &aad).unwrap();
        prop_assert_eq!(ct.len(), pt.len() + 44);
        prop_assert_eq!(key.decrypt(&ct, &aad).unwrap().to_vec(), pt);
    }

    #[test]
    fn key_version_round_trip(c in cipher(),
                              pt in proptest::collection::vec(any::<u8>(), 0..128),
                              aad in proptest::collection::vec(any::<u8>(), 0..64)) {
        let kv = KeyVersion::generate(c, None);
        let stored = KeyVersion::decode(&kv.encode().unwrap()).unwrap();
        let ct = kv.encrypt(&pt, &aad).unwrap();
        prop_assert_eq!(stored.decrypt(&ct, &aad).unwrap().to_vec(), pt);
        let dek = stored.generate_dek(&aad).unwrap();
        prop_assert_eq!(kv.decrypt(&dek.ciphertext, &aad).unwrap().to_vec(), dek.plaintext.to_vec());
    }

    #[test]
    fn flipped_bit_fails(c in cipher(), k in any::<[u8; 32]>(),
                         pt in proptest::collection::vec(any::<u8>(), 0..64),
                         aad in proptest::collection::vec(any::<u8>(), 0..16),
                         pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let key = SecretKey::new(c, k);
        let mut ct = key.encrypt(&pt, &aad).unwrap();
        let i = pos.index(ct.len());
        ct[i] ^= 1 << bit;
        prop_assert!(key.decrypt(&ct, &aad).is_err());
    }

    #[test]
    fn truncation_fails(c in cipher(), k in any::<[u8; 32]>(),
                        pt in proptest::collection::vec(any::<u8>(), 0..64),
                        cut in any::<prop::sample::Index>(), from_front in any::<bool>()) {
        let key = SecretKey::new(c, k);
        let ct = key.encrypt(&pt, b"").unwrap();
        let n = cut.index(ct.len()) + 1; // drop 1..=len bytes
        let short = if from_front { &ct[n..] } else { &ct[..ct.len() - n] };
        prop_assert!(key.decrypt(short, b"").is_err());
    }

    #[test]
    fn wrong_context_fails(c in cipher(), k in any::<[u8; 32]>(),
                           aad in proptest::collection::vec(any::<u8>(), 0..32),
                           other in proptest::collection::vec(any::<u8>(), 0..32)) {
        prop_assume!(aad != other);
        let key = SecretKey::new(c, k);
        let ct = key.encrypt(b"secret", &aad).unwrap();
        prop_assert!(key.decrypt(&ct, &other).is_err());
    }

    #[test]
    fn wrong_key_fails(c in cipher(), k in any::<[u8; 32]>(), k2 in any::<[u8; 32]>(), c2 in cipher()) {
        prop_assume!(k != k2 || c != c2);
        let ct = SecretKey::new(c, k).encrypt(b"secret", b"ctx").unwrap();
        prop_assert!(SecretKey::new(c2, k2).decrypt(&ct, b"ctx").is_err());
    }

    #[test]
    fn arbitrary_ciphertext_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::decode_ciphertext(&data);
        prop_assert!(SecretKey::new(Cipher::Aes256, [0; 32]).decrypt(&data, b"").is_err());
    }

    #[test]
    fn msgpack_shaped_ciphertext_never_panics(alg in proptest::collection::vec(any::<u8>(), 0..40),
                                              tags in proptest::collection::vec(any::<u8>(), 5),
                                              body in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut data = vec![0x95, 0xa0 | (alg.len() as u8 & 0x1f)];
        data.extend_from_slice(&alg);
        data.extend_from_slice(&tags);
        data.extend_from_slice(&body);
        fuzzing::decode_ciphertext(&data);
    }

    #[test]
    fn jsonish_ciphertext_never_panics(s in r#"\{("(aead|iv|nonce|bytes|id)":("[A-Za-z0-9+/=]{0,40}"|null|1|\[\]),?){0,6}\}"#) {
        fuzzing::decode_ciphertext(s.as_bytes());
        prop_assert!(SecretKey::new(Cipher::ChaCha20, [0; 32]).decrypt(s.as_bytes(), b"").is_err());
    }

    #[test]
    fn arbitrary_key_version_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::decode_key_version(&data);
    }

    #[test]
    fn arbitrary_base64_key_version_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = STANDARD.encode(&data);
        fuzzing::decode_key_version(text.as_bytes());
        prop_assert!(KeyVersion::decode(text.as_bytes()).is_err() || data.len() >= 70);
    }

    #[test]
    fn mutated_protobuf_never_panics(pos in any::<prop::sample::Index>(), byte in any::<u8>(),
                                     cut in any::<prop::sample::Index>()) {
        let kv = KeyVersion::generate(Cipher::Aes256, Some("someone".into()));
        let mut raw = STANDARD.decode(kv.encode().unwrap().as_slice()).unwrap();
        let i = pos.index(raw.len());
        raw[i] = byte;
        raw.truncate(cut.index(raw.len() + 1));
        fuzzing::decode_key_version(STANDARD.encode(&raw).as_bytes());
    }

    #[test]
    fn jsonish_key_version_never_panics(s in r#"\{("(bytes|algorithm|created_at|created_by|version|BYTES)":("[A-Za-z0-9+/=:.TZ-]{0,48}"|null|true|1|\{\}),?){0,6}\}"#) {
        fuzzing::decode_key_version(s.as_bytes());
    }
}
