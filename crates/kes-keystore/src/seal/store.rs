//! [`SealedKeyStore`]: the `KeyStore` decorator that seals values on
//! `create` and unseals them on `get`; `delete`, `list` and `status` pass
//! through (status also checks that the HSM answers).

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kes_types::KeyName;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::config::HsmConfig;
use super::pkcs11::{BACKEND, Hsm, IV_LEN, MAX_SESSIONS, TAG_LEN};
use crate::{KeyStore, KeyStoreError, ListPage, Status};

/// The header of every sealed value; the version names the format
/// (AES-256-GCM, 96-bit IV, 128-bit tag, AAD = header + key name).
pub const SEALED_PREFIX: &str = "kes-sealed:v1:";
/// What every sealed value starts with, whatever its format version: never
/// read as an unsealed value.
const SEALED_FAMILY: &str = "kes-sealed:";

/// A key store whose values are sealed by an AES-256 key inside an HSM.
#[derive(Debug)]
pub struct SealedKeyStore {
    inner: Arc<dyn KeyStore>,
    hsm: Arc<Hsm>,
    /// One permit per HSM call in flight (bounds the open sessions).
    permits: Arc<Semaphore>,
    allow_unsealed: bool,
}

/// The associated data binding a sealed value to its format and name.
fn aad(name: &KeyName) -> Vec<u8> {
    [SEALED_PREFIX.as_bytes(), name.as_str().as_bytes()].concat()
}

impl SealedKeyStore {
    /// Opens the HSM `config` names (the seal key must exist unless
    /// `config.create`) and wraps `inner`.
    pub async fn open(config: HsmConfig, inner: Arc<dyn KeyStore>) -> Result<Self, KeyStoreError> {
        let allow_unsealed = config.allow_unsealed;
        let hsm = tokio::task::spawn_blocking(move || Hsm::open(&config))
            .await
            .map_err(|e| KeyStoreError::backend(BACKEND, format!("open task failed: {e}")))??;
        Ok(SealedKeyStore {
            inner,
            hsm: Arc::new(hsm),
            permits: Arc::new(Semaphore::new(MAX_SESSIONS)),
            allow_unsealed,
        })
    }

    /// Runs a blocking HSM call off the async workers, at most
    /// `MAX_SESSIONS` at a time.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Hsm) -> Result<T, KeyStoreError> + Send + 'static,
    ) -> Result<T, KeyStoreError> {
        let hsm = Arc::clone(&self.hsm);
        // Held until the blocking call ends, even if this future is dropped.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| KeyStoreError::backend(BACKEND, format!("HSM call limit: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let result = call(&hsm);
            drop(permit);
            result
        })
        .await
        .map_err(|e| KeyStoreError::backend(BACKEND, format!("HSM task failed: {e}")))?
    }

    /// Seals `value` for `name`: `kes-sealed:v1:` + base64(IV ‖ ciphertext ‖ tag).
    pub async fn seal(&self, name: &KeyName, value: &[u8]) -> Result<String, KeyStoreError> {
        let iv: [u8; IV_LEN] = rand::random();
        let aad = aad(name);
        let plaintext = Zeroizing::new(value.to_vec());
        let (iv, sealed) = self
            .blocking(move |hsm| hsm.encrypt(&iv, &aad, &plaintext))
            .await?;
        let mut body = Vec::with_capacity(IV_LEN + sealed.len());
        body.extend_from_slice(&iv);
        body.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(body)))
    }

    /// Unseals the stored `value` of `name`; an unsealed value is returned
    /// as it is only when `allow_unsealed`.
    pub async fn unseal(
        &self,
        name: &KeyName,
        value: Zeroizing<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let Some(encoded) = value.strip_prefix(SEALED_PREFIX.as_bytes()) else {
            if value.starts_with(SEALED_FAMILY.as_bytes()) {
                return Err(KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "the value of key '{name}' is sealed in a format this KES does not \
                         know (want {SEALED_PREFIX})"
                    ),
                ));
            }
            if self.allow_unsealed {
                return Ok(value);
            }
            return Err(KeyStoreError::backend(
                BACKEND,
                format!(
                    "the value of key '{name}' is not sealed (written before the HSM seal was \
                     configured?); refusing it (set hsm.pkcs11.allow_unsealed: true to read \
                     unsealed values while migrating)"
                ),
            ));
        };
        let body = STANDARD.decode(encoded).map_err(|e| {
            KeyStoreError::backend(
                BACKEND,
                format!("the sealed value of key '{name}' is not valid base64: {e}"),
            )
        })?;
        if body.len() < IV_LEN + TAG_LEN {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!(
                    "the sealed value of key '{name}' is truncated ({} bytes)",
                    body.len()
                ),
            ));
        }
        let (iv, ciphertext) = body.split_at(IV_LEN);
        let mut iv_arr = [0u8; IV_LEN];
        iv_arr.copy_from_slice(iv);
        let ciphertext = ciphertext.to_vec();
        let aad = aad(name);
        self.blocking(move |hsm| hsm.decrypt(&iv_arr, &aad, &ciphertext))
            .await?
            .ok_or_else(|| {
                KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "cannot unseal the value of key '{name}': authentication failed (sealed \
                         for another name, by another seal key, or altered)"
                    ),
                )
            })
    }

    /// Logs the HSM token out, as an HSM restart does (tests of the session
    /// reopen path).
    #[cfg(feature = "testkit")]
    pub async fn logout_for_test(&self) {
        let _ = self
            .blocking(|hsm| {
                hsm.logout();
                Ok(())
            })
            .await;
    }
}

#[async_trait]
impl KeyStore for SealedKeyStore {
    fn description(&self) -> String {
        format!(
            "{} (sealed by HSM {}, key '{}')",
            self.inner.description(),
            self.hsm.token(),
            self.hsm.key_label()
        )
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        self.blocking(Hsm::probe).await?;
        self.inner.status().await
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let sealed = self.seal(name, value).await?;
        self.inner.create(name, sealed.as_bytes()).await
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let value = self.inner.get(name).await?;
        self.unseal(name, value).await
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        self.inner.list(prefix, start, limit).await
    }
}
