//! A stored key ("key version", §7.1): secret key, optional HMAC key,
//! creation time and creator, with the storage codec of §7.3 (writes
//! base64(protobuf) byte-compatible with Go KES; reads that and every legacy
//! JSON variant) and the key-level operations the server calls.

use std::fmt::Write as _;

use rand::RngCore;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::{Zeroize, Zeroizing};

use crate::b64;
use crate::cipher::{Cipher, shorten};
use crate::ciphertext::{self, json_field};
use crate::error::{CryptoError, DecryptError, EncodeError, KeyError, KeyFormatError};
use crate::proto::{self, Decoder, Field};
use crate::secret_key::{HmacKey, SecretKey};

/// Protobuf enum value of the only HMAC hash, SHA-256.
const HASH_SHA256: u64 = 1;

/// One stored key. Construct with [`KeyVersion::generate`],
/// [`KeyVersion::import`] or [`KeyVersion::decode`].
#[derive(Debug, Clone)]
pub struct KeyVersion {
    /// The secret key that protects data.
    pub key: SecretKey,
    /// The independent HMAC key; `None` for keys stored in a legacy format.
    pub hmac: Option<HmacKey>,
    /// When the key was created, if known.
    pub created_at: Option<OffsetDateTime>,
    /// The identity that created the key, if known.
    pub created_by: Option<String>,
    /// Legacy key stored without an algorithm (§7.7.1): its type is only
    /// assumed to be AES256, and legacy ciphertexts name their own AEAD.
    untyped: bool,
}

/// A data encryption key: the plaintext DEK and its ciphertext under a key
/// version. `Debug` never shows the plaintext.
pub struct Dek {
    /// The 32 DEK bytes in the clear.
    pub plaintext: Zeroizing<[u8; 32]>,
    /// The DEK encrypted in the raw format, bound to the request context.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dek")
            .field("plaintext", &"<redacted>")
            .field("ciphertext", &self.ciphertext)
            .finish()
    }
}

impl KeyVersion {
    /// A new key of `cipher` with random secret and HMAC keys, created now (UTC).
    pub fn generate(cipher: Cipher, created_by: Option<String>) -> Self {
        Self {
            key: SecretKey::generate(cipher),
            hmac: Some(HmacKey::generate()),
            created_at: Some(OffsetDateTime::now_utc()),
            created_by: created_by.filter(|s| !s.is_empty()),
            untyped: false,
        }
    }

    /// A key from imported secret-key bytes (32 required) with a fresh
    /// random HMAC key, created now (UTC).
    pub fn import(
        cipher: Cipher,
        key: &[u8],
        created_by: Option<String>,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            key: SecretKey::from_slice(cipher, key)?,
            hmac: Some(HmacKey::generate()),
            created_at: Some(OffsetDateTime::now_utc()),
            created_by: created_by.filter(|s| !s.is_empty()),
            untyped: false,
        })
    }

    /// The key version a rotation adds after this one: a fresh secret key
    /// of the same cipher, created now (UTC) by `created_by`, with this
    /// version's HMAC key, so that HMACs stay the same across rotations
    /// (MinIO derives credentials from them, §11.4); a legacy version
    /// without an HMAC key gets a fresh one.
    pub fn next_version(&self, created_by: Option<String>) -> Self {
        let mut next = Self::generate(self.key.cipher(), created_by);
        if let Some(hmac) = &self.hmac {
            next.hmac = Some(hmac.clone());
        }
        next
    }

    /// Encodes into the current storage format: the standard base64 text of
    /// the protobuf `KeyVersion` message (§7.3 a). Fails for keys without an
    /// HMAC key (legacy keys are never rewritten).
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, EncodeError> {
        let hmac = self.hmac.as_ref().ok_or(EncodeError::MissingHmacKey)?;

        let mut secret = Zeroizing::new(Vec::with_capacity(36));
        proto::put_bytes(&mut secret, 1, self.key.bytes());
        proto::put_uint(&mut secret, 2, self.key.cipher().proto_value());

        let mut mac = Zeroizing::new(Vec::with_capacity(36));
        proto::put_bytes(&mut mac, 1, hmac.bytes());
        proto::put_uint(&mut mac, 2, HASH_SHA256);

        let mut msg = Zeroizing::new(Vec::with_capacity(160));
        proto::put_bytes(&mut msg, 1, &secret);
        proto::put_bytes(&mut msg, 2, &mac);
        if let Some(t) = self.created_at {
            let mut ts = Vec::with_capacity(16);
            // int64 seconds: negative values are 10-byte two's complement varints.
            proto::put_uint(&mut ts, 1, t.unix_timestamp() as u64);
            proto::put_uint(&mut ts, 2, u64::from(t.nanosecond()));
            proto::put_bytes(&mut msg, 3, &ts);
        }
        if let Some(by) = self.created_by.as_deref().filter(|s| !s.is_empty()) {
            proto::put_bytes(&mut msg, 4, by.as_bytes());
        }
        Ok(b64::encode(&msg))
    }

    /// Decodes a stored value: legacy JSON if it is syntactically valid
    /// JSON, otherwise base64(protobuf) (§7.3).
    pub fn decode(stored: &[u8]) -> Result<Self, KeyFormatError> {
        if let Ok(value) = serde_json::from_slice::<Value>(stored) {
            return decode_legacy(value);
        }
        let raw = b64::decode(stored).map_err(|_| KeyFormatError::Base64)?;
        decode_protobuf(&raw)
    }

    /// Encrypts in the current raw format (§7.4).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.encrypt(plaintext, aad)
    }

    /// Decrypts any of the three ciphertext formats. For an untyped legacy
    /// key, a JSON/MessagePack ciphertext's own algorithm decides the AEAD
    /// (§7.7.1); otherwise the key's type does.
    pub fn decrypt(&self, ct: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let parts = ciphertext::parse(ct)?;
        let cipher = match parts.legacy_cipher {
            Some(c) if self.untyped => c,
            _ => self.key.cipher(),
        };
        self.key.open(cipher, &parts, aad)
    }

    /// A random 32-byte DEK and its encryption bound to `aad` (§7.6).
    pub fn generate_dek(&self, aad: &[u8]) -> Result<Dek, CryptoError> {
        let mut plaintext = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(plaintext.as_mut_slice());
        let ciphertext = self.key.encrypt(plaintext.as_slice(), aad)?;
        Ok(Dek {
            plaintext,
            ciphertext,
        })
    }

    /// HMAC-SHA256 of `msg` under the HMAC key; `None` for legacy keys.
    pub fn hmac(&self, msg: &[u8]) -> Option<[u8; 32]> {
        self.hmac.as_ref().map(|k| k.sum(msg))
    }

    /// `created_at` as Go's `time.Time` marshals it to JSON: RFC 3339 with
    /// nanoseconds (trailing zeros trimmed), `Z` for UTC, and
    /// `0001-01-01T00:00:00Z` when unknown.
    pub fn created_at_rfc3339(&self) -> String {
        match self.created_at {
            Some(t) => go_rfc3339(t),
            None => "0001-01-01T00:00:00Z".to_owned(),
        }
    }
}

/// Formats like Go's `time.RFC3339Nano`.
fn go_rfc3339(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let (h, m, _) = off.as_hms();
        let sign = if off.is_negative() { '-' } else { '+' };
        let _ = write!(s, "{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs());
    }
    s
}

fn decode_protobuf(raw: &[u8]) -> Result<KeyVersion, KeyFormatError> {
    let mut key = None;
    let mut hmac = None;
    let mut created_at = None;
    let mut created_by = None;
    let mut d = Decoder::new(raw);
    while let Some((number, field)) = d.next_field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => key = Some(decode_secret_key(b)?),
            (2, Field::Bytes(b)) => hmac = Some(decode_hmac_key(b)?),
            (3, Field::Bytes(b)) => created_at = Some(decode_timestamp(b)?),
            (4, Field::Bytes(b)) => {
                let s = std::str::from_utf8(b).map_err(|_| KeyFormatError::CreatedByUtf8)?;
                created_by = Some(s.to_owned()).filter(|s| !s.is_empty());
            }
            (1..=4, _) => return Err(KeyFormatError::Protobuf("wrong wire type for a field")),
            _ => {}
        }
    }
    Ok(KeyVersion {
        key: key.ok_or(KeyFormatError::MissingSecretKey)?,
        hmac: Some(hmac.ok_or(KeyFormatError::MissingHmacKey)?),
        created_at,
        created_by,
        untyped: false,
    })
}

fn decode_secret_key(msg: &[u8]) -> Result<SecretKey, KeyFormatError> {
    let mut bytes: &[u8] = &[];
    let mut kind = 0;
    let mut d = Decoder::new(msg);
    while let Some((number, field)) = d.next_field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => bytes = b,
            (2, Field::Varint(v)) => kind = v,
            (1 | 2, _) => return Err(KeyFormatError::Protobuf("wrong wire type for a field")),
            _ => {}
        }
    }
    // uint32 on the wire: only the low 32 bits count.
    let kind = kind & u64::from(u32::MAX);
    let cipher = Cipher::from_proto_value(kind).ok_or(KeyFormatError::UnknownKeyType(kind))?;
    SecretKey::from_slice(cipher, bytes).map_err(|_| KeyFormatError::KeyLength {
        what: "secret key",
        got: bytes.len(),
    })
}

fn decode_hmac_key(msg: &[u8]) -> Result<HmacKey, KeyFormatError> {
    let mut bytes: &[u8] = &[];
    let mut hash = 0;
    let mut d = Decoder::new(msg);
    while let Some((number, field)) = d.next_field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => bytes = b,
            (2, Field::Varint(v)) => hash = v,
            (1 | 2, _) => return Err(KeyFormatError::Protobuf("wrong wire type for a field")),
            _ => {}
        }
    }
    let hash = hash & u64::from(u32::MAX);
    if hash != HASH_SHA256 {
        return Err(KeyFormatError::UnknownHashType(hash));
    }
    HmacKey::from_slice(bytes).map_err(|_| KeyFormatError::KeyLength {
        what: "HMAC key",
        got: bytes.len(),
    })
}

fn decode_timestamp(msg: &[u8]) -> Result<OffsetDateTime, KeyFormatError> {
    let mut seconds: i64 = 0;
    let mut nanos: i64 = 0;
    let mut d = Decoder::new(msg);
    while let Some((number, field)) = d.next_field()? {
        match (number, field) {
            // Two's complement reinterpretation is the protobuf int64/int32 encoding.
            (1, Field::Varint(v)) => seconds = v as i64,
            (2, Field::Varint(v)) => nanos = i64::from(v as u32 as i32),
            (1 | 2, _) => return Err(KeyFormatError::Protobuf("wrong wire type for a field")),
            _ => {}
        }
    }
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(KeyFormatError::Timestamp);
    }
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    OffsetDateTime::from_unix_timestamp_nanos(total).map_err(|_| KeyFormatError::Timestamp)
}

fn decode_legacy(value: Value) -> Result<KeyVersion, KeyFormatError> {
    let Value::Object(mut map) = value else {
        return Err(KeyFormatError::LegacyJson("not a JSON object".into()));
    };
    let result = legacy_fields(&map);
    // The map holds the base64 key text: wipe every string before dropping.
    for v in map.values_mut() {
        if let Value::String(s) = v {
            s.zeroize();
        }
    }
    result
}

fn legacy_fields(map: &Map<String, Value>) -> Result<KeyVersion, KeyFormatError> {
    let bytes = match legacy_str(map, "bytes")? {
        None => Zeroizing::new(Vec::new()),
        Some(s) => b64::decode(s.as_bytes()).map_err(|_| KeyFormatError::LegacyBase64)?,
    };
    let (cipher, untyped) = match legacy_str(map, "algorithm")? {
        None | Some("") => (Cipher::Aes256, true),
        Some(name) => (
            Cipher::parse(name).map_err(|_| KeyFormatError::LegacyAlgorithm(shorten(name)))?,
            false,
        ),
    };
    let key = SecretKey::from_slice(cipher, &bytes).map_err(|_| KeyFormatError::KeyLength {
        what: "secret key",
        got: bytes.len(),
    })?;
    let created_at = match legacy_str(map, "created_at")? {
        None => None,
        Some(s) => {
            Some(OffsetDateTime::parse(s, &Rfc3339).map_err(|_| KeyFormatError::LegacyCreatedAt)?)
        }
    };
    let created_by = legacy_str(map, "created_by")?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(KeyVersion {
        key,
        hmac: None,
        created_at,
        created_by,
        untyped,
    })
}

fn legacy_str<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, KeyFormatError> {
    match json_field(map, field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyFormatError::LegacyFieldType { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_version_keeps_cipher_and_hmac_key() {
        for c in [Cipher::Aes256, Cipher::ChaCha20] {
            let v1 = KeyVersion::generate(c, Some("a".into()));
            let v2 = v1.next_version(Some("b".into()));
            assert_eq!(v2.key.cipher(), c);
            assert_ne!(v2.key.bytes(), v1.key.bytes());
            assert_eq!(v2.hmac(b"m"), v1.hmac(b"m"));
            assert_eq!(v2.created_by.as_deref(), Some("b"));
            let ct = v2.encrypt(b"x", b"").unwrap();
            assert!(v1.decrypt(&ct, b"").is_err());
        }
        let legacy =
            KeyVersion::decode(br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#)
                .unwrap();
        assert!(legacy.hmac(b"m").is_none());
        assert!(legacy.next_version(None).hmac(b"m").is_some());
    }

    #[test]
    fn go_time_format() {
        let kv = KeyVersion::generate(Cipher::Aes256, None);
        let mut kv = kv;
        kv.created_at = Some(time::macros::datetime!(2024-01-12 10:39:20.886816 UTC));
        assert_eq!(kv.created_at_rfc3339(), "2024-01-12T10:39:20.886816Z");
        kv.created_at = Some(time::macros::datetime!(2009-11-10 23:00:00 UTC));
        assert_eq!(kv.created_at_rfc3339(), "2009-11-10T23:00:00Z");
        kv.created_at = Some(time::macros::datetime!(2009-11-10 23:00:00.1 -05:30));
        assert_eq!(kv.created_at_rfc3339(), "2009-11-10T23:00:00.1-05:30");
        kv.created_at = None;
        assert_eq!(kv.created_at_rfc3339(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn generate_sets_fields() {
        let kv = KeyVersion::generate(Cipher::ChaCha20, Some("me".into()));
        assert_eq!(kv.key.cipher(), Cipher::ChaCha20);
        assert!(kv.hmac.is_some());
        assert!(kv.created_at.is_some_and(|t| t.offset().is_utc()));
        assert_eq!(kv.created_by.as_deref(), Some("me"));
        assert!(!kv.untyped);
        let kv = KeyVersion::generate(Cipher::Aes256, Some(String::new()));
        assert_eq!(kv.created_by, None);
    }

    #[test]
    fn import_checks_length() {
        let err = KeyVersion::import(Cipher::Aes256, &[0u8; 31], None).unwrap_err();
        assert_eq!(err.to_string(), "secret key must be 32 bytes, got 31");
        let kv = KeyVersion::import(Cipher::ChaCha20, &[5u8; 32], None).unwrap();
        assert_eq!(kv.key.bytes(), &[5u8; 32]);
        assert!(kv.hmac.is_some());
    }

    #[test]
    fn negative_and_zero_timestamps_round_trip() {
        for t in [
            time::macros::datetime!(0001-01-01 00:00:00 UTC),
            time::macros::datetime!(1970-01-01 00:00:00 UTC),
            time::macros::datetime!(1969-12-31 23:59:59.5 UTC),
        ] {
            let mut kv = KeyVersion::generate(Cipher::Aes256, None);
            kv.created_at = Some(t);
            let back = KeyVersion::decode(&kv.encode().unwrap()).unwrap();
            assert_eq!(back.created_at, Some(t));
        }
    }

    #[test]
    fn protobuf_errors() {
        // Missing HMAC key.
        let mut msg = Vec::new();
        let mut sk = Vec::new();
        proto::put_bytes(&mut sk, 1, &[0u8; 32]);
        proto::put_uint(&mut sk, 2, 1);
        proto::put_bytes(&mut msg, 1, &sk);
        assert_eq!(
            decode_protobuf(&msg).unwrap_err(),
            KeyFormatError::MissingHmacKey
        );
        // Unknown key type 3.
        let mut sk = Vec::new();
        proto::put_bytes(&mut sk, 1, &[0u8; 32]);
        proto::put_uint(&mut sk, 2, 3);
        assert_eq!(
            decode_secret_key(&sk).unwrap_err().to_string(),
            "unknown key type 3"
        );
        // Type missing (0).
        let mut sk = Vec::new();
        proto::put_bytes(&mut sk, 1, &[0u8; 32]);
        assert_eq!(
            decode_secret_key(&sk).unwrap_err(),
            KeyFormatError::UnknownKeyType(0)
        );
        // Short key.
        let mut sk = Vec::new();
        proto::put_bytes(&mut sk, 1, &[0u8; 31]);
        proto::put_uint(&mut sk, 2, 2);
        assert_eq!(
            decode_secret_key(&sk).unwrap_err().to_string(),
            "secret key must be 32 bytes, got 31"
        );
        // Unknown hash.
        let mut hk = Vec::new();
        proto::put_bytes(&mut hk, 1, &[0u8; 32]);
        proto::put_uint(&mut hk, 2, 2);
        assert_eq!(
            decode_hmac_key(&hk).unwrap_err().to_string(),
            "unknown hash type 2"
        );
        // Bad nanos.
        let mut ts = Vec::new();
        proto::put_uint(&mut ts, 2, 1_000_000_000);
        assert_eq!(
            decode_timestamp(&ts).unwrap_err(),
            KeyFormatError::Timestamp
        );
        // Unknown fields are skipped.
        let mut sk = Vec::new();
        proto::put_bytes(&mut sk, 1, &[0u8; 32]);
        proto::put_uint(&mut sk, 2, 1);
        proto::put_uint(&mut sk, 9, 77);
        assert!(decode_secret_key(&sk).is_ok());
    }

    #[test]
    fn legacy_errors() {
        let e = KeyVersion::decode(br#"{"bytes":"AAAA"}"#).unwrap_err();
        assert_eq!(e.to_string(), "secret key must be 32 bytes, got 3");
        let e = KeyVersion::decode(
            br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","algorithm":"AES-256"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid legacy key: unknown algorithm 'AES-256'"
        );
        let e = KeyVersion::decode(br#"{"bytes":5}"#).unwrap_err();
        assert_eq!(e, KeyFormatError::LegacyFieldType { field: "bytes" });
        let e = KeyVersion::decode(br#"[1,2]"#).unwrap_err();
        assert!(matches!(e, KeyFormatError::LegacyJson(_)));
        let e = KeyVersion::decode(
            br#"{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","created_at":"yesterday"}"#,
        )
        .unwrap_err();
        assert_eq!(e, KeyFormatError::LegacyCreatedAt);
    }

    #[test]
    fn legacy_algorithm_variants() {
        let z = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for (alg, cipher, untyped) in [
            (None, Cipher::Aes256, true),
            (Some(""), Cipher::Aes256, true),
            (Some("AES256"), Cipher::Aes256, false),
            (Some("AES256-GCM_SHA256"), Cipher::Aes256, false),
            (Some("ChaCha20"), Cipher::ChaCha20, false),
            (Some("XCHACHA20-POLY1305"), Cipher::ChaCha20, false),
        ] {
            let json = match alg {
                None => format!(r#"{{"version":"v1","bytes":"{z}"}}"#),
                Some(a) => format!(r#"{{"version":"v1","bytes":"{z}","algorithm":"{a}"}}"#),
            };
            let kv = KeyVersion::decode(json.as_bytes()).unwrap();
            assert_eq!(kv.key.cipher(), cipher, "{json}");
            assert_eq!(kv.untyped, untyped, "{json}");
            assert!(kv.hmac.is_none());
            assert_eq!(kv.hmac(b"x"), None);
            assert_eq!(kv.encode().unwrap_err(), EncodeError::MissingHmacKey);
        }
    }

    #[test]
    fn dek_debug_redacts() {
        let kv = KeyVersion::generate(Cipher::Aes256, None);
        let dek = kv.generate_dek(b"").unwrap();
        assert!(format!("{dek:?}").contains("<redacted>"));
        assert_eq!(dek.ciphertext.len(), 76);
        assert_eq!(
            kv.decrypt(&dek.ciphertext, b"").unwrap().as_slice(),
            dek.plaintext.as_slice()
        );
        let dbg = format!("{kv:?}");
        assert!(dbg.contains("redacted"));
    }
}
