//! Key endpoints (spec §2.3, legacy bulk decrypt §3.2): create, import,
//! describe, list, delete, generate, encrypt, decrypt, hmac.
//!
//! Reads go through the key cache (no global lock, no disk on a hit);
//! create, import, list and delete go to the key store. Plaintexts, DEKs and
//! imported keys are kept in zeroizing buffers and never logged.

use std::sync::Arc;

use http::Response;
use hyper::body::Incoming;
use kes_keystore::{KeyStoreError, MAX_LIST};
use kes_types::api::DescribeKeyResponse;
use kes_types::name::{KeyName, ListPattern};
use serde::Serialize;
use zeroize::Zeroizing;

use super::body::{Fields, encode_base64, first_value};
use super::error::{Error, StoreOp};
use super::{Body, Ctx, empty_ok, json, read_body};
use crate::cache::CacheError;
use kes_crypto::{Cipher, KeyVersion, new_key_cipher};

const INVALID_BODY: &str = "invalid request body";
const INVALID_IMPORT_BODY: &str = "invalid import key request body";
/// The most ciphertexts one legacy bulk-decrypt call may carry.
const MAX_BULK: usize = 1000;

fn key_name(ctx: &Ctx<'_>) -> Result<KeyName, Error> {
    Ok(KeyName::new(ctx.resource)?)
}

async fn get_key(ctx: &Ctx<'_>, name: &KeyName) -> Result<Arc<KeyVersion>, Error> {
    ctx.state.cache.get(name).await.map_err(|e| match e {
        CacheError::NotFound => Error::KeyNotFound,
        CacheError::Store(source) => Error::Store {
            op: StoreOp::Read,
            source,
        },
        CacheError::Decode(cause) => Error::StoredKey {
            name: name.to_string(),
            cause,
        },
    })
}

async fn store_new_key(ctx: &Ctx<'_>, name: &KeyName, key: &KeyVersion) -> Result<(), Error> {
    let encoded = key.encode().map_err(|e| Error::Internal {
        message: "failed to generate encryption key",
        cause: e.to_string(),
    })?;
    ctx.state
        .cache
        .store()
        .create(name, &encoded)
        .await
        .map_err(|source| Error::Store {
            op: StoreOp::Create,
            source,
        })
}

fn creator(ctx: &Ctx<'_>) -> Option<String> {
    ctx.identity.map(str::to_owned)
}

/// `PUT /v1/key/create/<name>`.
pub(super) async fn create(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let key = KeyVersion::generate(new_key_cipher(), creator(ctx));
    store_new_key(ctx, &name, &key).await?;
    Ok(empty_ok())
}

/// `PUT /v1/key/import/<name>` with `{"key","cipher"}` (or the v0.22
/// spellings `{"bytes","algorithm"}`).
pub(super) async fn import(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_IMPORT_BODY).await?;
    let bad = |e: super::body::BodyError| Error::BadBody {
        message: INVALID_IMPORT_BODY,
        cause: e.to_string(),
    };
    let fields = Fields::parse(&raw).map_err(bad)?;
    let bytes_field = if fields.has("key") || !fields.has("bytes") {
        "key"
    } else {
        "bytes"
    };
    let material = fields.bytes(bytes_field).map_err(bad)?;
    let mut cipher_text = fields.string("cipher").map_err(bad)?;
    if cipher_text.is_empty() {
        cipher_text = fields.string("algorithm").map_err(bad)?;
    }
    let cipher_text = match cipher_text {
        "" | "undefined" => "AES256",
        other => other,
    };
    let cipher = parse_cipher(cipher_text)?;
    if material.len() != 32 {
        return Err(Error::InvalidKeySize(cipher_text.to_owned()));
    }
    let key = KeyVersion::import(cipher, &material, creator(ctx))
        .map_err(|_| Error::InvalidKeySize(cipher_text.to_owned()))?;
    store_new_key(ctx, &name, &key).await?;
    Ok(empty_ok())
}

fn parse_cipher(s: &str) -> Result<Cipher, Error> {
    Cipher::parse(s).map_err(|_| Error::UnsupportedCipher(s.to_owned()))
}

/// `GET /v1/key/describe/<name>`.
pub(super) async fn describe(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let key = get_key(ctx, &name).await?;
    json(&DescribeKeyResponse {
        name: name.to_string(),
        algorithm: key.key.cipher().to_string(),
        created_at: key.created_at_rfc3339(),
        created_by: key.created_by.clone().unwrap_or_default(),
    })
}

/// The key-list response; unlike policies, Go omits an empty `continue_at`.
#[derive(Serialize)]
struct KeyList {
    names: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    continue_at: String,
}

/// `GET /v1/key/list/<pattern>`: one page of at most 1024 names; the
/// pattern's trailing `*` is stripped (Go forgets to, §2.3).
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let pattern = ListPattern::new(ctx.resource)?;
    let page = ctx
        .state
        .cache
        .store()
        .list(pattern.prefix(), "", MAX_LIST)
        .await
        .map_err(|source| Error::Store {
            op: StoreOp::List,
            source,
        })?;
    json(&KeyList {
        names: page.names,
        continue_at: page.next.unwrap_or_default(),
    })
}

/// `DELETE /v1/key/delete/<name>`; evicts the key from this node's cache.
pub(super) async fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let result = ctx.state.cache.store().delete(&name).await;
    ctx.state.cache.evict(&name);
    result.map_err(|source| match source {
        KeyStoreError::NotFound => Error::KeyNotFound,
        source => Error::Store {
            op: StoreOp::Delete,
            source,
        },
    })?;
    Ok(empty_ok())
}

#[derive(Serialize)]
struct DekResponse<'a> {
    plaintext: &'a str,
    ciphertext: &'a str,
}

/// `PUT /v1/key/generate/<name>` with an optional `{"context"}`.
pub(super) async fn generate(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    // Any empty body means "no context" (Go only skips decoding when the
    // declared length is 0; chunked empty bodies fail there).
    let context = if raw.iter().all(u8::is_ascii_whitespace) {
        Zeroizing::new(Vec::new())
    } else {
        parse_fields(&raw)?.bytes("context").map_err(bad_body)?
    };
    let key = get_key(ctx, &name).await?;
    let dek = key.generate_dek(&context).map_err(|e| Error::Internal {
        message: "failed to generate encryption key",
        cause: e.to_string(),
    })?;
    let plaintext = Zeroizing::new(encode_base64(dek.plaintext.as_ref()));
    let ciphertext = encode_base64(&dek.ciphertext);
    json(&DekResponse {
        plaintext: &plaintext,
        ciphertext: &ciphertext,
    })
}

fn bad_body(e: super::body::BodyError) -> Error {
    Error::BadBody {
        message: INVALID_BODY,
        cause: e.to_string(),
    }
}

fn parse_fields(raw: &[u8]) -> Result<Fields, Error> {
    Fields::parse(raw).map_err(bad_body)
}

#[derive(Serialize)]
struct CiphertextResponse {
    ciphertext: String,
}

/// `PUT /v1/key/encrypt/<name>` with `{"plaintext","context"}`.
pub(super) async fn encrypt(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let fields = parse_fields(&raw)?;
    let plaintext = fields.bytes("plaintext").map_err(bad_body)?;
    let context = fields.bytes("context").map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let ciphertext = key
        .encrypt(&plaintext, &context)
        .map_err(|e| Error::Internal {
            message: "failed to encrypt plaintext",
            cause: e.to_string(),
        })?;
    json(&CiphertextResponse {
        ciphertext: encode_base64(&ciphertext),
    })
}

#[derive(Serialize)]
struct PlaintextResponse<'a> {
    plaintext: &'a str,
}

/// `PUT /v1/key/decrypt/<name>` with `{"ciphertext","context"}`.
pub(super) async fn decrypt(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let fields = parse_fields(&raw)?;
    let ciphertext = fields.bytes("ciphertext").map_err(bad_body)?;
    let context = fields.bytes("context").map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let plaintext = key
        .decrypt(&ciphertext, &context)
        .map_err(|e| Error::Decrypt(e.to_string()))?;
    let encoded = Zeroizing::new(encode_base64(&plaintext));
    json(&PlaintextResponse {
        plaintext: &encoded,
    })
}

#[derive(Serialize)]
struct HmacResponse {
    hmac: String,
}

/// `PUT /v1/key/hmac/<name>` with `{"message"}`.
pub(super) async fn hmac(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let message = parse_fields(&raw)?.bytes("message").map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let mac = key.hmac(&message).ok_or(Error::HmacNotSupported)?;
    json(&HmacResponse {
        hmac: encode_base64(&mac),
    })
}

/// `POST /v1/key/bulk/decrypt/<name>` (v0.19–v0.22 clients): a JSON array
/// of `{"ciphertext","context"}`, answered in order; one failure fails all.
pub(super) async fn bulk_decrypt(
    ctx: &Ctx<'_>,
    body: &mut Incoming,
) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let items = match first_value(&raw).map_err(bad_body)? {
        serde_json::Value::Array(items) => items,
        _ => {
            return Err(Error::BadBody {
                message: INVALID_BODY,
                cause: "expected a JSON array".into(),
            });
        }
    };
    if items.len() > MAX_BULK {
        return Err(Error::TooManyCiphertexts);
    }
    let key = get_key(ctx, &name).await?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let fields = Fields::from_value(item).map_err(bad_body)?;
        let ciphertext = fields.bytes("ciphertext").map_err(bad_body)?;
        let context = fields.bytes("context").map_err(bad_body)?;
        let plaintext = key
            .decrypt(&ciphertext, &context)
            .map_err(|e| Error::Decrypt(e.to_string()))?;
        out.push(Zeroizing::new(encode_base64(&plaintext)));
    }
    let response: Vec<PlaintextResponse<'_>> = out
        .iter()
        .map(|p| PlaintextResponse { plaintext: p })
        .collect();
    json(&response)
}
