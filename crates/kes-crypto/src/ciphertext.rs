//! Reading every ciphertext layout Go KES ever wrote (§7.5): legacy JSON,
//! legacy MessagePack and the current raw layout, normalised to
//! `sealed ‖ iv ‖ nonce` parts. Only the raw layout is ever written (by
//! `secret_key`). This module does no cryptography.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::cipher::{Cipher, shorten};
use crate::error::{CiphertextFormatError, DecryptError};
use crate::secret_key::{IV_LEN, NONCE_LEN, SUFFIX_LEN};

/// A ciphertext split into its parts, whatever layout it came in.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    /// AEAD output: ciphertext ‖ tag.
    pub sealed: Cow<'a, [u8]>,
    /// The key-derivation input.
    pub iv: [u8; IV_LEN],
    /// The AEAD nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The algorithm a legacy (JSON/MessagePack) ciphertext claims, if any.
    pub legacy_cipher: Option<Cipher>,
    /// Why a legacy-looking input failed to parse before it was read as raw.
    pub legacy_error: Option<CiphertextFormatError>,
}

impl Parts<'_> {
    /// The error to report when authentication of these parts fails.
    pub(crate) fn auth_error(&self) -> DecryptError {
        match &self.legacy_error {
            Some(e) => DecryptError::NotAuthenticLegacy(e.clone()),
            None => DecryptError::NotAuthentic,
        }
    }
}

/// Detects the layout (§7.5.4) and splits the ciphertext. A legacy-looking
/// input that fails to parse is treated as raw.
pub(crate) fn parse(ct: &[u8]) -> Result<Parts<'_>, DecryptError> {
    let legacy = match ct.first() {
        Some(0x95) => Some(parse_msgpack(ct)),
        Some(b'{') => Some(parse_json(ct)),
        _ => None,
    };
    let legacy_error = match legacy {
        Some(Ok(parts)) => return Ok(parts),
        Some(Err(e)) => Some(e),
        None => None,
    };
    let Some(split) = ct.len().checked_sub(SUFFIX_LEN).filter(|n| *n > 0) else {
        return Err(match legacy_error {
            Some(e) => DecryptError::NotAuthenticLegacy(e),
            None => DecryptError::TooShort { len: ct.len() },
        });
    };
    let (sealed, suffix) = ct.split_at(split);
    let (iv, nonce) = suffix.split_at(IV_LEN);
    Ok(Parts {
        sealed: Cow::Borrowed(sealed),
        iv: to_array(iv)
            .map_err(|got| CiphertextFormatError::IvLength { got })
            .map_err(DecryptError::NotAuthenticLegacy)?,
        nonce: to_array(nonce)
            .map_err(|got| CiphertextFormatError::NonceLength { got })
            .map_err(DecryptError::NotAuthenticLegacy)?,
        legacy_cipher: None,
        legacy_error,
    })
}

fn to_array<const N: usize>(b: &[u8]) -> Result<[u8; N], usize> {
    b.try_into().map_err(|_| b.len())
}

/// Parses the legacy JSON layout (§7.5.1). Field names match
/// case-insensitively, as Go's `encoding/json` does.
fn parse_json(ct: &[u8]) -> Result<Parts<'static>, CiphertextFormatError> {
    let value: Value =
        serde_json::from_slice(ct).map_err(|e| CiphertextFormatError::Json(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(CiphertextFormatError::Json("not a JSON object".into()));
    };
    let aead = json_str(&map, "aead")?.unwrap_or_default();
    let cipher = match aead {
        "AES-256-GCM-HMAC-SHA-256" => Cipher::Aes256,
        "ChaCha20Poly1305" => Cipher::ChaCha20,
        other => return Err(CiphertextFormatError::UnknownAead(shorten(other))),
    };
    // The key id is ignored (§7.7.3) but must still have the right type.
    json_str(&map, "id")?;
    let iv = json_b64(&map, "iv")?;
    let nonce = json_b64(&map, "nonce")?;
    let sealed = json_b64(&map, "bytes")?;
    Ok(Parts {
        sealed: Cow::Owned(sealed),
        iv: to_array(&iv).map_err(|got| CiphertextFormatError::IvLength { got })?,
        nonce: to_array(&nonce).map_err(|got| CiphertextFormatError::NonceLength { got })?,
        legacy_cipher: Some(cipher),
        legacy_error: None,
    })
}

/// Looks a field up like Go's `encoding/json`: exact name first, then any
/// ASCII case-insensitive match.
pub(crate) fn json_field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn json_str<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, CiphertextFormatError> {
    match json_field(map, field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(CiphertextFormatError::JsonFieldType { field }),
    }
}

fn json_b64(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Vec<u8>, CiphertextFormatError> {
    match json_str(map, field)? {
        None => Ok(Vec::new()),
        Some(s) => crate::b64::decode(s.as_bytes())
            .map(|v| v.to_vec())
            .map_err(|_| CiphertextFormatError::Base64 { field }),
    }
}

/// Parses the legacy MessagePack layout (§7.5.2): exactly a 5-element array
/// of algorithm, id, iv, nonce, bytes and nothing after it.
fn parse_msgpack(ct: &[u8]) -> Result<Parts<'_>, CiphertextFormatError> {
    use CiphertextFormatError::MsgPack;
    let mut r = Reader { buf: ct };
    if r.byte()? != 0x95 {
        return Err(MsgPack("expected an array of 5 elements"));
    }
    let algorithm = r.str_or_nil()?;
    let _id = r.str_or_nil()?;
    let iv = r.bin()?;
    let nonce = r.bin()?;
    let sealed = r.bin()?;
    if !r.buf.is_empty() {
        return Err(MsgPack("trailing bytes after the array"));
    }
    // nil or "" means "unspecified": the stored key's type decides.
    let legacy_cipher = match algorithm {
        None | Some(b"") => None,
        Some(b"AES256-GCM_SHA256") | Some(b"AES256") => Some(Cipher::Aes256),
        Some(b"XCHACHA20-POLY1305") | Some(b"ChaCha20") => Some(Cipher::ChaCha20),
        Some(other) => {
            return Err(CiphertextFormatError::UnknownAlgorithm(shorten(
                &String::from_utf8_lossy(other),
            )));
        }
    };
    Ok(Parts {
        sealed: Cow::Borrowed(sealed),
        iv: to_array(iv).map_err(|got| CiphertextFormatError::IvLength { got })?,
        nonce: to_array(nonce).map_err(|got| CiphertextFormatError::NonceLength { got })?,
        legacy_cipher,
        legacy_error: None,
    })
}

/// A tiny MessagePack cursor for the few types §7.5.2 needs.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CiphertextFormatError> {
        if self.buf.len() < n {
            return Err(CiphertextFormatError::MsgPack("unexpected end of input"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, CiphertextFormatError> {
        let b = self.take(1)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    fn len_be(&mut self, width: usize) -> Result<usize, CiphertextFormatError> {
        let bytes = self.take(width)?;
        let n = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        usize::try_from(n).map_err(|_| CiphertextFormatError::MsgPack("length too large"))
    }

    /// A string (fixstr, str8/16/32) or nil; `None` for nil.
    fn str_or_nil(&mut self) -> Result<Option<&'a [u8]>, CiphertextFormatError> {
        let tag = self.byte()?;
        let len = match tag {
            0xc0 => return Ok(None),
            0xa0..=0xbf => usize::from(tag & 0x1f),
            0xd9 => self.len_be(1)?,
            0xda => self.len_be(2)?,
            0xdb => self.len_be(4)?,
            _ => return Err(CiphertextFormatError::MsgPack("expected a string or nil")),
        };
        self.take(len).map(Some)
    }

    /// A binary blob (bin8/16/32).
    fn bin(&mut self) -> Result<&'a [u8], CiphertextFormatError> {
        let len = match self.byte()? {
            0xc4 => self.len_be(1)?,
            0xc5 => self.len_be(2)?,
            0xc6 => self.len_be(4)?,
            _ => return Err(CiphertextFormatError::MsgPack("expected binary data")),
        };
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_split() {
        let ct: Vec<u8> = (0u8..60).collect();
        let p = parse(&ct).unwrap();
        assert_eq!(p.sealed.as_ref(), &ct[..32]);
        assert_eq!(p.iv.as_slice(), &ct[32..48]);
        assert_eq!(p.nonce.as_slice(), &ct[48..]);
        assert!(p.legacy_cipher.is_none());
    }

    #[test]
    fn raw_too_short() {
        assert_eq!(
            parse(&[1u8; 28]).unwrap_err(),
            DecryptError::TooShort { len: 28 }
        );
        assert_eq!(parse(&[]).unwrap_err(), DecryptError::TooShort { len: 0 });
    }

    #[test]
    fn msgpack_wider_encodings_and_nil() {
        // nil algorithm, str16 id, bin16/bin32 blobs.
        let mut m = vec![0x95, 0xc0, 0xda, 0x00, 0x02, b'a', b'b'];
        m.extend_from_slice(&[0xc5, 0x00, 0x10]);
        m.extend_from_slice(&[1u8; 16]);
        m.extend_from_slice(&[0xc6, 0, 0, 0, 0x0c]);
        m.extend_from_slice(&[2u8; 12]);
        m.extend_from_slice(&[0xc4, 0x03, 9, 9, 9]);
        let p = parse_msgpack(&m).unwrap();
        assert_eq!(p.iv, [1u8; 16]);
        assert_eq!(p.nonce, [2u8; 12]);
        assert_eq!(p.sealed.as_ref(), &[9, 9, 9]);
        assert_eq!(p.legacy_cipher, None);
        // Trailing byte rejected.
        m.push(0);
        assert_eq!(
            parse_msgpack(&m).unwrap_err().to_string(),
            "invalid MessagePack ciphertext: trailing bytes after the array"
        );
    }

    #[test]
    fn msgpack_rejects_unknown_algorithm_and_bad_sizes() {
        let mut m = vec![0x95, 0xa3, b'A', b'E', b'S', 0xa0, 0xc4, 0x10];
        m.extend_from_slice(&[0u8; 16]);
        m.extend_from_slice(&[0xc4, 0x0c]);
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&[0xc4, 0x00]);
        assert_eq!(
            parse_msgpack(&m).unwrap_err(),
            CiphertextFormatError::UnknownAlgorithm("AES".into())
        );
        let mut m = vec![0x95, 0xa6];
        m.extend_from_slice(b"AES256");
        m.extend_from_slice(&[0xa0, 0xc4, 0x0f]);
        m.extend_from_slice(&[0u8; 15]);
        m.extend_from_slice(&[0xc4, 0x0c]);
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&[0xc4, 0x00]);
        assert_eq!(
            parse_msgpack(&m).unwrap_err().to_string(),
            "iv must be 16 bytes, got 15"
        );
    }

    #[test]
    fn json_field_names_are_case_insensitive() {
        let j = br#"{"AEAD":"ChaCha20Poly1305","IV":"AAAAAAAAAAAAAAAAAAAAAA==","Nonce":"AAAAAAAAAAAAAAAA","BYTES":""}"#;
        let p = parse_json(j).unwrap();
        assert_eq!(p.legacy_cipher, Some(Cipher::ChaCha20));
        assert!(p.sealed.is_empty());
    }

    #[test]
    fn json_errors_are_precise() {
        let j = br#"{"aead":"AES-256-GCM","iv":"","nonce":"","bytes":""}"#;
        assert_eq!(
            parse_json(j).unwrap_err().to_string(),
            "unknown aead 'AES-256-GCM'"
        );
        let j = br#"{"aead":"AES-256-GCM-HMAC-SHA-256","iv":"EjOY4JKqjIrPmQ5z1KSR8zlhggY=","nonce":"","bytes":""}"#;
        assert_eq!(
            parse_json(j).unwrap_err().to_string(),
            "iv must be 16 bytes, got 20"
        );
        let j = br#"{"aead":"ChaCha20Poly1305","iv":"s3fSZ6vk5m+DfQA8yZWeUg==","nonce":"SXAbms731/c=","bytes":""}"#;
        assert_eq!(
            parse_json(j).unwrap_err().to_string(),
            "nonce must be 12 bytes, got 8"
        );
        let j = br#"{"aead":"ChaCha20Poly1305","iv":5}"#;
        assert_eq!(
            parse_json(j).unwrap_err(),
            CiphertextFormatError::JsonFieldType { field: "iv" }
        );
        let j = br#"{"aead":"ChaCha20Poly1305","iv":"!!"}"#;
        assert_eq!(
            parse_json(j).unwrap_err(),
            CiphertextFormatError::Base64 { field: "iv" }
        );
    }
}
