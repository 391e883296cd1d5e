//! Identity endpoints (spec §2.5): describe, list, and the flat
//! self-describe shape every Go client parses (with the non-admin lookup
//! that Go gets wrong fixed, §3.9).

use http::Response;
use kes_types::api::{DescribeIdentityResponse, ListIdentitiesResponse, SelfDescribeResponse};
use kes_types::name::{ListPattern, validate_identity};

use super::error::Error;
use super::{Body, Ctx, json};

/// `GET /v1/identity/describe/<identity>`.
pub(super) fn describe(ctx: &Ctx<'_>) -> Result<Response<Body>, Error> {
    validate_identity(ctx.resource)?;
    let policies = &ctx.state.policies;
    let created_at = ctx.server.started_rfc3339().to_owned();
    if policies.is_admin(ctx.resource) {
        return json(&DescribeIdentityResponse {
            admin: true,
            created_at,
            ..Default::default()
        });
    }
    let policy = policies
        .policy_of(ctx.resource)
        .ok_or(Error::IdentityNotFound)?;
    json(&DescribeIdentityResponse {
        admin: false,
        policy: policy.name.clone(),
        created_at,
        created_by: policies.admin().to_owned(),
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
    let created_at = ctx.server.started_rfc3339().to_owned();
    if policies.is_admin(identity) {
        return json(&SelfDescribeResponse {
            identity: identity.to_owned(),
            admin: true,
            created_at,
            ..Default::default()
        });
    }
    let policy = policies
        .policy_of(identity)
        .ok_or(Error::IdentityNotFound)?;
    json(&SelfDescribeResponse {
        identity: identity.to_owned(),
        admin: false,
        created_at,
        created_by: policies.admin().to_owned(),
        policy: policy.name.clone(),
        allow: policy.allow.clone(),
        deny: policy.deny.clone(),
    })
}
