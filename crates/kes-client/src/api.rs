//! One typed async method per KES API call (spec §2), built on the request
//! machinery of `client.rs`: paths with escaped arguments, JSON bodies with
//! base64 byte fields, and response validation per the §12 checklist.
//!
//! Key material (imported keys, plaintexts, DEKs) travels in buffers that
//! are wiped on drop; it never appears in errors.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::Method;
use kes_types::api::{
    ApiRoute, CONTINUE_AT_PARAM, DescribeIdentityResponse, DescribeKeyResponse,
    DescribePolicyResponse, KeyVersionsResponse, ListIdentitiesResponse, ListNamesResponse,
    ReadPolicyResponse, RotateKeyResponse, SelfDescribeResponse, StatusResponse, VersionResponse,
    WritePolicyRequest,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::{Call, Client, Reply};
use crate::error::{Error, ListCutReason};
use crate::stream::{AuditStream, ErrorStream, EventStream};

/// Bytes left unescaped in a path segment: RFC 3986 unreserved characters
/// except `.` (so that `.`/`..` can never become path navigation), and the
/// sub-delimiters Go's `url.PathEscape` keeps.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b':')
    .remove(b'=')
    .remove(b'@');

/// Bytes left unescaped in a query value: RFC 3986 unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'.');

/// Upper bound on list pages followed, against servers that never finish.
const MAX_LIST_PAGES: usize = 10_000;

/// `prefix` joined with the escaped `arg`; an empty `arg` gives the
/// slash-less `prefix`, which the server redirects (like Go's `path.Join`).
pub(crate) fn api_path(prefix: &str, arg: &str) -> String {
    if arg.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}/{}", utf8_percent_encode(arg, SEGMENT))
    }
}

/// The cipher of an imported key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cipher {
    /// AES-256-GCM (`AES256`).
    #[default]
    Aes256,
    /// ChaCha20-Poly1305 (`ChaCha20`).
    ChaCha20,
}

impl Cipher {
    /// The wire spelling (`AES256` or `ChaCha20`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "AES256",
            Self::ChaCha20 => "ChaCha20",
        }
    }
}

/// A data encryption key from [`Client::generate_key`].
pub struct Dek {
    /// The 32 plaintext bytes; use, then drop (wiped on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The DEK sealed under the KES key; store this.
    pub ciphertext: Vec<u8>,
    /// The key version that sealed it (`v<N>`); empty from servers without
    /// key versions. Store it with the ciphertext and pass it to
    /// [`Client::decrypt_version`] to spare the server the search.
    pub version: String,
}

impl std::fmt::Debug for Dek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dek")
            .field("plaintext", &"<redacted>")
            .field("ciphertext_len", &self.ciphertext.len())
            .field("version", &self.version)
            .finish()
    }
}

#[derive(Serialize)]
struct ImportBody<'a> {
    key: &'a str,
    cipher: &'a str,
}

#[derive(Serialize)]
struct EncryptBody<'a> {
    plaintext: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    context: &'a str,
}

#[derive(Serialize)]
struct DecryptBody<'a> {
    ciphertext: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    context: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
}

#[derive(Serialize)]
struct GenerateBody<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    context: &'a str,
}

#[derive(Serialize)]
struct HmacBody<'a> {
    message: &'a str,
}

#[derive(Deserialize)]
struct SecretPlaintext<'a> {
    #[serde(borrow)]
    plaintext: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SecretDek<'a> {
    #[serde(borrow)]
    plaintext: Cow<'a, str>,
    ciphertext: String,
    #[serde(default)]
    version: String,
}

#[derive(Deserialize)]
struct EncryptOut {
    ciphertext: String,
}

#[derive(Deserialize)]
struct HmacOut<'a> {
    #[serde(borrow)]
    hmac: Cow<'a, str>,
}

/// Base64 of secret bytes in a wiped buffer.
fn b64_secret(bytes: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
    B64.encode_string(bytes, &mut s);
    s
}

/// JSON body whose buffer is wiped once the last copy of it is dropped.
fn secret_json<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *buf, value).map_err(Error::Encode)?;
    Ok(Bytes::from_owner(buf))
}

/// Wipes a decoded `Cow` if serde had to allocate it.
fn wipe(cow: Cow<'_, str>) {
    if let Cow::Owned(s) = cow {
        drop(Zeroizing::new(s));
    }
}

impl Client {
    async fn get(&self, path: String) -> Result<Reply, Error> {
        self.send(&Call {
            method: Method::GET,
            path,
            body: None,
            accept: None,
        })
        .await
    }

    async fn with_body(&self, method: Method, path: String, body: Bytes) -> Result<Reply, Error> {
        self.send(&Call {
            method,
            path,
            body: Some(body),
            accept: None,
        })
        .await
    }

    /// `GET /version`: the server's version.
    pub async fn version(&self) -> Result<VersionResponse, Error> {
        let mut r = self.get("/version".into()).await?;
        let v: VersionResponse = r.json().await?;
        if v.version.len() > 1024 {
            return Err(r.invalid("version longer than 1 KiB", None));
        }
        Ok(v)
    }

    /// `GET /v1/status`: server and key-store state.
    ///
    /// Unlike kms-go, a status with `keystore_unreachable` but without
    /// `keystore_unavailable` (what the current Go server sends when its key
    /// store is down) is accepted as is.
    pub async fn status(&self) -> Result<StatusResponse, Error> {
        self.get("/v1/status".into()).await?.json().await
    }

    /// `GET /v1/api`: the server's routes.
    pub async fn api(&self) -> Result<Vec<ApiRoute>, Error> {
        self.get("/v1/api".into()).await?.json().await
    }

    /// `GET /v1/ready`: `Ok(())` when the server and its key store are ready.
    pub async fn ready(&self) -> Result<(), Error> {
        self.get("/v1/ready".into()).await.map(drop)
    }

    /// `GET /v1/metrics`: the Prometheus text exposition, as sent.
    pub async fn metrics(&self) -> Result<String, Error> {
        let mut r = self
            .send(&Call {
                method: Method::GET,
                path: "/v1/metrics".into(),
                body: None,
                accept: Some("text/plain; version=0.0.4"),
            })
            .await?;
        let body = r.read().await?;
        String::from_utf8(body.to_vec())
            .map_err(|e| r.invalid("metrics are not UTF-8", Some(Box::new(e))))
    }

    /// `POST /v1/key/create/<name>`: creates a key.
    /// [`Error::KeyExists`] if it exists.
    pub async fn create_key(&self, name: &str) -> Result<(), Error> {
        self.bodiless(Method::POST, api_path("/v1/key/create", name))
            .await
    }

    /// `POST /v1/key/import/<name>`: imports 32 key bytes with the given cipher.
    pub async fn import_key(&self, name: &str, key: &[u8], cipher: Cipher) -> Result<(), Error> {
        let key = b64_secret(key);
        let body = secret_json(&ImportBody {
            key: &key,
            cipher: cipher.as_str(),
        })?;
        self.with_body(Method::POST, api_path("/v1/key/import", name), body)
            .await
            .map(drop)
    }

    /// `GET /v1/key/describe/<name>`: key metadata.
    pub async fn describe_key(&self, name: &str) -> Result<DescribeKeyResponse, Error> {
        let mut r = self.get(api_path("/v1/key/describe", name)).await?;
        let d: DescribeKeyResponse = r.json().await?;
        const ALGORITHMS: [&str; 4] = [
            "AES256",
            "AES256-GCM_SHA256",
            "ChaCha20",
            "XCHACHA20-POLY1305",
        ];
        if !ALGORITHMS.contains(&d.algorithm.as_str()) {
            return Err(r.invalid(format!("unknown key algorithm '{}'", d.algorithm), None));
        }
        if time::OffsetDateTime::parse(
            &d.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .is_err()
        {
            return Err(r.invalid(
                format!("created_at '{}' is not an RFC 3339 time", d.created_at),
                None,
            ));
        }
        Ok(d)
    }

    /// `GET /v1/key/list/<pattern>`: all key names matching `pattern`
    /// (empty or `*` = all; `p*` = prefix `p`), following `continue_at`
    /// with the `?continue_at=<name>` query parameter that this project's
    /// server understands.
    ///
    /// [`Error::ListCut`] (holding the names received) when the server cannot
    /// continue a listing, as Go KES cannot beyond 1024 names.
    pub async fn list_keys(&self, pattern: &str) -> Result<Vec<String>, Error> {
        self.list_names("/v1/key/list", "name", pattern).await
    }

    /// Every name of a listing: the first page, then, while the answer has a
    /// `continue_at`, the page from that name on, asked for with the
    /// `?continue_at=<name>` query parameter (which the Go client never
    /// sends; it re-sends `continue_at` as the pattern, which matches a
    /// single name). A server that ignores the parameter (Go KES) answers
    /// its first page again; a continued page whose first name sorts before
    /// the name asked for, or a `continue_at` that does not advance, ends
    /// the listing with [`Error::ListCut`] instead of a silently short list.
    async fn list_names(
        &self,
        route: &str,
        field: &str,
        pattern: &str,
    ) -> Result<Vec<String>, Error> {
        let filter = pattern.strip_suffix('*').unwrap_or(pattern);
        let first = api_path(route, pattern);
        let mut names: Vec<String> = Vec::new();
        let mut from = String::new();
        for _ in 0..MAX_LIST_PAGES {
            let path = if from.is_empty() {
                first.clone()
            } else {
                format!(
                    "{first}?{CONTINUE_AT_PARAM}={}",
                    utf8_percent_encode(&from, QUERY_VALUE)
                )
            };
            let mut r = self.get(path).await?;
            let page = read_names(&mut r, field).await?;
            let ignored = !from.is_empty()
                && (page.names.first().is_some_and(|n| *n < from)
                    || (!page.continue_at.is_empty() && page.continue_at <= from));
            if ignored {
                return Err(Error::ListCut {
                    names,
                    continue_at: from,
                    reason: ListCutReason::CannotContinue,
                });
            }
            names.extend(page.names.into_iter().filter(|n| n.starts_with(filter)));
            if page.continue_at.is_empty() {
                return Ok(names);
            }
            from = page.continue_at;
        }
        Err(Error::ListCut {
            names,
            continue_at: from,
            reason: ListCutReason::TooManyPages(MAX_LIST_PAGES),
        })
    }

    /// `DELETE /v1/key/delete/<name>`: deletes a key.
    pub async fn delete_key(&self, name: &str) -> Result<(), Error> {
        self.bodiless(Method::DELETE, api_path("/v1/key/delete", name))
            .await
    }

    /// `POST /v1/key/generate/<name>`: a fresh DEK, in plaintext and sealed
    /// under the key with `context` as associated data (empty = none).
    pub async fn generate_key(&self, name: &str, context: &[u8]) -> Result<Dek, Error> {
        let ctx = B64.encode(context);
        let body = secret_json(&GenerateBody { context: &ctx })?;
        let mut r = self
            .with_body(Method::POST, api_path("/v1/key/generate", name), body)
            .await?;
        let raw = r.read().await?;
        let out: SecretDek<'_> = serde_json::from_slice(&raw)
            .map_err(|e| r.invalid("malformed JSON body", Some(Box::new(e))))?;
        let plaintext = decode_secret(&r, "plaintext", &out.plaintext);
        wipe(out.plaintext);
        let plaintext = plaintext?;
        let ciphertext = B64
            .decode(&out.ciphertext)
            .map_err(|e| r.invalid("ciphertext is not base64", Some(Box::new(e))))?;
        Ok(Dek {
            plaintext,
            ciphertext,
            version: out.version,
        })
    }

    /// `POST /v1/key/encrypt/<name>`: seals `plaintext` with `context` as
    /// associated data.
    pub async fn encrypt(
        &self,
        name: &str,
        plaintext: &[u8],
        context: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let pt = b64_secret(plaintext);
        let ctx = B64.encode(context);
        let body = secret_json(&EncryptBody {
            plaintext: &pt,
            context: &ctx,
        })?;
        let mut r = self
            .with_body(Method::POST, api_path("/v1/key/encrypt", name), body)
            .await?;
        let out: EncryptOut = r.json().await?;
        B64.decode(&out.ciphertext)
            .map_err(|e| r.invalid("ciphertext is not base64", Some(Box::new(e))))
    }

    /// `POST /v1/key/decrypt/<name>`: opens `ciphertext` (any format) with
    /// `context`; the server finds the key version that made it.
    /// [`Error::DecryptFailed`] when it is not authentic.
    pub async fn decrypt(
        &self,
        name: &str,
        ciphertext: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.decrypt_version(name, "", ciphertext, context).await
    }

    /// Like [`Client::decrypt`], naming the key version (`v<N>`) that made
    /// the ciphertext, as kms-go v0.3's `Decrypt` does; empty = let the
    /// server find it. Servers without key versions ignore it.
    pub async fn decrypt_version(
        &self,
        name: &str,
        version: &str,
        ciphertext: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ct = B64.encode(ciphertext);
        let ctx = B64.encode(context);
        let body = secret_json(&DecryptBody {
            ciphertext: &ct,
            context: &ctx,
            version,
        })?;
        let mut r = self
            .with_body(Method::POST, api_path("/v1/key/decrypt", name), body)
            .await?;
        let raw = r.read().await?;
        let out: SecretPlaintext<'_> = serde_json::from_slice(&raw)
            .map_err(|e| r.invalid("malformed JSON body", Some(Box::new(e))))?;
        let plaintext = decode_secret(&r, "plaintext", &out.plaintext);
        wipe(out.plaintext);
        plaintext
    }

    /// `POST /v1/key/rotate/<name>`: adds a key version, which becomes the
    /// one new ciphertexts use; returns it (`v<N>`).
    pub async fn rotate_key(&self, name: &str) -> Result<String, Error> {
        let mut r = self
            .send(&Call {
                method: Method::POST,
                path: api_path("/v1/key/rotate", name),
                body: None,
                accept: None,
            })
            .await?;
        let out: RotateKeyResponse = r.json().await?;
        Ok(out.version)
    }

    /// `GET /v1/key/versions/<name>`: every version of a key, oldest first,
    /// and the latest.
    pub async fn key_versions(&self, name: &str) -> Result<KeyVersionsResponse, Error> {
        let mut r = self.get(api_path("/v1/key/versions", name)).await?;
        r.json().await
    }

    /// `DELETE /v1/key/version/delete/<name>/<version>` (admin only):
    /// destroys an old key version; its ciphertexts no longer decrypt.
    pub async fn remove_key_version(&self, name: &str, version: &str) -> Result<(), Error> {
        let path = api_path(&api_path("/v1/key/version/delete", name), version);
        self.bodiless(Method::DELETE, path).await
    }

    /// `PUT /v1/key/hmac/<name>`: HMAC-SHA256 of `message` under the key's
    /// HMAC key (deterministic per key; treat it as a secret).
    pub async fn hmac(&self, name: &str, message: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let msg = b64_secret(message);
        let body = secret_json(&HmacBody { message: &msg })?;
        let mut r = self
            .with_body(Method::PUT, api_path("/v1/key/hmac", name), body)
            .await?;
        let raw = r.read().await?;
        if raw.len() > 1000 {
            return Err(r.invalid("HMAC response longer than 1000 bytes", None));
        }
        let out: HmacOut<'_> = serde_json::from_slice(&raw)
            .map_err(|e| r.invalid("malformed JSON body", Some(Box::new(e))))?;
        let sum = decode_secret(&r, "hmac", &out.hmac);
        wipe(out.hmac);
        sum
    }

    /// `GET /v1/policy/describe/<name>`: policy metadata.
    pub async fn describe_policy(&self, name: &str) -> Result<DescribePolicyResponse, Error> {
        self.get(api_path("/v1/policy/describe", name))
            .await?
            .json()
            .await
    }

    /// `GET /v1/policy/read/<name>`: the policy's allow and deny patterns.
    pub async fn read_policy(&self, name: &str) -> Result<ReadPolicyResponse, Error> {
        self.get(api_path("/v1/policy/read", name))
            .await?
            .json()
            .await
    }

    /// `GET /v1/policy/list/<pattern>`: policy names matching `pattern`.
    /// Servers answer these in one page; a `continue_at` is followed as for
    /// [`Client::list_keys`].
    pub async fn list_policies(&self, pattern: &str) -> Result<Vec<String>, Error> {
        self.list_names("/v1/policy/list", "name", pattern).await
    }

    /// `GET /v1/identity/describe/<identity>`: the identity's role.
    pub async fn describe_identity(
        &self,
        identity: &str,
    ) -> Result<DescribeIdentityResponse, Error> {
        self.get(api_path("/v1/identity/describe", identity))
            .await?
            .json()
            .await
    }

    /// `GET /v1/identity/self/describe`: the caller's identity and policy.
    pub async fn self_describe(&self) -> Result<SelfDescribeResponse, Error> {
        self.get("/v1/identity/self/describe".into())
            .await?
            .json()
            .await
    }

    /// `GET /v1/identity/list/<pattern>`: identities matching `pattern`.
    /// Servers answer these in one page; a `continue_at` is followed as for
    /// [`Client::list_keys`].
    pub async fn list_identities(&self, pattern: &str) -> Result<Vec<String>, Error> {
        self.list_names("/v1/identity/list", "identity", pattern)
            .await
    }

    /// `POST /v1/policy/write/<name>`: creates or replaces a policy until
    /// the server restarts (runtime administration, spec §3.1; Go KES
    /// servers since 2023 answer 404).
    pub async fn write_policy(&self, name: &str, policy: &WritePolicyRequest) -> Result<(), Error> {
        let body = serde_json::to_vec(policy).map_err(Error::Encode)?;
        self.with_body(
            Method::POST,
            api_path("/v1/policy/write", name),
            Bytes::from(body),
        )
        .await
        .map(drop)
    }

    /// `DELETE /v1/policy/delete/<name>`: deletes a policy and unassigns its
    /// identities until the server restarts.
    pub async fn delete_policy(&self, name: &str) -> Result<(), Error> {
        self.bodiless(Method::DELETE, api_path("/v1/policy/delete", name))
            .await
    }

    /// `POST /v1/identity/assign/<policy>/<identity>`: assigns an identity
    /// to a policy (replacing the one it had) until the server restarts.
    pub async fn assign_identity(&self, identity: &str, policy: &str) -> Result<(), Error> {
        let path = format!(
            "{}/{}",
            api_path("/v1/identity/assign", policy),
            utf8_percent_encode(identity, SEGMENT)
        );
        self.bodiless(Method::POST, path).await
    }

    /// `DELETE /v1/identity/forget/<identity>`: removes an identity's policy
    /// assignment until the server restarts.
    pub async fn forget_identity(&self, identity: &str) -> Result<(), Error> {
        self.bodiless(Method::DELETE, api_path("/v1/identity/forget", identity))
            .await
    }

    async fn bodiless(&self, method: Method, path: String) -> Result<(), Error> {
        self.send(&Call {
            method,
            path,
            body: None,
            accept: None,
        })
        .await
        .map(drop)
    }

    /// `GET /v1/log/audit`: the audit event stream (events after subscription).
    pub async fn audit_log(&self) -> Result<AuditStream, Error> {
        self.log_stream("/v1/log/audit").await
    }

    /// `GET /v1/log/error`: the error log stream (records after subscription).
    pub async fn error_log(&self) -> Result<ErrorStream, Error> {
        self.log_stream("/v1/log/error").await
    }

    async fn log_stream<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<EventStream<T>, Error> {
        let mut reply = self.get(path.into()).await?;
        // The stream has no end; only the response head was under the deadline.
        reply.timeout = None;
        Ok(EventStream::new(reply))
    }
}

/// Base64-decodes a secret field into a wiped buffer.
fn decode_secret(r: &Reply, field: &str, b64: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(b64.len() / 4 * 3 + 3));
    B64.decode_vec(b64, &mut out)
        .map_err(|e| r.invalid(format!("{field} is not base64"), Some(Box::new(e))))?;
    Ok(out)
}

/// A list page in either shape: the JSON object, or legacy NDJSON lines
/// `{"<field>":...}` / `{"error":...}` when the content type says so.
async fn read_names(r: &mut Reply, field: &str) -> Result<ListNamesResponse, Error> {
    if r.content_type.trim() == "application/x-ndjson" {
        let body = r.read().await?;
        let mut names = Vec::new();
        for line in body.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| r.invalid("malformed NDJSON list line", Some(Box::new(e))))?;
            if let Some(err) = v.get("error").and_then(|e| e.as_str())
                && !err.is_empty()
            {
                return Err(Error::Api {
                    status: 500,
                    message: err.to_owned(),
                });
            }
            match v.get(field).and_then(|n| n.as_str()) {
                Some(n) => names.push(n.to_owned()),
                None => return Err(r.invalid(format!("NDJSON list line without '{field}'"), None)),
            }
        }
        return Ok(ListNamesResponse {
            names,
            continue_at: String::new(),
        });
    }
    if field == "identity" {
        let l: ListIdentitiesResponse = r.json().await?;
        return Ok(ListNamesResponse {
            names: l.identities,
            continue_at: l.continue_at,
        });
    }
    r.json().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_go() {
        assert_eq!(api_path("/v1/key/list", ""), "/v1/key/list");
        assert_eq!(api_path("/v1/key/list", "*"), "/v1/key/list/%2A");
        assert_eq!(
            api_path("/v1/key/create", "my-key_0"),
            "/v1/key/create/my-key_0"
        );
        assert_eq!(api_path("/v1/key/create", "a/b"), "/v1/key/create/a%2Fb");
        assert_eq!(api_path("/v1/key/create", ".."), "/v1/key/create/%2E%2E");
        assert_eq!(
            api_path("/v1/key/create", "a b?"),
            "/v1/key/create/a%20b%3F"
        );
    }

    #[test]
    fn dek_debug_redacts() {
        let d = Dek {
            plaintext: Zeroizing::new(vec![0xAB; 32]),
            ciphertext: vec![1, 2, 3],
            version: "v2".into(),
        };
        let s = format!("{d:?}");
        assert!(s.contains("redacted") && !s.contains("171") && !s.contains("AB"));
    }

    #[test]
    fn cipher_spellings() {
        assert_eq!(Cipher::default().as_str(), "AES256");
        assert_eq!(Cipher::ChaCha20.as_str(), "ChaCha20");
    }
}
