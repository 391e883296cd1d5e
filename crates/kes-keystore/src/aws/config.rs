//! The settings of the AWS Secrets Manager key store ([`AwsOptions`]) and
//! their validation: endpoint normalisation, region checks and the choice
//! between static credentials and the SDK's default credential chain.

use std::fmt;

use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;

/// Settings of [`super::AwsSecretsManagerKeyStore`], as in the
/// `keystore.aws.secretsmanager` config block. Empty strings mean "not set".
///
/// `Debug` never shows the secret key or the session token.
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// Secrets Manager endpoint: a bare host (`secretsmanager.us-east-2.amazonaws.com`,
    /// `https://` is implied) or a full `http://` / `https://` URL (emulators, VPC
    /// endpoints). Empty: the SDK's regional endpoint for `region`.
    pub endpoint: String,
    /// The AWS region the requests are signed for, e.g. `us-east-2`. Required.
    pub region: String,
    /// KMS key id, ARN or alias that Secrets Manager encrypts new secrets with
    /// (`CreateSecret.KmsKeyId`). Empty: the account's `aws/secretsmanager` key.
    pub kms_key: String,
    /// Access key id of static credentials. Empty (together with the secret key
    /// and the token): the SDK default chain (environment, profile, web
    /// identity, container and instance metadata).
    pub access_key: String,
    /// Secret access key of static credentials.
    pub secret_key: Zeroizing<String>,
    /// Optional session token of static (temporary) credentials.
    pub session_token: Zeroizing<String>,
}

impl fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AwsOptions")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("kms_key", &self.kms_key)
            .field("access_key", &self.access_key)
            .field("secret_key", &redact(&self.secret_key))
            .field("session_token", &redact(&self.session_token))
            .finish()
    }
}

/// Which credentials the store signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// Access key and secret key (and maybe a token) from the config.
    Static,
    /// The SDK's default provider chain.
    DefaultChain,
}

impl AwsOptions {
    /// The endpoint as a full URL: a bare host gets `https://`; `None` when no
    /// endpoint is configured (use the regional default).
    pub fn endpoint_url(&self) -> Result<Option<String>, KeyStoreError> {
        normalize_endpoint(&self.endpoint)
    }

    /// Checks the region and, when the endpoint names a region
    /// (`secretsmanager.<region>.amazonaws.com`), that the two agree.
    pub(crate) fn checked_region(&self) -> Result<&str, KeyStoreError> {
        let region = self.region.as_str();
        if region.is_empty() {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                "region is required (e.g. us-east-2)",
            ));
        }
        if !is_region_like(region) {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                format!("region {region:?} is not an AWS region name (like us-east-2)"),
            ));
        }
        if let Some(url) = self.endpoint_url()?
            && let Some(host_region) = endpoint_region(&url)
            && host_region != region
        {
            return Err(KeyStoreError::invalid_config(
                BACKEND,
                format!(
                    "region {region:?} does not match the endpoint {url}, which is in \
                 region {host_region:?}"
                ),
            ));
        }
        Ok(region)
    }

    /// Static credentials when the access key and secret key are given, the
    /// default chain when all three credential fields are empty; anything in
    /// between is a config error.
    pub(crate) fn credential_source(&self) -> Result<CredentialSource, KeyStoreError> {
        let (ak, sk, tok) = (
            !self.access_key.is_empty(),
            !self.secret_key.is_empty(),
            !self.session_token.is_empty(),
        );
        match (ak, sk) {
            (true, true) => Ok(CredentialSource::Static),
            (false, false) if !tok => Ok(CredentialSource::DefaultChain),
            (false, false) => Err(KeyStoreError::invalid_config(
                BACKEND,
                "credentials.token is set but accesskey and secretkey are empty",
            )),
            (true, false) => Err(KeyStoreError::invalid_config(
                BACKEND,
                "credentials.accesskey is set but secretkey is empty",
            )),
            (false, true) => Err(KeyStoreError::invalid_config(
                BACKEND,
                "credentials.secretkey is set but accesskey is empty",
            )),
        }
    }

    /// The KMS key to pass as `KmsKeyId`, if any.
    pub(crate) fn kms_key(&self) -> Option<&str> {
        let k = self.kms_key.trim();
        (!k.is_empty()).then_some(k)
    }
}

/// Normalises a configured endpoint: empty → `None`; a bare `host[:port]` →
/// `https://host[:port]`; an `http(s)://` URL is kept (without a trailing
/// `/`). Anything else is an `InvalidConfig` naming the
/// problem.
pub fn normalize_endpoint(endpoint: &str) -> Result<Option<String>, KeyStoreError> {
    let raw = endpoint.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| {
        KeyStoreError::invalid_config(
            BACKEND,
            format!("endpoint {endpoint:?} is malformed: {why}"),
        )
    };
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    let url = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("https://{raw}")
    };
    let uri: http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(bad(&format!(
                "scheme {other:?} is not supported (use https:// or http://)"
            )));
        }
        None => return Err(bad("it has no scheme")),
    }
    let Some(authority) = uri.authority() else {
        return Err(bad("it has no host"));
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if authority.as_str().contains('@') {
        return Err(bad("user info (user@host) is not supported"));
    }
    if uri.query().is_some() {
        return Err(bad("a query string is not supported"));
    }
    if url.contains('#') {
        return Err(bad("a fragment is not supported"));
    }
    Ok(Some(url.trim_end_matches('/').to_owned()))
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
    use crate::ErrorKind;

    fn opts(endpoint: &str, region: &str) -> AwsOptions {
        AwsOptions {
            endpoint: endpoint.into(),
            region: region.into(),
            ..AwsOptions::default()
        }
    }

    #[test]
    fn bare_host_gets_https() {
        assert_eq!(
            normalize_endpoint("secretsmanager.us-east-2.amazonaws.com").unwrap(),
            Some("https://secretsmanager.us-east-2.amazonaws.com".into())
        );
        assert_eq!(
            normalize_endpoint("localhost:4566").unwrap(),
            Some("https://localhost:4566".into())
        );
    }

    #[test]
    fn full_urls_are_kept() {
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:4566/").unwrap(),
            Some("http://127.0.0.1:4566".into())
        );
        assert_eq!(
            normalize_endpoint("https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com")
                .unwrap(),
            Some("https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com".into())
        );
        assert_eq!(normalize_endpoint("").unwrap(), None);
        assert_eq!(normalize_endpoint("  ").unwrap(), None);
    }

    #[test]
    fn malformed_endpoints_are_named() {
        for bad in [
            "ftp://host",
            "http://",
            "https://",
            "://host",
            "host name",
            "http://a b",
            "http://host?x=1",
            "http://user@host",
            "http://host#frag",
            "http://[::1",
        ] {
            let err = normalize_endpoint(bad).unwrap_err();
            let text = err.to_string();
            assert!(
                err.kind() == ErrorKind::InvalidConfig && text.contains("malformed"),
                "{bad:?}: {text}"
            );
            assert!(text.contains(bad.trim()), "{bad:?} not named in {text}");
        }
    }

    #[test]
    fn region_checks() {
        assert_eq!(opts("", "us-east-2").checked_region().unwrap(), "us-east-2");
        assert_eq!(
            opts(
                "secretsmanager.us-gov-west-1.amazonaws.com",
                "us-gov-west-1"
            )
            .checked_region()
            .unwrap(),
            "us-gov-west-1"
        );
        assert!(
            opts("http://127.0.0.1:1", "eu-west-3")
                .checked_region()
                .is_ok()
        );
        let e = opts("", "").checked_region().unwrap_err().to_string();
        assert!(e.contains("region is required"), "{e}");
        let e = opts("", "US East")
            .checked_region()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an AWS region"), "{e}");
        let e = opts("secretsmanager.us-east-2.amazonaws.com", "us-west-1")
            .checked_region()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("us-west-1") && e.contains("\"us-east-2\""),
            "{e}"
        );
    }

    #[test]
    fn credential_source_rules() {
        let mut o = opts("", "us-east-1");
        assert_eq!(
            o.credential_source().unwrap(),
            CredentialSource::DefaultChain
        );
        o.access_key = "AKID".into();
        assert!(
            o.credential_source()
                .unwrap_err()
                .to_string()
                .contains("secretkey is empty")
        );
        o.secret_key = Zeroizing::new("s3cr3t".into());
        assert_eq!(o.credential_source().unwrap(), CredentialSource::Static);
        o.access_key.clear();
        assert!(
            o.credential_source()
                .unwrap_err()
                .to_string()
                .contains("accesskey is empty")
        );
        o.secret_key = Zeroizing::new(String::new());
        o.session_token = Zeroizing::new("tok".into());
        assert!(
            o.credential_source()
                .unwrap_err()
                .to_string()
                .contains("token is set")
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let o = AwsOptions {
            access_key: "AKIDVISIBLE".into(),
            secret_key: Zeroizing::new("TOPSECRETKEY".into()),
            session_token: Zeroizing::new("TOPSECRETTOKEN".into()),
            ..opts("h", "us-east-1")
        };
        let d = format!("{o:?}");
        assert!(d.contains("AKIDVISIBLE") && d.contains("<redacted>"), "{d}");
        assert!(!d.contains("TOPSECRET"), "{d}");
    }

    #[test]
    fn kms_key_empty_is_none() {
        let mut o = opts("", "us-east-1");
        assert_eq!(o.kms_key(), None);
        o.kms_key = "alias/kes".into();
        assert_eq!(o.kms_key(), Some("alias/kes"));
    }
}
