//! `kes tool`: the older (≤ v0.17) spellings still found in guides —
//! `kes tool identity new [--server] …` and `kes tool identity of [<cert>|-]`
//! (spec §10.4, "Legacy forms").
//!
//! `tool identity new` writes a fresh Ed25519 private key and self-signed
//! certificate and prints nothing; `tool identity of` prints the identity of
//! a certificate (`--hash` other than SHA256 is refused: only SHA-256 is what
//! servers compute).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use kes_crypto::ApiKey;

use crate::cli::identity::{certificate_options, identity_of, write_key_and_cert};
use crate::error::CliError;
use crate::files;
use crate::output::{self, ColorChoice, Out, parse_go_duration};

/// `kes tool`.
#[derive(Debug, Args)]
pub struct ToolArgs {
    /// The tool command.
    #[command(subcommand)]
    pub command: ToolCommand,
}

/// The `kes tool` commands.
#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Identity helpers (older spelling of `kes identity`); `identify` is
    /// the MinIO guide's typo of it.
    #[command(alias = "identify")]
    Identity(ToolIdentityArgs),
}

/// `kes tool identity`.
#[derive(Debug, Args)]
pub struct ToolIdentityArgs {
    /// The identity command.
    #[command(subcommand)]
    pub command: ToolIdentityCommand,
}

/// The `kes tool identity` commands.
#[derive(Debug, Subcommand)]
pub enum ToolIdentityCommand {
    /// Create a private key and a self-signed certificate.
    New(ToolNewArgs),
    /// Print the identity of a certificate.
    Of(ToolOfArgs),
}

/// `kes tool identity new`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    kes tool identity new --server --key server.key --cert server.cert --ip \"127.0.0.1\" --dns localhost")]
pub struct ToolNewArgs {
    /// Private key file (mode 0600).
    #[arg(long, value_name = "PATH", default_value = "./private.key")]
    pub key: PathBuf,
    /// Certificate file.
    #[arg(long, value_name = "PATH", default_value = "./public.crt")]
    pub cert: PathBuf,
    /// Create a server certificate (serverAuth) instead of a client-only one.
    #[arg(long)]
    pub server: bool,
    /// Add an IP address SAN (repeatable, comma-separated).
    #[arg(long, value_name = "IP", value_delimiter = ',')]
    pub ip: Vec<IpAddr>,
    /// Add a DNS name SAN (repeatable, comma-separated).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub dns: Vec<String>,
    /// Certificate validity as a Go duration.
    #[arg(short = 't', long = "time", value_name = "DURATION", default_value = "720h",
          value_parser = parse_go_duration)]
    pub time: std::time::Duration,
    /// Overwrite existing files.
    #[arg(short, long)]
    pub force: bool,
    /// Certificate subject (common name).
    #[arg(value_name = "SUBJECT")]
    pub subject: Option<String>,
}

/// `kes tool identity of`.
#[derive(Debug, Args)]
pub struct ToolOfArgs {
    /// Hash function (only SHA256 gives the identity servers compute).
    #[arg(long, value_name = "HASH", default_value = "SHA256")]
    pub hash: String,
    /// Certificate file; `-` or nothing reads stdin.
    #[arg(value_name = "CERT")]
    pub cert: Option<String>,
}

/// Runs `kes tool …`.
pub fn run(a: ToolArgs) -> Result<(), CliError> {
    match a.command {
        ToolCommand::Identity(i) => match i.command {
            ToolIdentityCommand::New(n) => run_new(n),
            ToolIdentityCommand::Of(o) => run_of(o),
        },
    }
}

fn run_new(a: ToolNewArgs) -> Result<(), CliError> {
    if a.key == a.cert {
        return Err(CliError::Usage(format!(
            "--key and --cert must be different files, both are '{}'",
            a.key.display()
        )));
    }
    files::check_writable(&a.key, a.force)?;
    files::check_writable(&a.cert, a.force)?;
    let key = ApiKey::generate().map_err(|source| CliError::ApiKey {
        what: "cannot create private key".into(),
        source,
    })?;
    let opts = certificate_options(a.subject.as_deref(), a.ip, a.dns, a.time, a.server)?;
    write_key_and_cert(&key, &opts, &a.key, &a.cert, a.force)
}

fn run_of(a: ToolOfArgs) -> Result<(), CliError> {
    if !a.hash.eq_ignore_ascii_case("SHA256") && !a.hash.eq_ignore_ascii_case("SHA-256") {
        return Err(CliError::Unsupported(format!(
            "--hash {}: only SHA256 is supported (it is the identity servers compute)",
            a.hash
        )));
    }
    let input = a.cert.unwrap_or_else(|| "-".into());
    let id = identity_of(&input)?;
    let out = Out::detect(ColorChoice::Auto);
    if out.tty {
        output::print(&format!("\n  Identity:  {id}\n"))
    } else {
        output::print(id.as_str())
    }
}
