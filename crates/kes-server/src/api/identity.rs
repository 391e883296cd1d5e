//! Identity endpoints: describe, list and the flat self-describe shape
//! every Go client parses (spec §2.5, with the non-admin lookup that Go gets
//! wrong fixed, §3.9), and the runtime `assign` / `forget` of the original
//! API (§3.1; rules in `auth::runtime`).

use http::Response;
use kes_types::api::{DescribeIdentityResponse, ListIdentitiesResponse, SelfDescribeResponse};
use kes_types::name::{ListPattern, PolicyName, validate_identity};

use super::error::Error;
use super::{Body, Ctx, empty_ok, json};
use crate::auth::Assignment;

/// `(created_at, created_by)` of an assignment.
fn created(ctx: &Ctx<'_>, a: &Assignment) -> (String, String) {
    let (at, by) = a
        .origin
        .created(ctx.server.started_rfc3339(), ctx.state.policies.admin());
    (at.to_owned(), by.to_owned())
}

/// `GET /v1/identity/describe/<identity>`.
pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    validate_identity(ctx.resource)?;
    let policies = &ctx.state.policies;
    if policies.is_admin(ctx.resource) {
        return json(&DescribeIdentityResponse {
            admin: true,
            created_at: ctx.server.started_rfc3339().to_owned(),
            ..Default::default()
        });
    }
    let assignment = policies
        .policy_of(ctx.resource)
        .ok_or(Error::IdentityNotFound)?;
    let (created_at, created_by) = created(ctx, assignment);
    json(&DescribeIdentityResponse {
        admin: false,
        policy: assignment.policy.name.clone(),
        created_at,
        created_by,
    })
}

/// `GET /v1/identity/list/<pattern>`: assigned identities plus the admin.
pub(super) fn list(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let pattern = ListPattern::new(ctx.resource)?;
    json(&ListIdentitiesResponse {
        identities: ctx.state.policies.identities(pattern.prefix()),
        continue_at: String::new(),
    })
}

/// `GET /v1/identity/self/describe`: the caller's own identity and policy.
pub(super) fn self_describe(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let identity = ctx.identity.ok_or(Error::IdentityNotFound)?;
    let policies = &ctx.state.policies;
    if policies.is_admin(identity) {
        return json(&SelfDescribeResponse {
            identity: identity.to_owned(),
            admin: true,
            created_at: ctx.server.started_rfc3339().to_owned(),
            ..Default::default()
        });
    }
    let assignment = policies
        .policy_of(identity)
        .ok_or(Error::IdentityNotFound)?;
    let (created_at, created_by) = created(ctx, assignment);
    let policy = &assignment.policy;
    json(&SelfDescribeResponse {
        identity: identity.to_owned(),
        admin: false,
        created_at,
        created_by,
        policy: policy.name.clone(),
        allow: policy.allow.clone(),
        deny: policy.deny.clone(),
    })
}

/// `PUT /v1/identity/assign/<policy>/<identity>`: assigns the identity to
/// the policy until restart, replacing the policy it had.
pub(super) fn assign(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let Some((policy, identity)) = ctx.resource.split_once('/') else {
        return Err(Error::BadPath(format!(
            "invalid request path '{}{}': expected {}<policy>/<identity>",
            ctx.route.path, ctx.resource, ctx.route.path
        )));
    };
    let policy = PolicyName::new(policy)?;
    validate_identity(identity)?;
    let actor = ctx.actor();
    ctx.server.administer(|changes, current| {
        changes.assign(current, policy.as_str(), identity, &actor)
    })?;
    ctx.log_change(&format!(
        "identity '{identity}' assigned to policy '{policy}'"
    ));
    Ok(empty_ok())
}

/// `DELETE /v1/identity/forget/<identity>`: removes the identity's policy
/// assignment until restart.
pub(super) fn forget(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    let identity = ctx.resource;
    validate_identity(identity)?;
    ctx.server
        .administer(|changes, current| changes.forget(current, identity))?;
    ctx.log_change(&format!("identity '{identity}' forgotten"));
    Ok(empty_ok())
}
