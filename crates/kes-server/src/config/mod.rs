//! The server configuration file (`kes server --config <file>`, spec §9).
//!
//! This module owns reading the YAML file, `${VAR}` substitution (§9.2),
//! mapping the old spellings of §9.4 onto the current schema (each with one
//! deprecation warning), and validation with the messages of §9.3. The
//! result is a plain, validated [`ServerConfig`]; connecting the key store,
//! loading TLS files and building policies is left to the server. The YAML
//! tree, `${VAR}` references, durations and the field-by-field decoding
//! discipline are `kes-config`'s; the `keystore:` section is handed to
//! `kes-keystore`, where each back end decodes its own block.
//!
//! Every error names the file, the line and the field path, e.g.
//! `config.yml:12: tls.auth: invalid tls config: invalid auth 'maybe' (want "on" or "off")`.
//!
//! Deliberate differences from Go KES:
//! * unknown fields are an error (Go silently drops them) — except retired
//!   fields the guides still show, which are accepted with a warning;
//! * the pre-v0.17 shapes (`root:`, top-level `proxy:`, policy `paths:`,
//!   `keys:` holding the key store, `keystore.secretsmanager`) are migrated
//!   instead of being dropped, each with a warning in
//!   [`ServerConfig::warnings`];
//! * key names under `keys:` are validated.
//!
//! Relative file paths (TLS files, `fs` directory, CA files, ...) are kept as
//! written, i.e. relative to the process's working directory, as in Go KES.

mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use kes_config::{ConfigError, Secret};
pub use kes_keystore::KeyStoreConfig;
use zeroize::Zeroizing;

use crate::level::Level;

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address from the file; `None` when not given (the CLI's
    /// `--addr` flag wins, then `0.0.0.0:7373`). An empty host means
    /// `0.0.0.0`.
    pub address: Option<SocketAddr>,
    /// The admin identity, or any non-identity text (e.g. `disabled`) that
    /// turns the admin off. Never empty.
    pub admin: String,
    /// The server's TLS settings.
    pub tls: TlsConfig,
    /// Key cache expiry timers.
    pub cache: CacheConfig,
    /// Per-route overrides, keyed by exact route path (e.g. `/v1/ready`).
    pub api: BTreeMap<String, ApiConfig>,
    /// Log levels.
    pub log: LogConfig,
    /// Policies by name; names and identities are validated, and every
    /// identity belongs to at most one policy.
    pub policies: BTreeMap<String, PolicyConfig>,
    /// Keys to create at start-up when missing, in file order.
    pub keys: Vec<kes_types::KeyName>,
    /// Scheduled rotations (`keys: [{name, rotate}]`), in file order.
    pub rotations: Vec<crate::versions::KeyRotation>,
    /// The key store back end (decoded by `kes-keystore`).
    pub keystore: KeyStoreConfig,
    /// The HSM seal around the key store (`hsm:`, decoded by
    /// `kes-keystore::seal`), if configured.
    pub hsm: Option<kes_keystore::seal::HsmConfig>,
    /// Deprecation and "has no effect" warnings, each naming file and line.
    pub warnings: Vec<String>,
    /// The file name as given, for errors found after decoding (see
    /// [`ServerConfig::invalid`]).
    pub source: String,
}

impl ServerConfig {
    /// An error about `field` at `line` of this config, shaped like every
    /// decoding error (`<file>:<line>: <field>: <message>`); for problems
    /// found later, such as an unreadable TLS file.
    pub fn invalid(&self, line: usize, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.source.clone(),
            line,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The server's TLS settings (`tls:`).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM private key file.
    pub key: PathBuf,
    /// PEM certificate chain file.
    pub cert: PathBuf,
    /// Password of a legacy-encrypted PEM private key.
    pub password: Option<Secret>,
    /// Client certificate verification mode (§4.3).
    pub auth: TlsAuth,
    /// File or directory of PEM CA certificates.
    pub ca: Option<PathBuf>,
    /// Identities of TLS proxies (`tls.proxy.identities`). Parsed and
    /// validated but otherwise without effect in current KES (§3.8).
    pub proxy_identities: Vec<String>,
    /// Header carrying the forwarded client certificate
    /// (`tls.proxy.header.cert`, default `X-Tls-Client-Cert`).
    pub proxy_header: String,
    /// Where `key`, `cert` and `ca` are written, for errors about the files.
    pub lines: TlsLines,
}

/// The lines of the `tls:` file fields (the `tls:` line when a field is
/// absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsLines {
    /// Line of `tls.key`.
    pub key: usize,
    /// Line of `tls.cert`.
    pub cert: usize,
    /// Line of `tls.ca`.
    pub ca: usize,
}

/// Client certificate mode (`tls.auth`, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsAuth {
    /// Require a certificate but do not verify its chain (empty or `off`).
    #[default]
    Off,
    /// Require a certificate and verify it against `tls.ca` (`on`).
    On,
}

/// Key cache expiry timers (`cache.expiry`, §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Drop every cached key this often. Default 5 minutes.
    pub any: Duration,
    /// Drop keys unused for this long. Default 30 seconds.
    pub unused: Duration,
    /// Drop every cached key this often while the key store is offline;
    /// zero disables offline caching limits. Default 0.
    pub offline: Duration,
}

impl Default for CacheConfig {
    /// The documented defaults (5m / 30s / 0). Go's CLI has a bug that
    /// collapses a missing `unused` into `any = 30s`; we implement the
    /// documented intent instead (spec §8.2).
    fn default() -> Self {
        CacheConfig {
            any: Duration::from_secs(5 * 60),
            unused: Duration::from_secs(30),
            offline: Duration::ZERO,
        }
    }
}

/// Per-route overrides (`api.<path>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApiConfig {
    /// Make the route callable without authentication.
    pub skip_auth: bool,
    /// Route timeout; `None` keeps the route's default.
    pub timeout: Option<Duration>,
}

/// Log thresholds (`log:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// Error log threshold (default INFO).
    pub error: Level,
    /// Audit log threshold (default INFO).
    pub audit: Level,
}

/// One policy (`policy.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyConfig {
    /// Allowed path patterns.
    pub allow: Vec<String>,
    /// Denied path patterns (deny wins).
    pub deny: Vec<String>,
    /// Identities assigned to this policy.
    pub identities: Vec<String>,
}

/// Reads and validates the config file at `path`, resolving `${VAR}`
/// references from the process environment.
pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
    // The file may hold secrets: wipe our copy when done.
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    let env = |name: &str| std::env::var(name).ok();
    parse(&text, &path.display().to_string(), &env)
}

/// Parses and validates config `text`. `source` names the file in errors
/// and warnings; `env` resolves `${VAR}` references (`None` = not set).
pub fn parse(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let root = kes_config::document(text, source)?;
    let mut ctx = kes_config::Ctx::new(source, env);
    server::decode(&root, &mut ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_defaults_are_the_documented_ones() {
        let c = CacheConfig::default();
        assert_eq!(c.any, Duration::from_secs(300));
        assert_eq!(c.unused, Duration::from_secs(30));
        assert_eq!(c.offline, Duration::ZERO);
    }

    #[test]
    fn empty_file_is_a_format_error() {
        let err = parse("", "c.yml", &|_| None).unwrap_err();
        assert!(err.to_string().contains("invalid config format"), "{err}");
    }

    #[test]
    fn read_error_names_the_file() {
        let err = load(Path::new("/nonexistent/kes.yml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file '/nonexistent/kes.yml'"),
            "{err}"
        );
        assert_eq!(err.line(), None);
    }
}
