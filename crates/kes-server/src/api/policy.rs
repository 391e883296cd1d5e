//! Policy endpoints: the read-only views of spec §2.4 and the runtime
//! administration of the original API (§3.1, `write` and `delete`; rules in
//! `auth::runtime`). Config policies show the server start time and the
//! admin as `created_at` / `created_by`, runtime ones when and by whom they
//! were written.

use http::Response;
use hyper::body::Incoming;
use kes_types::api::{DescribePolicyResponse, ListNamesResponse, ReadPolicyResponse};
use kes_types::name::{ListPattern, PolicyName};

use super::body::PolicyRequest;
use super::error::Error;
use super::{Body, Ctx, empty_ok, json, read_body};
use crate::auth::PolicyEntry;

fn lookup<'a>(ctx: &'a Ctx<'_>) -> Result<&'a PolicyEntry, Error> {
    let name = PolicyName::new(ctx.resource)?;
    ctx.state
        .policies
        .policy(name.as_str())
        .map(|p| p.as_ref())
        .ok_or(Error::PolicyNotFound)
}

fn created(ctx: &Ctx<'_>, policy: &PolicyEntry) -> (String, String) {
    let (at, by) = policy
        .origin
        .created(ctx.server.started_rfc3339(), ctx.state.policies.admin());
    (at.to_owned(), by.to_owned())
}

/// `GET /v1/policy/describe/<name>`.
pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let policy = lookup(ctx)?;
    let (created_at, created_by) = created(ctx, policy);
    json(&DescribePolicyResponse {
        name: policy.name.clone(),
        created_at,
        created_by,
    })
}

/// `GET /v1/policy/read/<name>`: allow/deny as objects of `{}`.
pub(super) fn read(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let policy = lookup(ctx)?;
    let (created_at, created_by) = created(ctx, policy);
    json(&ReadPolicyResponse {
        name: policy.name.clone(),
        allow: policy.allow.clone(),
        deny: policy.deny.clone(),
        created_at,
        created_by,
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

/// `PUT /v1/policy/write/<name>`: body `{"allow":[…],"deny":[…]}` (arrays,
/// or the objects `read` returns; `paths` is the oldest spelling of
/// `allow`). Creates or replaces the policy until restart.
pub(super) async fn write(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    let name = PolicyName::new(ctx.resource)?;
    let raw = read_body(ctx, body, "invalid policy")
        .await
        .map_err(|e| match e {
            Error::BadBody { cause, .. } => Error::BadPolicy(cause),
            other => other,
        })?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadPolicy(
            "request body is empty: expected {\"allow\":[…],\"deny\":[…]}".into(),
        ));
    }
    let PolicyRequest { allow, deny } =
        PolicyRequest::decode(&raw).map_err(|e| Error::BadPolicy(e.to_string()))?;
    let actor = ctx.actor();
    ctx.server.administer(|changes, _| {
        changes.write_policy(&name, &allow, &deny, &actor);
        Ok(())
    })?;
    ctx.log_change(&format!("policy '{name}' written"));
    Ok(empty_ok())
}

/// `DELETE /v1/policy/delete/<name>`: removes the policy (config or
/// runtime) until restart, and unassigns its identities.
pub(super) fn delete(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let name = PolicyName::new(ctx.resource)?;
    ctx.server
        .administer(|changes, current| changes.delete_policy(current, name.as_str()))?;
    ctx.log_change(&format!("policy '{name}' deleted"));
    Ok(empty_ok())
}
