//! The settings of the Entrust KeyControl key store ([`KeyControlOptions`])
//! and their validation.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;

/// Connection settings of an Entrust KeyControl vault
/// (`keystore.entrust.keycontrol` in the config file).
#[derive(Clone, Default)]
pub struct KeyControlOptions {
    /// The appliance URL, e.g. `https://keycontrol.example.com`.
    pub endpoint: String,
    /// The vault UUID (used in the login path).
    pub vault_id: String,
    /// The box (name or id) that holds the keys.
    pub box_id: String,
    /// The vault user.
    pub username: String,
    /// The vault user's password.
    pub password: Zeroizing<String>,
    /// A CA certificate file or directory trusted in addition to the system
    /// roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for KeyControlOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyControlOptions")
            .field("endpoint", &self.endpoint)
            .field("vault_id", &self.vault_id)
            .field("box_id", &self.box_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("ca", &self.ca)
            .finish()
    }
}

impl KeyControlOptions {
    /// Checks that every required field is present and usable.
    pub(super) fn validate(&self) -> Result<(), KeyStoreError> {
        let missing = |field: &str| {
            KeyStoreError::invalid_config(BACKEND, format!("missing required field `{field}`"))
        };
        for (field, value) in [
            ("endpoint", self.endpoint.as_str()),
            ("vault_id", self.vault_id.as_str()),
            ("box_id", self.box_id.as_str()),
            ("credentials.username", self.username.as_str()),
            ("credentials.password", self.password.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(missing(field));
            }
        }
        // The vault id goes into the login path.
        if !self
            .vault_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                format!(
                    "vault_id {:?} is not a vault id (letters, digits, '-', '_', '.')",
                    self.vault_id
                ),
            ));
        }
        Ok(())
    }
}
