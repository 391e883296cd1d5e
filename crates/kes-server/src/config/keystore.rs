//! The `keystore:` section: one validated settings type per back-end
//! (keystores.md §2–§9 "Config"), and the decoder that checks that exactly
//! one back-end is configured.
//!
//! It only validates settings; connecting to a back-end is the key store
//! crate's job. Retired fields the guides still show (vault
//! `approle.retry`/`kubernetes.retry`, gemalto `credentials.retry`, the
//! removed `kes` key store) are accepted with a warning. The old
//! `keystore.secretsmanager` (without `aws:`) is migrated with a warning.

use std::path::PathBuf;
use std::time::Duration;

use super::decode::{Ctx, Fields, index};
use super::{ConfigError, Secret};

/// Default Vault health-poll interval (`status.ping`).
const VAULT_DEFAULT_PING: Duration = Duration::from_secs(15);

/// The configured key store back-end.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeyStoreConfig {
    /// A directory with one file per key (`keystore.fs`).
    Fs {
        /// The directory (created if missing).
        path: PathBuf,
    },
    /// HashiCorp Vault K/V (`keystore.vault`).
    Vault(VaultConfig),
    /// AWS Secrets Manager (`keystore.aws.secretsmanager`).
    Aws(AwsSecretsManagerConfig),
    /// Thales CipherTrust / Gemalto KeySecure (`keystore.gemalto.keysecure`).
    Gemalto(KeySecureConfig),
    /// Entrust KeyControl (`keystore.entrust.keycontrol`).
    Entrust(KeyControlConfig),
    /// Fortanix DSM (`keystore.fortanix.sdkms`).
    Fortanix(FortanixConfig),
    /// Google Cloud Secret Manager (`keystore.gcp.secretmanager`).
    Gcp(GcpConfig),
    /// Azure Key Vault (`keystore.azure.keyvault`).
    Azure(AzureConfig),
}

/// HashiCorp Vault settings (keystores.md §3.1).
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// Vault URL, e.g. `https://127.0.0.1:8200`.
    pub endpoint: String,
    /// K/V mount path (default `kv`).
    pub engine: String,
    /// K/V engine version.
    pub version: VaultVersion,
    /// Vault Enterprise namespace; empty for none.
    pub namespace: String,
    /// Sub-path inside the mount; may be empty.
    pub prefix: String,
    /// Optional transit encryption layer.
    pub transit: Option<VaultTransit>,
    /// How KES logs in.
    pub auth: VaultAuth,
    /// TLS client settings.
    pub tls: VaultTls,
    /// Health poll interval (`status.ping`, default 15s).
    pub ping: Duration,
}

/// Vault K/V engine version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaultVersion {
    /// K/V v1 (default).
    #[default]
    V1,
    /// K/V v2.
    V2,
}

/// Vault transit settings (`vault.transit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultTransit {
    /// Transit mount path (default `transit`).
    pub engine: String,
    /// Transit key name.
    pub key: String,
}

/// Vault login method: exactly one of AppRole and Kubernetes.
#[derive(Debug, Clone)]
pub enum VaultAuth {
    /// AppRole login (`vault.approle`).
    AppRole(VaultAppRole),
    /// Kubernetes service-account login (`vault.kubernetes`).
    Kubernetes(VaultKubernetes),
}

/// Vault AppRole settings.
#[derive(Debug, Clone)]
pub struct VaultAppRole {
    /// Auth mount path (default `approle`).
    pub engine: String,
    /// Namespace for login only: empty = `vault.namespace`, `/` = root.
    pub namespace: String,
    /// Role ID.
    pub id: String,
    /// Secret ID.
    pub secret: Secret,
}

/// Vault Kubernetes settings.
#[derive(Debug, Clone)]
pub struct VaultKubernetes {
    /// Auth mount path (default `kubernetes`).
    pub engine: String,
    /// Namespace for login only: empty = `vault.namespace`, `/` = root.
    pub namespace: String,
    /// Vault role.
    pub role: String,
    /// The service-account token or the file holding it.
    pub jwt: VaultJwt,
}

/// A Kubernetes JWT: a value containing `/` is a file path (re-read at
/// every login), anything else is the token itself.
#[derive(Debug, Clone)]
pub enum VaultJwt {
    /// The token itself.
    Inline(Secret),
    /// A file holding the token (existed when the config was loaded).
    File(PathBuf),
}

/// TLS client settings for Vault (`vault.tls`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultTls {
    /// mTLS client key file; set exactly when `cert` is.
    pub key: Option<PathBuf>,
    /// mTLS client certificate file; set exactly when `key` is.
    pub cert: Option<PathBuf>,
    /// CA file or directory; replaces the system roots.
    pub ca: Option<PathBuf>,
}

/// AWS Secrets Manager settings (keystores.md §4.1).
#[derive(Debug, Clone)]
pub struct AwsSecretsManagerConfig {
    /// Endpoint URL; a bare host from the file gets `https://` prepended.
    pub endpoint: String,
    /// Signing region.
    pub region: String,
    /// Optional KMS key (id, ARN or alias) for new secrets.
    pub kms_key: Option<String>,
    /// Static credentials; `None` = the AWS default credential chain.
    pub credentials: Option<AwsCredentials>,
}

/// Static AWS credentials.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// Access key ID.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Secret,
    /// Optional session token.
    pub session_token: Option<Secret>,
}

/// Thales CipherTrust / Gemalto KeySecure settings (keystores.md §7.1).
#[derive(Debug, Clone)]
pub struct KeySecureConfig {
    /// Server URL.
    pub endpoint: String,
    /// Refresh token.
    pub token: Secret,
    /// Domain; empty = root domain.
    pub domain: String,
    /// CA file or directory; replaces the system roots.
    pub ca: Option<PathBuf>,
}

/// Entrust KeyControl settings (keystores.md §8.1).
#[derive(Debug, Clone)]
pub struct KeyControlConfig {
    /// Server URL.
    pub endpoint: String,
    /// Vault UUID.
    pub vault_id: String,
    /// Box name or id.
    pub box_id: String,
    /// Login user name.
    pub username: String,
    /// Login password.
    pub password: Secret,
    /// CA file or directory; added to the system roots.
    pub ca: Option<PathBuf>,
}

/// Fortanix DSM settings (keystores.md §9.1).
#[derive(Debug, Clone)]
pub struct FortanixConfig {
    /// Server URL.
    pub endpoint: String,
    /// Group for new objects; `None` = the app's default group.
    pub group_id: Option<String>,
    /// API key.
    pub api_key: Secret,
    /// CA file or directory; replaces the system roots.
    pub ca: Option<PathBuf>,
}

/// Google Cloud Secret Manager settings (keystores.md §6.1).
#[derive(Debug, Clone)]
pub struct GcpConfig {
    /// Project ID.
    pub project_id: String,
    /// Endpoint override; `None` = the default endpoint.
    pub endpoint: Option<String>,
    /// OAuth scopes; empty = library default.
    pub scopes: Vec<String>,
    /// Service-account credentials; `None` = application default credentials.
    pub credentials: Option<GcpCredentials>,
}

/// GCP service-account credentials.
#[derive(Debug, Clone)]
pub struct GcpCredentials {
    /// Service-account e-mail.
    pub client_email: String,
    /// Client ID.
    pub client_id: String,
    /// Private key ID.
    pub private_key_id: String,
    /// PEM private key (literal `\n` sequences already turned into newlines).
    pub private_key: Secret,
}

/// Azure Key Vault settings (keystores.md §5.1).
#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// Vault URL, e.g. `https://my-vault.vault.azure.net`.
    pub endpoint: String,
    /// How KES authenticates.
    pub auth: AzureAuth,
}

/// Azure authentication method.
#[derive(Debug, Clone)]
pub enum AzureAuth {
    /// The platform default credential chain (neither block given).
    Default,
    /// Service principal (`credentials`).
    ClientCredentials {
        /// Tenant ID.
        tenant_id: String,
        /// Client ID.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
    },
    /// User-assigned managed identity (`managed_identity`).
    ManagedIdentity {
        /// Client ID of the identity.
        client_id: String,
    },
}

/// The back-end names recognised under `keystore:`.
const BACKENDS: [&str; 9] = [
    "fs",
    "vault",
    "aws",
    "secretsmanager",
    "gemalto",
    "entrust",
    "fortanix",
    "gcp",
    "azure",
];

/// Decodes the `keystore:` mapping (or the old `keys:` one).
pub(crate) fn decode(
    mut fields: Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<KeyStoreConfig, ConfigError> {
    let mut known = BACKENDS.to_vec();
    known.extend(["kes", "generic"]);
    fields.expect_only(ctx, &known)?;
    let present: Vec<&str> = BACKENDS
        .iter()
        .copied()
        .filter(|name| fields.has(name))
        .collect();
    if let (Some(first), Some(second)) = (present.first(), present.get(1)) {
        return Err(ctx.invalid(
            fields.line_of(second),
            &fields.child(second),
            format!(
                "invalid keystore config: more than once keystore specified \
                 ('{first}' and '{second}')"
            ),
        ));
    }

    let mut removed_kes = false;
    if let Some(mut kes) = fields.take_map(ctx, "kes")? {
        removed_kes = true;
        ctx.warn(
            kes.line(),
            kes.path(),
            "the 'kes' key store was removed from KES; this block has no effect",
        );
        kes.take("endpoint");
        kes.take("enclave");
        if let Some(mut tls) = kes.take_map(ctx, "tls")? {
            for name in ["cert", "key", "ca"] {
                tls.take(name);
            }
            tls.finish(ctx)?;
        }
        kes.finish(ctx)?;
    }
    if let Some((key, _)) = fields.take_entry("generic") {
        return Err(ctx.invalid(
            key.line,
            &fields.child("generic"),
            "the 'generic' key store (KES key store plugin) was removed in 2023 and is \
             not supported",
        ));
    }

    let Some(name) = present.first().copied() else {
        let line = fields.line();
        let path = fields.path().to_owned();
        fields.finish(ctx)?;
        let hint = if removed_kes {
            " (the removed 'kes' key store does not count)"
        } else {
            ""
        };
        return Err(ctx.invalid(line, &path, format!("no keystore specified{hint}")));
    };
    let config = decode_backend(&mut fields, ctx, name)?;
    fields.finish(ctx)?;
    Ok(config)
}

/// Decodes back-end `name` (known to be present in `fields`).
fn decode_backend(
    fields: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
    name: &'static str,
) -> Result<KeyStoreConfig, ConfigError> {
    let Some(mut block) = fields.take_map(ctx, name)? else {
        // Unreachable in practice: the caller saw the field.
        return Err(ctx.invalid(fields.line(), fields.path(), "no keystore specified"));
    };
    match name {
        "fs" => {
            block.expect_only(ctx, &["path"])?;
            let path = block.path_opt(ctx, "path")?;
            let Some(path) = path else {
                return Err(missing(
                    ctx,
                    &block,
                    "path",
                    "invalid fs keystore: no path specified",
                ));
            };
            block.finish(ctx)?;
            Ok(KeyStoreConfig::Fs { path })
        }
        "vault" => {
            let config = decode_vault(&mut block, ctx)?;
            block.finish(ctx)?;
            Ok(KeyStoreConfig::Vault(config))
        }
        "secretsmanager" => {
            ctx.warn(
                block.line(),
                block.path(),
                "deprecated: 'keystore.secretsmanager' is the old spelling of \
                 'keystore.aws.secretsmanager'; treated as aws.secretsmanager",
            );
            let config = decode_aws(&mut block, ctx)?;
            block.finish(ctx)?;
            Ok(KeyStoreConfig::Aws(config))
        }
        "aws" => {
            let config = nested(&mut block, ctx, "secretsmanager", decode_aws)?;
            Ok(KeyStoreConfig::Aws(config))
        }
        "gemalto" => {
            let config = nested(&mut block, ctx, "keysecure", decode_keysecure)?;
            Ok(KeyStoreConfig::Gemalto(config))
        }
        "entrust" => {
            let config = nested(&mut block, ctx, "keycontrol", decode_keycontrol)?;
            Ok(KeyStoreConfig::Entrust(config))
        }
        "fortanix" => {
            let config = nested(&mut block, ctx, "sdkms", decode_fortanix)?;
            Ok(KeyStoreConfig::Fortanix(config))
        }
        "gcp" => {
            let config = nested(&mut block, ctx, "secretmanager", decode_gcp)?;
            Ok(KeyStoreConfig::Gcp(config))
        }
        _ => {
            let config = nested(&mut block, ctx, "keyvault", decode_azure)?;
            Ok(KeyStoreConfig::Azure(config))
        }
    }
}

/// Decodes the single service block `inner` of a vendor block (e.g.
/// `aws.secretsmanager`) with `decode`, rejecting anything else.
fn nested<T>(
    block: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
    inner: &'static str,
    decode: fn(&mut Fields<'_>, &mut Ctx<'_>) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    block.expect_only(ctx, &[inner])?;
    let Some(mut service) = block.take_map(ctx, inner)? else {
        return Err(ctx.invalid(
            block.line(),
            block.path(),
            format!("invalid keystore config: missing '{inner}' block"),
        ));
    };
    let config = decode(&mut service, ctx)?;
    service.finish(ctx)?;
    block.finish(ctx)?;
    Ok(config)
}

/// The error for a required field that is absent or empty.
fn missing(ctx: &Ctx<'_>, fields: &Fields<'_>, name: &str, message: &str) -> ConfigError {
    ctx.invalid(fields.line_of(name), &fields.child(name), message)
}

/// A required, env-capable text field.
fn required(
    fields: &mut Fields<'_>,
    ctx: &Ctx<'_>,
    name: &'static str,
    message: &str,
) -> Result<String, ConfigError> {
    let value = fields.text(ctx, name)?;
    if value.is_empty() {
        return Err(missing(ctx, fields, name, message));
    }
    Ok(value)
}

/// A required secret field.
fn required_secret(
    fields: &mut Fields<'_>,
    ctx: &Ctx<'_>,
    name: &'static str,
    message: &str,
) -> Result<Secret, ConfigError> {
    match fields.secret(ctx, name)? {
        Some(secret) => Ok(secret),
        None => Err(missing(ctx, fields, name, message)),
    }
}

/// Text field with a default for empty values.
fn text_or(
    fields: &mut Fields<'_>,
    ctx: &Ctx<'_>,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = fields.text(ctx, name)?;
    Ok(if value.is_empty() {
        default.to_owned()
    } else {
        value
    })
}

/// Accepts a retired field with a warning.
fn retired(fields: &mut Fields<'_>, ctx: &mut Ctx<'_>, name: &'static str, why: &str) {
    if let Some((key, _)) = fields.take_entry(name) {
        ctx.warn(
            key.line,
            &fields.child(name),
            format!("retired field, ignored: {why}"),
        );
    }
}

/// A `tls:` block that only holds `ca`.
fn ca_only(fields: &mut Fields<'_>, ctx: &Ctx<'_>) -> Result<Option<PathBuf>, ConfigError> {
    let Some(mut tls) = fields.take_map(ctx, "tls")? else {
        return Ok(None);
    };
    let ca = tls.path_opt(ctx, "ca")?;
    tls.finish(ctx)?;
    Ok(ca)
}

fn decode_vault(v: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<VaultConfig, ConfigError> {
    const E: &str = "invalid vault keystore";
    v.expect_only(
        ctx,
        &[
            "endpoint",
            "engine",
            "version",
            "namespace",
            "prefix",
            "transit",
            "approle",
            "kubernetes",
            "tls",
            "status",
        ],
    )?;
    let endpoint = required(v, ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let engine = text_or(v, ctx, "engine", "kv")?;
    let version = match v.take("version") {
        None => VaultVersion::V1,
        Some(node) => {
            let text = ctx.text(node, &v.child("version"))?;
            match text.as_str() {
                "" | "v1" => VaultVersion::V1,
                "v2" => VaultVersion::V2,
                _ => {
                    return Err(ctx.invalid(
                        node.line,
                        &v.child("version"),
                        format!("{E}: invalid version '{text}' (want \"v1\" or \"v2\")"),
                    ));
                }
            }
        }
    };
    let namespace = v.text(ctx, "namespace")?;
    let prefix = v.text(ctx, "prefix")?;

    let transit = match v.take_map(ctx, "transit")? {
        None => None,
        Some(mut t) => {
            t.expect_only(ctx, &["engine", "key"])?;
            let engine = text_or(&mut t, ctx, "engine", "transit")?;
            let key = required(
                &mut t,
                ctx,
                "key",
                &format!("{E}: transit: no key specified"),
            )?;
            t.finish(ctx)?;
            Some(VaultTransit { engine, key })
        }
    };

    let approle = match v.take_map(ctx, "approle")? {
        None => None,
        Some(mut a) => {
            a.expect_only(ctx, &["engine", "namespace", "id", "secret", "retry"])?;
            let engine = text_or(&mut a, ctx, "engine", "approle")?;
            let namespace = a.text(ctx, "namespace")?;
            let id = required(&mut a, ctx, "id", &format!("{E}: approle: no id specified"))?;
            let secret = required_secret(
                &mut a,
                ctx,
                "secret",
                &format!("{E}: approle: no secret specified"),
            )?;
            retired(
                &mut a,
                ctx,
                "retry",
                "KES no longer configures the AppRole login retry",
            );
            let line = a.line();
            a.finish(ctx)?;
            Some((
                line,
                VaultAppRole {
                    engine,
                    namespace,
                    id,
                    secret,
                },
            ))
        }
    };
    let kubernetes = match v.take_map(ctx, "kubernetes")? {
        None => None,
        Some(mut k) => {
            k.expect_only(ctx, &["engine", "namespace", "role", "jwt", "retry"])?;
            let engine = text_or(&mut k, ctx, "engine", "kubernetes")?;
            let namespace = k.text(ctx, "namespace")?;
            let role = k.text(ctx, "role")?;
            let jwt_line = k.line_of("jwt");
            let jwt_field = k.child("jwt");
            let jwt = required_secret(
                &mut k,
                ctx,
                "jwt",
                &format!("{E}: kubernetes: no jwt specified"),
            )?;
            let jwt = if jwt.expose().contains('/') {
                // A path: it must exist now; KES re-reads it at every login.
                let path = PathBuf::from(jwt.expose());
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => VaultJwt::File(path),
                    Ok(_) => {
                        return Err(ctx.invalid(
                            jwt_line,
                            &jwt_field,
                            format!(
                                "{E}: kubernetes: jwt file '{}' is not a file",
                                path.display()
                            ),
                        ));
                    }
                    Err(e) => {
                        return Err(ctx.invalid(
                            jwt_line,
                            &jwt_field,
                            format!(
                                "{E}: kubernetes: cannot read jwt file '{}': {e}",
                                path.display()
                            ),
                        ));
                    }
                }
            } else {
                VaultJwt::Inline(jwt)
            };
            retired(
                &mut k,
                ctx,
                "retry",
                "KES no longer configures the Kubernetes login retry",
            );
            let line = k.line();
            k.finish(ctx)?;
            Some((
                line,
                VaultKubernetes {
                    engine,
                    namespace,
                    role,
                    jwt,
                },
            ))
        }
    };
    let auth = match (approle, kubernetes) {
        (Some(_), Some((line, _))) => {
            return Err(ctx.invalid(
                line,
                &v.child("kubernetes"),
                format!(
                    "{E}: more than one authentication method specified (approle and kubernetes)"
                ),
            ));
        }
        (Some((_, a)), None) => VaultAuth::AppRole(a),
        (None, Some((_, k))) => VaultAuth::Kubernetes(k),
        (None, None) => {
            return Err(ctx.invalid(
                v.line(),
                v.path(),
                format!("{E}: no authentication method specified (want approle or kubernetes)"),
            ));
        }
    };

    let tls = match v.take_map(ctx, "tls")? {
        None => VaultTls::default(),
        Some(mut t) => {
            t.expect_only(ctx, &["key", "cert", "ca"])?;
            let key = t.path_opt(ctx, "key")?;
            let cert = t.path_opt(ctx, "cert")?;
            let ca = t.path_opt(ctx, "ca")?;
            match (&key, &cert) {
                (Some(_), None) => {
                    return Err(missing(
                        ctx,
                        &t,
                        "cert",
                        &format!("{E}: tls: a client key requires a client certificate (cert)"),
                    ));
                }
                (None, Some(_)) => {
                    return Err(missing(
                        ctx,
                        &t,
                        "key",
                        &format!("{E}: tls: a client certificate requires a client key (key)"),
                    ));
                }
                _ => {}
            }
            t.finish(ctx)?;
            VaultTls { key, cert, ca }
        }
    };

    let mut ping = VAULT_DEFAULT_PING;
    if let Some(mut status) = v.take_map(ctx, "status")? {
        if let Some(node) = status.take("ping") {
            let d = ctx.duration(node, &status.child("ping"), |d| {
                format!("{E}: invalid status ping interval '{d}'")
            })?;
            if !d.is_zero() {
                ping = d;
            }
        }
        status.finish(ctx)?;
    }

    Ok(VaultConfig {
        endpoint,
        engine,
        version,
        namespace,
        prefix,
        transit,
        auth,
        tls,
        ping,
    })
}

fn decode_aws(
    a: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<AwsSecretsManagerConfig, ConfigError> {
    const E: &str = "invalid aws keystore";
    a.expect_only(ctx, &["endpoint", "region", "kmskey", "credentials"])?;
    let endpoint_line = a.line_of("endpoint");
    let endpoint = required(a, ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let endpoint = aws_endpoint(&endpoint)
        .map_err(|why| ctx.invalid(endpoint_line, &a.child("endpoint"), format!("{E}: {why}")))?;
    let region = required(a, ctx, "region", &format!("{E}: no region specified"))?;
    let kms_key = a.text(ctx, "kmskey")?;
    let kms_key = (!kms_key.trim().is_empty()).then_some(kms_key);

    let mut credentials = None;
    if let Some(mut c) = a.take_map(ctx, "credentials")? {
        c.expect_only(ctx, &["accesskey", "secretkey", "token"])?;
        let access_key = c.text(ctx, "accesskey")?;
        let secret_key = c.secret(ctx, "secretkey")?;
        let session_token = c.secret(ctx, "token")?;
        match (access_key.is_empty(), secret_key) {
            (true, None) => {
                if session_token.is_some() {
                    return Err(missing(
                        ctx,
                        &c,
                        "accesskey",
                        &format!(
                            "{E}: credentials: a session token requires accesskey and secretkey"
                        ),
                    ));
                }
            }
            (false, Some(secret_key)) => {
                credentials = Some(AwsCredentials {
                    access_key,
                    secret_key,
                    session_token,
                });
            }
            (true, Some(_)) => {
                return Err(missing(
                    ctx,
                    &c,
                    "accesskey",
                    &format!("{E}: credentials: no accesskey specified (secretkey is set)"),
                ));
            }
            (false, None) => {
                return Err(missing(
                    ctx,
                    &c,
                    "secretkey",
                    &format!("{E}: credentials: no secretkey specified (accesskey is set)"),
                ));
            }
        }
        c.finish(ctx)?;
    }
    Ok(AwsSecretsManagerConfig {
        endpoint,
        region,
        kms_key,
        credentials,
    })
}

/// `https://` is added to a bare host; a URL must be http(s) with a host.
fn aws_endpoint(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bad = |why: &str| format!("invalid endpoint '{text}': {why}");
    if text.contains(char::is_whitespace) {
        return Err(bad("contains whitespace"));
    }
    let url = if let Some((scheme, _)) = text.split_once("://") {
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("want a host name or an http(s) URL"));
        }
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(url)
}

fn decode_keysecure(g: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<KeySecureConfig, ConfigError> {
    const E: &str = "invalid gemalto keystore";
    g.expect_only(ctx, &["endpoint", "credentials", "tls"])?;
    let endpoint = required(g, ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let (token, domain) = match g.take_map(ctx, "credentials")? {
        None => {
            return Err(missing(
                ctx,
                g,
                "credentials",
                &format!("{E}: no credentials (token) specified"),
            ));
        }
        Some(mut c) => {
            c.expect_only(ctx, &["token", "domain", "retry"])?;
            let token = required_secret(&mut c, ctx, "token", &format!("{E}: no token specified"))?;
            let domain = c.text(ctx, "domain")?;
            retired(&mut c, ctx, "retry", "KES uses a fixed login retry");
            c.finish(ctx)?;
            (token, domain)
        }
    };
    let ca = ca_only(g, ctx)?;
    Ok(KeySecureConfig {
        endpoint,
        token,
        domain,
        ca,
    })
}

fn decode_keycontrol(
    e: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<KeyControlConfig, ConfigError> {
    const E: &str = "invalid entrust keycontrol keystore";
    e.expect_only(
        ctx,
        &["endpoint", "vault_id", "box_id", "credentials", "tls"],
    )?;
    let endpoint = required(e, ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let vault_id = required(e, ctx, "vault_id", &format!("{E}: no vault ID specified"))?;
    let box_id = required(e, ctx, "box_id", &format!("{E}: no box ID specified"))?;
    let (username, password) = match e.take_map(ctx, "credentials")? {
        None => {
            return Err(missing(
                ctx,
                e,
                "credentials",
                &format!("{E}: no credentials (username, password) specified"),
            ));
        }
        Some(mut c) => {
            c.expect_only(ctx, &["username", "password"])?;
            let username = required(
                &mut c,
                ctx,
                "username",
                &format!("{E}: no username specified"),
            )?;
            let password = required_secret(
                &mut c,
                ctx,
                "password",
                &format!("{E}: no password specified"),
            )?;
            c.finish(ctx)?;
            (username, password)
        }
    };
    let ca = ca_only(e, ctx)?;
    Ok(KeyControlConfig {
        endpoint,
        vault_id,
        box_id,
        username,
        password,
        ca,
    })
}

fn decode_fortanix(f: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<FortanixConfig, ConfigError> {
    const E: &str = "invalid fortanix keystore";
    f.expect_only(ctx, &["endpoint", "group_id", "credentials", "tls"])?;
    let endpoint = required(f, ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let group_id = f.text(ctx, "group_id")?;
    let group_id = (!group_id.is_empty()).then_some(group_id);
    let api_key = match f.take_map(ctx, "credentials")? {
        None => {
            return Err(missing(
                ctx,
                f,
                "credentials",
                &format!("{E}: no API key specified"),
            ));
        }
        Some(mut c) => {
            c.expect_only(ctx, &["key"])?;
            let key = required_secret(&mut c, ctx, "key", &format!("{E}: no API key specified"))?;
            c.finish(ctx)?;
            key
        }
    };
    let ca = ca_only(f, ctx)?;
    Ok(FortanixConfig {
        endpoint,
        group_id,
        api_key,
        ca,
    })
}

fn decode_gcp(g: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<GcpConfig, ConfigError> {
    const E: &str = "invalid gcp keystore";
    g.expect_only(ctx, &["project_id", "endpoint", "scopes", "credentials"])?;
    let project_id = required(
        g,
        ctx,
        "project_id",
        &format!("{E}: no project ID specified"),
    )?;
    let endpoint = g.text(ctx, "endpoint")?;
    let endpoint = (!endpoint.is_empty()).then_some(endpoint);
    let mut scopes = Vec::new();
    if let Some(node) = g.take("scopes") {
        let field = g.child("scopes");
        for (i, item) in ctx.list(node, &field)?.iter().enumerate() {
            let scope = ctx.text(item, &index(&field, i))?;
            if !scope.is_empty() {
                scopes.push(scope);
            }
        }
    }
    let mut credentials = None;
    if let Some(mut c) = g.take_map(ctx, "credentials")? {
        c.expect_only(
            ctx,
            &["client_email", "client_id", "private_key_id", "private_key"],
        )?;
        let client_email = c.text(ctx, "client_email")?;
        let client_id = c.text(ctx, "client_id")?;
        let private_key_id = c.text(ctx, "private_key_id")?;
        let private_key = c.secret(ctx, "private_key")?;
        let any = !client_email.is_empty()
            || !client_id.is_empty()
            || !private_key_id.is_empty()
            || private_key.is_some();
        if any {
            for (name, empty) in [
                ("client_email", client_email.is_empty()),
                ("client_id", client_id.is_empty()),
                ("private_key_id", private_key_id.is_empty()),
                ("private_key", private_key.is_none()),
            ] {
                if empty {
                    return Err(missing(
                        ctx,
                        &c,
                        name,
                        &format!(
                            "{E}: credentials: no {name} specified (when one credential field is set, all four are required)"
                        ),
                    ));
                }
            }
        }
        c.finish(ctx)?;
        if let Some(private_key) = private_key {
            // Single-quoted YAML keeps `\n` literally; KES means newlines.
            let pem = private_key.expose().replace("\\n", "\n");
            credentials = Some(GcpCredentials {
                client_email,
                client_id,
                private_key_id,
                private_key: Secret::new(pem),
            });
        }
    }
    Ok(GcpConfig {
        project_id,
        endpoint,
        scopes,
        credentials,
    })
}

fn decode_azure(a: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<AzureConfig, ConfigError> {
    const E: &str = "invalid azure keystore";
    a.expect_only(ctx, &["endpoint", "credentials", "managed_identity"])?;
    let endpoint = required(a, ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let credentials = match a.take_map(ctx, "credentials")? {
        None => None,
        Some(mut c) => {
            c.expect_only(ctx, &["tenant_id", "client_id", "client_secret"])?;
            let tenant_id = required(
                &mut c,
                ctx,
                "tenant_id",
                &format!("{E}: credentials: no tenant_id specified"),
            )?;
            let client_id = required(
                &mut c,
                ctx,
                "client_id",
                &format!("{E}: credentials: no client_id specified"),
            )?;
            let client_secret = required_secret(
                &mut c,
                ctx,
                "client_secret",
                &format!("{E}: credentials: no client_secret specified"),
            )?;
            c.finish(ctx)?;
            Some(AzureAuth::ClientCredentials {
                tenant_id,
                client_id,
                client_secret,
            })
        }
    };
    let managed = match a.take_map(ctx, "managed_identity")? {
        None => None,
        Some(mut m) => {
            m.expect_only(ctx, &["client_id"])?;
            let line = m.line();
            let client_id = required(
                &mut m,
                ctx,
                "client_id",
                &format!("{E}: managed_identity: no client_id specified"),
            )?;
            m.finish(ctx)?;
            Some((line, AzureAuth::ManagedIdentity { client_id }))
        }
    };
    let auth = match (credentials, managed) {
        (Some(_), Some((line, _))) => {
            return Err(ctx.invalid(
                line,
                &a.child("managed_identity"),
                format!("{E}: both credentials and managed_identity specified (want one)"),
            ));
        }
        (Some(c), None) => c,
        (None, Some((_, m))) => m,
        (None, None) => AzureAuth::Default,
    };
    Ok(AzureConfig { endpoint, auth })
}

#[cfg(test)]
mod tests {
    use super::aws_endpoint;

    #[test]
    fn aws_endpoints() {
        assert_eq!(
            aws_endpoint("secretsmanager.us-east-2.amazonaws.com").unwrap(),
            "https://secretsmanager.us-east-2.amazonaws.com"
        );
        assert_eq!(
            aws_endpoint("http://127.0.0.1:4566").unwrap(),
            "http://127.0.0.1:4566"
        );
        assert!(aws_endpoint("ftp://x").is_err());
        assert!(aws_endpoint("https://").is_err());
        assert!(aws_endpoint("a b").is_err());
    }
}
