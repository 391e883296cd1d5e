//! `kes policy`: list, describe and show the server's policies (spec
//! §10.6), and the runtime administration of the original CLI (§3.1):
//! `add` (create or replace) and `delete`, which last until the server
//! restarts. `list` is the old spelling of `ls`.
//!
//! `kes policy add <name> [<file>|-]` reads a JSON policy,
//! `{"allow":[…],"deny":[…]}` (also the object form `kes policy show
//! --json` prints, and the oldest `{"paths":[…]}`), from the file or stdin.

use std::io::Read as _;

use clap::{Args, Subcommand};
use kes_client::WritePolicyRequest;
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
    #[command(visible_alias = "list")]
    Ls(PolicyLsArgs),
    /// Show a policy's allow and deny rules.
    Show(PolicyNameArgs),
    /// Create or replace a policy until the server restarts.
    Add(PolicyAddArgs),
    /// Delete a policy (and unassign its identities) until the server restarts.
    #[command(visible_alias = "rm")]
    Delete(PolicyDeleteArgs),
}

/// `kes policy add`.
#[derive(Debug, Args)]
#[command(
    after_help = "The policy file is JSON: {\"allow\":[\"/v1/key/generate/my-app*\"],\"deny\":[]}\n\
                  Example:\n  kes policy add my-app ./my-app-policy.json"
)]
pub struct PolicyAddArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Name of the policy.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// JSON policy file; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<String>,
}

/// `kes policy delete`.
#[derive(Debug, Args)]
pub struct PolicyDeleteArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Names of the policies.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
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
        PolicyCommand::Add(a) => add(a),
        PolicyCommand::Delete(a) => delete(a),
    }
}

/// A policy file as `kes policy add` reads it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    allow: Patterns,
    #[serde(default)]
    deny: Patterns,
    /// The oldest spelling of `allow`.
    #[serde(default)]
    paths: Patterns,
}

/// Patterns as an array, or as the object `kes policy show --json` prints.
#[derive(Default, serde::Deserialize)]
#[serde(untagged)]
enum Patterns {
    #[default]
    None,
    List(Vec<String>),
    Map(std::collections::BTreeMap<String, serde::de::IgnoredAny>),
}

impl Patterns {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::List(v) => v,
            Self::Map(m) => m.into_keys().collect(),
        }
    }
}

/// Parses a policy file; errors name the file and the JSON position.
fn parse_policy(bytes: &[u8], source: &str) -> Result<WritePolicyRequest, CliError> {
    let file: PolicyFile = serde_json::from_slice(bytes).map_err(|e| {
        CliError::Invalid(format!(
            "invalid policy in {source}: {e} (expected {{\"allow\":[…],\"deny\":[…]}})"
        ))
    })?;
    let mut allow = file.allow.into_vec();
    allow.extend(file.paths.into_vec());
    Ok(WritePolicyRequest {
        allow,
        deny: file.deny.into_vec(),
    })
}

fn add(a: PolicyAddArgs) -> Result<(), CliError> {
    let (bytes, source) = match a.file.as_deref() {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|source| CliError::Io {
                    what: "cannot read",
                    path: "<stdin>".into(),
                    source,
                })?;
            (buf, "<stdin>".to_owned())
        }
        Some(path) => {
            let buf = std::fs::read(path).map_err(|source| CliError::Io {
                what: "cannot read policy file",
                path: path.into(),
                source,
            })?;
            (buf, format!("'{path}'"))
        }
    };
    let policy = parse_policy(&bytes, &source)?;
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        client
            .write_policy(&a.name, &policy)
            .await
            .map_err(|e| CliError::client(format!("failed to add policy \"{}\"", a.name), e))
    })
}

fn delete(a: PolicyDeleteArgs) -> Result<(), CliError> {
    let client = env::client(&a.conn.overrides())?;
    block_on(async move {
        for name in &a.names {
            client
                .delete_policy(name)
                .await
                .map_err(|e| CliError::client(format!("failed to delete policy \"{name}\""), e))?;
        }
        Ok(())
    })
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
        let listing = client.list_policies(&a.pattern).await;
        output::print_listing(
            &out,
            a.format.json,
            "Policy",
            "failed to list policies",
            listing,
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_files() {
        let p = parse_policy(br#"{"allow":["/a"],"deny":["/b"]}"#, "f").unwrap();
        assert_eq!((p.allow, p.deny), (vec!["/a".into()], vec!["/b".into()]));
        let p = parse_policy(br#"{"allow":{"/a":{}},"paths":["/c"]}"#, "f").unwrap();
        assert_eq!(p.allow, ["/a", "/c"]);
        let e = parse_policy(br#"{"alow":["/a"]}"#, "'p.json'").unwrap_err();
        assert!(e.to_string().contains("invalid policy in 'p.json'"), "{e}");
        assert!(parse_policy(b"", "f").is_err());
    }
}
