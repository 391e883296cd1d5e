//! The JSON wire contract of the KES HTTP API: request and response bodies
//! with the exact field names Go KES and its clients use, the canonical error
//! values clients match by (status, message), and the route path prefixes.
//!
//! Byte fields are standard base64 (with padding) strings on the wire; these
//! types keep them as `String` so that each side decides how strictly to
//! decode them (the server is lenient, see `kes-server`).

use serde::{Deserialize, Serialize};

/// An API error as it travels on the wire: an HTTP status and a message.
///
/// The body is `{"message":"<text>"}` with `Content-Type: application/json`.
/// Clients (MinIO above all) compare errors by `(status, message)` equality,
/// so the canonical values below must never change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Human-readable message, sent as `{"message": ...}`.
    pub message: String,
}

impl ApiError {
    /// Creates an error from a status and a message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The JSON body Go KES sends for this error (a newline inside the object,
    /// as Go's JSON encoder writes it; parsers do not care).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.len() + 16);
        out.extend_from_slice(b"{\"message\":");
        // Serializing a &str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &self.message);
        out.extend_from_slice(b"\n}");
        out
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

/// The canonical error values shared by server and clients.
pub mod errors {
    /// 403: the identity may not perform the request.
    pub const NOT_ALLOWED: (u16, &str) = (403, "not authorized: insufficient permissions");
    /// 404: no key with that name.
    pub const KEY_NOT_FOUND: (u16, &str) = (404, "key does not exist");
    /// 400: a key with that name exists already.
    pub const KEY_EXISTS: (u16, &str) = (400, "key already exists");
    /// 404: no policy with that name.
    pub const POLICY_NOT_FOUND: (u16, &str) = (404, "policy does not exist");
    /// 404: the identity is neither admin nor assigned to a policy.
    pub const IDENTITY_NOT_FOUND: (u16, &str) = (404, "identity does not exist");
    /// 400: decryption failed (wrong key, context, tampered or malformed ciphertext).
    pub const DECRYPT: (u16, &str) = (400, "decryption failed: ciphertext is not authentic");
    /// 409: the key is stored in a legacy format without an HMAC key.
    pub const HMAC_NOT_SUPPORTED: (u16, &str) = (409, "key does not support HMAC");
    /// Legacy alias of [`KEY_EXISTS`] sent by pre-2021 servers.
    pub const LEGACY_KEY_EXISTS: (u16, &str) = (400, "key does already exist");
    /// Legacy alias of [`NOT_ALLOWED`] sent by pre-2021 servers.
    pub const LEGACY_NOT_ALLOWED: (u16, &str) = (403, "prohibited by policy");
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// Release name, e.g. `2025-03-12T09-35-18Z` or a semver string.
    pub version: String,
    /// VCS commit, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Server version.
    pub version: String,
    /// Operating system (`linux`, ...), Go spelling.
    pub os: String,
    /// CPU architecture, Go spelling (`amd64`, `arm64`, ...).
    pub arch: String,
    /// Integer seconds since start.
    pub uptime: u64,
    /// Logical CPUs.
    pub num_cpu: u64,
    /// CPUs the server may use.
    pub num_cpu_used: u64,
    /// Heap bytes in use (best estimate).
    pub mem_heap_used: u64,
    /// Stack bytes obtained from the OS (best estimate).
    pub mem_stack_used: u64,
    /// Key-store latency in integer milliseconds (min. 1); absent when unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keystore_latency: Option<u64>,
    /// Set (true) when the key store is unavailable; always together with
    /// `keystore_unreachable` (clients reject one without the other).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keystore_unavailable: bool,
    /// Set (true) when the key-store status check failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keystore_unreachable: bool,
}

/// One entry of `GET /v1/api`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRoute {
    /// Canonical method (`GET`, `PUT`, `DELETE`).
    pub method: String,
    /// Route path; prefix routes end in `/`.
    pub path: String,
    /// Maximum request body in bytes.
    pub max_body: u64,
    /// Response deadline in whole seconds, 0 = none.
    pub timeout: u64,
}

/// `PUT /v1/key/import/<name>` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportKeyRequest {
    /// Base64 of the 32-byte key.
    pub key: String,
    /// `AES256` or `ChaCha20` (legacy spellings accepted by the server).
    pub cipher: String,
}

/// `GET /v1/key/describe/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeKeyResponse {
    /// Key name.
    pub name: String,
    /// `AES256` or `ChaCha20`.
    pub algorithm: String,
    /// RFC 3339 time (`0001-01-01T00:00:00Z` when unknown).
    pub created_at: String,
    /// Identity that created the key, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// The latest version (`v<N>`); absent from servers without versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// `PUT /v1/key/rotate/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateKeyResponse {
    /// The new latest version (`v<N>`).
    pub version: String,
}

/// `GET /v1/key/versions/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersionsResponse {
    /// Key name.
    pub name: String,
    /// The latest version, the one generate, encrypt and HMAC use.
    pub latest: String,
    /// Every version, oldest first.
    pub versions: Vec<KeyVersionInfo>,
}

/// One version in a [`KeyVersionsResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersionInfo {
    /// `v<N>`.
    pub version: String,
    /// `AES256` or `ChaCha20`; absent for a removed version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub algorithm: String,
    /// RFC 3339 creation time; absent for a removed version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    /// Identity that created the version, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Set when the version's key material was destroyed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// `GET /v1/key/list/<pattern>` and `GET /v1/policy/list/<pattern>` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListNamesResponse {
    /// Sorted names (`null` is accepted when decoding).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub names: Vec<String>,
    /// Next name to continue from; empty when complete.
    #[serde(default)]
    pub continue_at: String,
}

/// `GET /v1/key/list/<pattern>` response as the server writes it: like
/// [`ListNamesResponse`] (which decodes it), but like Go KES it omits an
/// empty `continue_at`, which the policy listing writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListKeysResponse {
    /// Sorted names.
    pub names: Vec<String>,
    /// Next name to continue from; omitted when the listing is complete.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub continue_at: String,
}

/// The query parameter that continues a key listing on this server (not in
/// Go KES, which ignores query strings): `GET
/// /v1/key/list/<pattern>?continue_at=<name>` lists from `<name>`
/// (inclusive), the `continue_at` of the previous page, which is the first
/// name that page did not return. The value must start with the pattern's
/// prefix; see `docs/compat.md`.
pub const CONTINUE_AT_PARAM: &str = "continue_at";

/// `GET /v1/identity/list/<pattern>` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListIdentitiesResponse {
    /// Sorted identities.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub identities: Vec<String>,
    /// Always empty (kept for the wire shape).
    #[serde(default)]
    pub continue_at: String,
}

/// `PUT /v1/key/generate/<name>` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateKeyRequest {
    /// Base64 associated data; empty = none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
}

/// `PUT /v1/key/generate/<name>` response. `Zeroize`, so that the server
/// can hold the plaintext DEK in a [`zeroize::Zeroizing`] wrapper.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, zeroize::Zeroize)]
pub struct GenerateKeyResponse {
    /// Base64 of the 32-byte plaintext DEK.
    pub plaintext: String,
    /// Base64 of the sealed DEK.
    pub ciphertext: String,
    /// The key version that sealed it (`v<N>`); absent from servers
    /// without versions (kms-go v0.3 reads it as an optional string).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

impl std::fmt::Debug for GenerateKeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateKeyResponse")
            .field("plaintext", &"<redacted>")
            .field("ciphertext", &self.ciphertext)
            .field("version", &self.version)
            .finish()
    }
}

/// `PUT /v1/key/encrypt/<name>` request body.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptKeyRequest {
    /// Base64 plaintext.
    pub plaintext: String,
    /// Base64 associated data; empty = none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
}

impl std::fmt::Debug for EncryptKeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptKeyRequest")
            .field("plaintext", &"<redacted>")
            .field("context", &self.context)
            .finish()
    }
}

/// `PUT /v1/key/encrypt/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptKeyResponse {
    /// Base64 ciphertext.
    pub ciphertext: String,
    /// The key version that produced it (`v<N>`); absent from servers
    /// without versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// `PUT /v1/key/decrypt/<name>` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecryptKeyRequest {
    /// Base64 ciphertext (any of the three formats).
    pub ciphertext: String,
    /// Base64 associated data; empty = none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
    /// The key version that produced the ciphertext (`v<N>`), as kms-go
    /// v0.3 sends it (`omitempty`); empty = let the server find it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// `PUT /v1/key/decrypt/<name>` response. `Zeroize`, like
/// [`GenerateKeyResponse`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, zeroize::Zeroize)]
pub struct DecryptKeyResponse {
    /// Base64 plaintext.
    pub plaintext: String,
}

impl std::fmt::Debug for DecryptKeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecryptKeyResponse { plaintext: <redacted> }")
    }
}

/// `PUT /v1/key/hmac/<name>` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmacRequest {
    /// Base64 message.
    pub message: String,
}

/// `PUT /v1/key/hmac/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HmacResponse {
    /// Base64 of the 32-byte HMAC-SHA256.
    pub hmac: String,
}

/// `GET /v1/policy/describe/<name>` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribePolicyResponse {
    /// Policy name.
    pub name: String,
    /// Server start time, RFC 3339.
    pub created_at: String,
    /// The admin identity.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

/// `GET /v1/policy/read/<name>` response. `allow`/`deny` are JSON objects whose
/// keys are the patterns and whose values are `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPolicyResponse {
    /// Policy name.
    pub name: String,
    /// Allowed path patterns.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub allow: std::collections::BTreeMap<String, Empty>,
    /// Denied path patterns.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub deny: std::collections::BTreeMap<String, Empty>,
    /// Server start time, RFC 3339.
    pub created_at: String,
    /// The admin identity.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

/// `PUT /v1/policy/write/<name>` request (spec §3.1): the patterns as
/// arrays, as the original API and its clients send them. The server also
/// takes the object form of [`ReadPolicyResponse`] and the old `paths`
/// spelling of `allow`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritePolicyRequest {
    /// Allowed path patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Denied path patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// The `{}` value of policy pattern maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `GET /v1/identity/describe/<identity>` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeIdentityResponse {
    /// True for the admin identity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// Name of the assigned policy (absent for the admin).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// Server start time, RFC 3339.
    pub created_at: String,
    /// The admin identity (absent for the admin itself).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
}

/// `GET /v1/identity/self/describe` response (the flat shape all Go clients parse).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfDescribeResponse {
    /// The caller's identity.
    pub identity: String,
    /// True for the admin identity.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    /// Server start time, RFC 3339.
    pub created_at: String,
    /// The admin identity (absent for the admin itself).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Name of the assigned policy (absent for the admin).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// The policy's allow patterns.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub allow: std::collections::BTreeMap<String, Empty>,
    /// The policy's deny patterns.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub deny: std::collections::BTreeMap<String, Empty>,
}

/// One line of the `/v1/log/audit` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 time with nanoseconds.
    pub time: String,
    /// What was asked.
    pub request: AuditRequest,
    /// What was answered.
    pub response: AuditResponse,
}

/// The request part of an [`AuditEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRequest {
    /// Client IP, absent when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Request path.
    pub path: String,
    /// Client identity, absent when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identity: String,
}

/// The response part of an [`AuditEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditResponse {
    /// HTTP status.
    pub code: u16,
    /// Latency in integer nanoseconds (what every client decodes).
    pub time: u64,
}

/// One line of the `/v1/log/error` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// One log record as text, without trailing newline.
    pub message: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_go_shaped() {
        let e = ApiError::new(errors::KEY_NOT_FOUND.0, errors::KEY_NOT_FOUND.1);
        assert_eq!(e.body(), b"{\"message\":\"key does not exist\"\n}");
        let parsed: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(parsed["message"], "key does not exist");
    }

    #[test]
    fn list_accepts_null_names() {
        let r: ListNamesResponse = serde_json::from_str(r#"{"names":null}"#).unwrap();
        assert!(r.names.is_empty());
    }
}
