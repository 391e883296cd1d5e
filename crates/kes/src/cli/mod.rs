//! The clap command tree of `kes`: the root parser, the [`Command`] enum with
//! one module per command group, the flags the client commands share, and
//! [`run`], which dispatches a parsed command line.
//!
//! Help texts come from these definitions (doc comments). Commands that talk
//! to a server run on a current-thread tokio runtime built here. The output
//! pieces several command groups print the same way (creation date and
//! creator of an info view) are built here too.
//!
//! Deliberate differences from the Go CLI (spec §10), all in output only:
//! `--json` listings print only the JSON array (Go also printed the table);
//! `kes key info --json` always includes `algorithm` (Go omitted `AES256`);
//! `kes policy ls` is headed `Policy` (Go said `Key`); `kes identity info
//! --json` is implemented; times print in UTC; "terminal" means stdout is a
//! TTY, so `kes key dek k | jq` always gets JSON. `kes identity new` also
//! writes `private.key`/`public.crt` when only `--ip`/`--dns`/`--expiry` or a
//! subject are given (the guides' form). Passwords of legacy-encrypted
//! keys are read from the terminal, or from one stdin line per prompt when
//! stdin is not a terminal (`password.rs`).

use std::future::Future;

use clap::{Args, Parser, Subcommand};

use crate::env::Overrides;
pub use crate::error::CliError;
use crate::output::{self, ColorChoice, Out};

pub mod completion;
pub mod identity;
pub mod key;
pub mod log;
pub mod ls;
pub mod metric;
pub mod migrate;
pub mod policy;
pub mod server;
pub mod status;
pub mod tool;

/// The `kes` command line.
#[derive(Debug, Parser)]
#[command(
    name = "kes",
    about = "KES is a key management server for cloud-native applications.",
    disable_version_flag = true,
    arg_required_else_help = true,
    after_help = "Use 'kes <command> --help' for more information about a command."
)]
pub struct Cli {
    /// Print version information.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Install shell completion for the shell of $SHELL (bash, zsh, fish).
    #[arg(long = "auto-completion")]
    pub auto_completion: bool,
    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a KES server.
    Server(server::Args),
    /// List keys, identities or policies.
    Ls(ls::LsArgs),
    /// Manage cryptographic keys.
    Key(key::KeyArgs),
    /// Inspect policies, and change them until the server restarts.
    Policy(policy::PolicyArgs),
    /// Create and inspect identities (API keys, certificates).
    Identity(identity::IdentityArgs),
    /// Print server logs (follows the stream).
    Log(log::LogArgs),
    /// Print server status.
    Status(status::StatusArgs),
    /// Print server metrics.
    Metric(metric::MetricArgs),
    /// Copy keys from one key store to another.
    Migrate(migrate::MigrateArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
    /// Write man pages for kes and its commands.
    Man(completion::ManArgs),
    /// Older command spellings (kes tool identity ...).
    #[command(hide = true)]
    Tool(tool::ToolArgs),
}

/// Connection flags every client command accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnArgs {
    /// Skip verification of the server's TLS certificate.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Ignored: enclaves no longer exist (accepted for old scripts).
    #[arg(short = 'e', long, value_name = "NAME", hide = true)]
    pub enclave: Option<String>,
}

impl ConnArgs {
    /// The connection overrides these flags stand for.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            insecure: self.insecure,
            ..Overrides::default()
        }
    }
}

/// Output flags of the read commands.
#[derive(Debug, Clone, Default, Args)]
pub struct FormatArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// When to colour the output.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl FormatArgs {
    /// The resolved output settings.
    pub fn out(&self) -> Out {
        Out::detect(self.color)
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    if cli.version {
        return output::print(&version_text());
    }
    if cli.auto_completion {
        return completion::install();
    }
    match cli.command {
        None => Err(CliError::Usage("no command given. See 'kes --help'".into())),
        Some(Command::Server(a)) => server::run(a),
        Some(Command::Ls(a)) => ls::run(a),
        Some(Command::Key(a)) => key::run(a),
        Some(Command::Policy(a)) => policy::run(a),
        Some(Command::Identity(a)) => identity::run(a),
        Some(Command::Log(a)) => log::run(a),
        Some(Command::Status(a)) => status::run(a),
        Some(Command::Metric(a)) => metric::run(a),
        Some(Command::Migrate(a)) => migrate::run(a),
        Some(Command::Completion(a)) => completion::run(&a),
        Some(Command::Man(a)) => completion::man(&a),
        Some(Command::Tool(a)) => tool::run(a),
    }
}

/// Runs a future to completion on a fresh current-thread runtime.
pub fn block_on<F>(f: F) -> Result<(), CliError>
where
    F: Future<Output = Result<(), CliError>>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?
        .block_on(f)
}

/// The closing lines of an info view: when (`labels[0]`, in UTC) and by whom
/// (`labels[1]`, `-` when unknown) something was created.
pub(crate) fn created_fields(
    out: &Out,
    width: usize,
    labels: [&str; 2],
    created_at: &str,
    created_by: &str,
) -> String {
    let [date_label, by_label] = labels;
    let by = if created_by.is_empty() {
        "-"
    } else {
        created_by
    };
    let mut s = output::field(out, width, date_label, &output::date_time(created_at));
    s.push_str(&output::field(out, width, by_label, by));
    s
}

/// The `kes --version` text: version, runtime, license, copyright.
pub fn version_text() -> String {
    let label = |l: &str, v: &str| format!("{l:<11}{v}\n");
    let mut s = label(
        "Version",
        &format!(
            "{} commit={}",
            kes_server::api::VERSION,
            kes_server::api::COMMIT
        ),
    );
    s.push_str(&label(
        "Runtime",
        &format!("rust {}/{}", go_os(), go_arch()),
    ));
    s.push_str(&label("License", env!("CARGO_PKG_LICENSE")));
    s.push_str(&label("Copyright", "The kes authors"));
    s
}

/// The operating system in Go's spelling.
pub fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// The CPU architecture in Go's spelling.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn version_lines() {
        let v = version_text();
        assert!(v.starts_with("Version    "));
        for l in ["Runtime", "License", "Copyright"] {
            assert!(v.contains(l), "{v}");
        }
    }
}
