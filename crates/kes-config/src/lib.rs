//! Decoding of KES's YAML config files (spec §9), shared by the crates that
//! own a part of the file: the server (`tls:`, `policy:`, `cache:`, ...) and
//! the key-store crate (each back end decodes its own `keystore:` block).
//!
//! This crate owns the syntax and the decoding discipline, not any schema:
//! * [`yaml`]: a YAML tree whose every node knows its line and column;
//! * [`Ctx`] and [`Fields`]: mapping access that rejects unknown and
//!   duplicate fields, `${VAR}` references (§9.2), scalar conversions
//!   (text, secrets, paths, booleans, Go durations), warnings;
//! * [`ConfigError`]: every error names the file, the line and the field
//!   path (`config.yml:12: tls.auth: ...`);
//! * [`Secret`]: a config value that is wiped on drop and never printed.

#![forbid(unsafe_code)]

mod decode;
pub mod duration;
pub mod yaml;

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

pub use decode::{Ctx, Fields, index, join};
pub use yaml::Node;

/// A secret string from the config (password, token, secret key). Wiped
/// from memory on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret text, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret as the zeroizing string the key stores keep.
    pub fn into_zeroizing(self) -> Zeroizing<String> {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a config file could not be loaded. The `Display` text is meant for
/// the operator as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file '{}': {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a single YAML mapping document.
    #[error("{file}:{line}:{col}: invalid config format: {message}")]
    Syntax {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// A `${VAR}` reference names a variable that is not set.
    #[error("{file}:{line}: {field}: referenced env. variable '{name}' in line '{line}' not found")]
    EnvNotFound {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// Field path, e.g. `keystore.vault.approle.secret`.
        field: String,
        /// The variable name.
        name: String,
    },
    /// A field has an invalid value, is missing, unknown or contradicts
    /// another one.
    #[error("{file}:{line}: {field}: {message}")]
    Invalid {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// Field path, e.g. `tls.auth`.
        field: String,
        /// What is wrong (contains the spec's message text).
        message: String,
    },
}

impl ConfigError {
    /// The 1-based line the error refers to, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { line, .. }
            | ConfigError::EnvNotFound { line, .. }
            | ConfigError::Invalid { line, .. } => Some(*line),
        }
    }
}

/// Parses config `text` into its root node; `source` names the file in
/// errors. An empty file is an error.
pub fn document(text: &str, source: &str) -> Result<Node, ConfigError> {
    let syntax = |line, col, message| ConfigError::Syntax {
        file: source.to_owned(),
        line,
        col,
        message,
    };
    match yaml::parse(text) {
        Err(e) => Err(syntax(e.line, e.col, e.message)),
        Ok(None) => Err(syntax(1, 1, "the file holds no YAML document".to_owned())),
        Ok(Some(root)) => Ok(root),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn empty_file_is_a_format_error() {
        let err = document("", "c.yml").unwrap_err();
        assert!(err.to_string().contains("invalid config format"), "{err}");
    }
}
