//! The `keystore.vault` block (keystores.md §3.1; also the older
//! `keys.vault`, which has the same fields): the options of the Vault /
//! OpenBao key store, one plain struct per block, their defaults, the
//! decoder that is the only place checking them (every error names the
//! file, line and field), and `Debug` impls that never print credentials.
//!
//! Options built in code (tests) are taken as given: start from
//! [`VaultOptions::new`], which fills in every default.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use kes_config::{ConfigError, Ctx, Fields};
use zeroize::Zeroizing;

/// The default K/V mount path.
pub const DEFAULT_ENGINE: &str = "kv";
/// The default transit mount path.
pub const DEFAULT_TRANSIT_ENGINE: &str = "transit";
/// The default AppRole auth mount path.
pub const DEFAULT_APPROLE_ENGINE: &str = "approle";
/// The default Kubernetes auth mount path.
pub const DEFAULT_KUBERNETES_ENGINE: &str = "kubernetes";
/// The default interval of the background health probe (`status.ping`).
pub const DEFAULT_STATUS_PING: Duration = Duration::from_secs(15);
/// The default TCP connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default timeout of one HTTP request, response body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The K/V secrets engine version of the mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvVersion {
    /// K/V version 1 (the Go KES default).
    #[default]
    V1,
    /// K/V version 2 (versioned; KES writes with `cas: 0` and reads version 1).
    V2,
}

/// Where a login request is sent, relative to the store's namespace.
///
/// The YAML field is a string: empty = the store's namespace, `/` = the root
/// namespace (no header), anything else = that namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoginNamespace {
    /// Use [`VaultOptions::namespace`] (YAML: empty).
    #[default]
    Inherit,
    /// Log in to the root namespace: no namespace header (YAML: `/`).
    Root,
    /// Log in to this namespace.
    Named(String),
}

/// The optional transit layer: values are encrypted by a Vault transit key
/// before they are written to the K/V engine.
#[derive(Clone, PartialEq, Eq)]
pub struct TransitOptions {
    /// Transit mount path (default `transit`).
    pub engine: String,
    /// Name of the transit key (required).
    pub key: String,
}

impl Default for TransitOptions {
    fn default() -> Self {
        Self {
            engine: DEFAULT_TRANSIT_ENGINE.to_owned(),
            key: String::new(),
        }
    }
}

impl fmt::Debug for TransitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitOptions")
            .field("engine", &self.engine)
            .field("key", &self.key)
            .finish()
    }
}

/// AppRole credentials. `Default` has the default mount path and empty
/// credentials.
#[derive(Clone)]
pub struct AppRoleOptions {
    /// Auth mount path (default `approle`).
    pub engine: String,
    /// Namespace used only for the login request.
    pub namespace: LoginNamespace,
    /// The role id (required).
    pub id: Zeroizing<String>,
    /// The secret id (required).
    pub secret: Zeroizing<String>,
}

impl Default for AppRoleOptions {
    fn default() -> Self {
        Self {
            engine: DEFAULT_APPROLE_ENGINE.to_owned(),
            namespace: LoginNamespace::default(),
            id: Zeroizing::default(),
            secret: Zeroizing::default(),
        }
    }
}

impl fmt::Debug for AppRoleOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRoleOptions")
            .field("engine", &self.engine)
            .field("namespace", &self.namespace)
            .field("id", &"<redacted>")
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where the Kubernetes service-account JWT comes from.
#[derive(Clone)]
pub enum JwtSource {
    /// The token itself.
    Value(Zeroizing<String>),
    /// A file holding the token, re-read at every login.
    File(PathBuf),
}

impl Default for JwtSource {
    fn default() -> Self {
        Self::Value(Zeroizing::new(String::new()))
    }
}

impl fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// Kubernetes service-account credentials. `Default` has the default mount
/// path and an empty token.
#[derive(Clone)]
pub struct KubernetesOptions {
    /// Auth mount path (default `kubernetes`).
    pub engine: String,
    /// Namespace used only for the login request.
    pub namespace: LoginNamespace,
    /// The Vault role to log in as.
    pub role: String,
    /// The service-account token (required).
    pub jwt: JwtSource,
}

impl Default for KubernetesOptions {
    fn default() -> Self {
        Self {
            engine: DEFAULT_KUBERNETES_ENGINE.to_owned(),
            namespace: LoginNamespace::default(),
            role: String::new(),
            jwt: JwtSource::default(),
        }
    }
}

impl fmt::Debug for KubernetesOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesOptions")
            .field("engine", &self.engine)
            .field("namespace", &self.namespace)
            .field("role", &self.role)
            .field("jwt", &self.jwt)
            .finish()
    }
}

/// How KES authenticates to Vault: exactly one method.
#[derive(Debug, Clone)]
pub enum VaultAuth {
    /// The `approle` block.
    AppRole(AppRoleOptions),
    /// The `kubernetes` block.
    Kubernetes(KubernetesOptions),
}

/// TLS settings for the connection to Vault.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultTlsOptions {
    /// PEM private key of the client certificate (with `cert`).
    pub key: Option<PathBuf>,
    /// PEM client certificate chain (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM CA file, or a directory of PEM files; replaces the system roots.
    pub ca: Option<PathBuf>,
}

/// Every option of the `keystore.vault` block.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    /// Vault address, e.g. `https://127.0.0.1:8200` (required).
    pub endpoint: String,
    /// K/V mount path (default `kv`).
    pub engine: String,
    /// K/V engine version.
    pub version: KvVersion,
    /// Vault Enterprise / OpenBao namespace; empty = none.
    pub namespace: String,
    /// Optional directory inside the mount that holds the keys.
    pub prefix: String,
    /// Optional transit encryption of the stored values.
    pub transit: Option<TransitOptions>,
    /// The authentication method.
    pub auth: VaultAuth,
    /// TLS client certificate and CA.
    pub tls: VaultTlsOptions,
    /// Interval of the background health probe (`status.ping`).
    pub status_ping: Duration,
    /// TCP (and TLS) connect timeout of every request.
    pub connect_timeout: Duration,
    /// Timeout of one HTTP request including its response body.
    pub request_timeout: Duration,
}

impl VaultOptions {
    /// Options with every default filled in, for the given endpoint and
    /// authentication method.
    pub fn new(endpoint: impl Into<String>, auth: VaultAuth) -> Self {
        Self {
            endpoint: endpoint.into(),
            engine: DEFAULT_ENGINE.to_owned(),
            version: KvVersion::V1,
            namespace: String::new(),
            prefix: String::new(),
            transit: None,
            auth,
            tls: VaultTlsOptions::default(),
            status_ping: DEFAULT_STATUS_PING,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// The start of every error message about this block.
const E: &str = "invalid vault keystore";

/// Decodes the `vault` block `v`: the only validation of its fields.
/// Mount paths lose surrounding and doubled slashes; empty ones get their
/// defaults.
pub(crate) fn decode(v: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<VaultOptions, ConfigError> {
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
    let endpoint_line = v.line_of("endpoint");
    let endpoint = v.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(ctx.invalid(
            endpoint_line,
            &v.child("endpoint"),
            format!("{E}: endpoint must start with http:// or https://, got {endpoint:?}"),
        ));
    }
    let engine = mount(v, ctx, "engine", DEFAULT_ENGINE)?;
    let version = match v.take("version") {
        None => KvVersion::V1,
        Some(node) => {
            let text = ctx.text(node, &v.child("version"))?;
            match text.trim() {
                "" | "v1" => KvVersion::V1,
                "v2" => KvVersion::V2,
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
    let namespace = clean_path(&v.text(ctx, "namespace")?);
    let prefix = clean_path(&v.text(ctx, "prefix")?);

    let transit = match v.take_map(ctx, "transit")? {
        None => None,
        Some(mut t) => {
            t.expect_only(ctx, &["engine", "key"])?;
            let engine = mount(&mut t, ctx, "engine", DEFAULT_TRANSIT_ENGINE)?;
            let key_line = t.line_of("key");
            let key = t.required(ctx, "key", &format!("{E}: transit: no key specified"))?;
            if key.contains('/') {
                return Err(ctx.invalid(
                    key_line,
                    &t.child("key"),
                    format!("{E}: transit: key must not contain '/', got {key:?}"),
                ));
            }
            t.finish(ctx)?;
            Some(TransitOptions { engine, key })
        }
    };

    let approle = match v.take_map(ctx, "approle")? {
        None => None,
        Some(mut a) => {
            a.expect_only(ctx, &["engine", "namespace", "id", "secret", "retry"])?;
            let engine = mount(&mut a, ctx, "engine", DEFAULT_APPROLE_ENGINE)?;
            let namespace = login_namespace(&a.text(ctx, "namespace")?);
            let id = a.required(ctx, "id", &format!("{E}: approle: no id specified"))?;
            let secret =
                a.required_secret(ctx, "secret", &format!("{E}: approle: no secret specified"))?;
            a.retired(
                ctx,
                "retry",
                "KES no longer configures the AppRole login retry",
            );
            let line = a.line();
            a.finish(ctx)?;
            Some((
                line,
                AppRoleOptions {
                    engine,
                    namespace,
                    id: Zeroizing::new(id),
                    secret: secret.into_zeroizing(),
                },
            ))
        }
    };
    let kubernetes = match v.take_map(ctx, "kubernetes")? {
        None => None,
        Some(mut k) => {
            k.expect_only(ctx, &["engine", "namespace", "role", "jwt", "retry"])?;
            let engine = mount(&mut k, ctx, "engine", DEFAULT_KUBERNETES_ENGINE)?;
            let namespace = login_namespace(&k.text(ctx, "namespace")?);
            let role = k.text(ctx, "role")?;
            let jwt_line = k.line_of("jwt");
            let jwt_field = k.child("jwt");
            let jwt =
                k.required_secret(ctx, "jwt", &format!("{E}: kubernetes: no jwt specified"))?;
            let jwt = if jwt.expose().contains('/') {
                // A path (Go KES's rule): it must exist now; the store
                // re-reads it at every login.
                let path = PathBuf::from(jwt.expose());
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => JwtSource::File(path),
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
                JwtSource::Value(jwt.into_zeroizing())
            };
            k.retired(
                ctx,
                "retry",
                "KES no longer configures the Kubernetes login retry",
            );
            let line = k.line();
            k.finish(ctx)?;
            Some((
                line,
                KubernetesOptions {
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
        None => VaultTlsOptions::default(),
        Some(mut t) => {
            t.expect_only(ctx, &["key", "cert", "ca"])?;
            let key = t.path_opt(ctx, "key")?;
            let cert = t.path_opt(ctx, "cert")?;
            let ca = t.path_opt(ctx, "ca")?;
            match (&key, &cert) {
                (Some(_), None) => {
                    return Err(t.missing(
                        ctx,
                        "cert",
                        &format!("{E}: tls: a client key requires a client certificate (cert)"),
                    ));
                }
                (None, Some(_)) => {
                    return Err(t.missing(
                        ctx,
                        "key",
                        &format!("{E}: tls: a client certificate requires a client key (key)"),
                    ));
                }
                _ => {}
            }
            t.finish(ctx)?;
            VaultTlsOptions { key, cert, ca }
        }
    };

    let mut status_ping = DEFAULT_STATUS_PING;
    if let Some(mut status) = v.take_map(ctx, "status")? {
        if let Some(node) = status.take("ping") {
            let d = ctx.duration(node, &status.child("ping"), |d| {
                format!("{E}: invalid status ping interval '{d}'")
            })?;
            if !d.is_zero() {
                status_ping = d;
            }
        }
        status.finish(ctx)?;
    }

    let mut options = VaultOptions::new(endpoint, auth);
    options.engine = engine;
    options.version = version;
    options.namespace = namespace;
    options.prefix = prefix;
    options.transit = transit;
    options.tls = tls;
    options.status_ping = status_ping;
    Ok(options)
}

/// A mount path field: cleaned, `default` when absent or empty.
fn mount(
    fields: &mut Fields<'_>,
    ctx: &Ctx<'_>,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let path = clean_path(&fields.text(ctx, name)?);
    Ok(if path.is_empty() {
        default.to_owned()
    } else {
        path
    })
}

/// A login `namespace` field: empty = the store's namespace, `/` = the
/// root namespace, anything else = that namespace.
fn login_namespace(text: &str) -> LoginNamespace {
    match text.trim() {
        "" => LoginNamespace::Inherit,
        "/" => LoginNamespace::Root,
        ns => LoginNamespace::Named(ns.to_owned()),
    }
}

/// Trims whitespace and surrounding slashes and collapses empty segments.
fn clean_path(s: &str) -> String {
    s.trim()
        .split('/')
        .filter(|seg| !seg.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::decode_err;
    use crate::config::{KeyStoreConfig, tests::decode_ok};

    fn vault(yaml: &str) -> VaultOptions {
        match decode_ok(&format!("keystore:\n  vault:\n{yaml}")) {
            KeyStoreConfig::Vault(v) => v,
            other => panic!("not vault: {other:?}"),
        }
    }

    const APPROLE: &str = "    approle: {id: role-id-value, secret: secret-id-value}\n";

    #[test]
    fn defaults_are_filled_in_and_paths_cleaned() {
        let o = vault(&format!(
            "    endpoint: http://127.0.0.1:8200/\n    engine: ''\n    prefix: /kes//x/\n    transit: {{key: k}}\n{APPROLE}"
        ));
        assert_eq!(o.endpoint, "http://127.0.0.1:8200");
        assert_eq!(o.engine, "kv");
        assert_eq!(o.prefix, "kes/x");
        assert_eq!(o.transit.unwrap().engine, "transit");
        assert_eq!(o.status_ping, Duration::from_secs(15));
        match o.auth {
            VaultAuth::AppRole(a) => {
                assert_eq!(a.engine, "approle");
                assert_eq!(a.namespace, LoginNamespace::Inherit);
            }
            VaultAuth::Kubernetes(_) => panic!("wrong auth"),
        }
    }

    #[test]
    fn invalid_configs_name_the_line_and_field() {
        let e = decode_err(&format!(
            "keystore:\n  vault:\n    endpoint: 127.0.0.1:8200\n{APPROLE}"
        ));
        assert_eq!(
            e,
            "c.yml:3: keystore.vault.endpoint: invalid vault keystore: endpoint must start with \
             http:// or https://, got \"127.0.0.1:8200\""
        );
        let e = decode_err(&format!(
            "keystore:\n  vault:\n    endpoint: http://x\n    transit: {{key: a/b}}\n{APPROLE}"
        ));
        assert!(
            e.starts_with("c.yml:4: keystore.vault.transit.key: "),
            "{e}"
        );
        let e = decode_err(&format!(
            "keystore:\n  vault:\n    endpoint: http://x\n    version: v3\n{APPROLE}"
        ));
        assert!(e.contains("invalid version 'v3'"), "{e}");
    }

    #[test]
    fn login_namespace_follows_go_rules() {
        assert_eq!(login_namespace(""), LoginNamespace::Inherit);
        assert_eq!(login_namespace("/"), LoginNamespace::Root);
        assert_eq!(
            login_namespace("other"),
            LoginNamespace::Named("other".into())
        );
    }

    #[test]
    fn debug_never_shows_credentials() {
        let mut o = vault(&format!("    endpoint: http://x\n{APPROLE}"));
        let s = format!("{o:?}");
        assert!(
            !s.contains("role-id-value") && !s.contains("secret-id-value"),
            "{s}"
        );
        o.auth = VaultAuth::Kubernetes(KubernetesOptions {
            jwt: JwtSource::Value(Zeroizing::new("jwt-token-value".into())),
            ..Default::default()
        });
        assert!(!format!("{o:?}").contains("jwt-token-value"));
    }
}
