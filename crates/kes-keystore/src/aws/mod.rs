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
//! The options ([`AwsOptions`]) and their validation live in `config`, the
//! mapping of SDK failures in `error`. The SDK is the client (set up in
//! [`AwsSecretsManagerKeyStore::build`]), so there is no `client.rs`; tests
//! run against moto, so there is no `fake.rs`.

mod config;
mod error;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use kes_types::KeyName;
use zeroize::Zeroizing;

pub use self::config::{AwsOptions, normalize_endpoint};

use self::config::CredentialSource;
use self::error::{BACKEND, code, message, parse_error};
use crate::list::paginate;
use crate::{ErrorKind, KeyStore, KeyStoreError, ListPage, Status};

/// TCP/TLS connect timeout of every request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time limit of one attempt of a request.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time limit of a request including retries.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Time limit of the status probe (one attempt).
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Page size of `ListSecrets` (the AWS maximum is 100).
const LIST_PAGE: i32 = 100;

/// A [`KeyStore`] on AWS Secrets Manager.
#[derive(Clone)]
pub struct AwsSecretsManagerKeyStore {
    client: Client,
    /// The endpoint URL requests go to (for messages), or the regional default.
    endpoint: String,
    region: String,
    kms_key: Option<String>,
}

impl std::fmt::Debug for AwsSecretsManagerKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSecretsManagerKeyStore")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("kms_key", &self.kms_key)
            .finish_non_exhaustive()
    }
}

impl AwsSecretsManagerKeyStore {
    /// Validates `opts`, builds the SDK client and checks, with a
    /// `ListSecrets` of one entry, that the endpoint is reachable and accepts
    /// the credentials for the region.
    ///
    /// Errors name the problem: `InvalidConfig` for a
    /// malformed endpoint, a bad or mismatched region or incomplete
    /// credentials; `Unreachable` when the endpoint cannot be
    /// reached; `Unauthorized` when AWS refuses the
    /// credentials (or there are none).
    pub async fn connect(opts: &AwsOptions) -> Result<Self, KeyStoreError> {
        let store = Self::build(opts).await?;
        store.probe().await.map_err(|e| store.startup_error(e))?;
        Ok(store)
    }

    /// Like [`Self::connect`] without the start-up check: no request is sent
    /// until the first operation.
    pub async fn build(opts: &AwsOptions) -> Result<Self, KeyStoreError> {
        let endpoint = opts.endpoint_url()?;
        let region = opts.checked_region()?.to_owned();
        let source = opts.credential_source()?;

        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .http_client(http_client)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if source == CredentialSource::Static {
            let token = (!opts.session_token.is_empty()).then(|| opts.session_token.to_string());
            loader = loader.credentials_provider(Credentials::new(
                opts.access_key.clone(),
                opts.secret_key.to_string(),
                token,
                None,
                "kes-config",
            ));
        }
        let sdk = loader.load().await;
        let mut conf = aws_sdk_secretsmanager::config::Builder::from(&sdk);
        if let Some(url) = &endpoint {
            conf = conf.endpoint_url(url.clone());
        }
        Ok(Self {
            client: Client::from_conf(conf.build()),
            endpoint: endpoint.unwrap_or_else(|| format!("secretsmanager.{region} (SDK default)")),
            region,
            kms_key: opts.kms_key().map(str::to_owned),
        })
    }

    /// The KMS key new secrets are encrypted with, if configured.
    pub fn kms_key(&self) -> Option<&str> {
        self.kms_key.as_deref()
    }

    /// A `ListSecrets` of at most one entry, one attempt, short timeout.
    async fn probe(&self) -> Result<(), KeyStoreError> {
        let once = aws_sdk_secretsmanager::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(STATUS_TIMEOUT)
                    .build(),
            );
        self.client
            .list_secrets()
            .max_results(1)
            .customize()
            .config_override(once)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| parse_error("ListSecrets", &e))
    }

    /// Adds where and what to a start-up probe failure.
    fn startup_error(&self, e: KeyStoreError) -> KeyStoreError {
        let at = format!(
            "AWS Secrets Manager at {} (region {})",
            self.endpoint, self.region
        );
        match e.kind() {
            ErrorKind::Unreachable => e.map_message(|m| format!("{at} is not reachable: {m}")),
            ErrorKind::Unauthorized => {
                let hint =
                    if e.message().contains("region") || e.message().contains("InvalidSignature") {
                        format!(
                            "; check that region {} is right for the endpoint",
                            self.region
                        )
                    } else {
                        "; check the credentials".to_owned()
                    };
                e.map_message(|m| format!("{at}: {m}{hint}"))
            }
            ErrorKind::Backend => e.map_message(|m| {
                format!(
                    "{at}: start-up check failed: {m}; check that the endpoint is a \
                     Secrets Manager endpoint serving region {}",
                    self.region
                )
            }),
            ErrorKind::NotFound | ErrorKind::AlreadyExists | ErrorKind::InvalidConfig => e,
        }
    }
}

/// Whether AWS's message says the secret is deleted or scheduled for deletion.
fn pending_deletion(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("scheduled for deletion")
        || m.contains("marked deleted")
        || m.contains("marked for deletion")
}

/// Whether `prefix` can be sent as a `ListSecrets` name filter value: only
/// name characters (a leading `!` would negate the filter).
fn filterable_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= 512
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, want: &str) -> bool {
    code(err) == Some(want)
}

#[async_trait]
impl KeyStore for AwsSecretsManagerKeyStore {
    fn description(&self) -> String {
        match &self.kms_key {
            Some(k) => format!(
                "AWS SecretsManager: {} (region {}, KMS key {k})",
                self.endpoint, self.region
            ),
            None => format!(
                "AWS SecretsManager: {} (region {})",
                self.endpoint, self.region
            ),
        }
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let t0 = Instant::now();
        self.probe().await?;
        Ok(Status {
            latency: t0.elapsed(),
        })
    }

    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let mut req = self.client.create_secret().name(name.as_str());
        req = match std::str::from_utf8(value) {
            Ok(text) => req.secret_string(text),
            Err(_) => req.secret_binary(Blob::new(value.to_vec())),
        };
        if let Some(k) = &self.kms_key {
            req = req.kms_key_id(k);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceExistsException") => {
                Err(KeyStoreError::already_exists())
            }
            Err(e) if is_code(&e, "InvalidRequestException") && pending_deletion(message(&e)) => {
                Err(KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "key '{name}' already exists: its secret is still scheduled for \
                         deletion in AWS Secrets Manager ({}); retry once AWS has purged it",
                        message(&e)
                    ),
                ))
            }
            Err(e) => Err(parse_error(&format!("CreateSecret '{name}'"), &e)),
        }
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let out = match self
            .client
            .get_secret_value()
            .secret_id(name.as_str())
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_code(&e, "ResourceNotFoundException") => {
                return Err(KeyStoreError::not_found());
            }
            Err(e) if is_code(&e, "InvalidRequestException") && pending_deletion(message(&e)) => {
                return Err(KeyStoreError::not_found());
            }
            Err(e) if is_code(&e, "DecryptionFailure") => {
                return Err(KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "GetSecretValue '{name}': Secrets Manager cannot decrypt the secret \
                         with its KMS key: {}",
                        message(&e)
                    ),
                ));
            }
            Err(e) => return Err(parse_error(&format!("GetSecretValue '{name}'"), &e)),
        };
        let mut out = out;
        if let Some(text) = out.secret_string.take() {
            return Ok(Zeroizing::new(text.into_bytes()));
        }
        if let Some(blob) = out.secret_binary.take() {
            return Ok(Zeroizing::new(blob.into_inner()));
        }
        Err(KeyStoreError::backend(
            BACKEND,
            format!(
                "GetSecretValue '{name}': the secret has neither SecretString nor SecretBinary"
            ),
        ))
    }

    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        match self
            .client
            .delete_secret()
            .secret_id(name.as_str())
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => Err(KeyStoreError::not_found()),
            Err(e) => Err(parse_error(&format!("DeleteSecret '{name}'"), &e)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let filter = if filterable_prefix(prefix) {
            Some(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            )
        } else {
            None
        };
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_secrets()
                .max_results(LIST_PAGE)
                .set_filters(filter.clone().map(|f| vec![f]))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| parse_error("ListSecrets", &e))?;
            names.extend(
                out.secret_list
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| s.name),
            );
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(paginate(names, prefix, start, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_name_prefixes_are_sent_as_filters() {
        assert!(filterable_prefix("my-key_1"));
        assert!(!filterable_prefix(""));
        assert!(!filterable_prefix("!neg"));
        assert!(!filterable_prefix("a b"));
    }

    #[test]
    fn recognises_pending_deletion_messages() {
        assert!(pending_deletion(
            "You can't create this secret because a secret with this name is already \
             scheduled for deletion."
        ));
        assert!(pending_deletion(
            "You can't perform this operation on the secret because it was marked deleted."
        ));
        assert!(!pending_deletion("The parameter name is invalid."));
    }

    #[tokio::test]
    async fn build_rejects_bad_config_before_any_request() {
        let bad = AwsOptions {
            endpoint: "ftp://example".into(),
            region: "us-east-1".into(),
            ..AwsOptions::default()
        };
        let e = AwsSecretsManagerKeyStore::build(&bad).await.unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidConfig, "{e}");
        let ok = AwsOptions {
            endpoint: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            kms_key: "alias/kes".into(),
            access_key: "AKID".into(),
            secret_key: Zeroizing::new("secret".into()),
            ..AwsOptions::default()
        };
        let s = AwsSecretsManagerKeyStore::build(&ok).await.unwrap();
        assert_eq!(s.kms_key(), Some("alias/kes"));
        let d = s.description();
        assert!(
            d.contains("http://127.0.0.1:9") && d.contains("us-east-1"),
            "{d}"
        );
        assert!(!format!("{s:?}").contains("secret\""), "{s:?}");
    }
}
