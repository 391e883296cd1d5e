//! `kes migrate`: copy keys between two key stores, each given by a KES
//! config file (spec §10.10). The copying rules live in
//! `kes_keystore::migrate`; this module parses flags and shows progress: a
//! bar with counts on a terminal (stderr), one line per key otherwise, and a
//! summary at the end.
//!
//! Go's other target, MinIO KMS (`-s/-e/-a`), is not offered.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::Args;
use kes_keystore::migrate::{self, MigrateOptions, Outcome, Progress, Summary};
use kes_server::level::Level;
use kes_server::log::{Logger, bridge};
use kes_types::Glob;

use crate::cli::block_on;
use crate::error::CliError;
use crate::output;

/// `kes migrate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    kes migrate --from vault.yml --to fs.yml\n  \
    kes migrate --from vault.yml --to aws.yml --dry-run 'minio-*'")]
pub struct MigrateArgs {
    /// Config file of the source key store.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Config file of the destination key store.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Replace keys that exist at the destination with another value.
    #[arg(short, long, conflicts_with = "merge")]
    pub force: bool,
    /// Keep keys that exist at the destination with another value.
    #[arg(long)]
    pub merge: bool,
    /// Show what would be copied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Copy keys whose names match this glob (`*`, `?`, `[…]`).
    #[arg(value_name = "PATTERN", default_value = "*")]
    pub pattern: String,
}

fn outcome_word(o: Outcome, dry_run: bool) -> &'static str {
    match (o, dry_run) {
        (Outcome::Copied, false) => "copied",
        (Outcome::Copied, true) => "would copy",
        (Outcome::Replaced, false) => "replaced",
        (Outcome::Replaced, true) => "would replace",
        (Outcome::Identical, _) => "identical, skipped",
        (Outcome::Kept, _) => "differs, kept (--merge)",
    }
}

/// The closing line.
fn summary_text(s: &Summary, dry_run: bool) -> String {
    let verb = if dry_run { "would copy" } else { "copied" };
    let mut line = format!(
        "{} matched: {verb} {}, {} replaced, {} identical, {} kept",
        s.matched, s.copied, s.replaced, s.identical, s.kept
    );
    if dry_run {
        line.push_str(" (dry run: nothing written)");
    }
    line
}

/// Runs `kes migrate`.
pub fn run(a: MigrateArgs) -> Result<(), CliError> {
    let pattern = Glob::new(&a.pattern).map_err(|e| CliError::Usage(e.to_string()))?;
    let opts = MigrateOptions {
        force: a.force,
        merge: a.merge,
        dry_run: a.dry_run,
    };
    // What the key stores log (a key directory other users can read, a
    // failed token renewal, …) reaches stderr through the server's tracing
    // bridge, as it does for `kes server`.
    let key_store_log = Logger::with_writers(
        Level::INFO,
        Level::OFF,
        Box::new(std::io::stderr()),
        Box::new(std::io::sink()),
    );
    bridge::attach(&key_store_log);
    block_on(async move {
        let connect = async |flag: &str, path: &PathBuf| {
            let (store, warnings) = kes_server::configure::load_keystore(path)
                .await
                .map_err(|e| CliError::Other(format!("cannot use the {flag} config: {e}")))?;
            for w in warnings {
                eprintln!("Warning: {w}");
            }
            Ok::<_, CliError>(store)
        };
        let from = connect("--from", &a.from).await?;
        let to = connect("--to", &a.to).await?;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut stdout_failed = None;
        let result = migrate::migrate(from.as_ref(), to.as_ref(), &pattern, opts, |p| {
            match (p, &bar) {
                (Progress::Total(n), Some(bar)) => bar.set_length(n as u64),
                (Progress::Key(name, _), Some(bar)) => {
                    bar.set_message(name.to_owned());
                    bar.inc(1);
                }
                (Progress::Total(_), None) => {}
                (Progress::Key(name, o), None) if stdout_failed.is_none() => {
                    let line = format!("{name}: {}", outcome_word(o, opts.dry_run));
                    stdout_failed = output::println(&line).err();
                }
                (Progress::Key(..), None) => {}
            }
        })
        .await;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        if let Some(e) = stdout_failed {
            return Err(e);
        }
        let summary = result.map_err(|e| CliError::Other(e.to_string()))?;
        output::println(&summary_text(&summary, opts.dry_run))
    })
}
