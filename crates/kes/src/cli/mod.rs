//! The clap command tree of `kes` and the dispatch to each command.

use clap::{Parser, Subcommand};

pub mod server;

/// KES: a key encryption service.
#[derive(Debug, Parser)]
#[command(name = "kes", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `kes`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a KES server.
    Server(server::Args),
}

/// Errors of any command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `kes server` failed.
    #[error(transparent)]
    Server(#[from] kes_server::ServerError),
    /// Wrong usage detected after parsing.
    #[error("{0}")]
    Usage(String),
    /// Any other failure (runtime setup, I/O).
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Whether this is a usage error (exit code 2).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Server(e) => e.is_usage(),
            Self::Usage(_) => true,
            Self::Other(_) => false,
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Server(args) => server::run(args),
    }
}
