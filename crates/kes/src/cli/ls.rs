//! `kes ls`: list keys (default), identities (`-i`) or policies (`-p`) by
//! prefix, with its own `-s/--server` and `-a/--api-key` flags — spec §10.7.

use clap::Args;

use crate::cli::{FormatArgs, block_on};
use crate::env::{self, Overrides};
use crate::error::CliError;
use crate::output;
use crate::secret::SecretArg;

/// `kes ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Server to ask (HOST[:PORT]); replaces MINIO_KES_SERVER/KES_SERVER.
    #[arg(short = 's', long = "server", value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// API key to authenticate with; replaces MINIO_KES_API_KEY/KES_API_KEY.
    #[arg(short = 'a', long = "api-key", value_name = "KEY")]
    pub api_key: Option<SecretArg>,
    /// Skip verification of the server's TLS certificate.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Ignored: enclaves no longer exist (accepted for old scripts).
    #[arg(short = 'e', long, value_name = "NAME", hide = true)]
    pub enclave: Option<String>,
    /// List identities instead of keys.
    #[arg(short = 'i', long, conflicts_with = "policy")]
    pub identity: bool,
    /// List policies instead of keys.
    #[arg(short = 'p', long)]
    pub policy: bool,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Only list names starting with this prefix.
    #[arg(value_name = "PREFIX", default_value = "")]
    pub prefix: String,
}

/// Runs `kes ls`.
pub fn run(a: LsArgs) -> Result<(), CliError> {
    let client = env::client(&Overrides {
        server: a.server.clone(),
        api_key: a.api_key.clone(),
        insecure: a.insecure,
    })?;
    let out = a.format.out();
    block_on(async move {
        let (header, result) = if a.identity {
            ("Identity", client.list_identities(&a.prefix).await)
        } else if a.policy {
            ("Policy", client.list_policies(&a.prefix).await)
        } else {
            ("Key", client.list_keys(&a.prefix).await)
        };
        let what = match header {
            "Identity" => "failed to list identities",
            "Policy" => "failed to list policies",
            _ => "failed to list keys",
        };
        output::print_listing(&out, a.format.json, header, what, result)
    })
}
