//! The `kes` command-line tool: parses the command line, dispatches to the
//! command modules in [`cli`], and maps failures to `Error: <text>` on stderr
//! with exit status 1 (2 for usage errors). Never prints a backtrace or a
//! `Debug` dump.
#![forbid(unsafe_code)]

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Parser as _;
use clap::error::{ContextKind, ContextValue, ErrorKind};

mod cli;
mod env;
mod error;
mod files;
mod output;
mod password;
mod secret;

fn main() -> ExitCode {
    quiet_panics();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_error(&e),
    };
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            report(&e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Replaces the default panic output (message, location, maybe a
/// backtrace) by one `Error: internal error: …` line. No panic is expected;
/// this only keeps a bug from dumping internals on the user.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        report(&format!("internal error: {msg}"));
    }));
}

/// Prints `Error: <msg>` on stderr (red on a terminal).
fn report(msg: &str) {
    let mut err = std::io::stderr().lock();
    let prefix = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        "\x1b[31mError:\x1b[0m"
    } else {
        "Error:"
    };
    let _ = writeln!(err, "{prefix} {msg}");
}

/// Handles a clap error: help and version go to stdout (exit 0); an unknown
/// top-level command gets Go's message (exit 1, spec §10.1); other usage
/// errors are printed by clap (exit 2).
fn parse_error(e: &clap::Error) -> ExitCode {
    if e.kind() == ErrorKind::InvalidSubcommand
        && let Some(ContextValue::String(cmd)) = e.get(ContextKind::InvalidSubcommand)
        && std::env::args().nth(1).as_deref() == Some(cmd.as_str())
    {
        report(&format!("\"{cmd}\" is not a kes command. See 'kes --help'"));
        return ExitCode::from(1);
    }
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
