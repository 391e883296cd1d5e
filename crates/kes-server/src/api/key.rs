//! Key endpoints (spec §2.3, legacy bulk decrypt §3.2): create, import,
//! describe, list, delete, generate, encrypt, decrypt, hmac; and the key
//! versions of docs/key-versions.md: rotate, list versions, remove a
//! version.
//!
//! Reads go through the key cache (no global lock, no disk on a hit);
//! create, import, list, delete and the version changes go to the key
//! store (through `versions`). Plaintexts, DEKs and
//! imported keys are kept in zeroizing buffers and never logged.

use std::sync::Arc;

use http::Response;
use hyper::body::Incoming;
use kes_keystore::MAX_LIST;
use kes_types::KeyVersionId;
use kes_types::api::{
    DecryptKeyResponse, DescribeKeyResponse, KeyVersionInfo, KeyVersionsResponse, ListKeysResponse,
    RotateKeyResponse,
};
use kes_types::name::{KeyName, ListPattern, is_version_entry};
use zeroize::Zeroizing;

use super::body::{
    BodyError, DecryptRequest, EncryptRequest, Fields, GenerateRequest, HmacRequest, ImportRequest,
    encode_base64,
};
use super::error::{Error, StoreOp};
use super::routes::decode_continue_at;
use super::{Body, Ctx, JsonAnswer, empty_ok, json, read_body};
use crate::cache::CacheError;
use crate::versions::{self, Key};
use kes_crypto::{Cipher, KeyVersion, new_key_cipher};

const INVALID_BODY: &str = "invalid request body";
const INVALID_IMPORT_BODY: &str = "invalid import key request body";
/// The most ciphertexts one legacy bulk-decrypt call may carry.
const MAX_BULK: usize = 1000;

fn key_name(ctx: &Ctx<'_>) -> Result<KeyName, Error> {
    Ok(KeyName::new(ctx.resource)?)
}

async fn get_key(ctx: &Ctx<'_>, name: &KeyName) -> Result<Arc<Key>, Error> {
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
    versions::create(ctx.state.cache.store().as_ref(), name, &encoded)
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
    let request = ImportRequest::decode(&raw).map_err(|e| Error::BadBody {
        message: INVALID_IMPORT_BODY,
        cause: e.to_string(),
    })?;
    let cipher = parse_cipher(&request.cipher)?;
    if request.key.len() != 32 {
        return Err(Error::InvalidKeySize(request.cipher));
    }
    let key = KeyVersion::import(cipher, &request.key, creator(ctx))
        .map_err(|_| Error::InvalidKeySize(request.cipher.clone()))?;
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
    // The key's creation is its first version's.
    let first = key
        .version(ctx.state.cache.store().as_ref(), &name, KeyVersionId::FIRST)
        .await?
        .unwrap_or_else(|| key.latest_key().clone());
    json(&DescribeKeyResponse {
        name: name.to_string(),
        algorithm: key.latest_key().key.cipher().to_string(),
        created_at: first.created_at_rfc3339(),
        created_by: first.created_by.clone().unwrap_or_default(),
        version: key.latest().to_string(),
    })
}

/// `GET /v1/key/list/<pattern>[?continue_at=<name>]`: one page of at most
/// 1024 names, from `<name>` (inclusive) when given; the pattern's trailing
/// `*` is stripped (Go forgets to, §2.3). Go KES has no way to continue a
/// listing (its clients send `continue_at` back as the pattern), so the
/// query parameter is this server's addition; other query parameters are
/// ignored (§1.3).
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let pattern = ListPattern::new(ctx.resource)?;
    let start = decode_continue_at(ctx.query, pattern.prefix())?;
    let page = ctx
        .state
        .cache
        .store()
        .list(pattern.prefix(), &start, MAX_LIST)
        .await
        .map_err(|source| Error::Store {
            op: StoreOp::List,
            source,
        })?;
    // Version entries (`<key>-v<N>-`) are not keys.
    let mut names = page.names;
    names.retain(|n| !is_version_entry(n));
    json(&ListKeysResponse {
        names,
        continue_at: page.next.unwrap_or_default(),
    })
}

/// `DELETE /v1/key/delete/<name>`: the key with all its versions; evicts
/// the key from this node's cache.
pub(super) async fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let result = versions::delete(ctx.state.cache.store().as_ref(), &name).await;
    ctx.state.cache.evict(&name);
    result?;
    Ok(empty_ok())
}

/// `PUT /v1/key/rotate/<name>`: adds a version, which becomes the latest;
/// answers `{"version"}`. Evicts the key from this node's cache.
pub(super) async fn rotate(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let result =
        versions::rotate(ctx.state.cache.store().as_ref(), &name, creator(ctx), None).await;
    ctx.state.cache.evict(&name);
    let version = result?.ok_or_else(|| Error::RotateConflict(name.to_string()))?;
    json(&RotateKeyResponse {
        version: version.to_string(),
    })
}

/// `GET /v1/key/versions/<name>`: every version, oldest first. Reads the
/// key from the store, not the cache, so it shows rotations by other nodes.
pub(super) async fn list_versions(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let store = ctx.state.cache.store().as_ref();
    let key = versions::KeyLoader::read(store, &name).await?;
    let mut out = Vec::with_capacity(key.latest().get() as usize);
    for n in 1..=key.latest().get() {
        let Some(v) = KeyVersionId::new(n) else {
            continue;
        };
        out.push(match key.version(store, &name, v).await? {
            Some(k) => KeyVersionInfo {
                version: v.to_string(),
                algorithm: k.key.cipher().to_string(),
                created_at: k.created_at_rfc3339(),
                created_by: k.created_by.clone().unwrap_or_default(),
                removed: false,
            },
            None => KeyVersionInfo {
                version: v.to_string(),
                removed: true,
                ..KeyVersionInfo::default()
            },
        });
    }
    json(&KeyVersionsResponse {
        name: name.to_string(),
        latest: key.latest().to_string(),
        versions: out,
    })
}

/// `DELETE /v1/key/version/delete/<name>/<version>` (admin only): destroys
/// an old version's key material; its ciphertexts no longer decrypt.
pub(super) async fn remove_version(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    if ctx.identity != Some(ctx.state.policies.admin()) {
        return Err(Error::NotAllowed);
    }
    let (key, version) = ctx.resource.rsplit_once('/').unwrap_or((ctx.resource, ""));
    let name = KeyName::new(key)?;
    let version: KeyVersionId = version.parse()?;
    let cache = &ctx.state.cache;
    let result =
        versions::remove_version(cache.store().as_ref(), &name, version, cache.max_age()).await;
    ctx.state.cache.evict(&name);
    result?;
    ctx.log_change(&format!("key version '{version}' of '{name}' removed"));
    Ok(empty_ok())
}

/// `PUT /v1/key/generate/<name>` with an optional `{"context"}`.
pub(super) async fn generate(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let request = GenerateRequest::decode(&raw).map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let dek = key
        .latest_key()
        .generate_dek(&request.context)
        .map_err(|e| Error::Internal {
            message: "failed to generate encryption key",
            cause: e.to_string(),
        })?;
    Ok(JsonAnswer::new(180)
        .base64("plaintext", dek.plaintext.as_ref())
        .base64("ciphertext", &dek.ciphertext)
        .version(key.latest())
        .finish())
}

fn bad_body(e: BodyError) -> Error {
    Error::BadBody {
        message: INVALID_BODY,
        cause: e.to_string(),
    }
}

/// `PUT /v1/key/encrypt/<name>` with `{"plaintext","context"}`.
pub(super) async fn encrypt(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let request = EncryptRequest::decode(&raw).map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let ciphertext = key
        .latest_key()
        .encrypt(&request.plaintext, &request.context)
        .map_err(|e| Error::Internal {
            message: "failed to encrypt plaintext",
            cause: e.to_string(),
        })?;
    Ok(JsonAnswer::new(ciphertext.len() * 4 / 3 + 16)
        .base64("ciphertext", &ciphertext)
        .version(key.latest())
        .finish())
}

/// `PUT /v1/key/decrypt/<name>` with `{"ciphertext","context","version"}`.
pub(super) async fn decrypt(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let request = DecryptRequest::decode(&raw).map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let plaintext = decrypt_one(ctx, &name, &key, &request).await?;
    Ok(JsonAnswer::new(plaintext.len() * 4 / 3 + 4)
        .base64("plaintext", &plaintext)
        .finish())
}

/// Decrypts with the version the request names, or (none named) with the
/// one that authenticates the ciphertext (docs/key-versions.md §4).
async fn decrypt_one(
    ctx: &Ctx<'_>,
    name: &KeyName,
    key: &Key,
    request: &DecryptRequest,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let store = ctx.state.cache.store().as_ref();
    if request.version.is_empty() {
        let (ct, aad) = (&request.ciphertext, &request.context);
        return match key.trial_decrypt(store, name, ct, aad).await {
            // Perhaps a version another node added since this node cached
            // the key: one store read to find out, then the fresh key.
            Err(Error::Decrypt(_)) if key.has_newer(store, name).await? => {
                ctx.state.cache.evict(name);
                let fresh = get_key(ctx, name).await?;
                Ok(fresh.trial_decrypt(store, name, ct, aad).await?.1)
            }
            result => Ok(result?.1),
        };
    }
    let version: KeyVersionId = request.version.parse()?;
    let found = key.version(store, name, version).await;
    if version > key.latest() && found.is_ok() {
        // Rotated on another node: re-resolve the key on the next request.
        // (Only when the version exists: a made-up one must not empty the
        // cache entry on every request.)
        ctx.state.cache.evict(name);
    }
    let Some(k) = found? else {
        return Err(Error::VersionRemoved {
            key: name.to_string(),
            version,
        });
    };
    k.decrypt(&request.ciphertext, &request.context)
        .map_err(|e| Error::Decrypt(e.to_string()))
}

/// `PUT /v1/key/hmac/<name>` with `{"message"}`.
pub(super) async fn hmac(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let request = HmacRequest::decode(&raw).map_err(bad_body)?;
    let key = get_key(ctx, &name).await?;
    let mac = key
        .latest_key()
        .hmac(&request.message)
        .ok_or(Error::HmacNotSupported)?;
    Ok(JsonAnswer::new(44).base64("hmac", &mac).finish())
}

/// `POST /v1/key/bulk/decrypt/<name>` (v0.19–v0.22 clients): a JSON array
/// of `{"ciphertext","context"}`, answered in order; one failure fails all.
pub(super) async fn bulk_decrypt(
    ctx: &Ctx<'_>,
    body: &mut Incoming,
) -> Result<Response<Body>, Error> {
    let name = key_name(ctx)?;
    let raw = read_body(ctx, body, INVALID_BODY).await?;
    let items = Fields::parse_list(&raw, DecryptRequest::FIELDS).map_err(bad_body)?;
    if items.len() > MAX_BULK {
        return Err(Error::TooManyCiphertexts);
    }
    let key = get_key(ctx, &name).await?;
    let mut out = Zeroizing::new(Vec::with_capacity(items.len()));
    for fields in items {
        let item = DecryptRequest::from_fields(&fields).map_err(bad_body)?;
        let plaintext = decrypt_one(ctx, &name, &key, &item).await?;
        out.push(DecryptKeyResponse {
            plaintext: encode_base64(&plaintext),
        });
    }
    json(&*out)
}

#[cfg(test)]
mod tests {
    use super::decode_continue_at;

    fn reason(query: &str, prefix: &str) -> String {
        match decode_continue_at(Some(query), prefix) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{query:?} accepted as {v:?}"),
        }
    }

    #[test]
    fn continue_at_is_read_from_the_query() {
        assert_eq!(decode_continue_at(None, "").unwrap(), "");
        assert_eq!(decode_continue_at(Some("enclave=x"), "").unwrap(), "");
        assert_eq!(
            decode_continue_at(Some("continue_at=k-1"), "k").unwrap(),
            "k-1"
        );
        assert_eq!(
            decode_continue_at(Some("enclave=x&continue%5Fat=k%2D1&y"), "k-").unwrap(),
            "k-1"
        );
    }

    #[test]
    fn bad_continue_at_is_named() {
        let p = "invalid query parameter 'continue_at': ";
        assert_eq!(
            reason("continue_at=", ""),
            format!("{p}empty; omit it to list from the beginning")
        );
        assert_eq!(
            reason("continue_at", ""),
            format!("{p}empty; omit it to list from the beginning")
        );
        assert_eq!(
            reason("continue_at=a&continue_at=b", ""),
            format!("{p}given more than once")
        );
        assert_eq!(
            reason("continue_at=%FF", ""),
            format!("{p}not UTF-8 after percent-decoding")
        );
        assert_eq!(
            reason("continue_at=a%0Ab", ""),
            format!("{p}contains a control character")
        );
        assert_eq!(
            reason(&format!("continue_at={}", "a".repeat(1025)), ""),
            format!("{p}1025 bytes long, more than 1024")
        );
        assert_eq!(
            reason("continue_at=b-1", "a"),
            format!("{p}'b-1' does not start with the pattern's prefix 'a'")
        );
    }
}
