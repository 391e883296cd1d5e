//! Lenient request-body decoding with Go `encoding/json` semantics (spec
//! §1.5): only the first JSON value is read (trailing bytes ignored), field
//! names match case-insensitively (an exact match wins), unknown fields are
//! ignored, `null` or a missing field means empty, and byte fields are
//! standard padded base64 in which `\r` and `\n` are skipped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
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

/// The first JSON value of `body`, with trailing bytes ignored.
pub fn first_value(body: &[u8]) -> Result<Value, BodyError> {
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(BodyError::Json(e.to_string())),
        None => Err(BodyError::Json("empty body".into())),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A decoded JSON object whose fields are looked up the Go way.
#[derive(Debug)]
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Decodes `body` as one JSON object; `null` is an empty object (Go
    /// leaves the struct untouched).
    pub fn parse(body: &[u8]) -> Result<Self, BodyError> {
        Self::from_value(first_value(body)?)
    }

    /// Wraps an already-decoded value.
    pub fn from_value(v: Value) -> Result<Self, BodyError> {
        match v {
            Value::Object(m) => Ok(Self(m)),
            Value::Null => Ok(Self(Map::new())),
            other => Err(BodyError::NotObject(kind(&other))),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).or_else(|| {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_leniencies() {
        let f = Fields::parse(br#"{"PlainText":"aGk=","extra":1} trailing junk"#).unwrap();
        assert_eq!(&*f.bytes("plaintext").unwrap(), b"hi");
        assert_eq!(&*f.bytes("context").unwrap(), b"");
        let f = Fields::parse(br#"{"context":null,"plaintext":"aG\r\nk="}"#).unwrap();
        assert_eq!(&*f.bytes("context").unwrap(), b"");
        assert_eq!(&*f.bytes("plaintext").unwrap(), b"hi");
        let f = Fields::parse(br#"{"key":"x","KEY":"y"}"#).unwrap();
        assert_eq!(f.string("key").unwrap(), "x");
        assert!(
            Fields::parse(b"null")
                .unwrap()
                .string("a")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn string_lists() {
        let f = Fields::parse(br#"{"allow":["/a","/b*"],"Deny":{"/c":{}},"x":null}"#).unwrap();
        assert_eq!(f.string_list("allow").unwrap(), ["/a", "/b*"]);
        assert_eq!(f.string_list("deny").unwrap(), ["/c"]);
        assert!(f.string_list("x").unwrap().is_empty());
        assert!(f.string_list("missing").unwrap().is_empty());
        let f = Fields::parse(br#"{"allow":"/a","deny":[1]}"#).unwrap();
        assert_eq!(
            f.string_list("allow").unwrap_err().to_string(),
            "field 'allow' must be an array of strings"
        );
        assert!(f.string_list("deny").is_err());
    }

    #[test]
    fn rejects() {
        assert!(Fields::parse(b"").is_err());
        assert!(Fields::parse(b"[1]").is_err());
        assert!(Fields::parse(b"{\"a\":").is_err());
        assert!(
            Fields::parse(br#"{"plaintext":5}"#)
                .unwrap()
                .bytes("plaintext")
                .is_err()
        );
        assert!(
            Fields::parse(br#"{"plaintext":"aGk"}"#)
                .unwrap()
                .bytes("plaintext")
                .is_err()
        );
    }
}
