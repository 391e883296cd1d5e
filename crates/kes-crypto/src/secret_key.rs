//! Secret keys and HMAC keys: the key bytes (always in `Zeroizing`), the
//! per-message key derivation and AEAD of §7.4, and HChaCha20.
//!
//! This module owns the cryptography only; parsing of legacy ciphertext
//! layouts lives in `ciphertext`, the storage codec in `key_version`.

use std::fmt;

use rand::RngCore;
use ring::{aead, hmac};
use zeroize::Zeroizing;

use crate::cipher::Cipher;
use crate::ciphertext::{self, Parts};
use crate::error::{CryptoError, DecryptError, KeyError};

/// Length of the random iv that feeds the key derivation.
pub(crate) const IV_LEN: usize = 16;
/// Length of the AEAD nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// Length of the AEAD tag.
pub(crate) const TAG_LEN: usize = 16;
/// Bytes appended to the sealed data in the raw format: iv ‖ nonce.
pub(crate) const SUFFIX_LEN: usize = IV_LEN + NONCE_LEN;

/// A 32-byte secret key of a given [`Cipher`]. `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SecretKey {
    cipher: Cipher,
    bytes: Zeroizing<[u8; 32]>,
}

impl SecretKey {
    /// Wraps 32 key bytes.
    pub fn new(cipher: Cipher, bytes: [u8; 32]) -> Self {
        Self {
            cipher,
            bytes: Zeroizing::new(bytes),
        }
    }

    /// Copies key bytes from a slice, which must be exactly 32 bytes long.
    pub fn from_slice(cipher: Cipher, bytes: &[u8]) -> Result<Self, KeyError> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(KeyError::InvalidLength { got: bytes.len() });
        }
        key.copy_from_slice(bytes);
        Ok(Self { cipher, bytes: key })
    }

    /// A fresh random key from the thread-local CSPRNG.
    pub fn generate(cipher: Cipher) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut_slice());
        Self { cipher, bytes: key }
    }

    /// The key's type.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The key bytes, for the storage codec only.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Encrypts `plaintext` bound to `aad` in the current (raw) format:
    /// `ciphertext ‖ tag ‖ iv ‖ nonce` (§7.4).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut random = [0u8; SUFFIX_LEN];
        rand::rng().fill_bytes(&mut random);
        self.encrypt_with(&random, plaintext, aad)
    }

    /// [`SecretKey::encrypt`] with caller-supplied randomness (iv ‖ nonce).
    pub(crate) fn encrypt_with(
        &self,
        random: &[u8; SUFFIX_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (iv, nonce) = split_suffix(random);
        let seal_err = || CryptoError::Seal {
            cipher: self.cipher.as_str(),
            len: plaintext.len(),
        };
        let key = aead_key(self.cipher, &self.bytes, &iv).map_err(|_| seal_err())?;
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN + SUFFIX_LEN);
        out.extend_from_slice(plaintext);
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut out,
        )
        .map_err(|_| seal_err())?;
        out.extend_from_slice(random);
        Ok(out)
    }

    /// Decrypts a ciphertext in any of the three formats (§7.5) with this
    /// key's type deciding the AEAD (the legacy `aead` field is ignored).
    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let parts = ciphertext::parse(ciphertext)?;
        self.open(self.cipher, &parts, aad)
    }

    /// Opens normalised ciphertext parts with the given AEAD.
    pub(crate) fn open(
        &self,
        cipher: Cipher,
        parts: &Parts<'_>,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let fail = || parts.auth_error();
        let key = aead_key(cipher, &self.bytes, &parts.iv).map_err(|_| fail())?;
        let mut buf = Zeroizing::new(parts.sealed.to_vec());
        let len = key
            .open_in_place(
                aead::Nonce::assume_unique_for_key(parts.nonce),
                aead::Aad::from(aad),
                buf.as_mut_slice(),
            )
            .map_err(|_| fail())?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("cipher", &self.cipher)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// A 32-byte HMAC-SHA256 key, independent of the secret key (§7.8).
/// `Debug` never shows the bytes.
#[derive(Clone)]
pub struct HmacKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl HmacKey {
    /// Wraps 32 key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// Copies key bytes from a slice, which must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(KeyError::InvalidLength { got: bytes.len() });
        }
        key.copy_from_slice(bytes);
        Ok(Self { bytes: key })
    }

    /// A fresh random key from the thread-local CSPRNG.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut_slice());
        Self { bytes: key }
    }

    /// The key bytes, for the storage codec only.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// HMAC-SHA256 of `msg`.
    pub fn sum(&self, msg: &[u8]) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.as_slice());
        let tag = hmac::sign(&key, msg);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `mac` is the HMAC of `msg`, compared in constant time.
    pub fn verify(&self, msg: &[u8], mac: &[u8]) -> bool {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.bytes.as_slice());
        hmac::verify(&key, msg, mac).is_ok()
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// Splits iv ‖ nonce.
fn split_suffix(random: &[u8; SUFFIX_LEN]) -> ([u8; IV_LEN], [u8; NONCE_LEN]) {
    let mut iv = [0u8; IV_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    let (a, b) = random.split_at(IV_LEN);
    iv.copy_from_slice(a);
    nonce.copy_from_slice(b);
    (iv, nonce)
}

/// Derives the one-time AEAD key of §7.4 step 2 and keys the AEAD.
fn aead_key(
    cipher: Cipher,
    key: &[u8; 32],
    iv: &[u8; IV_LEN],
) -> Result<aead::LessSafeKey, ring::error::Unspecified> {
    let mut derived = Zeroizing::new([0u8; 32]);
    let alg = match cipher {
        Cipher::Aes256 => {
            let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), iv);
            derived.copy_from_slice(mac.as_ref());
            &aead::AES_256_GCM
        }
        Cipher::ChaCha20 => {
            *derived = hchacha20(key, iv);
            &aead::CHACHA20_POLY1305
        }
    };
    Ok(aead::LessSafeKey::new(aead::UnboundKey::new(
        alg,
        derived.as_slice(),
    )?))
}

/// HChaCha20 (draft-irtf-cfrg-xchacha §2.2): 20 rounds of ChaCha over
/// constants ‖ key ‖ input, output words 0–3 and 12–15 without the final
/// feed-forward addition.
pub(crate) fn hchacha20(key: &[u8; 32], input: &[u8; 16]) -> [u8; 32] {
    let mut s = Zeroizing::new([0u32; 16]);
    s[0] = 0x6170_7865;
    s[1] = 0x3320_646e;
    s[2] = 0x7962_2d32;
    s[3] = 0x6b20_6574;
    for (word, chunk) in s[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    for (word, chunk) in s[12..16].iter_mut().zip(input.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out
        .chunks_exact_mut(4)
        .zip(s[0..4].iter().chain(s[12..16].iter()))
    {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

// The indices are compile-time constants below 16 at every call site and the
// state is a fixed-size array, so this indexing cannot panic.
fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hchacha20_self_check() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let input: [u8; 16] = hex("000000090000004a0000000031415927").try_into().unwrap();
        assert_eq!(
            hchacha20(&key, &input).to_vec(),
            hex("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
        );
    }

    #[test]
    fn derived_keys_match_intermediate_vectors() {
        let z = [0u8; 32];
        // J2 (ChaCha20, Z)
        let iv: [u8; 16] = hex("b377d267abe4e66f837d003cc9959e52").try_into().unwrap();
        assert_eq!(
            hchacha20(&z, &iv).to_vec(),
            hex("e25c22e98dd69b98b2dced7aa861f5625958730e0411adcc7f38b24dcdfd8fed")
        );
        // R3 (ChaCha20, K2)
        let k2: [u8; 32] = hex("7431db4d6828f98877bbcd384980793b254ccba4622de258050b61d5fe8a9445")
            .try_into()
            .unwrap();
        let iv: [u8; 16] = hex("5fb7915115a6425419b3871ece26cf67").try_into().unwrap();
        assert_eq!(
            hchacha20(&k2, &iv).to_vec(),
            hex("33c9d554900c9205af5c734019603b89206079233ff7c8acef7b5ea7a0e9e461")
        );
        // R1 (AES256, Z): HMAC-SHA256(Z, iv)
        let iv = hex("33679f28ecc01dba930b93766394ca36");
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &z), &iv);
        assert_eq!(
            mac.as_ref().to_vec(),
            hex("80ebfc99a687d9377850d80a16b2b1d185beb953349212d44638bba321661f6a")
        );
    }

    #[test]
    fn from_slice_checks_length() {
        let err = SecretKey::from_slice(Cipher::Aes256, &[0u8; 31]).unwrap_err();
        assert_eq!(err.to_string(), "secret key must be 32 bytes, got 31");
        assert!(SecretKey::from_slice(Cipher::ChaCha20, &[0u8; 32]).is_ok());
        assert!(HmacKey::from_slice(&[0u8; 33]).is_err());
    }

    #[test]
    fn debug_redacts() {
        let k = SecretKey::new(Cipher::Aes256, [0xab; 32]);
        let d = format!("{k:?}");
        assert!(d.contains("redacted") && !d.contains("171") && !d.contains("ab"));
        let h = HmacKey::new([0xab; 32]);
        let d = format!("{h:?}");
        assert!(d.contains("redacted") && !d.contains("171"));
    }

    #[test]
    fn encrypt_layout_and_randomness() {
        for c in [Cipher::Aes256, Cipher::ChaCha20] {
            let k = SecretKey::generate(c);
            let a = k.encrypt(&[7u8; 32], b"ctx").unwrap();
            let b = k.encrypt(&[7u8; 32], b"ctx").unwrap();
            assert_eq!(a.len(), 32 + 44);
            assert_ne!(a, b);
            assert_eq!(k.decrypt(&a, b"ctx").unwrap().as_slice(), &[7u8; 32]);
        }
    }

    #[test]
    fn hmac_sum_and_verify() {
        let k = HmacKey::new([1u8; 32]);
        let mac = k.sum(b"root access key");
        assert!(k.verify(b"root access key", &mac));
        assert!(!k.verify(b"root secret key", &mac));
        assert!(!k.verify(b"root access key", &mac[..31]));
        // RFC 4231-style sanity: independent of ring's API shape.
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &[1u8; 32]),
            b"root access key",
        );
        assert_eq!(mac.as_slice(), expected.as_ref());
    }
}
