//! The AWS Secrets Manager key store (keystore.md §4): one secret per KES key,
//! named after the key, holding the stored-key text as `SecretString`,
//! optionally encrypted by Secrets Manager under a customer KMS key
//! (`KmsKeyId`).
//!
//! Built on the official AWS SDK for Rust: SigV4 signing, the standard retry
//! policy (3 attempts) and credentials either static from the config or from
//! the SDK's default chain (environment, profile, web identity, container and
//! instance metadata). The HTTPS client is rustls on aws-lc-rs with the system
//! trust store.
//!
//! With no credentials in the config the default chain may query the EC2
//! instance metadata service (169.254.169.254) when nothing else provides
//! credentials; tests that use it set `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! or `AWS_EC2_METADATA_DISABLED=true` so that no request leaves 127.0.0.1.
//!
//! Divergences from Go KES, on purpose: `list` filters by name prefix on the
//! server where possible and applies the clean `start`/`limit` contract of
//! [`KeyStore::list`]; `status` is a one-attempt `ListSecrets` (so refused
//! credentials show up, not just a dead network); a create hitting a name
//! still scheduled for deletion says so.
//!
//! The `keystore.aws.secretsmanager` block is decoded and validated into
//! [`AwsOptions`] in `config` (always built); the store type lives in
//! `store`, the mapping of SDK failures in `error`. The SDK is the client
//! (set up in `AwsSecretsManagerKeyStore::build`), so there is no
//! `client.rs`; tests run against moto, so there is no `fake.rs`.

mod config;
#[cfg(feature = "aws")]
mod error;
#[cfg(feature = "aws")]
mod store;

pub use self::config::AwsOptions;
pub(crate) use self::config::decode;
#[cfg(feature = "aws")]
pub use self::store::AwsSecretsManagerKeyStore;
