//! The Google Cloud Secret Manager key store (`keystore.gcp.secretmanager`,
//! keystores.md §6) over the REST API v1: one secret per key, named like the
//! key (no prefix), created with automatic replication; the stored value is
//! the secret's version 1.
//!
//! The block is decoded and validated into [`GcpOptions`] in `config`
//! (always built); the store (`store`) owns start-up and the five
//! operations, the wire details are in `client`, the mapping of Google's
//! error answers in `error`, the service account's JWT-bearer token flow in
//! `auth` (on the shared token session of `transport`: renewal at half the
//! token's lifetime, one new token when a call answers 401) and the test
//! fake of the token endpoint and metadata server in `fake`. An `http://`
//! endpoint without credentials is an emulator: calls carry no token.
//!
//! Differences from Go KES, on purpose: REST instead of gRPC (the same
//! calls; an `endpoint` is a URL, not `host:port`); service-account
//! credentials use the token exchange (`credentials.token_uri`, default
//! `https://oauth2.googleapis.com/token`) instead of self-signed JWTs;
//! of the application default credentials only service-account key files
//! (`GOOGLE_APPLICATION_CREDENTIALS`) and the metadata server are used,
//! not gcloud user credentials or federation files; a create that finds its
//! secret without version 1 (a create interrupted between CreateSecret and
//! AddSecretVersion) takes it over, and of racing creates only the one whose
//! version is 1 succeeds (`store`); `list` honours
//! the prefix and `start` contract of [`crate::KeyStore::list`]. Like Go KES,
//! a listing names every secret of the project, also those KES did not
//! write, and reads only version 1.

#[cfg(feature = "gcp")]
mod auth;
#[cfg(feature = "gcp")]
mod client;
mod config;
#[cfg(feature = "gcp")]
mod error;
#[cfg(all(feature = "gcp", any(test, feature = "testkit")))]
pub mod fake;
#[cfg(feature = "gcp")]
mod store;

pub(crate) use self::config::decode;
pub use self::config::{DEFAULT_TOKEN_URI, GcpCredentials, GcpOptions};
#[cfg(feature = "gcp")]
pub use self::store::{DEFAULT_ENDPOINT, GcpKeyStore};
