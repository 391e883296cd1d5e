//! `kes identity`: create API keys (and key/certificate files derived from
//! them), compute identities offline, and ask a server about identities
//! (spec §10.4, §6).
//!
//! Offline forms: `kes identity` (new API key), `kes identity <api-key|file>`,
//! `kes identity new …`, `kes identity of …`. Server forms:
//! `kes identity info [<id>]`, `kes identity ls|list [<prefix>]`, and the
//! runtime administration of the original CLI (spec §3.1), which lasts until
//! the server restarts: `kes identity assign <identity> <policy>`,
//! `kes identity forget <identity>`. The sub-command words win over the
//! `<api-key|file>` argument, so an identity after them is never read as an
//! API key.
//!
//! `kes identity new` writes files when `--key/--cert` are given, and also —
//! unlike current Go KES, like the setup guides (`kes identity new --ip
//! "127.0.0.1" localhost`) — when only `--ip`, `--dns`, `--expiry` or a
//! subject are given; the files are then `private.key` and `public.crt`.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kes_crypto::legacy_pem;
use kes_crypto::{ApiKey, CertificateOptions};
use kes_types::Identity;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{ConnArgs, FormatArgs, block_on};
use crate::env;
use crate::error::CliError;
use crate::files::{self, PRIVATE_MODE, PUBLIC_MODE};
use crate::output::{self, Out, parse_go_duration};
use crate::password;
use crate::secret::SecretArg;

/// Default private key file of `kes identity new`.
pub const DEFAULT_KEY_FILE: &str = "private.key";
/// Default certificate file of `kes identity new`.
pub const DEFAULT_CERT_FILE: &str = "public.crt";
/// Default certificate validity (720h, as Go).
pub const DEFAULT_EXPIRY: std::time::Duration = std::time::Duration::from_secs(720 * 3600);

/// `kes identity`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Without a command or argument, a new API key is created and printed.\n\
                  Examples:\n  \
                  kes identity new --key client.key --cert client.crt MyApp\n  \
                  kes identity of kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw\n  \
                  kes identity client.key"
)]
pub struct IdentityArgs {
    /// The identity command.
    #[command(subcommand)]
    pub command: Option<IdentityCommand>,
    /// An API key (prints its identity) or a PEM file (a certificate prints
    /// its identity, a PKCS#8 Ed25519 private key its API key).
    #[arg(value_name = "API-KEY|FILE")]
    pub input: Option<SecretArg>,
}

/// The `kes identity` commands.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create a new API key, and optionally a private key and certificate for it.
    New(NewArgs),
    /// Print the identity of API keys or certificates.
    Of(OfArgs),
    /// Describe an identity (your own without an argument).
    Info(InfoArgs),
    /// List identities.
    #[command(visible_alias = "list")]
    Ls(IdentityLsArgs),
    /// Assign an identity to a policy until the server restarts.
    Assign(AssignArgs),
    /// Remove an identity's policy assignment until the server restarts.
    Forget(ForgetArgs),
}

/// `kes identity assign`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    kes identity assign 3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22 my-app")]
pub struct AssignArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The identity (hex SHA-256, as `kes identity of` prints it).
    #[arg(value_name = "IDENTITY")]
    pub identity: String,
    /// The policy to assign it to.
    #[arg(value_name = "POLICY")]
    pub policy: String,
}

/// `kes identity forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The identities.
    #[arg(value_name = "IDENTITY", required = true)]
    pub identities: Vec<String>,
}

/// `kes identity new`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    kes identity new\n  \
    kes identity new --ip \"127.0.0.1\" localhost\n  \
    kes identity new --key=client.key --cert=client.crt MyApp\n  \
    kes identity new --key private.key --cert public.crt --ip \"127.0.0.1\" --dns localhost")]
pub struct NewArgs {
    /// Write the private key (PKCS#8, mode 0600) here; `private.key` when
    /// only --ip, --dns, --expiry or a subject are given.
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Write the certificate (mode 0644) here; `public.crt` when only --ip,
    /// --dns, --expiry or a subject are given.
    #[arg(long, value_name = "PATH")]
    pub cert: Option<PathBuf>,
    /// Add an IP address SAN (repeatable, comma-separated).
    #[arg(long, value_name = "IP", value_delimiter = ',')]
    pub ip: Vec<IpAddr>,
    /// Add a DNS name SAN (repeatable, comma-separated).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub dns: Vec<String>,
    /// Certificate validity as a Go duration [default: 720h].
    #[arg(long, value_name = "DURATION", value_parser = parse_go_duration)]
    pub expiry: Option<std::time::Duration>,
    /// Encrypt the private key with a password (asked for twice; legacy PEM
    /// encryption with AES-256-CBC, as `openssl ... -aes256` writes it).
    #[arg(long)]
    pub encrypt: bool,
    /// Overwrite existing files.
    #[arg(short, long)]
    pub force: bool,
    /// Certificate subject (common name); also added as a DNS or IP SAN.
    #[arg(value_name = "SUBJECT")]
    pub subject: Option<String>,
}

/// `kes identity of`.
#[derive(Debug, Args)]
pub struct OfArgs {
    /// API keys (`kes:v1:…`) or PEM certificate files (`-` reads stdin).
    #[arg(value_name = "API-KEY|CERT", required = true)]
    pub inputs: Vec<SecretArg>,
}

/// `kes identity info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// The identity to describe; your own when omitted.
    #[arg(value_name = "IDENTITY")]
    pub identity: Option<String>,
}

/// `kes identity ls`.
#[derive(Debug, Args)]
pub struct IdentityLsArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// List identities starting with this prefix.
    #[arg(value_name = "PREFIX")]
    pub prefix: Option<String>,
}

/// Runs `kes identity …`.
pub fn run(a: IdentityArgs) -> Result<(), CliError> {
    match (a.command, a.input) {
        (Some(IdentityCommand::New(n)), _) => run_new(n),
        (Some(IdentityCommand::Of(o)), _) => run_of(&o.inputs),
        (Some(IdentityCommand::Info(i)), _) => run_info(i),
        (Some(IdentityCommand::Ls(l)), _) => run_ls(l),
        (Some(IdentityCommand::Assign(a)), _) => run_assign(a),
        (Some(IdentityCommand::Forget(f)), _) => run_forget(f),
        (None, None) => print_random_key(),
        (None, Some(input)) => run_input(input.expose()),
    }
}

/// What `kes identity new` writes, besides printing.
struct Files {
    key: PathBuf,
    cert: PathBuf,
}

/// Runs `kes identity new`.
fn run_new(a: NewArgs) -> Result<(), CliError> {
    let wants_cert =
        !a.ip.is_empty() || !a.dns.is_empty() || a.expiry.is_some() || a.subject.is_some();
    let files = match (a.key, a.cert) {
        (Some(key), Some(cert)) => Some(Files { key, cert }),
        (None, None) if wants_cert => Some(Files {
            key: DEFAULT_KEY_FILE.into(),
            cert: DEFAULT_CERT_FILE.into(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--key requires --cert: give both files or neither".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "--cert requires --key: give both files or neither".into(),
            ));
        }
    };
    if let Some(f) = &files {
        if f.key == f.cert {
            return Err(CliError::Usage(format!(
                "--key and --cert must be different files, both are '{}'",
                f.key.display()
            )));
        }
        files::check_writable(&f.key, a.force)?;
        files::check_writable(&f.cert, a.force)?;
    } else if a.force || a.encrypt {
        let flag = if a.force { "--force" } else { "--encrypt" };
        return Err(CliError::Usage(format!(
            "{flag} only applies when files are written (--key/--cert, --ip, --dns, --expiry \
             or a subject)"
        )));
    }
    let password = if a.encrypt {
        Some(password::read_new()?)
    } else {
        None
    };

    let key = ApiKey::generate().map_err(|source| CliError::ApiKey {
        what: "cannot create API key".into(),
        source,
    })?;
    if let Some(f) = &files {
        let opts = certificate_options(
            a.subject.as_deref(),
            a.ip,
            a.dns,
            a.expiry.unwrap_or(DEFAULT_EXPIRY),
            true,
        )?;
        write_files(
            &key,
            &opts,
            &f.key,
            &f.cert,
            a.force,
            password.as_ref().map(|p| p.as_str()),
        )?;
    }
    let out = Out::detect(crate::output::ColorChoice::Auto);
    output::print(&new_identity_text(&out, &key, files.as_ref()))
}

/// Certificate options of `kes identity new` / `kes tool identity new`: the
/// subject becomes the CN and, if it is an IP address or DNS name, a SAN.
pub fn certificate_options(
    subject: Option<&str>,
    mut ips: Vec<IpAddr>,
    mut dns: Vec<String>,
    validity: std::time::Duration,
    server_auth: bool,
) -> Result<CertificateOptions, CliError> {
    let validity = time::Duration::try_from(validity)
        .map_err(|_| CliError::Invalid("certificate validity is out of range".into()))?;
    for name in &dns {
        if !is_dns_name(name) {
            return Err(CliError::Invalid(format!(
                "invalid --dns name '{name}': not a DNS name"
            )));
        }
    }
    let subject = subject.map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = subject {
        if let Ok(ip) = s.parse::<IpAddr>() {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        } else if is_dns_name(s) && !dns.iter().any(|d| d.eq_ignore_ascii_case(s)) {
            dns.push(s.to_owned());
        }
    }
    Ok(CertificateOptions {
        common_name: subject.map(str::to_owned),
        validity,
        server_auth,
        ip_addresses: ips,
        dns_names: dns,
        ..CertificateOptions::default()
    })
}

/// A syntactically valid DNS name (letters, digits, `-`, `_`, dots between
/// non-empty labels, an optional leading `*.` wildcard).
fn is_dns_name(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Generates the certificate for `key` and writes both files (key first).
pub fn write_key_and_cert(
    key: &ApiKey,
    opts: &CertificateOptions,
    key_path: &Path,
    cert_path: &Path,
    force: bool,
) -> Result<(), CliError> {
    write_files(key, opts, key_path, cert_path, force, None)
}

/// [`write_key_and_cert`], with the PKCS#8 key encrypted the legacy OpenSSL
/// way (AES-256-CBC, `Proc-Type: 4,ENCRYPTED`) when a password is given.
fn write_files(
    key: &ApiKey,
    opts: &CertificateOptions,
    key_path: &Path,
    cert_path: &Path,
    force: bool,
    password: Option<&str>,
) -> Result<(), CliError> {
    let generated = key.certificate(opts).map_err(|source| CliError::ApiKey {
        what: "cannot create certificate".into(),
        source,
    })?;
    let encrypted = match password {
        Some(p) => Some(
            legacy_pem::encrypt_aes256("PRIVATE KEY", &key.to_pkcs8_der(), p.as_bytes())
                .map_err(|e| CliError::Invalid(format!("cannot encrypt the private key: {e}")))?,
        ),
        None => None,
    };
    let key_pem = encrypted.as_deref().unwrap_or(&generated.key_pem);
    files::write_atomic(
        key_path,
        key_pem.as_bytes(),
        PRIVATE_MODE,
        force,
        "cannot write private key",
    )?;
    files::write_atomic(
        cert_path,
        generated.cert_pem.as_bytes(),
        PUBLIC_MODE,
        force,
        "cannot write certificate",
    )
}

/// The text `kes identity new` prints (spec §10.4).
fn new_identity_text(out: &Out, key: &ApiKey, files: Option<&Files>) -> Zeroizing<String> {
    let api_key = key.encode();
    let identity = key.identity();
    let mut s = Zeroizing::new(String::new());
    s.push_str(&out.bold("Your API key:"));
    s.push_str("\n\n   ");
    s.push_str(&api_key);
    s.push_str("\n\nThis is the only time it is shown. Keep it secret and secure!\n\n");
    s.push_str(&out.bold("Your Identity:"));
    s.push_str(&format!("\n\n   {identity}\n\n"));
    s.push_str(
        "The identity is not a secret. It can be shared. Any peer\n\
         needs this identity in order to verify your API key.\n\n",
    );
    if let Some(f) = files {
        s.push_str(&format!(
            "The generated TLS private key is stored at: {}\n\
             The generated TLS certificate is stored at: {}\n\n",
            f.key.display(),
            f.cert.display()
        ));
    }
    s.push_str("The identity can be computed again via:\n\n");
    s.push_str("    kes identity of ");
    s.push_str(&api_key);
    s.push('\n');
    if let Some(f) = files {
        s.push_str(&format!("    kes identity of {}\n", f.cert.display()));
    }
    s
}

/// `kes identity` without arguments: a new API key.
fn print_random_key() -> Result<(), CliError> {
    let key = ApiKey::generate().map_err(|source| CliError::ApiKey {
        what: "cannot create API key".into(),
        source,
    })?;
    let out = Out::detect(crate::output::ColorChoice::Auto);
    let api_key = key.encode();
    if !out.tty {
        return output::print(&api_key);
    }
    let mut s = Zeroizing::new(String::new());
    s.push_str(&format!("\n  {}\n\n    ", out.bold("Your API key:")));
    s.push_str(&api_key);
    s.push_str("\n\n");
    s.push_str("  This is the only time it is shown. Keep it secret and secure!\n\n");
    s.push_str(&format!(
        "  {}\n\n    {}\n\n",
        out.bold("Your API key's identity:"),
        key.identity()
    ));
    s.push_str("  The identity is not a secret. It can be shared. Any peer\n");
    s.push_str("  needs this identity in order to verify your API key.\n\n");
    s.push_str("  The identity can be computed again via:\n\n");
    s.push_str("    $ kes identity <key>\n\n");
    output::print(&s)
}

/// `kes identity <api-key|file>`.
fn run_input(input: &str) -> Result<(), CliError> {
    let out = Out::detect(crate::output::ColorChoice::Auto);
    let looks_like_key = input.starts_with(kes_crypto::apikey::API_KEY_PREFIX);
    if !looks_like_key && !Path::new(input).exists() {
        // A bare base64 key (no prefix) is still a key; anything else is a
        // missing file.
        if let Ok(key) = ApiKey::parse(input) {
            return print_identity(&out, &key.identity());
        }
        // Echo the argument only if it looks like a file name: a mistyped
        // API key is still a secret.
        let shown = if input.len() <= 24 || input.contains('/') || input.contains('.') {
            format!("'{input}'")
        } else {
            format!("the argument ({} characters)", input.chars().count())
        };
        return Err(CliError::Invalid(format!(
            "{shown} is neither an API key (kes:v1:…) nor an existing file"
        )));
    }
    if looks_like_key {
        let key = parse_api_key(input)?;
        return print_identity(&out, &key.identity());
    }
    let bytes = read_input(input)?;
    let first = match first_pem_item(&bytes, input) {
        Err(_) if legacy_pem::is_encrypted(&bytes) => PemItem::EncryptedKey,
        other => other?,
    };
    match first {
        PemItem::Certificate(der) => {
            let id = Identity::of_certificate(&der).map_err(|source| CliError::Certificate {
                what: format!("cannot read certificate '{input}'"),
                source,
            })?;
            print_identity(&out, &id)
        }
        PemItem::Pkcs8Key | PemItem::EncryptedKey => {
            let key = if matches!(first, PemItem::EncryptedKey) {
                encrypted_private_key_of(&bytes, input)?
            } else {
                private_key_of(&bytes, input)?
            };
            let text = key.encode();
            if out.tty {
                let mut s = Zeroizing::new(format!("\n  {}\n\n    ", out.bold("API key:")));
                s.push_str(&text);
                s.push_str(&format!(
                    "\n\n  {}\n\n    {}\n\n",
                    out.bold("Identity:"),
                    key.identity()
                ));
                output::print(&s)
            } else {
                output::print(&text)
            }
        }
    }
}

/// Prints one identity: bare hex when piped, a labelled block on a terminal.
fn print_identity(out: &Out, id: &Identity) -> Result<(), CliError> {
    if out.tty {
        output::print(&format!(
            "\n  {}\n\n    {id}\n\n  The identity is not a secret. It can be shared.\n\n",
            out.bold("Identity:")
        ))
    } else {
        output::print(id.as_str())
    }
}

fn parse_api_key(text: &str) -> Result<ApiKey, CliError> {
    ApiKey::parse(text.trim()).map_err(|source| CliError::ApiKey {
        what: "cannot parse API key".into(),
        source,
    })
}

/// Reads a file, or stdin for `-`.
fn read_input(path: &str) -> Result<Vec<u8>, CliError> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|source| CliError::Io {
                what: "cannot read",
                path: "<stdin>".into(),
                source,
            })?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|source| CliError::Io {
        what: "cannot read",
        path: path.into(),
        source,
    })
}

/// The first certificate or PKCS#8 private key of a PEM file.
enum PemItem {
    Certificate(Vec<u8>),
    Pkcs8Key,
    /// A legacy PEM-encrypted key (`Proc-Type: 4,ENCRYPTED`).
    EncryptedKey,
}

fn first_pem_item(bytes: &[u8], name: &str) -> Result<PemItem, CliError> {
    let mut reader = bytes;
    let mut seen_any = false;
    for item in rustls_pemfile::read_all(&mut reader) {
        let item = item.map_err(|source| CliError::Io {
            what: "cannot parse PEM file",
            path: name.into(),
            source,
        })?;
        seen_any = true;
        match item {
            rustls_pemfile::Item::X509Certificate(der) => {
                return Ok(PemItem::Certificate(der.to_vec()));
            }
            rustls_pemfile::Item::Pkcs8Key(_) => return Ok(PemItem::Pkcs8Key),
            rustls_pemfile::Item::Pkcs1Key(_) => {
                return Err(CliError::Invalid(format!(
                    "'{name}' holds an RSA PRIVATE KEY: only PKCS#8 Ed25519 private keys \
                     ('PRIVATE KEY') correspond to API keys"
                )));
            }
            rustls_pemfile::Item::Sec1Key(_) => {
                return Err(CliError::Invalid(format!(
                    "'{name}' holds an EC PRIVATE KEY: only PKCS#8 Ed25519 private keys \
                     ('PRIVATE KEY') correspond to API keys"
                )));
            }
            _ => {}
        }
    }
    if !seen_any && !bytes.is_empty() {
        // Not PEM: try DER.
        return Ok(PemItem::Certificate(bytes.to_vec()));
    }
    Err(CliError::Invalid(format!(
        "'{name}' contains no CERTIFICATE or PRIVATE KEY PEM block"
    )))
}

fn private_key_of(bytes: &[u8], name: &str) -> Result<ApiKey, CliError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| CliError::Invalid(format!("'{name}' is not a text (PEM) file")))?;
    ApiKey::from_pkcs8_pem(text).map_err(|source| CliError::ApiKey {
        what: format!("cannot read private key '{name}'"),
        source,
    })
}

/// The API key of a legacy PEM-encrypted PKCS#8 Ed25519 key file; asks for
/// the password.
fn encrypted_private_key_of(bytes: &[u8], name: &str) -> Result<ApiKey, CliError> {
    let password = password::read(password::ENTER_PROMPT)?;
    let key = legacy_pem::decrypt(bytes, password.as_bytes())
        .map_err(|e| CliError::Invalid(format!("cannot read private key '{name}': {e}")))?;
    if key.format() != legacy_pem::KeyFormat::Pkcs8 {
        return Err(CliError::Invalid(format!(
            "'{name}' holds an encrypted {}: only PKCS#8 Ed25519 private keys \
             ('PRIVATE KEY') correspond to API keys",
            key.label
        )));
    }
    use base64::Engine as _;
    let body = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&key.der[..]));
    let pem = Zeroizing::new(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.as_str()
    ));
    private_key_of(pem.as_bytes(), name)
}

/// The identity of one `kes identity of` argument: an API key (`kes:v1:…`),
/// or a PEM (or DER) certificate file; a PKCS#8 key file is accepted too.
pub fn identity_of(input: &str) -> Result<Identity, CliError> {
    if input.starts_with(kes_crypto::apikey::API_KEY_PREFIX) {
        return Ok(parse_api_key(input)?.identity());
    }
    let bytes = read_input(input)?;
    let first = match first_pem_item(&bytes, input) {
        Err(_) if legacy_pem::is_encrypted(&bytes) => PemItem::EncryptedKey,
        other => other?,
    };
    match first {
        PemItem::Certificate(der) => {
            Identity::of_certificate(&der).map_err(|source| CliError::Certificate {
                what: format!("cannot read certificate '{input}'"),
                source,
            })
        }
        PemItem::Pkcs8Key => Ok(private_key_of(&bytes, input)?.identity()),
        PemItem::EncryptedKey => Ok(encrypted_private_key_of(&bytes, input)?.identity()),
    }
}

/// `kes identity of <input>...`.
fn run_of(inputs: &[SecretArg]) -> Result<(), CliError> {
    let out = Out::detect(crate::output::ColorChoice::Auto);
    if let [one] = inputs {
        let id = identity_of(one.expose())?;
        return if out.tty {
            output::print(&format!("\n  {}\n\n    {id}\n\n", out.bold("Identity:")))
        } else {
            output::print(id.as_str())
        };
    }
    let mut s = String::new();
    for input in inputs {
        let input = input.expose();
        let id = identity_of(input)?;
        // Never echo an API key: it is a secret.
        let label = if input.starts_with(kes_crypto::apikey::API_KEY_PREFIX) {
            "<API key>"
        } else {
            input
        };
        s.push_str(&format!("{label}: {id}\n"));
    }
    output::print(&s)
}

/// The JSON of `kes identity info <id>`.
#[derive(Serialize)]
struct IdentityInfo<'a> {
    identity: &'a str,
    admin: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    policy: &'a str,
    created_at: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    created_by: &'a str,
}

/// The label width of `kes identity info`.
const INFO_WIDTH: usize = 12;

/// The first lines of `kes identity info`: identity, creation time, role
/// and (if known) creator.
fn identity_fields(
    out: &Out,
    identity: &str,
    created_at: &str,
    admin: bool,
    created_by: &str,
) -> String {
    let role = if admin { "Admin" } else { "User" };
    let mut s = output::field(out, INFO_WIDTH, "Identity", identity);
    s.push_str(&output::field(
        out,
        INFO_WIDTH,
        "Created At",
        &output::date_time(created_at),
    ));
    s.push_str(&output::field(out, INFO_WIDTH, "Role", role));
    if !created_by.is_empty() {
        s.push_str(&output::field(out, INFO_WIDTH, "Created By", created_by));
    }
    s
}

/// `kes identity info [<id>]`.
fn run_info(a: InfoArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        match a.identity {
            None => {
                let r = client
                    .self_describe()
                    .await
                    .map_err(|e| CliError::client("failed to describe identity", e))?;
                if a.format.json {
                    return output::print_json(&out, &r);
                }
                let mut s =
                    identity_fields(&out, &r.identity, &r.created_at, r.admin, &r.created_by);
                if !r.policy.is_empty() {
                    s.push('\n');
                    s.push_str(&output::field(&out, INFO_WIDTH, "Policy", &r.policy));
                    s.push_str(&policy_rules(&out, &r.allow, &r.deny));
                }
                output::print(&s)
            }
            Some(id) => {
                let r = client.describe_identity(&id).await.map_err(|e| {
                    CliError::client(format!("failed to describe identity {id}"), e)
                })?;
                if a.format.json {
                    return output::print_json(
                        &out,
                        &IdentityInfo {
                            identity: &id,
                            admin: r.admin,
                            policy: &r.policy,
                            created_at: &r.created_at,
                            created_by: &r.created_by,
                        },
                    );
                }
                let mut s = identity_fields(&out, &id, &r.created_at, r.admin, &r.created_by);
                if !r.policy.is_empty() {
                    s.push_str(&output::field(&out, INFO_WIDTH, "Policy", &r.policy));
                }
                output::print(&s)
            }
        }
    })
}

/// `Allow:`/`Deny:` bullet lists of a policy.
pub fn policy_rules(
    out: &Out,
    allow: &std::collections::BTreeMap<String, kes_types::api::Empty>,
    deny: &std::collections::BTreeMap<String, kes_types::api::Empty>,
) -> String {
    let mut s = String::new();
    if !allow.is_empty() {
        s.push_str(&out.green("Allow:"));
        s.push('\n');
        for p in allow.keys() {
            s.push_str(&format!("  · {p}\n"));
        }
    }
    if !deny.is_empty() {
        s.push_str(&out.red("Deny:"));
        s.push('\n');
        for p in deny.keys() {
            s.push_str(&format!("  · {p}\n"));
        }
    }
    s
}

/// `kes identity ls [<prefix>]`.
fn run_ls(a: IdentityLsArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    let prefix = a.prefix.unwrap_or_default();
    block_on(async move {
        let listing = client.list_identities(&prefix).await;
        output::print_listing(
            &out,
            a.format.json,
            "Identity",
            "failed to list identities",
            listing,
        )
    })
}

fn run_assign(a: AssignArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        client
            .assign_identity(&a.identity, &a.policy)
            .await
            .map_err(|e| {
                CliError::client(
                    format!(
                        "failed to assign policy \"{}\" to \"{}\"",
                        a.policy, a.identity
                    ),
                    e,
                )
            })
    })
}

fn run_forget(a: ForgetArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        for id in &a.identities {
            client
                .forget_identity(id)
                .await
                .map_err(|e| CliError::client(format!("failed to forget \"{id}\""), e))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_becomes_a_san() {
        let o =
            certificate_options(Some("localhost"), vec![], vec![], DEFAULT_EXPIRY, true).unwrap();
        assert_eq!(o.dns_names, ["localhost"]);
        assert_eq!(o.common_name.as_deref(), Some("localhost"));
        let o = certificate_options(
            Some("127.0.0.1"),
            vec!["127.0.0.1".parse().unwrap()],
            vec![],
            DEFAULT_EXPIRY,
            true,
        )
        .unwrap();
        assert_eq!(o.ip_addresses.len(), 1);
        assert!(o.dns_names.is_empty());
        let o = certificate_options(Some("My App"), vec![], vec![], DEFAULT_EXPIRY, false).unwrap();
        assert!(o.dns_names.is_empty());
        assert_eq!(o.common_name.as_deref(), Some("My App"));
        let o = certificate_options(None, vec![], vec![], DEFAULT_EXPIRY, false).unwrap();
        assert!(o.common_name.is_none());
        assert_eq!(o.validity, time::Duration::hours(720));
    }

    #[test]
    fn bad_dns_names_are_rejected() {
        let e = certificate_options(None, vec![], vec!["a..b".into()], DEFAULT_EXPIRY, true);
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("invalid --dns name 'a..b'")
        );
        assert!(is_dns_name("*.example.com"));
        assert!(!is_dns_name("-a.com"));
        assert!(!is_dns_name(""));
    }

    #[test]
    fn identity_of_known_api_key() {
        let id = identity_of("kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw").unwrap();
        assert_eq!(
            id.as_str(),
            "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb"
        );
        let e = identity_of("kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot parse API key: invalid API key: unsupported type"
        );
    }

    #[test]
    fn new_text_mentions_files_and_identity() {
        let key = ApiKey::parse("kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw").unwrap();
        let out = Out {
            tty: false,
            color: false,
        };
        let f = Files {
            key: "k.key".into(),
            cert: "c.crt".into(),
        };
        let s = new_identity_text(&out, &key, Some(&f));
        assert!(s.contains("Your API key:\n\n   kes:v1:ACQpo"));
        assert!(s.contains("0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb"));
        assert!(s.contains("The generated TLS private key is stored at: k.key"));
        assert!(s.contains("    kes identity of c.crt\n"));
        let s = new_identity_text(&out, &key, None);
        assert!(!s.contains("stored at"));
    }
}
