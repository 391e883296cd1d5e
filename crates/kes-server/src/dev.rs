//! `kes server --dev`: an in-memory key store, a fresh self-signed P-256
//! certificate for `localhost`/`127.0.0.1`, and a fresh admin API key.

use crate::run::ServerError;
use crate::state::Settings;

/// Dev settings and the banner lines that go with them.
pub struct Dev {
    /// The settings.
    pub settings: Settings,
    /// Extra banner lines (`API Key`).
    pub banner: Vec<(String, String)>,
}

/// Builds the dev-mode settings.
pub fn settings() -> Result<Dev, ServerError> {
    Err(ServerError::DevCert("not yet".into()))
}
