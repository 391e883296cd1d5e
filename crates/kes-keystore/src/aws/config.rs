//! The `keystore.aws.secretsmanager` block (keystores.md §4.1; also the
//! older `keystore.secretsmanager`): the options of the AWS Secrets Manager
//! store ([`AwsOptions`]) and the decoder that is the only place checking
//! them: endpoint normalisation and the choice between static credentials
//! and the SDK's default credential chain. (The region's form is checked
//! when connecting.) Every error
//! names the file, line and field.

use std::fmt;

use kes_config::{ConfigError, Ctx, Fields};
use zeroize::Zeroizing;

/// Settings of the AWS Secrets Manager store, as in the
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

/// The start of every error message about this block.
const E: &str = "invalid aws keystore";

/// Decodes the `secretsmanager` block `a`: the only validation of its
/// fields.
pub(crate) fn decode(a: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<AwsOptions, ConfigError> {
    a.expect_only(ctx, &["endpoint", "region", "kmskey", "credentials"])?;
    let endpoint_line = a.line_of("endpoint");
    let endpoint = a.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let endpoint = parse_endpoint(&endpoint)
        .map_err(|why| ctx.invalid(endpoint_line, &a.child("endpoint"), format!("{E}: {why}")))?;
    // The region's form is checked when connecting (the store's
    // `check_region`): the guides' templates carry placeholders such as
    // `REGION` and must load.
    let region = a.required(ctx, "region", &format!("{E}: no region specified"))?;
    let region = region.trim().to_owned();
    let kms_key = a.text(ctx, "kmskey")?.trim().to_owned();

    let mut options = AwsOptions {
        endpoint,
        region,
        kms_key,
        ..AwsOptions::default()
    };
    if let Some(mut c) = a.take_map(ctx, "credentials")? {
        c.expect_only(ctx, &["accesskey", "secretkey", "token"])?;
        let access_key = c.text(ctx, "accesskey")?;
        let secret_key = c.secret(ctx, "secretkey")?;
        let session_token = c.secret(ctx, "token")?;
        match (access_key.is_empty(), secret_key) {
            (true, None) => {
                if session_token.is_some() {
                    return Err(c.missing(
                        ctx,
                        "accesskey",
                        &format!(
                            "{E}: credentials: a session token requires accesskey and secretkey"
                        ),
                    ));
                }
            }
            (false, Some(secret_key)) => {
                options.access_key = access_key;
                options.secret_key = secret_key.into_zeroizing();
                if let Some(token) = session_token {
                    options.session_token = token.into_zeroizing();
                }
            }
            (true, Some(_)) => {
                return Err(c.missing(
                    ctx,
                    "accesskey",
                    &format!("{E}: credentials: no accesskey specified (secretkey is set)"),
                ));
            }
            (false, None) => {
                return Err(c.missing(
                    ctx,
                    "secretkey",
                    &format!("{E}: credentials: no secretkey specified (accesskey is set)"),
                ));
            }
        }
        c.finish(ctx)?;
    }
    Ok(options)
}

/// Normalises an endpoint: a bare `host[:port]` gets `https://`; an
/// `http(s)://` URL is kept (without a trailing `/`). The error says what
/// is wrong.
fn parse_endpoint(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let bad = |why: &str| format!("invalid endpoint '{raw}': {why}");
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
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyStoreConfig;
    use crate::config::tests::{decode_err, decode_ok};

    fn aws(body: &str) -> AwsOptions {
        match decode_ok(&format!("keystore:\n  aws:\n    secretsmanager:\n{body}")) {
            KeyStoreConfig::Aws(a) => a,
            other => panic!("not aws: {other:?}"),
        }
    }

    fn aws_err(body: &str) -> String {
        decode_err(&format!("keystore:\n  aws:\n    secretsmanager:\n{body}"))
    }

    #[test]
    fn endpoints_are_normalised() {
        for (given, want) in [
            (
                "secretsmanager.us-east-2.amazonaws.com",
                "https://secretsmanager.us-east-2.amazonaws.com",
            ),
            ("localhost:4566", "https://localhost:4566"),
            ("http://127.0.0.1:4566/", "http://127.0.0.1:4566"),
        ] {
            assert_eq!(parse_endpoint(given).unwrap(), want);
        }
        let o = aws(
            "      endpoint: secretsmanager.us-east-2.amazonaws.com\n      region: us-east-2\n",
        );
        assert_eq!(o.endpoint, "https://secretsmanager.us-east-2.amazonaws.com");
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
            let why = parse_endpoint(bad).unwrap_err();
            assert!(
                why.contains(&format!("'{bad}'")),
                "{bad:?} not named in {why}"
            );
        }
        let e = aws_err("      endpoint: ftp://x\n      region: us-east-1\n");
        assert!(
            e.starts_with("c.yml:4: keystore.aws.secretsmanager.endpoint: invalid aws keystore: invalid endpoint 'ftp://x'"),
            "{e}"
        );
    }

    #[test]
    fn credentials_are_all_or_nothing() {
        let o = aws("      endpoint: http://h\n      region: us-east-1\n");
        assert!(o.access_key.is_empty() && o.secret_key.is_empty());
        let o = aws(
            "      endpoint: http://h\n      region: us-east-1\n      credentials: {accesskey: AKID, secretkey: s3cr3t, token: tok}\n",
        );
        assert_eq!(o.access_key, "AKID");
        assert_eq!(o.secret_key.as_str(), "s3cr3t");
        assert_eq!(o.session_token.as_str(), "tok");
        let e = aws_err(
            "      endpoint: http://h\n      region: us-east-1\n      credentials: {accesskey: AKID}\n",
        );
        assert!(e.contains("no secretkey specified"), "{e}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let o = AwsOptions {
            access_key: "AKIDVISIBLE".into(),
            secret_key: Zeroizing::new("TOPSECRETKEY".into()),
            session_token: Zeroizing::new("TOPSECRETTOKEN".into()),
            ..AwsOptions::default()
        };
        let d = format!("{o:?}");
        assert!(d.contains("AKIDVISIBLE") && d.contains("<redacted>"), "{d}");
        assert!(!d.contains("TOPSECRET"), "{d}");
    }
}
