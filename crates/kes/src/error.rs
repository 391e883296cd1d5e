//! The command line's one error type, [`CliError`]: what failed, and why.
//!
//! `Display` is the text `main` prints after `Error: ` (spec §10.1): the
//! operation that failed, then the server's or the system's message. It never
//! contains secrets (API keys, private keys, plaintexts) and never a `Debug`
//! dump of an inner error.

use std::path::PathBuf;

use kes_crypto::ApiKeyError;
use kes_types::CertificateError;

/// Everything a `kes` command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The command line parsed but is not usable (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The client configuration from flags and environment is incomplete or
    /// contradictory (spec §10.2, exact texts).
    #[error("{0}")]
    Env(String),
    /// A request to the KES server failed.
    #[error("{what}: {}", client_message(.source))]
    Client {
        /// What the command tried to do, e.g. `failed to create key "k"`.
        what: String,
        /// The client library's error.
        #[source]
        source: kes_client::Error,
    },
    /// A file could not be read or written.
    #[error("{what} '{}': {source}", .path.display())]
    Io {
        /// What was being done, e.g. `cannot write private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists and `--force` was not given.
    #[error("refusing to overwrite '{}': the file exists (use --force to replace it)", .path.display())]
    FileExists {
        /// The existing file.
        path: PathBuf,
    },
    /// An API key or private key could not be parsed or used.
    #[error("{what}: {source}")]
    ApiKey {
        /// What was being done.
        what: String,
        /// Why the key was rejected.
        #[source]
        source: ApiKeyError,
    },
    /// A certificate could not be parsed.
    #[error("{what}: {source}")]
    Certificate {
        /// Which certificate, e.g. `cannot read certificate 'client.crt'`.
        what: String,
        /// Why it was rejected.
        #[source]
        source: CertificateError,
    },
    /// Input that is not what the command expects (a precise message).
    #[error("{0}")]
    Invalid(String),
    /// A feature of Go KES this implementation does not offer.
    #[error("{0}")]
    Unsupported(String),
    /// Writing to standard output failed.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
    /// `kes server` failed.
    #[error(transparent)]
    Server(#[from] kes_server::ServerError),
    /// Any other failure (runtime setup, I/O) with its description.
    #[error("{0}")]
    Other(String),
    /// The async runtime could not be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl CliError {
    /// Wraps a client error with what the command was doing.
    pub fn client(what: impl Into<String>, source: kes_client::Error) -> CliError {
        CliError::Client {
            what: what.into(),
            source,
        }
    }

    /// The process exit status for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Server(e) if e.is_usage() => 2,
            _ => 1,
        }
    }

    /// True when stdout was closed by the reader (e.g. `kes key ls | head`);
    /// `main` then exits quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// The server's message for API errors (without the client library's
/// `server error <status>:` prefix), the client's description otherwise.
fn client_message(e: &kes_client::Error) -> String {
    match e {
        kes_client::Error::Api { message, .. } if !message.is_empty() => message.clone(),
        kes_client::Error::Api { status, .. } => format!("server answered HTTP {status}"),
        kes_client::Error::Transport(t) => {
            let text = t.to_string();
            if text.contains("invalid peer certificate") {
                format!(
                    "{text} (the server's certificate is not trusted: use -k/--insecure, or \
                     point SSL_CERT_FILE at its CA certificate)"
                )
            } else {
                text
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_show_the_server_message() {
        let e = CliError::client(
            "failed to create key \"k\"",
            kes_client::Error::Api {
                status: 500,
                message: "boom".into(),
            },
        );
        assert_eq!(e.to_string(), "failed to create key \"k\": boom");
        let e = CliError::client(
            "failed to describe key \"k\"",
            kes_client::Error::KeyNotFound,
        );
        assert_eq!(
            e.to_string(),
            "failed to describe key \"k\": key does not exist"
        );
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
    }

    #[test]
    fn file_exists_names_the_file() {
        let e = CliError::FileExists {
            path: "private.key".into(),
        };
        assert!(e.to_string().contains("'private.key'"));
        assert!(e.to_string().contains("--force"));
    }
}
