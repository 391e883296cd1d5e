//! The one error type of `kes-bench`: everything that stops a run before or
//! during setup. Failures of individual requests during the measured run are
//! not errors here; they are counted in the report.

use std::path::PathBuf;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Invalid command-line arguments.
    #[error("invalid arguments: {0}")]
    Config(String),
    /// The API key could not be parsed or turned into a certificate.
    #[error("API key: {0}")]
    ApiKey(#[source] kes_crypto::ApiKeyError),
    /// A PEM file could not be read or held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// rustls rejected the client configuration (e.g. a key that does not match).
    #[error("TLS client configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// The TLS server name is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// TCP connect, TLS handshake or HTTP handshake failed during setup.
    #[error("connecting to {addr}: {what}")]
    Connect {
        /// host:port.
        addr: String,
        /// What failed.
        what: String,
    },
    /// A setup request (key creation, pre-generating ciphertexts) failed.
    #[error("setup: {what} failed: {detail}")]
    Setup {
        /// Which request.
        what: String,
        /// Status and body, or the transport error.
        detail: String,
    },
    /// The async runtime could not be started.
    #[error("starting the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
