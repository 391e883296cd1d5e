//! `kes policy`: list, describe and show the server's policies (read-only;
//! policies come from the server's configuration file) — spec §10.6.

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::identity::policy_rules;
use crate::cli::{ConnArgs, FormatArgs, block_on, created_fields};
use crate::env;
use crate::error::CliError;
use crate::output;

/// `kes policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The policy command.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The `kes policy` commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Describe a policy.
    Info(PolicyNameArgs),
    /// List policies.
    Ls(PolicyLsArgs),
    /// Show a policy's allow and deny rules.
    Show(PolicyNameArgs),
}

/// `kes policy info|show`.
#[derive(Debug, Args)]
pub struct PolicyNameArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Name of the policy.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `kes policy ls`.
#[derive(Debug, Args)]
pub struct PolicyLsArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// List policies matching this pattern (a prefix, optionally ending in `*`).
    #[arg(value_name = "PATTERN", default_value = "*")]
    pub pattern: String,
}

/// Runs `kes policy …`.
pub fn run(a: PolicyArgs) -> Result<(), CliError> {
    match a.command {
        PolicyCommand::Info(a) => info(a),
        PolicyCommand::Ls(a) => ls(a),
        PolicyCommand::Show(a) => show(a),
    }
}

/// The JSON of `kes policy show` (Go's shape: no name).
#[derive(Serialize)]
struct ShowJson<'a> {
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    allow: &'a std::collections::BTreeMap<String, kes_types::api::Empty>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    deny: &'a std::collections::BTreeMap<String, kes_types::api::Empty>,
    created_at: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    created_by: &'a str,
}

fn info(a: PolicyNameArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let p = client.describe_policy(&a.name).await.map_err(|e| {
            CliError::client(format!("failed to describe policy \"{}\"", a.name), e)
        })?;
        if a.format.json {
            return output::print_json(&out, &p);
        }
        let mut s = String::new();
        s.push_str(&output::field(&out, 11, "Name", &p.name));
        s.push_str(&created_fields(
            &out,
            11,
            ["Date", "Created by"],
            &p.created_at,
            &p.created_by,
        ));
        output::print(&s)
    })
}

fn ls(a: PolicyLsArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let names = client
            .list_policies(&a.pattern)
            .await
            .map_err(|e| CliError::client("failed to list policies", e))?;
        output::print_names(&out, a.format.json, "Policy", names)
    })
}

fn show(a: PolicyNameArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let p = client
            .read_policy(&a.name)
            .await
            .map_err(|e| CliError::client(format!("failed to show policy \"{}\"", a.name), e))?;
        if a.format.json || !out.tty {
            return output::print_json(
                &out,
                &ShowJson {
                    allow: &p.allow,
                    deny: &p.deny,
                    created_at: &p.created_at,
                    created_by: &p.created_by,
                },
            );
        }
        let mut s = policy_rules(&out, &p.allow, &p.deny);
        s.push('\n');
        s.push_str(&created_fields(
            &out,
            12,
            ["Created at:", "Created by:"],
            &p.created_at,
            &p.created_by,
        ));
        output::print(&s)
    })
}
