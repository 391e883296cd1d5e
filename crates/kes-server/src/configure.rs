//! From a config file to [`Settings`]: loads and validates the file
//! (`crate::config`), connects the key store, and maps the config's types
//! onto the server's.

use std::path::Path;

use crate::run::{Loaded, ServerError};

/// Loads `path` into settings; `auth_flag` is the deprecated `--auth`.
pub async fn load(path: &Path, _auth_flag: Option<bool>) -> Result<Loaded, ServerError> {
    Err(ServerError::Config(format!(
        "{}: config files are not supported yet",
        path.display()
    )))
}
