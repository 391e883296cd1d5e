//! The environment variables client commands read (spec §10.2), with every
//! legacy alias, and the [`kes_client::Client`] built from them.
//!
//! Lookups go through a `lookup` function so that the rules are testable
//! without touching the process environment. A variable counts as *set* even
//! when empty, so a set-but-empty variable shadows later aliases, as in Go.

use std::cell::OnceCell;
use std::path::PathBuf;

use kes_client::Client;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::password;
use crate::secret::SecretArg;

/// Endpoint variables, in order of precedence.
pub const SERVER_VARS: [&str; 3] = ["MINIO_KES_SERVER", "KES_SERVER", "MINIO_KMS_KES_ENDPOINT"];
/// API key variables, in order of precedence.
pub const API_KEY_VARS: [&str; 3] = ["MINIO_KES_API_KEY", "KES_API_KEY", "MINIO_KMS_KES_API_KEY"];
/// Client certificate variables, in order of precedence.
pub const CERT_VARS: [&str; 3] = [
    "MINIO_KES_CERT_FILE",
    "KES_CLIENT_CERT",
    "MINIO_KES_CLIENT_CERT",
];
/// Client private key variables, in order of precedence.
pub const KEY_VARS: [&str; 3] = [
    "MINIO_KES_KEY_FILE",
    "KES_CLIENT_KEY",
    "MINIO_KES_CLIENT_KEY",
];
/// The endpoint used when no endpoint variable is set.
pub const DEFAULT_SERVER: &str = "127.0.0.1:7373";

/// A way to read a variable: `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads the process environment (non-UTF-8 values are converted lossily).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// How the client authenticates.
pub enum Credentials {
    /// An API key (`kes:v1:…`).
    ApiKey(Zeroizing<String>),
    /// A certificate and private key file.
    Files {
        /// PEM certificate file.
        cert: PathBuf,
        /// PEM private key file.
        key: PathBuf,
        /// The password of a legacy-encrypted key, asked for once, when the
        /// first client is built.
        password: OnceCell<Zeroizing<String>>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Credentials::Files { cert, key, .. } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish_non_exhaustive(),
        }
    }
}

/// Where and how to connect, before it is turned into a client.
#[derive(Debug)]
pub struct Connection {
    /// Normalized endpoints (`https://host:port`).
    pub endpoints: Vec<String>,
    /// The credentials.
    pub credentials: Credentials,
    /// Skip verification of the server certificate (`-k`).
    pub insecure: bool,
}

/// Connection flags shared by the client commands.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `-s/--server` of `kes ls`: replaces the endpoint variables.
    pub server: Option<String>,
    /// `-a/--api-key` of `kes ls`: replaces the API key variables.
    pub api_key: Option<SecretArg>,
    /// `-k/--insecure`.
    pub insecure: bool,
}

/// The first set variable of `names`, with its name.
fn first_set(lookup: Lookup<'_>, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|n| lookup(n).map(|v| (*n, v)))
}

/// Normalizes one endpoint: trimmed, `http://` removed, `https://` added.
pub fn normalize_endpoint(raw: &str) -> String {
    let e = raw.trim();
    let e = e.strip_prefix("http://").unwrap_or(e);
    if e.starts_with("https://") {
        e.to_owned()
    } else {
        format!("https://{e}")
    }
}

/// The endpoint list: `-s` if given, else the first set endpoint variable,
/// else [`DEFAULT_SERVER`]; comma-separated, empty items skipped.
pub fn endpoints(lookup: Lookup<'_>, server: Option<&str>) -> Result<Vec<String>, CliError> {
    let (source, raw) = match server {
        Some(s) => ("--server", s.to_owned()),
        None => first_set(lookup, &SERVER_VARS).unwrap_or(("default", DEFAULT_SERVER.to_owned())),
    };
    let list: Vec<String> = raw
        .split(',')
        .filter(|e| !e.trim().is_empty())
        .map(normalize_endpoint)
        .collect();
    if list.is_empty() {
        return Err(CliError::Env(format!(
            "no KES server endpoint specified: {source} is set but empty"
        )));
    }
    Ok(list)
}

/// The credentials (spec §10.2): exactly one of an API key or a
/// certificate/key file pair, with Go's error texts.
pub fn credentials(lookup: Lookup<'_>, api_key: Option<&str>) -> Result<Credentials, CliError> {
    let api = match api_key {
        Some(k) => Some(Zeroizing::new(k.to_owned())),
        None => first_set(lookup, &API_KEY_VARS).map(|(_, v)| Zeroizing::new(v)),
    }
    .filter(|k| !k.trim().is_empty());
    let cert = first_set(lookup, &CERT_VARS)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let key = first_set(lookup, &KEY_VARS)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    match (api, cert, key) {
        (Some(_), _, Some(_)) => Err(CliError::Env(
            "API key and private key file cannot be used at the same time".into(),
        )),
        (Some(_), Some(_), None) => Err(CliError::Env(
            "API key and certificate file cannot be used at the same time".into(),
        )),
        (Some(k), None, None) => Ok(Credentials::ApiKey(Zeroizing::new(k.trim().to_owned()))),
        (None, None, None) => Err(CliError::Env(
            "no API key specified. Consider setting MINIO_KES_API_KEY".into(),
        )),
        (None, None, Some(_)) => Err(CliError::Env(
            "no certificate file specified. Consider setting MINIO_KES_CERT_FILE".into(),
        )),
        (None, Some(_), None) => Err(CliError::Env(
            "no private key file specified. Consider setting MINIO_KES_KEY_FILE".into(),
        )),
        (None, Some(cert), Some(key)) => Ok(Credentials::Files {
            cert: cert.into(),
            key: key.into(),
            password: OnceCell::new(),
        }),
    }
}

/// Endpoints and credentials from flags and the environment.
pub fn connection(lookup: Lookup<'_>, o: &Overrides) -> Result<Connection, CliError> {
    Ok(Connection {
        endpoints: endpoints(lookup, o.server.as_deref())?,
        credentials: credentials(lookup, o.api_key.as_ref().map(SecretArg::expose))?,
        insecure: o.insecure,
    })
}

impl Connection {
    /// A client for all endpoints.
    pub fn client(&self) -> Result<Client, CliError> {
        self.client_for(&self.endpoints)
    }

    /// A client for the given endpoints with these credentials.
    pub fn client_for(&self, endpoints: &[String]) -> Result<Client, CliError> {
        let builder = Client::builder()
            .endpoints(endpoints.iter().cloned())
            .insecure(self.insecure);
        let builder = match &self.credentials {
            Credentials::ApiKey(k) => builder.api_key_str(k),
            Credentials::Files {
                cert,
                key,
                password,
            } => {
                let builder = builder.cert_file(cert).key_file(key);
                match key_password(key, password)? {
                    Some(p) => builder.key_password(p.as_str()),
                    None => builder,
                }
            }
        };
        builder
            .build()
            .map_err(|e| CliError::client("invalid client configuration", e))
    }
}

/// The password of a legacy PEM-encrypted (`Proc-Type: 4,ENCRYPTED`) key
/// file, prompted for once (spec §10.2); `None` for other keys. An encrypted
/// PKCS#8 key (`ENCRYPTED PRIVATE KEY`) is refused, as in Go. Unreadable
/// files are left to the client library.
fn key_password<'a>(
    path: &std::path::Path,
    cache: &'a OnceCell<Zeroizing<String>>,
) -> Result<Option<&'a Zeroizing<String>>, CliError> {
    if let Some(p) = cache.get() {
        return Ok(Some(p));
    }
    let Ok(pem) = std::fs::read(path).map(Zeroizing::new) else {
        return Ok(None);
    };
    if kes_crypto::legacy_pem::is_encrypted(&pem) {
        let p = password::read(password::ENTER_PROMPT)?;
        return Ok(Some(cache.get_or_init(|| p)));
    }
    const PKCS8_ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
    if pem
        .windows(PKCS8_ENCRYPTED.len())
        .any(|w| w == PKCS8_ENCRYPTED)
    {
        return Err(CliError::Unsupported(format!(
            "private key file '{}' is an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY), which \
             is not supported; only legacy PEM encryption (Proc-Type: 4,ENCRYPTED) is",
            path.display()
        )));
    }
    Ok(None)
}

/// Builds a client from the process environment and the flags.
pub fn client(o: &Overrides) -> Result<Client, CliError> {
    connection(&process_env, o)?.client()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn endpoint_precedence_and_normalization() {
        let e = env(&[]);
        assert_eq!(endpoints(&e, None).unwrap(), ["https://127.0.0.1:7373"]);
        let e = env(&[
            ("KES_SERVER", "https://a:7373"),
            ("MINIO_KMS_KES_ENDPOINT", "c:1"),
        ]);
        assert_eq!(endpoints(&e, None).unwrap(), ["https://a:7373"]);
        let e = env(&[("MINIO_KMS_KES_ENDPOINT", " http://b:1 , ,c:2,https://d:3")]);
        assert_eq!(
            endpoints(&e, None).unwrap(),
            ["https://b:1", "https://c:2", "https://d:3"]
        );
        let e = env(&[("MINIO_KES_SERVER", "x:1"), ("KES_SERVER", "y:1")]);
        assert_eq!(endpoints(&e, None).unwrap(), ["https://x:1"]);
        assert_eq!(endpoints(&e, Some("z:9")).unwrap(), ["https://z:9"]);
    }

    #[test]
    fn set_but_empty_endpoint_shadows_later_aliases() {
        let e = env(&[("KES_SERVER", ""), ("MINIO_KMS_KES_ENDPOINT", "c:1")]);
        let err = endpoints(&e, None).unwrap_err().to_string();
        assert!(err.contains("KES_SERVER is set but empty"), "{err}");
    }

    #[test]
    fn encrypted_private_keys_use_the_password_or_are_refused_precisely() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("c.key");
        let conn = |password: Option<&str>| {
            let cell = OnceCell::new();
            if let Some(p) = password {
                cell.set(Zeroizing::new(p.to_owned())).unwrap();
            }
            Connection {
                endpoints: vec!["https://127.0.0.1:7373".into()],
                credentials: Credentials::Files {
                    cert: dir.path().join("c.crt"),
                    key: key.clone(),
                    password: cell,
                },
                insecure: true,
            }
        };
        // Encrypted PKCS#8: refused without a prompt.
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = conn(None).client().unwrap_err().to_string();
        assert!(err.contains("encrypted PKCS#8 key"), "{err}");
        assert!(err.contains("c.key"), "{err}");
        // Legacy-encrypted: a known (here: wrong) password is used, not asked for.
        let pem = kes_crypto::legacy_pem::encrypt_aes256("PRIVATE KEY", &[0x30, 0], b"pw").unwrap();
        std::fs::write(&key, pem.as_bytes()).unwrap();
        std::fs::write(
            dir.path().join("c.crt"),
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = conn(Some("wrong")).client().unwrap_err().to_string();
        assert!(
            err.contains("private key decryption failed: wrong password or corrupted key"),
            "{err}"
        );
        assert!(!format!("{:?}", conn(Some("wrong")).credentials).contains("wrong"));
    }

    #[test]
    fn credential_rules_and_messages() {
        let msg = |pairs: &[(&str, &str)]| credentials(&env(pairs), None).unwrap_err().to_string();
        assert_eq!(
            msg(&[]),
            "no API key specified. Consider setting MINIO_KES_API_KEY"
        );
        assert_eq!(
            msg(&[("KES_API_KEY", "kes:v1:x"), ("KES_CLIENT_KEY", "k")]),
            "API key and private key file cannot be used at the same time"
        );
        assert_eq!(
            msg(&[("KES_API_KEY", "kes:v1:x"), ("KES_CLIENT_CERT", "c")]),
            "API key and certificate file cannot be used at the same time"
        );
        assert_eq!(
            msg(&[("KES_CLIENT_KEY", "k")]),
            "no certificate file specified. Consider setting MINIO_KES_CERT_FILE"
        );
        assert_eq!(
            msg(&[("MINIO_KES_CLIENT_CERT", "c")]),
            "no private key file specified. Consider setting MINIO_KES_KEY_FILE"
        );
        let ok = credentials(
            &env(&[("MINIO_KES_CERT_FILE", "c"), ("KES_CLIENT_KEY", "k")]),
            None,
        )
        .unwrap();
        assert!(matches!(ok, Credentials::Files { .. }));
        let ok = credentials(&env(&[("MINIO_KMS_KES_API_KEY", "kes:v1:x")]), None).unwrap();
        assert!(matches!(ok, Credentials::ApiKey(_)));
        // The -a flag replaces the variables.
        let ok = credentials(&env(&[]), Some("kes:v1:y")).unwrap();
        assert!(matches!(ok, Credentials::ApiKey(_)));
        assert_eq!(format!("{ok:?}"), "ApiKey(<redacted>)");
    }
}
