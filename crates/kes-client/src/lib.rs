//! Async client library for the KES HTTP API.
//!
//! A [`Client`] talks to one or more KES servers over mutual TLS, using
//! either an API key (from which a self-signed client certificate is derived)
//! or a certificate and private key file. It offers one typed async method
//! per API call, maps the canonical KES errors to [`Error`] variants, and
//! fails over between endpoints like the Go client: local endpoints first,
//! each group in a rotating order, failing endpoints set aside for 30
//! seconds and then probed by one request, network errors and 503 retried
//! twice with a random 200 ms – 1 s back-off, 4xx returned at once. Unlike
//! the Go client, a request that may have reached a failed node (a lost
//! answer, a 5xx) goes to another node only when it is idempotent (reads,
//! generate, encrypt, decrypt, HMAC), so that a create is never applied twice.
//!
//! ```no_run
//! use kes_client::Client;
//!
//! # async fn run() -> Result<(), kes_client::Error> {
//! let client = Client::builder()
//!     .endpoint("127.0.0.1:7373")
//!     .api_key_str("kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc")
//!     .insecure(true)
//!     .build()?;
//!
//! match client.create_key("my-key").await {
//!     Ok(()) | Err(kes_client::Error::KeyExists) => {}
//!     Err(e) => return Err(e),
//! }
//! let dek = client.generate_key("my-key", b"bucket/object").await?;
//! let plaintext = client
//!     .decrypt("my-key", &dek.ciphertext, b"bucket/object")
//!     .await?;
//! assert_eq!(*plaintext, *dek.plaintext);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod api;
mod client;
mod connect;
mod endpoint;
mod error;
mod stream;
mod tls;

pub use api::{Cipher, Dek};
pub use client::{Client, ClientBuilder};
pub use endpoint::normalize_endpoint;
pub use error::{
    ConfigError, Error, InvalidResponse, ListCutReason, TransportError, TransportKind,
};
pub use kes_crypto::ApiKey;
pub use kes_types::Identity;
pub use kes_types::api::{
    ApiRoute, AuditEvent, DescribeIdentityResponse, DescribeKeyResponse, DescribePolicyResponse,
    ErrorEvent, ReadPolicyResponse, SelfDescribeResponse, StatusResponse, VersionResponse,
    WritePolicyRequest,
};
pub use stream::{AuditStream, ErrorStream, EventStream};
pub use tls::NoServerVerification;
pub use zeroize::Zeroizing;
