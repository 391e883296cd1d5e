//! The AWS Secrets Manager store type and its [`KeyStore`] impl on the SDK
//! client.

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

use super::config::AwsOptions;
use super::error::{BACKEND, code, message, parse_error};
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
    /// Builds the SDK client and checks, with a `ListSecrets` of one entry,
    /// that the endpoint is reachable and accepts the credentials for the
    /// region. `opts` are taken as given (the config decoder validated
    /// them).
    ///
    /// Errors name the problem: `Unreachable` when the endpoint cannot be
    /// reached; `Unauthorized` when AWS refuses the credentials (or there
    /// are none).
    pub async fn connect(opts: &AwsOptions) -> Result<Self, KeyStoreError> {
        let store = Self::build(opts).await?;
        store.probe().await.map_err(|e| store.startup_error(e))?;
        Ok(store)
    }

    /// Like [`Self::connect`] without the start-up check: no request is sent
    /// until the first operation.
    pub async fn build(opts: &AwsOptions) -> Result<Self, KeyStoreError> {
        let endpoint = (!opts.endpoint.is_empty()).then(|| opts.endpoint.clone());
        check_region(&opts.region, &opts.endpoint)
            .map_err(|why| KeyStoreError::invalid_config(BACKEND, why))?;
        let region = opts.region.clone();

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
        if !opts.access_key.is_empty() {
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
            kms_key: Some(opts.kms_key.trim())
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
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

/// Checks that `region` looks like an AWS region and, when the endpoint
/// names one (`secretsmanager.<region>.amazonaws.com`), that the two agree.
fn check_region(region: &str, endpoint: &str) -> Result<(), String> {
    if !is_region_like(region) {
        return Err(format!(
            "region {region:?} is not an AWS region name (like us-east-2)"
        ));
    }
    match endpoint_region(endpoint) {
        Some(host_region) if host_region != region => Err(format!(
            "region {region:?} does not match the endpoint {endpoint}, which is in region \
             {host_region:?}"
        )),
        _ => Ok(()),
    }
}

/// Whether `s` looks like an AWS region name: lower-case words joined by `-`,
/// the last one a number (`us-east-2`, `us-gov-west-1`, `eu-isoe-west-1`).
fn is_region_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && s.len() <= 32
        && parts.iter().all(|p| !p.is_empty())
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// The region named by an AWS service host such as
/// `secretsmanager.us-east-2.amazonaws.com` or
/// `secretsmanager-fips.us-gov-west-1.amazonaws.com`; `None` for other hosts
/// (emulators, VPC endpoint DNS names, IP addresses).
fn endpoint_region(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?.to_ascii_lowercase();
    let mut labels = host.split('.');
    let service = labels.next()?;
    if !service.starts_with("secretsmanager") {
        return None;
    }
    let region = labels.next()?;
    let rest: Vec<&str> = labels.collect();
    let aws_domain = matches!(
        rest.as_slice(),
        ["amazonaws", "com"] | ["amazonaws", "com", "cn"] | ["api", "aws"]
    );
    (aws_domain && is_region_like(region)).then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_checks() {
        assert!(check_region("us-east-2", "http://127.0.0.1:1").is_ok());
        assert!(check_region("us-east-2", "").is_ok());
        assert!(
            check_region(
                "us-gov-west-1",
                "https://secretsmanager.us-gov-west-1.amazonaws.com"
            )
            .is_ok()
        );
        let e = check_region("US East", "http://h").unwrap_err();
        assert!(e.contains("not an AWS region"), "{e}");
        let e = check_region(
            "us-west-1",
            "https://secretsmanager.us-east-2.amazonaws.com",
        )
        .unwrap_err();
        assert!(
            e.contains("us-west-1") && e.contains("\"us-east-2\""),
            "{e}"
        );
    }

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
    async fn build_sends_no_request() {
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
