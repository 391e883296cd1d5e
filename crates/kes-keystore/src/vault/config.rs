//! The options of the Vault / OpenBao key store: one plain struct per block
//! of the `keystore.vault` YAML section (keystores.md §3.1), their defaults,
//! validation, and `Debug` impls that never print credentials.
//!
//! YAML parsing is the server's job; it fills these structs (including the
//! older `keys.vault` shape, which has the same fields) and calls
//! [`VaultOptions::validate`] through [`super::VaultKeyStore::connect`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use super::error::BACKEND;
use crate::KeyStoreError;

/// The default K/V mount path.
pub const DEFAULT_ENGINE: &str = "kv";
/// The default transit mount path.
pub const DEFAULT_TRANSIT_ENGINE: &str = "transit";
/// The default AppRole auth mount path.
pub const DEFAULT_APPROLE_ENGINE: &str = "approle";
/// The default Kubernetes auth mount path.
pub const DEFAULT_KUBERNETES_ENGINE: &str = "kubernetes";
/// The default interval of the background health probe (`status.ping`).
pub const DEFAULT_STATUS_PING: Duration = Duration::from_secs(10);
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

impl KvVersion {
    /// Parses the YAML value: empty or `v1` → V1, `v2` → V2, anything else
    /// is an error.
    pub fn parse(s: &str) -> Result<Self, KeyStoreError> {
        match s.trim() {
            "" | "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            other => Err(KeyStoreError::invalid_config(
                BACKEND,
                format!("version must be \"v1\" or \"v2\", got {other:?}"),
            )),
        }
    }
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

impl LoginNamespace {
    /// Parses the YAML value (see the type docs).
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "" => Self::Inherit,
            "/" => Self::Root,
            ns => Self::Named(ns.to_owned()),
        }
    }

    /// The namespace header to send for a login, given the store namespace.
    pub(crate) fn resolve<'a>(&'a self, store: &'a str) -> Option<&'a str> {
        match self {
            Self::Inherit if store.is_empty() => None,
            Self::Inherit => Some(store),
            Self::Root => None,
            Self::Named(ns) => Some(ns),
        }
    }
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

/// AppRole credentials.
#[derive(Clone, Default)]
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

impl JwtSource {
    /// Applies the Go KES rule to the YAML value: a value containing `/` is
    /// a file path, anything else is the token itself.
    pub fn from_config(s: &str) -> Self {
        if s.contains('/') {
            Self::File(PathBuf::from(s))
        } else {
            Self::Value(Zeroizing::new(s.to_owned()))
        }
    }

    /// Returns the token, reading the file if it is one.
    pub(crate) fn load(&self) -> Result<Zeroizing<String>, KeyStoreError> {
        match self {
            Self::Value(v) => Ok(v.clone()),
            Self::File(path) => {
                let raw = std::fs::read_to_string(path).map_err(|e| {
                    KeyStoreError::invalid_config(
                        BACKEND,
                        format!("cannot read kubernetes jwt file {}: {e}", path.display()),
                    )
                })?;
                let raw = Zeroizing::new(raw);
                Ok(Zeroizing::new(raw.trim().to_owned()))
            }
        }
    }
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

/// Kubernetes service-account credentials.
#[derive(Clone, Default)]
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

    /// Fills empty engine names with their defaults, trims slashes from
    /// paths, and checks every rule of keystores.md §3.1.
    pub fn validate(mut self) -> Result<Self, KeyStoreError> {
        let invalid = |m: String| KeyStoreError::invalid_config(BACKEND, m);
        self.endpoint = self.endpoint.trim().trim_end_matches('/').to_owned();
        if self.endpoint.is_empty() {
            return Err(invalid("endpoint is required".into()));
        }
        if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
            return Err(invalid(format!(
                "endpoint must start with http:// or https://, got {:?}",
                self.endpoint
            )));
        }
        self.engine = clean_path(&self.engine);
        if self.engine.is_empty() {
            self.engine = DEFAULT_ENGINE.to_owned();
        }
        self.prefix = clean_path(&self.prefix);
        self.namespace = clean_path(&self.namespace);
        if let Some(t) = &mut self.transit {
            t.engine = clean_path(&t.engine);
            if t.engine.is_empty() {
                t.engine = DEFAULT_TRANSIT_ENGINE.to_owned();
            }
            if t.key.trim().is_empty() {
                return Err(invalid("transit.key is required".into()));
            }
            if t.key.contains('/') {
                return Err(invalid(format!(
                    "transit.key must not contain '/', got {:?}",
                    t.key
                )));
            }
        }
        match &mut self.auth {
            VaultAuth::AppRole(a) => {
                a.engine = clean_path(&a.engine);
                if a.engine.is_empty() {
                    a.engine = DEFAULT_APPROLE_ENGINE.to_owned();
                }
                if a.id.trim().is_empty() {
                    return Err(invalid("approle.id is required".into()));
                }
                if a.secret.trim().is_empty() {
                    return Err(invalid("approle.secret is required".into()));
                }
            }
            VaultAuth::Kubernetes(k) => {
                k.engine = clean_path(&k.engine);
                if k.engine.is_empty() {
                    k.engine = DEFAULT_KUBERNETES_ENGINE.to_owned();
                }
                match &k.jwt {
                    JwtSource::Value(v) if v.trim().is_empty() => {
                        return Err(invalid("kubernetes.jwt is required".into()));
                    }
                    JwtSource::Value(_) => {}
                    JwtSource::File(path) => {
                        // Go KES requires the file to be readable at load time.
                        std::fs::metadata(path).map_err(|e| {
                            invalid(format!(
                                "cannot read kubernetes.jwt file {}: {e}",
                                path.display()
                            ))
                        })?;
                    }
                }
            }
        }
        if self.tls.key.is_some() != self.tls.cert.is_some() {
            return Err(invalid(
                "tls.key and tls.cert must be given together".into(),
            ));
        }
        if self.status_ping.is_zero() {
            self.status_ping = DEFAULT_STATUS_PING;
        }
        if self.connect_timeout.is_zero() {
            self.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
        }
        if self.request_timeout.is_zero() {
            self.request_timeout = DEFAULT_REQUEST_TIMEOUT;
        }
        Ok(self)
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

    fn approle() -> VaultAuth {
        VaultAuth::AppRole(AppRoleOptions {
            id: Zeroizing::new("role-id-value".into()),
            secret: Zeroizing::new("secret-id-value".into()),
            ..Default::default()
        })
    }

    #[test]
    fn defaults_are_filled_in() {
        let mut o = VaultOptions::new("http://127.0.0.1:8200/", approle());
        o.engine = String::new();
        o.prefix = "/kes/".into();
        o.transit = Some(TransitOptions {
            engine: String::new(),
            key: "k".into(),
        });
        let o = o.validate().unwrap();
        assert_eq!(o.endpoint, "http://127.0.0.1:8200");
        assert_eq!(o.engine, "kv");
        assert_eq!(o.prefix, "kes");
        assert_eq!(o.transit.unwrap().engine, "transit");
        match o.auth {
            VaultAuth::AppRole(a) => assert_eq!(a.engine, "approle"),
            VaultAuth::Kubernetes(_) => panic!("wrong auth"),
        }
    }

    #[test]
    fn invalid_configs_are_rejected_precisely() {
        let e = VaultOptions::new("", approle()).validate().unwrap_err();
        assert!(e.to_string().contains("endpoint is required"), "{e}");
        let e = VaultOptions::new("127.0.0.1:8200", approle())
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
        let mut o = VaultOptions::new("http://x", approle());
        o.transit = Some(TransitOptions::default());
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("transit.key")
        );
        let o = VaultOptions::new(
            "http://x",
            VaultAuth::AppRole(AppRoleOptions {
                id: Zeroizing::new("id".into()),
                ..Default::default()
            }),
        );
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("approle.secret")
        );
        let o = VaultOptions::new(
            "http://x",
            VaultAuth::Kubernetes(KubernetesOptions::default()),
        );
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("kubernetes.jwt")
        );
        let mut o = VaultOptions::new("http://x", approle());
        o.tls.key = Some("k.pem".into());
        assert!(o.validate().unwrap_err().to_string().contains("together"));
        assert!(
            KvVersion::parse("v3")
                .unwrap_err()
                .to_string()
                .contains("v3")
        );
        assert_eq!(KvVersion::parse("").unwrap(), KvVersion::V1);
        assert_eq!(KvVersion::parse("v2").unwrap(), KvVersion::V2);
    }

    #[test]
    fn jwt_source_and_login_namespace_follow_go_rules() {
        assert!(matches!(
            JwtSource::from_config("/var/run/token"),
            JwtSource::File(_)
        ));
        assert!(matches!(
            JwtSource::from_config("eyJ.x.y"),
            JwtSource::Value(_)
        ));
        assert_eq!(LoginNamespace::parse("").resolve("ns1"), Some("ns1"));
        assert_eq!(LoginNamespace::parse("").resolve(""), None);
        assert_eq!(LoginNamespace::parse("/").resolve("ns1"), None);
        assert_eq!(LoginNamespace::parse("other").resolve("ns1"), Some("other"));
    }

    #[test]
    fn debug_never_shows_credentials() {
        let mut o = VaultOptions::new("http://x", approle());
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
