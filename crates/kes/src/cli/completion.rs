//! Shell completion and man pages, generated from the clap definition
//! ([`super::Cli`]) so that they never drift from the parser:
//! `kes completion <shell>` prints a completion script, `kes
//! --auto-completion` (Go's spelling) installs one for the login shell, and
//! `kes man <dir>` writes one man page per command.
//!
//! Go KES's `--auto-completion` appended a line to `~/.bashrc`/`~/.zshrc`;
//! this one edits no rc file: it writes the script where the shell loads
//! completions from by itself (bash-completion's and fish's per-user
//! directories), or, for zsh, to a directory it names for `fpath`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::Cli;
use crate::error::CliError;
use crate::output;

/// `kes completion`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kes completion bash > ~/.local/share/bash-completion/completions/kes
  kes completion zsh > ~/.zfunc/_kes      # a directory on $fpath
  kes completion fish > ~/.config/fish/completions/kes.fish")]
pub struct CompletionArgs {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `kes man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  kes man /usr/local/share/man/man1 && man kes-key-create")]
pub struct ManArgs {
    /// The directory to write the pages to (created if missing): kes.1 and
    /// kes-<command>[-<subcommand>].1.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Prints the completion script for `args.shell`.
pub fn run(args: &CompletionArgs) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script(args.shell))
        .and_then(|()| stdout.flush())
        .map_err(CliError::Stdout)
}

/// Writes the man pages to `args.dir`.
pub fn man(args: &ManArgs) -> Result<(), CliError> {
    let io = |what, source| CliError::Io {
        what,
        path: args.dir.clone(),
        source,
    };
    std::fs::create_dir_all(&args.dir).map_err(|e| io("cannot create directory", e))?;
    clap_mangen::generate_to(Cli::command(), &args.dir)
        .map_err(|e| io("cannot write man pages to", e))
}

/// `kes --auto-completion`: installs the completion script of the shell
/// named by `$SHELL` for the current user and says where.
pub fn install() -> Result<(), CliError> {
    let login = std::env::var_os("SHELL").unwrap_or_default();
    let name = Path::new(&login)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (shell, path, note) = match name.as_str() {
        "bash" => (
            Shell::Bash,
            data_home()?.join("bash-completion/completions/kes"),
            "",
        ),
        "fish" => (
            Shell::Fish,
            config_home()?.join("fish/completions/kes.fish"),
            "",
        ),
        "zsh" => (
            Shell::Zsh,
            data_home()?.join("zsh/site-functions/_kes"),
            "\nAdd its directory to fpath in ~/.zshrc, before compinit, if it is not there yet:\n  fpath=(${XDG_DATA_HOME:-$HOME/.local/share}/zsh/site-functions $fpath)\n",
        ),
        _ => {
            return Err(CliError::Unsupported(format!(
                "--auto-completion supports bash, zsh and fish, not the shell '{}' of $SHELL; \
                 'kes completion <shell>' prints the script for others",
                login.to_string_lossy()
            )));
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            what: "cannot create directory",
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::write(&path, script(shell)).map_err(|source| CliError::Io {
        what: "cannot write completion script",
        path: path.clone(),
        source,
    })?;
    output::print(&format!(
        "Installed {name} completion for kes in {}\n{note}",
        path.display()
    ))
}

/// The completion script of `shell` for the whole command tree.
fn script(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kes", &mut buf);
    buf
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
fn data_home() -> Result<PathBuf, CliError> {
    xdg_dir("XDG_DATA_HOME", ".local/share")
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_home() -> Result<PathBuf, CliError> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// An XDG base directory: the variable when it holds an absolute path (the
/// specification ignores relative ones), else `$HOME/<fallback>`.
fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os(var).map(PathBuf::from)
        && dir.is_absolute()
    {
        return Ok(dir);
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(fallback)),
        _ => Err(CliError::Env(format!(
            "cannot install shell completion: neither {var} nor HOME is set"
        ))),
    }
}
