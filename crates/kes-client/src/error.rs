//! The client's one error type: canonical KES API errors as variants, other
//! API errors as `(status, message)`, and the transport, response-parsing and
//! configuration failures that never reached (or never came from) a server.
//!
//! Nothing in here carries key material: messages come from the server's error
//! body or from the client's own description of what went wrong.

use std::path::PathBuf;

use kes_types::api::errors;

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 404 `key does not exist`.
    #[error("key does not exist")]
    KeyNotFound,
    /// 400 `key already exists` (or the legacy `key does already exist`).
    #[error("key already exists")]
    KeyExists,
    /// 403 `not authorized: insufficient permissions` (or the legacy
    /// `prohibited by policy`).
    #[error("not authorized: insufficient permissions")]
    NotAllowed,
    /// 400 `decryption failed: ciphertext is not authentic`.
    #[error("decryption failed: ciphertext is not authentic")]
    DecryptFailed,
    /// 404 `policy does not exist`.
    #[error("policy does not exist")]
    PolicyNotFound,
    /// 404 `identity does not exist`.
    #[error("identity does not exist")]
    IdentityNotFound,
    /// Any other error response (status ≥ 400) of the server.
    #[error("server error {status}: {message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The error body's `error`/`message` field, or the raw body text.
        message: String,
    },
    /// The request did not complete: connection, TLS, HTTP or timeout failure.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server answered something this client cannot understand.
    #[error(transparent)]
    InvalidResponse(#[from] InvalidResponse),
    /// A request body could not be encoded as JSON.
    #[error("cannot encode the request body: {0}")]
    Encode(#[source] serde_json::Error),
    /// The client could not be built from its configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listing ended before its last name: the server answered a page
    /// with a `continue_at` and then could not continue from it (Go KES
    /// ignores the `?continue_at=` parameter and caps listings at 1024
    /// names). `names` holds what was received, in order; callers that
    /// show them must say that the list is incomplete.
    #[error(
        "the listing was cut after {} names because {reason} (next name: '{continue_at}')",
        names.len()
    )]
    ListCut {
        /// The names received before the cut.
        names: Vec<String>,
        /// The first name not received (the server's last `continue_at`).
        continue_at: String,
        /// Why the listing could not go on.
        reason: ListCutReason,
    },
}

/// Why a listing was cut ([`Error::ListCut`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListCutReason {
    /// The server ignored `?continue_at=` (it answered names before the one
    /// asked for, or the same `continue_at` again): it cannot continue a
    /// listing.
    CannotContinue,
    /// The server kept sending pages beyond this many.
    TooManyPages(usize),
}

impl std::fmt::Display for ListCutReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CannotContinue => f.write_str("the server cannot continue a listing"),
            Self::TooManyPages(n) => write!(f, "the server sent more than {n} pages"),
        }
    }
}

impl Error {
    /// Maps an error response to a variant: canonical `(status, message)` pairs
    /// (and their legacy aliases, spec §1.7) become their own variant, anything
    /// else becomes [`Error::Api`].
    pub fn from_response(status: u16, message: &str) -> Self {
        let pair = (status, message);
        if pair == errors::KEY_NOT_FOUND {
            Self::KeyNotFound
        } else if pair == errors::KEY_EXISTS || pair == errors::LEGACY_KEY_EXISTS {
            Self::KeyExists
        } else if pair == errors::NOT_ALLOWED || pair == errors::LEGACY_NOT_ALLOWED {
            Self::NotAllowed
        } else if pair == errors::DECRYPT {
            Self::DecryptFailed
        } else if pair == errors::POLICY_NOT_FOUND {
            Self::PolicyNotFound
        } else if pair == errors::IDENTITY_NOT_FOUND {
            Self::IdentityNotFound
        } else {
            Self::Api {
                status,
                message: message.to_owned(),
            }
        }
    }

    /// The HTTP status of an API error (canonical or not), `None` otherwise.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::KeyNotFound => Some(errors::KEY_NOT_FOUND.0),
            Self::KeyExists => Some(errors::KEY_EXISTS.0),
            Self::NotAllowed => Some(errors::NOT_ALLOWED.0),
            Self::DecryptFailed => Some(errors::DECRYPT.0),
            Self::PolicyNotFound => Some(errors::POLICY_NOT_FOUND.0),
            Self::IdentityNotFound => Some(errors::IDENTITY_NOT_FOUND.0),
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Connecting or the TLS handshake failed: the request was not sent.
    Connect,
    /// The connection failed during the HTTP exchange: the request may have
    /// reached the server.
    Exchange,
    /// Reading the response body failed midway.
    Body,
    /// The configured request timeout elapsed.
    Timeout,
    /// A redirect loop (more than the allowed number of redirects).
    TooManyRedirects,
}

/// A request that did not complete, with the endpoint it was sent to.
#[derive(Debug, thiserror::Error)]
#[error("{endpoint}: {}{}", describe(*.kind), source_suffix(.source.as_deref()))]
pub struct TransportError {
    /// What went wrong.
    pub kind: TransportKind,
    /// The endpoint (`https://host:port`) the request went to.
    pub endpoint: String,
    /// The underlying error, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

fn describe(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Connect => "cannot connect",
        TransportKind::Exchange => "request failed",
        TransportKind::Body => "reading the response body failed",
        TransportKind::Timeout => "request timed out",
        TransportKind::TooManyRedirects => "too many redirects",
    }
}

fn source_suffix(source: Option<&(dyn std::error::Error + Send + Sync)>) -> String {
    // Walk the chain: hyper-util's outer error says little ("client error
    // (Connect)"); the inner ones name the real cause.
    let mut out = String::new();
    let mut cur: Option<&dyn std::error::Error> = source.map(|s| s as &dyn std::error::Error);
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// A response that is not what the API defines.
#[derive(Debug, thiserror::Error)]
#[error("invalid response from {endpoint} for {path}: {what}")]
pub struct InvalidResponse {
    /// The endpoint that answered.
    pub endpoint: String,
    /// The request path.
    pub path: String,
    /// What was wrong with it.
    pub what: String,
    /// The underlying parse error, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Why a [`ClientBuilder`](crate::ClientBuilder) could not build a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint list is empty.
    #[error("no endpoint specified")]
    NoEndpoints,
    /// An endpoint is not `host:port` / `https://host:port`.
    #[error("invalid endpoint '{endpoint}': {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither an API key nor a certificate and private key were given.
    #[error("no client credentials: set an API key or a certificate and private key file")]
    NoCredentials,
    /// Both an API key and certificate files were given.
    #[error("API key and certificate/private key files cannot be used at the same time")]
    ConflictingCredentials,
    /// Only one of certificate and private key file was given.
    #[error("{0} file specified without the matching {1} file")]
    IncompleteCredentials(&'static str, &'static str),
    /// The API key is invalid or its client certificate could not be made.
    #[error(transparent)]
    ApiKey(#[from] kes_crypto::ApiKeyError),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file holds no usable item of the expected kind.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was expected or wrong (e.g. "no certificate found").
        what: String,
    },
    /// No trusted CA certificates: none configured and no system bundle found.
    #[error(
        "no trusted CA certificates: configure a CA file or directory, or skip verification (insecure)"
    )]
    NoRootCertificates,
    /// rustls rejected the TLS configuration (e.g. key does not match certificate).
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}
