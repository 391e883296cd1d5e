//! The settings of the CipherTrust Manager / KeySecure key store
//! ([`KeySecureOptions`]).

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;

/// Connection settings of a CipherTrust Manager / KeySecure appliance
/// (`keystore.gemalto.keysecure`, formerly `keys.gemalto.keysecure`).
#[derive(Clone, Default)]
pub struct KeySecureOptions {
    /// The appliance URL, e.g. `https://ciphertrust.example.com`.
    pub endpoint: String,
    /// The refresh token exchanged for short-lived JWTs.
    pub token: Zeroizing<String>,
    /// The domain the secrets live in; empty means the root domain.
    pub domain: String,
    /// A CA certificate file or directory that replaces the system roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for KeySecureOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecureOptions")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field("domain", &self.domain)
            .field("ca", &self.ca)
            .finish()
    }
}

impl KeySecureOptions {
    /// Checks that every required field is present.
    pub(super) fn validate(&self) -> Result<(), KeyStoreError> {
        if self.endpoint.trim().is_empty() {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                "missing required field `endpoint`",
            ));
        }
        if self.token.trim().is_empty() {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                "missing required field `credentials.token` (the refresh token)",
            ));
        }
        Ok(())
    }
}
