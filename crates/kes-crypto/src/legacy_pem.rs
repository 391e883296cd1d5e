//! Legacy OpenSSL ("traditional", RFC 1421) PEM encryption of private keys:
//! a `RSA PRIVATE KEY`, `EC PRIVATE KEY` or `PRIVATE KEY` block carrying the
//! headers `Proc-Type: 4,ENCRYPTED` and `DEK-Info: <CIPHER>,<hex IV>`.
//!
//! This module owns finding such a block in a PEM file, decrypting it with a
//! password (for `tls.password` and encrypted client keys) and writing one
//! with AES-256-CBC (for `kes identity new --encrypt`). The key is OpenSSL's
//! `EVP_BytesToKey` with MD5, one iteration and the first 8 IV bytes as salt;
//! the body is CBC with PKCS#7 padding. Supported ciphers: DES-CBC,
//! DES-EDE3-CBC, AES-128-CBC, AES-192-CBC and AES-256-CBC.
//!
//! Pure functions, no I/O. Passwords and plaintext keys live in
//! [`Zeroizing`] buffers and never appear in errors or `Debug` output.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt};
use aes::cipher::{KeyInit, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::Digest as _;
use ring::rand::{SecureRandom as _, SystemRandom};
use zeroize::Zeroizing;

/// The text of the `Proc-Type` header of an encrypted block.
const PROC_TYPE_ENCRYPTED: &str = "4,ENCRYPTED";

/// Why a legacy-encrypted PEM key could not be read, decrypted or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyPemError {
    /// The PEM text is broken (unterminated block, bad base64, ...).
    #[error("malformed PEM: {0}")]
    Malformed(String),
    /// No `… PRIVATE KEY` block carries `Proc-Type: 4,ENCRYPTED`.
    #[error("no legacy-encrypted (Proc-Type: 4,ENCRYPTED) private key found")]
    NotEncrypted,
    /// The `Proc-Type` header has another value than `4,ENCRYPTED`.
    #[error("unsupported Proc-Type header '{0}', expected '4,ENCRYPTED'")]
    ProcType(String),
    /// The encrypted block has no `DEK-Info` header.
    #[error("encrypted private key has no DEK-Info header")]
    MissingDekInfo,
    /// `DEK-Info` is not `<cipher>,<hex IV>`.
    #[error("malformed DEK-Info header '{0}', expected '<cipher>,<hex IV>'")]
    DekInfo(String),
    /// The cipher named in `DEK-Info` is not supported.
    #[error(
        "unsupported DEK-Info cipher '{0}', expected one of DES-CBC, DES-EDE3-CBC, AES-128-CBC, AES-192-CBC, AES-256-CBC"
    )]
    UnknownCipher(String),
    /// The IV of `DEK-Info` is not hexadecimal.
    #[error("DEK-Info IV is not valid hex")]
    IvHex,
    /// The IV has the wrong length for the cipher.
    #[error("DEK-Info IV of {cipher} must be {expected} bytes, got {got}")]
    IvLength {
        /// The cipher name.
        cipher: &'static str,
        /// The cipher's block size.
        expected: usize,
        /// The IV length found.
        got: usize,
    },
    /// The encrypted body is empty or not a multiple of the block size.
    #[error(
        "encrypted private key body is {len} bytes, not a non-zero multiple of the {block}-byte block size"
    )]
    BodyLength {
        /// Body length in bytes.
        len: usize,
        /// The cipher's block size.
        block: usize,
    },
    /// Bad padding (or a non-DER plaintext) after decryption.
    #[error("private key decryption failed: wrong password or corrupted key")]
    WrongPassword,
    /// The system random generator failed.
    #[error("cannot generate a random IV: system random generator failed")]
    Random,
}

/// A cipher of the `DEK-Info` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyCipher {
    /// Single DES in CBC mode.
    DesCbc,
    /// Three-key triple DES (EDE) in CBC mode.
    DesEde3Cbc,
    /// AES-128 in CBC mode.
    Aes128Cbc,
    /// AES-192 in CBC mode.
    Aes192Cbc,
    /// AES-256 in CBC mode.
    Aes256Cbc,
}

impl LegacyCipher {
    const ALL: [LegacyCipher; 5] = [
        Self::DesCbc,
        Self::DesEde3Cbc,
        Self::Aes128Cbc,
        Self::Aes192Cbc,
        Self::Aes256Cbc,
    ];

    /// The name used in `DEK-Info`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DesCbc => "DES-CBC",
            Self::DesEde3Cbc => "DES-EDE3-CBC",
            Self::Aes128Cbc => "AES-128-CBC",
            Self::Aes192Cbc => "AES-192-CBC",
            Self::Aes256Cbc => "AES-256-CBC",
        }
    }

    /// Parses a `DEK-Info` cipher name (exact, as OpenSSL writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::DesCbc => 8,
            Self::DesEde3Cbc => 24,
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }

    /// Block (and IV) length in bytes.
    pub fn block_size(self) -> usize {
        match self {
            Self::DesCbc | Self::DesEde3Cbc => 8,
            Self::Aes128Cbc | Self::Aes192Cbc | Self::Aes256Cbc => 16,
        }
    }
}

/// The DER format of a private key, as told by its PEM label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `RSA PRIVATE KEY`: PKCS#1.
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1.
    Sec1,
    /// `PRIVATE KEY`: PKCS#8.
    Pkcs8,
    /// Any other `… PRIVATE KEY` label.
    Other,
}

impl KeyFormat {
    /// The format named by a PEM label.
    pub fn of_label(label: &str) -> Self {
        match label {
            "RSA PRIVATE KEY" => Self::Pkcs1,
            "EC PRIVATE KEY" => Self::Sec1,
            "PRIVATE KEY" => Self::Pkcs8,
            _ => Self::Other,
        }
    }
}

/// A legacy-encrypted private key block found in a PEM file.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedKey {
    label: String,
    cipher: LegacyCipher,
    iv: Vec<u8>,
    body: Vec<u8>,
}

impl std::fmt::Debug for EncryptedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedKey")
            .field("label", &self.label)
            .field("cipher", &self.cipher)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A decrypted private key: its PEM label and DER bytes.
pub struct DecryptedKey {
    /// The PEM label of the block (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, ...).
    pub label: String,
    /// The plaintext DER.
    pub der: Zeroizing<Vec<u8>>,
}

impl DecryptedKey {
    /// The DER format told by the label.
    pub fn format(&self) -> KeyFormat {
        KeyFormat::of_label(&self.label)
    }
}

impl std::fmt::Debug for DecryptedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedKey")
            .field("label", &self.label)
            .field("der", &"<redacted>")
            .finish()
    }
}

impl EncryptedKey {
    /// The PEM label of the block.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The cipher of the `DEK-Info` header.
    pub fn cipher(&self) -> LegacyCipher {
        self.cipher
    }

    /// Decrypts the block with `password`. A wrong password almost always
    /// shows as bad padding or a plaintext that is not a DER SEQUENCE, both
    /// reported as [`LegacyPemError::WrongPassword`].
    pub fn decrypt(&self, password: &[u8]) -> Result<DecryptedKey, LegacyPemError> {
        let block = self.cipher.block_size();
        if self.body.is_empty() || !self.body.len().is_multiple_of(block) {
            return Err(LegacyPemError::BodyLength {
                len: self.body.len(),
                block,
            });
        }
        let key = derive_key(password, &self.iv, self.cipher.key_len());
        let mut buf = Zeroizing::new(self.body.clone());
        match self.cipher {
            LegacyCipher::DesCbc => cbc_decrypt::<des::Des>(&key, &self.iv, &mut buf)?,
            LegacyCipher::DesEde3Cbc => cbc_decrypt::<des::TdesEde3>(&key, &self.iv, &mut buf)?,
            LegacyCipher::Aes128Cbc => cbc_decrypt::<aes::Aes128>(&key, &self.iv, &mut buf)?,
            LegacyCipher::Aes192Cbc => cbc_decrypt::<aes::Aes192>(&key, &self.iv, &mut buf)?,
            LegacyCipher::Aes256Cbc => cbc_decrypt::<aes::Aes256>(&key, &self.iv, &mut buf)?,
        }
        let len = unpadded_len(&buf, block).ok_or(LegacyPemError::WrongPassword)?;
        buf.truncate(len);
        if buf.first() != Some(&0x30) {
            return Err(LegacyPemError::WrongPassword);
        }
        Ok(DecryptedKey {
            label: self.label.clone(),
            der: buf,
        })
    }
}

/// Whether the first `… PRIVATE KEY` block of `pem` is legacy-encrypted
/// (carries a `Proc-Type` header). Malformed PEM counts as not encrypted:
/// the regular PEM parser reports it.
pub fn is_encrypted(pem: &[u8]) -> bool {
    first_private_key_block(pem)
        .ok()
        .flatten()
        .is_some_and(|b| b.headers.iter().any(|(k, _)| k == "Proc-Type"))
}

/// Finds the first `… PRIVATE KEY` block of `pem` and, if it has a
/// `Proc-Type` header, parses its encryption headers and body. `Ok(None)`
/// when the first private key is not encrypted or there is none.
pub fn find_encrypted(pem: &[u8]) -> Result<Option<EncryptedKey>, LegacyPemError> {
    let Some(block) = first_private_key_block(pem)? else {
        return Ok(None);
    };
    let header = |name: &str| {
        block
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(proc_type) = header("Proc-Type") else {
        return Ok(None);
    };
    if proc_type != PROC_TYPE_ENCRYPTED {
        return Err(LegacyPemError::ProcType(clip(proc_type)));
    }
    let dek_info = header("DEK-Info").ok_or(LegacyPemError::MissingDekInfo)?;
    let (name, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| LegacyPemError::DekInfo(clip(dek_info)))?;
    let cipher = LegacyCipher::from_name(name.trim())
        .ok_or_else(|| LegacyPemError::UnknownCipher(clip(name.trim())))?;
    let iv = decode_hex(iv_hex.trim()).ok_or(LegacyPemError::IvHex)?;
    if iv.len() != cipher.block_size() {
        return Err(LegacyPemError::IvLength {
            cipher: cipher.name(),
            expected: cipher.block_size(),
            got: iv.len(),
        });
    }
    let body = STANDARD
        .decode(block.body.as_bytes())
        .map_err(|e| LegacyPemError::Malformed(format!("invalid base64 in the key body: {e}")))?;
    Ok(Some(EncryptedKey {
        label: block.label,
        cipher,
        iv,
        body,
    }))
}

/// Decrypts the first private key of `pem`, which must be legacy-encrypted.
pub fn decrypt(pem: &[u8], password: &[u8]) -> Result<DecryptedKey, LegacyPemError> {
    find_encrypted(pem)?
        .ok_or(LegacyPemError::NotEncrypted)?
        .decrypt(password)
}

/// Writes `der` as a PEM block labelled `label`, encrypted with AES-256-CBC
/// under `password` (random IV), the form `openssl` and Go read.
pub fn encrypt_aes256(
    label: &str,
    der: &[u8],
    password: &[u8],
) -> Result<Zeroizing<String>, LegacyPemError> {
    let cipher = LegacyCipher::Aes256Cbc;
    let mut iv = [0u8; 16];
    SystemRandom::new()
        .fill(&mut iv)
        .map_err(|_| LegacyPemError::Random)?;
    encrypt_with_iv(label, der, password, cipher, &iv)
}

fn encrypt_with_iv(
    label: &str,
    der: &[u8],
    password: &[u8],
    cipher: LegacyCipher,
    iv: &[u8],
) -> Result<Zeroizing<String>, LegacyPemError> {
    let block = cipher.block_size();
    let pad = block - der.len() % block;
    let mut buf = Zeroizing::new(Vec::with_capacity(der.len() + pad));
    buf.extend_from_slice(der);
    // `pad` is 1..=16, so the cast cannot truncate.
    buf.resize(der.len() + pad, pad as u8);
    let key = derive_key(password, iv, cipher.key_len());
    match cipher {
        LegacyCipher::DesCbc => cbc_encrypt::<des::Des>(&key, iv, &mut buf)?,
        LegacyCipher::DesEde3Cbc => cbc_encrypt::<des::TdesEde3>(&key, iv, &mut buf)?,
        LegacyCipher::Aes128Cbc => cbc_encrypt::<aes::Aes128>(&key, iv, &mut buf)?,
        LegacyCipher::Aes192Cbc => cbc_encrypt::<aes::Aes192>(&key, iv, &mut buf)?,
        LegacyCipher::Aes256Cbc => cbc_encrypt::<aes::Aes256>(&key, iv, &mut buf)?,
    }
    let body = STANDARD.encode(&buf[..]);
    let mut out = Zeroizing::new(String::with_capacity(body.len() + 200));
    out.push_str(&format!(
        "-----BEGIN {label}-----\nProc-Type: {PROC_TYPE_ENCRYPTED}\nDEK-Info: {},{}\n\n",
        cipher.name(),
        encode_hex_upper(iv)
    ));
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    Ok(out)
}

/// OpenSSL `EVP_BytesToKey(MD5, salt = iv[..8], count = 1)`.
fn derive_key(password: &[u8], iv: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let salt = iv.get(..8).unwrap_or(iv);
    let mut key = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    while key.len() < len {
        let mut h = md5::Md5::new();
        h.update(&prev[..]);
        h.update(password);
        h.update(salt);
        let digest = h.finalize();
        *prev = digest.to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(len);
    key
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), LegacyPemError>
where
    C: BlockCipherDecrypt + KeyInit,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| bad_iv::<C>(iv))?;
    dec.decrypt_padded::<NoPadding>(buf)
        .map_err(|_| LegacyPemError::WrongPassword)?;
    Ok(())
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), LegacyPemError>
where
    C: BlockCipherEncrypt + KeyInit,
{
    let len = buf.len();
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| bad_iv::<C>(iv))?;
    enc.encrypt_padded::<NoPadding>(buf, len)
        .map_err(|_| LegacyPemError::BodyLength {
            len,
            block: iv.len(),
        })?;
    Ok(())
}

fn bad_iv<C: aes::cipher::BlockSizeUser>(iv: &[u8]) -> LegacyPemError {
    LegacyPemError::IvLength {
        cipher: "CBC",
        expected: C::block_size(),
        got: iv.len(),
    }
}

/// Length of `buf` without its PKCS#7 padding, or `None` if the padding is
/// invalid.
fn unpadded_len(buf: &[u8], block: usize) -> Option<usize> {
    let n = usize::from(*buf.last()?);
    if n == 0 || n > block || n > buf.len() {
        return None;
    }
    let (rest, pad) = buf.split_at(buf.len() - n);
    pad.iter()
        .all(|&b| usize::from(b) == n)
        .then_some(rest.len())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

fn encode_hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Header values quoted in errors are clipped so a hostile file cannot
/// flood the log.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// One PEM block: label, headers, base64 body (whitespace removed).
struct PemBlock {
    label: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// The first block of `pem` whose label ends in `PRIVATE KEY` (but is not
/// `ENCRYPTED PRIVATE KEY`, the PKCS#8 form). Text outside blocks is ignored,
/// as OpenSSL and Go do.
fn first_private_key_block(pem: &[u8]) -> Result<Option<PemBlock>, LegacyPemError> {
    let text = String::from_utf8_lossy(pem);
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut in_headers = true;
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if in_headers {
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    continue;
                }
                in_headers = false;
            }
            body.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
        if !closed {
            return Err(LegacyPemError::Malformed(format!(
                "'-----BEGIN {}-----' without a matching END line",
                clip(label)
            )));
        }
        if label.ends_with("PRIVATE KEY") && label != "ENCRYPTED PRIVATE KEY" {
            return Ok(Some(PemBlock {
                label: label.to_owned(),
                headers,
                body,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bytes_to_key_matches_openssl() {
        // EVP_BytesToKey: D1 = MD5(pw || salt), D2 = MD5(D1 || pw || salt), ...
        // (the OpenSSL fixtures in tests/ check it against real files).
        let iv = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let key = derive_key(b"secret", &iv, 32);
        let mut h = md5::Md5::new();
        h.update(b"secret");
        h.update(&iv[..8]);
        let d1 = h.finalize().to_vec();
        let mut h = md5::Md5::new();
        h.update(&d1);
        h.update(b"secret");
        h.update(&iv[..8]);
        let d2 = h.finalize().to_vec();
        assert_eq!(&key[..16], &d1[..]);
        assert_eq!(&key[16..], &d2[..]);
    }

    #[test]
    fn round_trip_every_cipher() {
        let der: Vec<u8> = std::iter::once(0x30).chain(0..=200u8).collect();
        for cipher in LegacyCipher::ALL {
            let iv: Vec<u8> = (0..cipher.block_size() as u8).collect();
            let pem = encrypt_with_iv("EC PRIVATE KEY", &der, b"pw", cipher, &iv).unwrap();
            assert!(is_encrypted(pem.as_bytes()));
            let enc = find_encrypted(pem.as_bytes()).unwrap().unwrap();
            assert_eq!(enc.cipher(), cipher);
            let plain = enc.decrypt(b"pw").unwrap();
            assert_eq!(&plain.der[..], &der[..], "{cipher:?}");
            assert_eq!(plain.format(), KeyFormat::Sec1);
        }
    }

    #[test]
    fn aes256_random_iv_round_trip_and_wrong_password() {
        let der = [0x30u8, 3, 2, 1, 0];
        let a = encrypt_aes256("PRIVATE KEY", &der, b"secret").unwrap();
        let b = encrypt_aes256("PRIVATE KEY", &der, b"secret").unwrap();
        assert_ne!(*a, *b, "IV must be random");
        assert!(a.contains("DEK-Info: AES-256-CBC,"));
        let plain = decrypt(a.as_bytes(), b"secret").unwrap();
        assert_eq!(&plain.der[..], &der[..]);
        assert_eq!(plain.format(), KeyFormat::Pkcs8);
        assert_eq!(
            decrypt(a.as_bytes(), b"not the secret").unwrap_err(),
            LegacyPemError::WrongPassword
        );
    }

    #[test]
    fn debug_redacts_plaintext() {
        let der = [0x30u8, 0xAB, 0xCD];
        let pem = encrypt_aes256("PRIVATE KEY", &der, b"pw").unwrap();
        let plain = decrypt(pem.as_bytes(), b"pw").unwrap();
        let dbg = format!("{plain:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("171"));
    }

    fn block(headers: &str, body: &str) -> String {
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{headers}\n\n{body}\n-----END RSA PRIVATE KEY-----\n"
        )
    }

    #[test]
    fn precise_header_errors() {
        let body = "AAAAAAAAAAA=";
        let e = |h: &str| find_encrypted(block(h, body).as_bytes()).unwrap_err();
        assert_eq!(
            e("Proc-Type: 4,ENCRYPTED\nDEK-Info: RC2-CBC,0011223344556677").to_string(),
            "unsupported DEK-Info cipher 'RC2-CBC', expected one of DES-CBC, DES-EDE3-CBC, AES-128-CBC, AES-192-CBC, AES-256-CBC"
        );
        assert_eq!(
            e("Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-CBC,00ZZ"),
            LegacyPemError::IvHex
        );
        assert_eq!(
            e("Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0011223344556677").to_string(),
            "DEK-Info IV of AES-128-CBC must be 16 bytes, got 8"
        );
        assert_eq!(e("Proc-Type: 4,ENCRYPTED"), LegacyPemError::MissingDekInfo);
        assert!(matches!(
            e("Proc-Type: 4,ENCRYPTED\nDEK-Info: DES-CBC"),
            LegacyPemError::DekInfo(_)
        ));
        assert!(matches!(
            e("Proc-Type: 4,MIC-ONLY\nDEK-Info: DES-CBC,0011223344556677"),
            LegacyPemError::ProcType(_)
        ));
        // 8 bytes of body for a 16-byte block cipher.
        let pem = block(
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566770011223344556677",
            body,
        );
        assert_eq!(
            decrypt(pem.as_bytes(), b"x").unwrap_err().to_string(),
            "encrypted private key body is 8 bytes, not a non-zero multiple of the 16-byte block size"
        );
    }

    #[test]
    fn unencrypted_and_missing_keys() {
        let plain = block("", "MAA=");
        assert!(!is_encrypted(plain.as_bytes()));
        assert!(find_encrypted(plain.as_bytes()).unwrap().is_none());
        assert_eq!(
            decrypt(plain.as_bytes(), b"x").unwrap_err(),
            LegacyPemError::NotEncrypted
        );
        assert!(find_encrypted(b"").unwrap().is_none());
        let cert_only = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert!(find_encrypted(cert_only.as_bytes()).unwrap().is_none());
        assert!(matches!(
            find_encrypted(b"-----BEGIN EC PRIVATE KEY-----\nMAA=\n").unwrap_err(),
            LegacyPemError::Malformed(_)
        ));
    }

    #[test]
    fn errors_never_mention_the_password() {
        let pem = encrypt_aes256("PRIVATE KEY", &[0x30, 0], b"hunter2-secret").unwrap();
        let err = decrypt(pem.as_bytes(), b"hunter2-wrong").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = is_encrypted(&bytes);
            let _ = decrypt(&bytes, b"pw");
        }

        #[test]
        fn arbitrary_headers_never_panic(
            cipher in "[A-Z0-9-]{0,16}",
            iv in "[0-9a-fA-FxZ]{0,40}",
            body in "[A-Za-z0-9+/=]{0,80}",
            pw in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let pem = block(&format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: {cipher},{iv}"), &body);
            let _ = decrypt(pem.as_bytes(), &pw);
            for c in LegacyCipher::ALL {
                let pem = block(&format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: {},{iv}", c.name()), &body);
                let _ = decrypt(pem.as_bytes(), &pw);
            }
        }

        #[test]
        fn round_trip_arbitrary(der in proptest::collection::vec(any::<u8>(), 0..100), pw in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut der = der;
            der.insert(0, 0x30);
            let pem = encrypt_aes256("PRIVATE KEY", &der, &pw).unwrap();
            let plain = decrypt(pem.as_bytes(), &pw).unwrap();
            prop_assert_eq!(&plain.der[..], &der[..]);
        }
    }
}
