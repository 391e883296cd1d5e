//! Lenient request-body decoding with Go `encoding/json` semantics (spec
//! §1.5): only the first JSON value is read (trailing bytes ignored), field
//! names match case-insensitively (an exact match wins), unknown fields are
//! skipped by syntax only (so a number no float can hold, or nesting deeper
//! than the parser's recursion limit, is fine where nobody reads it, as in
//! Go), `null` or a missing field means empty, and byte fields are standard
//! padded base64 in which `\r` and `\n` are skipped.
//!
//! A decoder is told the field names its route reads ([`Fields::parse`]);
//! only those values are built, every other value is skipped without
//! allocating.
//!
//! Each route with a body has one decoder here ([`ImportRequest`],
//! [`GenerateRequest`], [`EncryptRequest`], [`DecryptRequest`],
//! [`HmacRequest`], [`PolicyRequest`]); the handlers call them and the fuzz
//! targets (`crates/kes-fuzz`) feed them arbitrary bytes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kes_types::{PathPattern, PatternError};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use zeroize::Zeroizing;

/// Why a body did not decode (for the log; clients get the route's text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or empty.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The top-level value is not an object.
    #[error("expected a JSON object, got {0}")]
    NotObject(&'static str),
    /// The top-level value is not an array.
    #[error("expected a JSON array, got {0}")]
    NotArray(&'static str),
    /// A field has the wrong JSON type.
    #[error("field '{0}' must be a string")]
    NotString(String),
    /// A field is neither an array of strings nor an object.
    #[error("field '{0}' must be an array of strings")]
    NotStringList(String),
    /// A byte field is not valid base64.
    #[error("field '{field}' is not valid base64: {reason}")]
    Base64 {
        /// The field.
        field: String,
        /// The decoder's message.
        reason: String,
    },
}

/// Runs `seed` on the first JSON value of `body`; trailing bytes are ignored.
fn decode_first<'de, S: DeserializeSeed<'de>>(
    body: &'de [u8],
    seed: S,
) -> Result<S::Value, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Json("empty body".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    seed.deserialize(&mut de)
        .map_err(|e| BodyError::Json(e.to_string()))
}

/// The fields a route reads from a JSON object, looked up the Go way.
#[derive(Debug)]
pub struct Fields {
    names: &'static [&'static str],
    /// One slot per name: the value and whether its key matched exactly.
    values: Vec<Option<(Value, bool)>>,
}

impl Fields {
    /// Decodes the first JSON value of `body` as an object, keeping the
    /// fields in `names` (lower-case); `null` is an empty object (Go leaves
    /// the struct untouched).
    pub fn parse(body: &[u8], names: &'static [&'static str]) -> Result<Self, BodyError> {
        decode_first(body, ObjectSeed { names })?.map_err(BodyError::NotObject)
    }

    /// Decodes the first JSON value of `body` as an array of objects (or
    /// `null`s), keeping the fields in `names` of each.
    pub fn parse_list(body: &[u8], names: &'static [&'static str]) -> Result<Vec<Self>, BodyError> {
        decode_first(body, ListSeed { names })?
    }

    fn get(&self, name: &str) -> Option<&Value> {
        let i = self.names.iter().position(|n| *n == name)?;
        self.values.get(i)?.as_ref().map(|(v, _)| v)
    }

    /// Whether the field is present with a non-null value.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_null())
    }

    /// A string field; missing or `null` is empty.
    pub fn string(&self, name: &str) -> Result<&str, BodyError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(BodyError::NotString(name.to_owned())),
        }
    }

    /// A list of strings: a JSON array of strings, or an object whose keys
    /// are the strings (the shape policies are read back in); missing or
    /// `null` is empty.
    pub fn string_list(&self, name: &str) -> Result<Vec<String>, BodyError> {
        let not_list = || BodyError::NotStringList(name.to_owned());
        match self.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(not_list))
                .collect(),
            Some(Value::Object(m)) => Ok(m.keys().cloned().collect()),
            Some(_) => Err(not_list()),
        }
    }

    /// A base64 byte field; missing or `null` is empty.
    pub fn bytes(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, BodyError> {
        decode_base64(name, self.string(name)?)
    }
}

/// The JSON kind of a value that is not what the decoder wanted.
type WrongKind = &'static str;

/// Decodes one object into [`Fields`], or names the kind found instead
/// (whose content is skipped).
struct ObjectSeed {
    names: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Result<Fields, WrongKind>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl ObjectSeed {
    fn empty(&self) -> Fields {
        Fields {
            names: self.names,
            values: vec![None; self.names.len()],
        }
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Result<Fields, WrongKind>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = self.empty();
        while let Some(key) = map.next_key_seed(KeySeed { names: self.names })? {
            let Some((i, exact)) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value: Value = map.next_value()?;
            let slot = &mut fields.values[i];
            // An exact match wins over a case-insensitive one; among equals
            // the last one wins.
            if exact || !slot.as_ref().is_some_and(|(_, was_exact)| *was_exact) {
                *slot = Some((value, exact));
            }
        }
        Ok(Ok(fields))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(self.empty()))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("an array"))
    }
}

/// Matches an object key against the wanted names without allocating:
/// `Some((index, exact))` for a wanted field, `None` for one to skip.
struct KeySeed {
    names: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<(usize, bool)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<(usize, bool)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        if let Some(i) = self.names.iter().position(|n| *n == key) {
            return Ok(Some((i, true)));
        }
        Ok(self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(key))
            .map(|i| (i, false)))
    }
}

/// Decodes one array of objects (`null` items are empty objects).
struct ListSeed {
    names: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for ListSeed {
    type Value = Result<Vec<Fields>, BodyError>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed {
    type Value = Result<Vec<Fields>, BodyError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ObjectSeed { names: self.names })? {
            match item {
                Ok(fields) => items.push(fields),
                Err(kind) => {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(Err(BodyError::NotObject(kind)));
                }
            }
        }
        Ok(Ok(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(BodyError::NotArray("an object")))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err(BodyError::NotArray("null")))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(BodyError::NotArray("a boolean")))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(BodyError::NotArray("a number")))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(BodyError::NotArray("a number")))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(BodyError::NotArray("a number")))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(BodyError::NotArray("a string")))
    }
}

/// Decodes standard padded base64, skipping `\r` and `\n` like Go.
pub fn decode_base64(field: &str, s: &str) -> Result<Zeroizing<Vec<u8>>, BodyError> {
    let err = |e: base64::DecodeError| BodyError::Base64 {
        field: field.to_owned(),
        reason: e.to_string(),
    };
    if s.contains(['\r', '\n']) {
        let cleaned: Zeroizing<String> =
            Zeroizing::new(s.chars().filter(|c| *c != '\r' && *c != '\n').collect());
        STANDARD
            .decode(cleaned.as_bytes())
            .map(Zeroizing::new)
            .map_err(err)
    } else {
        STANDARD.decode(s).map(Zeroizing::new).map_err(err)
    }
}

/// Encodes bytes as standard padded base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The body of `PUT /v1/key/import/<name>`: `{"key","cipher"}` or the
/// v0.22 spellings `{"bytes","algorithm"}`.
#[derive(Debug)]
pub struct ImportRequest {
    /// The key material (its length is checked by the handler).
    pub key: Zeroizing<Vec<u8>>,
    /// The cipher name as sent; `AES256` when absent, empty or `undefined`.
    pub cipher: String,
}

impl ImportRequest {
    /// Decodes an import body.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        let fields = Fields::parse(body, &["key", "bytes", "cipher", "algorithm"])?;
        let bytes_field = if fields.has("key") || !fields.has("bytes") {
            "key"
        } else {
            "bytes"
        };
        let key = fields.bytes(bytes_field)?;
        let mut cipher = fields.string("cipher")?;
        if cipher.is_empty() {
            cipher = fields.string("algorithm")?;
        }
        let cipher = match cipher {
            "" | "undefined" => "AES256",
            other => other,
        };
        Ok(Self {
            key,
            cipher: cipher.to_owned(),
        })
    }
}

/// The body of `PUT /v1/key/generate/<name>`: an optional `{"context"}`.
#[derive(Debug)]
pub struct GenerateRequest {
    /// The associated data the DEK is bound to.
    pub context: Zeroizing<Vec<u8>>,
}

impl GenerateRequest {
    /// Decodes a generate body. Any empty (all-whitespace) body means "no
    /// context" (Go only skips decoding when the declared length is 0;
    /// chunked empty bodies fail there).
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                context: Zeroizing::new(Vec::new()),
            });
        }
        Ok(Self {
            context: Fields::parse(body, &["context"])?.bytes("context")?,
        })
    }
}

/// The body of `PUT /v1/key/encrypt/<name>`: `{"plaintext","context"}`.
#[derive(Debug)]
pub struct EncryptRequest {
    /// The data to encrypt.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The associated data.
    pub context: Zeroizing<Vec<u8>>,
}

impl EncryptRequest {
    /// Decodes an encrypt body.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        let fields = Fields::parse(body, &["plaintext", "context"])?;
        Ok(Self {
            plaintext: fields.bytes("plaintext")?,
            context: fields.bytes("context")?,
        })
    }
}

/// The body of `PUT /v1/key/decrypt/<name>`, and one item of a legacy bulk
/// decrypt: `{"ciphertext","context"}`.
#[derive(Debug)]
pub struct DecryptRequest {
    /// The ciphertext, in any of the formats of §7.5.
    pub ciphertext: Zeroizing<Vec<u8>>,
    /// The associated data.
    pub context: Zeroizing<Vec<u8>>,
    /// The key version that produced the ciphertext, as kms-go v0.3 sends
    /// it; empty when absent (the server then finds the version).
    pub version: String,
}

impl DecryptRequest {
    /// The fields a decrypt body or bulk item is read from.
    pub const FIELDS: &'static [&'static str] = &["ciphertext", "context", "version"];

    /// Decodes a decrypt body.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        Self::from_fields(&Fields::parse(body, Self::FIELDS)?)
    }

    /// Decodes the fields of one item of a bulk-decrypt array
    /// ([`Fields::parse_list`] with [`DecryptRequest::FIELDS`]).
    pub fn from_fields(fields: &Fields) -> Result<Self, BodyError> {
        Ok(Self {
            ciphertext: fields.bytes("ciphertext")?,
            context: fields.bytes("context")?,
            version: fields.string("version")?.to_owned(),
        })
    }
}

/// The body of `PUT /v1/key/hmac/<name>`: `{"message"}`.
#[derive(Debug)]
pub struct HmacRequest {
    /// The message to authenticate.
    pub message: Zeroizing<Vec<u8>>,
}

impl HmacRequest {
    /// Decodes an HMAC body.
    pub fn decode(body: &[u8]) -> Result<Self, BodyError> {
        Ok(Self {
            message: Fields::parse(body, &["message"])?.bytes("message")?,
        })
    }
}

/// The body of `PUT /v1/policy/write/<name>`: `{"allow":[…],"deny":[…]}`
/// (arrays, or the objects `read` returns; `paths` is the oldest spelling
/// of `allow`), every pattern checked with [`PathPattern::parse`].
#[derive(Debug)]
pub struct PolicyRequest {
    /// The allow patterns (`allow`, then `paths`).
    pub allow: Vec<PathPattern>,
    /// The deny patterns.
    pub deny: Vec<PathPattern>,
}

/// Why a policy body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRequestError {
    /// The body is not a JSON object with string lists.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A pattern is invalid; names the field and the index.
    #[error("{field}[{index}]: {source}")]
    Pattern {
        /// `allow`, `paths` or `deny`.
        field: &'static str,
        /// The index in that list.
        index: usize,
        /// What is wrong with it.
        source: PatternError,
    },
}

impl PolicyRequest {
    /// Decodes a policy body.
    pub fn decode(body: &[u8]) -> Result<Self, PolicyRequestError> {
        let fields = Fields::parse(body, &["allow", "deny", "paths"])?;
        let mut allow = patterns(&fields, "allow")?;
        allow.extend(patterns(&fields, "paths")?);
        let deny = patterns(&fields, "deny")?;
        Ok(Self { allow, deny })
    }
}

fn patterns(fields: &Fields, field: &'static str) -> Result<Vec<PathPattern>, PolicyRequestError> {
    fields
        .string_list(field)?
        .iter()
        .enumerate()
        .map(|(index, p)| {
            PathPattern::parse(p).map_err(|source| PolicyRequestError::Pattern {
                field,
                index,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRYPT: &[&str] = &["plaintext", "context"];

    #[test]
    fn go_leniencies() {
        let f = Fields::parse(br#"{"PlainText":"aGk=","extra":1} trailing junk"#, CRYPT).unwrap();
        assert_eq!(&*f.bytes("plaintext").unwrap(), b"hi");
        assert_eq!(&*f.bytes("context").unwrap(), b"");
        let f = Fields::parse(br#"{"context":null,"plaintext":"aG\r\nk="}"#, CRYPT).unwrap();
        assert_eq!(&*f.bytes("context").unwrap(), b"");
        assert_eq!(&*f.bytes("plaintext").unwrap(), b"hi");
        let f = Fields::parse(br#"{"key":"x","KEY":"y"}"#, &["key"]).unwrap();
        assert_eq!(f.string("key").unwrap(), "x");
        let f = Fields::parse(br#"{"KEY":"y","key":"x","Key":"z"}"#, &["key"]).unwrap();
        assert_eq!(f.string("key").unwrap(), "x");
        let f = Fields::parse(br#"{"KEY":"y","Key":"z"}"#, &["key"]).unwrap();
        assert_eq!(f.string("key").unwrap(), "z");
        assert!(
            Fields::parse(b"null", CRYPT)
                .unwrap()
                .string("plaintext")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn unknown_fields_are_skipped_by_syntax() {
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        for unknown in [
            "1e99999999",
            "-1e-99999999",
            "123456789012345678901234567890123456789012345678901234567890",
            deep.as_str(),
            r#"{"a":[{"b":"\u00e9\ud83d\ude00"},null,true,-0.0e+0]}"#,
            r#""\"}""#,
        ] {
            let body = format!(r#"{{"x":{unknown},"plaintext":"YWJj","y":{unknown}}}"#);
            let f =
                Fields::parse(body.as_bytes(), CRYPT).unwrap_or_else(|e| panic!("{unknown}: {e}"));
            assert_eq!(&*f.bytes("plaintext").unwrap(), b"abc", "{unknown}");
        }
        // Still JSON: broken syntax in an unknown field is an error.
        assert!(Fields::parse(br#"{"x":1e,"plaintext":"YWJj"}"#, CRYPT).is_err());
        assert!(Fields::parse(br#"{"x":[1,"plaintext":"YWJj"}"#, CRYPT).is_err());
        // A known field keeps its type check.
        assert!(Fields::parse(br#"{"plaintext":1e99999999}"#, CRYPT).is_err());
    }

    #[test]
    fn lists_of_objects() {
        let items = Fields::parse_list(
            br#"[{"ciphertext":"YQ==","x":1e999999},null,{"Context":"Yg=="}] junk"#,
            &["ciphertext", "context"],
        )
        .unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(&*items[0].bytes("ciphertext").unwrap(), b"a");
        assert!(items[1].bytes("ciphertext").unwrap().is_empty());
        assert_eq!(&*items[2].bytes("context").unwrap(), b"b");
        let names = &["ciphertext"];
        assert_eq!(
            Fields::parse_list(b"{\"a\":1}", names).unwrap_err(),
            BodyError::NotArray("an object")
        );
        assert_eq!(
            Fields::parse_list(b"[{}, 5, {}]", names).unwrap_err(),
            BodyError::NotObject("a number")
        );
        assert!(Fields::parse_list(b"[{}, 5, {}", names).is_err());
        assert!(Fields::parse_list(b"", names).is_err());
    }

    #[test]
    fn string_lists() {
        let names = &["allow", "deny", "x", "missing"];
        let f = Fields::parse(
            br#"{"allow":["/a","/b*"],"Deny":{"/c":{}},"x":null}"#,
            names,
        )
        .unwrap();
        assert_eq!(f.string_list("allow").unwrap(), ["/a", "/b*"]);
        assert_eq!(f.string_list("deny").unwrap(), ["/c"]);
        assert!(f.string_list("x").unwrap().is_empty());
        assert!(f.string_list("missing").unwrap().is_empty());
        let f = Fields::parse(br#"{"allow":"/a","deny":[1]}"#, names).unwrap();
        assert_eq!(
            f.string_list("allow").unwrap_err().to_string(),
            "field 'allow' must be an array of strings"
        );
        assert!(f.string_list("deny").is_err());
    }

    #[test]
    fn route_decoders() {
        let r = ImportRequest::decode(br#"{"bytes":"aGk=","algorithm":"undefined"}"#).unwrap();
        assert_eq!(
            (r.key.as_slice(), r.cipher.as_str()),
            (&b"hi"[..], "AES256")
        );
        let r =
            ImportRequest::decode(br#"{"key":null,"bytes":"aGk=","cipher":"ChaCha20"}"#).unwrap();
        assert_eq!(
            (r.key.as_slice(), r.cipher.as_str()),
            (&b"hi"[..], "ChaCha20")
        );
        assert!(
            GenerateRequest::decode(b" \r\n")
                .unwrap()
                .context
                .is_empty()
        );
        assert!(GenerateRequest::decode(b"[]").is_err());
        let p =
            PolicyRequest::decode(br#"{"allow":["/a"],"paths":["/b*"],"deny":{"/c":{}}}"#).unwrap();
        assert_eq!(p.allow.len(), 2);
        assert_eq!(p.deny[0].as_str(), "/c");
        assert_eq!(
            PolicyRequest::decode(br#"{"paths":["/a","b"]}"#)
                .unwrap_err()
                .to_string(),
            "paths[1]: pattern 'b' does not start with '/'"
        );
    }

    #[test]
    fn rejects() {
        assert!(Fields::parse(b"", CRYPT).is_err());
        assert!(Fields::parse(b" \n", CRYPT).is_err());
        assert_eq!(
            Fields::parse(b"[1]", CRYPT).unwrap_err(),
            BodyError::NotObject("an array")
        );
        assert_eq!(
            Fields::parse(b"\"s\"", CRYPT).unwrap_err(),
            BodyError::NotObject("a string")
        );
        assert!(Fields::parse(b"{\"a\":", CRYPT).is_err());
        assert!(
            Fields::parse(br#"{"plaintext":5}"#, CRYPT)
                .unwrap()
                .bytes("plaintext")
                .is_err()
        );
        assert!(
            Fields::parse(br#"{"plaintext":"aGk"}"#, CRYPT)
                .unwrap()
                .bytes("plaintext")
                .is_err()
        );
    }
}
