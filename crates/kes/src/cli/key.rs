//! `kes key`: create, import, describe, list, rotate and delete keys, and
//! use them (data keys, encryption, decryption, HMAC) — spec §10.5; key
//! versions in docs/key-versions.md.
//!
//! Context arguments (`dek`, `encrypt`, `decrypt`) are bytes given as text:
//! a non-empty argument that is valid standard base64 (with `=` padding) is
//! decoded and its bytes are used; anything else is used as the UTF-8 bytes
//! of the text itself. So `kes key dek k e30=` and `kes key dek k '{}'` send
//! the same context.
//!
//! `dek`, `encrypt` and `decrypt` print `label: value` lines on a terminal
//! and Go's one-line JSON (no trailing newline) when piped or with `--json`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use kes_client::Client;
use kes_types::api::KeyVersionInfo;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::{ConnArgs, FormatArgs, block_on, created_fields};
use crate::env;
use crate::error::CliError;
use crate::output::{self, Out};
use crate::secret::SecretArg;

/// `kes key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The key command.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// The `kes key` commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create one or more keys.
    Create(CreateArgs),
    /// Import a key from its base64 bytes.
    Import(ImportArgs),
    /// Describe a key and its versions.
    Info(InfoArgs),
    /// Rotate a key: add a version, which new ciphertexts use.
    Rotate(RotateArgs),
    /// Destroy an old key version (admin only); its ciphertexts no longer decrypt.
    RmVersion(RmVersionArgs),
    /// List keys.
    Ls(LsArgs),
    /// Delete one or more keys.
    Rm(RmArgs),
    /// Generate a data encryption key (plaintext and ciphertext).
    Dek(DekArgs),
    /// Encrypt a message.
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext.
    Decrypt(DecryptArgs),
    /// Compute the HMAC-SHA256 of a message.
    Hmac(HmacArgs),
}

/// `kes key create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Names of the keys to create.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// `kes key import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Cipher of the imported key.
    #[arg(long, value_name = "CIPHER", default_value = "AES256", value_parser = ["AES256", "ChaCha20"])]
    pub cipher: String,
    /// Name of the key.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The 32 key bytes, base64.
    #[arg(value_name = "KEY")]
    pub key: SecretArg,
}

/// `kes key info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Name of the key.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `kes key rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Name of the key.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `kes key rm-version`.
#[derive(Debug, Args)]
pub struct RmVersionArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Name of the key.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The version to destroy (`v<N>`); not the latest.
    #[arg(value_name = "VERSION")]
    pub version: String,
}

/// `kes key ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// List keys matching this pattern (a prefix, optionally ending in `*`).
    #[arg(value_name = "PATTERN", default_value = "*")]
    pub pattern: String,
}

/// `kes key rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Names of the keys to delete.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
}

/// The flags and key name of `kes key dek|encrypt|decrypt|hmac`.
#[derive(Debug, Args)]
pub struct KeyCallArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Name of the key.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `kes key dek`.
#[derive(Debug, Args)]
#[command(after_help = "CONTEXT is base64 if it decodes as standard base64, otherwise text.")]
pub struct DekArgs {
    /// Connection flags, `--json` and the key.
    #[command(flatten)]
    pub call: KeyCallArgs,
    /// Associated data bound to the DEK.
    #[arg(value_name = "CONTEXT")]
    pub context: Option<String>,
}

/// `kes key encrypt`.
#[derive(Debug, Args)]
#[command(after_help = "CONTEXT is base64 if it decodes as standard base64, otherwise text.")]
pub struct EncryptArgs {
    /// Connection flags, `--json` and the key.
    #[command(flatten)]
    pub call: KeyCallArgs,
    /// The message (its text bytes are encrypted).
    #[arg(value_name = "MESSAGE")]
    pub message: SecretArg,
    /// Associated data.
    #[arg(value_name = "CONTEXT")]
    pub context: Option<String>,
}

/// `kes key decrypt`.
#[derive(Debug, Args)]
#[command(after_help = "CONTEXT is base64 if it decodes as standard base64, otherwise text.")]
pub struct DecryptArgs {
    /// Connection flags, `--json` and the key.
    #[command(flatten)]
    pub call: KeyCallArgs,
    /// The ciphertext, base64.
    #[arg(value_name = "CIPHERTEXT")]
    pub ciphertext: String,
    /// The key version that made the ciphertext (`v<N>`); by default the
    /// server finds it.
    #[arg(long, value_name = "VERSION")]
    pub key_version: Option<String>,
    /// Associated data used when encrypting.
    #[arg(value_name = "CONTEXT")]
    pub context: Option<String>,
}

/// `kes key hmac`.
#[derive(Debug, Args)]
pub struct HmacArgs {
    /// Connection flags, `--json` and the key.
    #[command(flatten)]
    pub call: KeyCallArgs,
    /// The message (its text bytes are authenticated).
    #[arg(value_name = "MESSAGE")]
    pub message: SecretArg,
}

/// Runs `kes key …`.
pub fn run(a: KeyArgs) -> Result<(), CliError> {
    match a.command {
        KeyCommand::Create(a) => create(a),
        KeyCommand::Import(a) => import(a),
        KeyCommand::Info(a) => info(a),
        KeyCommand::Rotate(a) => rotate(a),
        KeyCommand::RmVersion(a) => rm_version(a),
        KeyCommand::Ls(a) => ls(a),
        KeyCommand::Rm(a) => rm(a),
        KeyCommand::Dek(a) => dek(a),
        KeyCommand::Encrypt(a) => encrypt(a),
        KeyCommand::Decrypt(a) => decrypt(a),
        KeyCommand::Hmac(a) => hmac(a),
    }
}

/// The bytes of a context argument: decoded if it is non-empty valid
/// standard base64, its UTF-8 bytes otherwise.
pub fn context_bytes(arg: Option<&str>) -> Zeroizing<Vec<u8>> {
    match arg {
        None | Some("") => Zeroizing::new(Vec::new()),
        Some(s) => Zeroizing::new(B64.decode(s).unwrap_or_else(|_| s.as_bytes().to_vec())),
    }
}

fn create(a: CreateArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        for name in &a.names {
            client
                .create_key(name)
                .await
                .map_err(|e| CliError::client(format!("failed to create key \"{name}\""), e))?;
        }
        Ok(())
    })
}

fn import(a: ImportArgs) -> Result<(), CliError> {
    let key = Zeroizing::new(B64.decode(a.key.expose().trim()).map_err(|e| {
        CliError::Invalid(format!("invalid key for \"{}\": not base64: {e}", a.name))
    })?);
    if key.len() != 32 {
        return Err(CliError::Invalid(format!(
            "invalid key for \"{}\": must be 32 bytes, got {}",
            a.name,
            key.len()
        )));
    }
    let cipher = if a.cipher == "ChaCha20" {
        kes_client::Cipher::ChaCha20
    } else {
        kes_client::Cipher::Aes256
    };
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        client
            .import_key(&a.name, &key, cipher)
            .await
            .map_err(|e| CliError::client(format!("failed to import key \"{}\"", a.name), e))
    })
}

/// The JSON of `kes key info --json`.
#[derive(Serialize)]
struct KeyInfo<'a> {
    name: &'a str,
    algorithm: &'a str,
    created_at: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    created_by: &'a str,
    /// The latest version; absent from servers without versions.
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    /// Every version, when the server has versions and the identity may
    /// list them.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    versions: &'a [KeyVersionInfo],
}

fn info(a: InfoArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let k = client
            .describe_key(&a.name)
            .await
            .map_err(|e| CliError::client(format!("failed to describe key \"{}\"", a.name), e))?;
        // A server with versions says so in `describe`; the listing is a
        // separate permission (`/v1/key/versions/<name>`), so without it
        // the versions are left out rather than failing the command.
        let versions = if k.version.is_empty() {
            Vec::new()
        } else {
            client
                .key_versions(&a.name)
                .await
                .map(|v| v.versions)
                .unwrap_or_default()
        };
        if a.format.json {
            return output::print_json(
                &out,
                &KeyInfo {
                    name: &k.name,
                    algorithm: &k.algorithm,
                    created_at: &k.created_at,
                    created_by: &k.created_by,
                    version: &k.version,
                    versions: &versions,
                },
            );
        }
        let mut s = String::new();
        s.push_str(&output::field(&out, 11, "Name", &k.name));
        s.push_str(&output::field(&out, 11, "Algorithm", &k.algorithm));
        if !k.version.is_empty() {
            s.push_str(&output::field(&out, 11, "Version", &k.version));
        }
        s.push_str(&created_fields(
            &out,
            11,
            ["Date", "Owner"],
            &k.created_at,
            &k.created_by,
        ));
        if !versions.is_empty() {
            s.push_str("Versions:\n");
            for v in &versions {
                let what = if v.removed {
                    "removed".to_owned()
                } else {
                    format!("{} {}", v.algorithm, v.created_at)
                };
                s.push_str(&format!("  · {:<6} {what}\n", v.version));
            }
        }
        output::print(&s)
    })
}

/// The JSON of `kes key rotate --json`.
#[derive(Serialize)]
struct Rotated<'a> {
    name: &'a str,
    version: &'a str,
}

fn rotate(a: RotateArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let version = client
            .rotate_key(&a.name)
            .await
            .map_err(|e| CliError::client(format!("failed to rotate key \"{}\"", a.name), e))?;
        if a.format.json {
            return output::print_json(
                &out,
                &Rotated {
                    name: &a.name,
                    version: &version,
                },
            );
        }
        let mut s = output::field(&out, 9, "Name", &a.name);
        s.push_str(&output::field(&out, 9, "Version", &version));
        output::print(&s)
    })
}

fn rm_version(a: RmVersionArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        client
            .remove_key_version(&a.name, &a.version)
            .await
            .map_err(|e| {
                CliError::client(
                    format!(
                        "failed to remove version {} of key \"{}\"",
                        a.version, a.name
                    ),
                    e,
                )
            })
    })
}

fn ls(a: LsArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let listing = client.list_keys(&a.pattern).await;
        output::print_listing(&out, a.format.json, "Key", "failed to list keys", listing)
    })
}

fn rm(a: RmArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        for name in &a.names {
            client
                .delete_key(name)
                .await
                .map_err(|e| CliError::client(format!("failed to remove key \"{name}\""), e))?;
        }
        Ok(())
    })
}

/// Prints `pairs` as `label: value` lines (terminal) or one-line JSON.
fn print_pairs(out: &Out, json: bool, pairs: &[(&str, &str)]) -> Result<(), CliError> {
    output::print(&pairs_text(out, json, pairs)?)
}

/// The text of [`print_pairs`].
fn pairs_text(
    out: &Out,
    json: bool,
    pairs: &[(&str, &str)],
) -> Result<Zeroizing<String>, CliError> {
    if json || !out.tty {
        // Built by hand to keep Go's field order (`plaintext` before `ciphertext`).
        // Values may be secrets (plaintexts): keep every copy zeroizing.
        let mut text = Zeroizing::new(String::from("{"));
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&output::json(*k, false)?);
            text.push(':');
            text.push_str(&Zeroizing::new(output::json(*v, false)?));
        }
        // Always end the line, piped or not, so a shell prompt never lands
        // behind the JSON (Go printed none when piped).
        text.push_str("}\n");
        return Ok(text);
    }
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut s = Zeroizing::new(String::from("\n"));
    for (k, v) in pairs {
        let label = format!("{k}:");
        s.push_str(&out.bold(&format!("{label:<width$}")));
        s.push(' ');
        s.push_str(v);
        s.push('\n');
    }
    Ok(s)
}

/// Connects as `call` says, runs `op` with the client and the key name and
/// prints the `label: value` pairs it returns ([`print_pairs`]).
fn call_and_print(
    call: KeyCallArgs,
    op: impl AsyncFnOnce(&Client, &str) -> Result<Vec<(&'static str, Zeroizing<String>)>, CliError>,
) -> Result<(), CliError> {
    let client = env::client(&call.conn.overrides())?;
    let out = Out::detect(crate::output::ColorChoice::Auto);
    block_on(async move {
        let pairs = op(&client, &call.name).await?;
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        print_pairs(&out, call.json, &pairs)
    })
}

fn dek(a: DekArgs) -> Result<(), CliError> {
    let context = context_bytes(a.context.as_deref());
    call_and_print(a.call, async |client, name| {
        let dek = client.generate_key(name, &context).await.map_err(|e| {
            CliError::client(format!("failed to generate DEK with key \"{name}\""), e)
        })?;
        Ok(vec![
            (
                "plaintext",
                Zeroizing::new(B64.encode(dek.plaintext.as_slice())),
            ),
            ("ciphertext", Zeroizing::new(B64.encode(&dek.ciphertext))),
        ])
    })
}

fn encrypt(a: EncryptArgs) -> Result<(), CliError> {
    let context = context_bytes(a.context.as_deref());
    call_and_print(a.call, async |client, name| {
        let ct = client
            .encrypt(name, a.message.expose().as_bytes(), &context)
            .await
            .map_err(|e| CliError::client(format!("failed to encrypt with key \"{name}\""), e))?;
        Ok(vec![("ciphertext", Zeroizing::new(B64.encode(ct)))])
    })
}

fn decrypt(a: DecryptArgs) -> Result<(), CliError> {
    let ciphertext = B64
        .decode(a.ciphertext.trim())
        .map_err(|e| CliError::Invalid(format!("invalid ciphertext: not base64: {e}")))?;
    let context = context_bytes(a.context.as_deref());
    call_and_print(a.call, async |client, name| {
        let version = a.key_version.as_deref().unwrap_or_default();
        let pt = client
            .decrypt_version(name, version, &ciphertext, &context)
            .await
            .map_err(|e| CliError::client(format!("failed to decrypt with key \"{name}\""), e))?;
        Ok(vec![(
            "plaintext",
            Zeroizing::new(B64.encode(pt.as_slice())),
        )])
    })
}

fn hmac(a: HmacArgs) -> Result<(), CliError> {
    call_and_print(a.call, async |client, name| {
        let sum = client
            .hmac(name, a.message.expose().as_bytes())
            .await
            .map_err(|e| {
                CliError::client(format!("failed to compute HMAC with key \"{name}\""), e)
            })?;
        Ok(vec![("hmac", Zeroizing::new(B64.encode(sum.as_slice())))])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dek_text_on_a_terminal_and_json_when_piped() {
        let pairs = [("plaintext", "UA=="), ("ciphertext", "Qw==")];
        let tty = Out {
            tty: true,
            color: false,
        };
        assert_eq!(
            pairs_text(&tty, false, &pairs).unwrap().as_str(),
            "\nplaintext:  UA==\nciphertext: Qw==\n"
        );
        assert_eq!(
            pairs_text(&tty, true, &pairs).unwrap().as_str(),
            "{\"plaintext\":\"UA==\",\"ciphertext\":\"Qw==\"}\n"
        );
        let piped = Out {
            tty: false,
            color: false,
        };
        assert_eq!(
            pairs_text(&piped, false, &pairs).unwrap().as_str(),
            "{\"plaintext\":\"UA==\",\"ciphertext\":\"Qw==\"}\n",
            "piped JSON ends its line too"
        );
        assert_eq!(
            pairs_text(&tty, false, &[("ciphertext", "Qw==")])
                .unwrap()
                .as_str(),
            "\nciphertext: Qw==\n"
        );
    }

    #[test]
    fn context_is_base64_or_text() {
        assert_eq!(context_bytes(None).as_slice(), b"");
        assert_eq!(context_bytes(Some("")).as_slice(), b"");
        assert_eq!(context_bytes(Some("e30=")).as_slice(), b"{}");
        assert_eq!(context_bytes(Some("{}")).as_slice(), b"{}");
        assert_eq!(
            context_bytes(Some("my bucket/object")).as_slice(),
            b"my bucket/object"
        );
        // Missing padding is not standard base64: used as text.
        assert_eq!(context_bytes(Some("e30")).as_slice(), b"e30");
    }
}
