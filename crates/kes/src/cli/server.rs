//! `kes server`: flags, then `kes_server::run` on a multi-threaded tokio
//! runtime.

use std::path::PathBuf;

use super::CliError;

/// Flags of `kes server`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Listen address, e.g. 0.0.0.0:7373 or :7373 (default from the config, else 0.0.0.0:7373).
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<String>,

    /// Start a throw-away development server (in-memory keys, self-signed certificate, fresh admin API key).
    #[arg(long)]
    pub dev: bool,

    /// Deprecated: client-certificate verification (on|off); prefer 'tls.auth' in the config.
    #[arg(long, value_name = "on|off", num_args = 0..=1, default_missing_value = "on")]
    pub auth: Option<String>,

    /// Deprecated and ignored: the private key is read from the config file.
    #[arg(long, value_name = "FILE", hide = true)]
    pub key: Option<PathBuf>,

    /// Deprecated and ignored: the certificate is read from the config file.
    #[arg(long, value_name = "FILE", hide = true)]
    pub cert: Option<PathBuf>,

    /// The admin identity, overriding 'admin.identity' of the config ('_' or
    /// 'disabled' disables the admin). Deprecated spelling of the KES
    /// reference; prefer the config file.
    #[arg(long, value_name = "IDENTITY")]
    pub root: Option<String>,

    /// Require locked memory: refuse to start if it cannot be locked (by default memory is
    /// locked when permitted, and a warning is logged when not).
    #[arg(long)]
    pub mlock: bool,

    #[arg(hide = true)]
    extra: Vec<String>,
}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: Args) -> Result<(), CliError> {
    if !args.extra.is_empty() {
        return Err(CliError::Usage("too many arguments".into()));
    }
    let opts = kes_server::ServeOptions {
        config: args.config,
        addr: args.addr,
        dev: args.dev,
        auth: args.auth,
        key: args.key,
        cert: args.cert,
        mlock: args.mlock,
        root: args.root,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Other(format!("failed to start the async runtime: {e}")))?;
    runtime.block_on(kes_server::run(opts))?;
    Ok(())
}
