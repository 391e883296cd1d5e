//! Policy endpoints (spec §2.4): read-only views of the config's policies.
//! `created_at` is the server start time, `created_by` the admin.

use http::Response;
use kes_types::api::{DescribePolicyResponse, ListNamesResponse, ReadPolicyResponse};
use kes_types::name::{ListPattern, PolicyName};

use super::error::Error;
use super::{Body, Ctx, json};
use crate::auth::PolicyEntry;

fn lookup<'a>(ctx: &'a Ctx<'_>) -> Result<&'a PolicyEntry, Error> {
    let name = PolicyName::new(ctx.resource)?;
    ctx.state
        .policies
        .policy(name.as_str())
        .map(|p| p.as_ref())
        .ok_or(Error::PolicyNotFound)
}

/// `GET /v1/policy/describe/<name>`.
pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let policy = lookup(ctx)?;
    json(&DescribePolicyResponse {
        name: policy.name.clone(),
        created_at: ctx.server.started_rfc3339().to_owned(),
        created_by: ctx.state.policies.admin().to_owned(),
    })
}

/// `GET /v1/policy/read/<name>`: allow/deny as objects of `{}`.
pub(super) fn read(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let policy = lookup(ctx)?;
    json(&ReadPolicyResponse {
        name: policy.name.clone(),
        allow: policy.allow.clone(),
        deny: policy.deny.clone(),
        created_at: ctx.server.started_rfc3339().to_owned(),
        created_by: ctx.state.policies.admin().to_owned(),
    })
}

/// `GET /v1/policy/list/<pattern>`.
pub(super) fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let pattern = ListPattern::new(ctx.resource)?;
    json(&ListNamesResponse {
        names: ctx.state.policies.policy_names(pattern.prefix()),
        continue_at: String::new(),
    })
}
