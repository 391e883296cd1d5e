//! Policies and assignments changed through the API at run time (the
//! original API of spec §3.1: `/v1/policy/write|delete`,
//! `/v1/identity/assign|forget`), kept as the net changes to the config
//! file's policies.
//!
//! Rules, as the KES reference describes them and where it is silent:
//! - Changes are ephemeral: they live in the server process and are gone
//!   after a restart, as the reference says. (Keeping them in a file is
//!   not built: the config file stays the one durable source of policy.)
//! - A SIGHUP reload keeps them and applies them to the new config (a
//!   certificate rotation must not silently undo an operator's
//!   assignments); what no longer fits is skipped with a warning.
//! - Writing a policy that the config also defines replaces the config's
//!   version until restart; writing an existing policy keeps its
//!   identities.
//! - Deleting a policy also unassigns its identities; they do not come
//!   back when a policy of the same name is written again.
//! - An identity has at most one policy: assigning moves it. The admin
//!   can never be assigned a policy nor be forgotten.

use std::collections::BTreeMap;

use kes_types::PathPattern;
use kes_types::name::PolicyName;

use super::{Origin, PolicyEntry, PolicySet};

/// Who changes something, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The caller's identity.
    pub identity: String,
    /// The time of the change, RFC 3339.
    pub at: String,
}

/// A runtime change that the current policies do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No policy of that name.
    #[error("policy does not exist")]
    PolicyNotFound,
    /// The identity has no policy (and is not the admin).
    #[error("identity does not exist")]
    IdentityNotFound,
    /// The admin cannot be assigned a policy nor be forgotten.
    #[error("identity is the admin: the admin identity cannot be {0}")]
    Admin(&'static str),
}

/// A policy written at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePolicy {
    allow: Vec<String>,
    deny: Vec<String>,
    created_at: String,
    created_by: String,
}

impl RuntimePolicy {
    /// The compiled policy named `name`.
    pub(super) fn entry(&self, name: &str) -> PolicyEntry {
        PolicyEntry::new(
            name,
            &self.allow,
            &self.deny,
            Origin::Runtime {
                created_at: self.created_at.clone(),
                created_by: self.created_by.clone(),
            },
        )
    }
}

/// An assignment made at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeAssignment {
    /// The policy name.
    pub policy: String,
    created_at: String,
    created_by: String,
}

impl RuntimeAssignment {
    /// Who made the assignment, and when.
    pub(super) fn origin(&self) -> Origin {
        Origin::Runtime {
            created_at: self.created_at.clone(),
            created_by: self.created_by.clone(),
        }
    }
}

/// The net runtime changes to the config's policies: per policy name the
/// policy written (`Some`) or its deletion (`None`), per identity its
/// assignment (`Some`) or that it was forgotten (`None`). Applied with
/// [`PolicySet::with_changes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeChanges {
    policies: BTreeMap<String, Option<RuntimePolicy>>,
    assignments: BTreeMap<String, Option<RuntimeAssignment>>,
}

impl RuntimeChanges {
    /// Policies written (`Some`) or deleted (`None`), by name.
    pub fn policies(&self) -> &BTreeMap<String, Option<RuntimePolicy>> {
        &self.policies
    }

    /// Assignments made (`Some`) or forgotten (`None`), by identity.
    pub fn assignments(&self) -> &BTreeMap<String, Option<RuntimeAssignment>> {
        &self.assignments
    }

    /// Creates or replaces the policy `name`; its identities keep it.
    pub fn write_policy(
        &mut self,
        name: &PolicyName,
        allow: &[PathPattern],
        deny: &[PathPattern],
        actor: &Actor,
    ) {
        let strings = |ps: &[PathPattern]| ps.iter().map(|p| p.as_str().to_owned()).collect();
        self.policies.insert(
            name.as_str().to_owned(),
            Some(RuntimePolicy {
                allow: strings(allow),
                deny: strings(deny),
                created_at: actor.at.clone(),
                created_by: actor.identity.clone(),
            }),
        );
    }

    /// Deletes the policy `name` of `current` and unassigns its identities.
    pub fn delete_policy(&mut self, current: &PolicySet, name: &str) -> Result<(), AdminError> {
        if current.policy(name).is_none() {
            return Err(AdminError::PolicyNotFound);
        }
        for identity in current.identities_of(name) {
            self.assignments.insert(identity.to_owned(), None);
        }
        self.policies.insert(name.to_owned(), None);
        Ok(())
    }

    /// Assigns `identity` to the policy `name` of `current`, replacing the
    /// policy it had.
    pub fn assign(
        &mut self,
        current: &PolicySet,
        name: &str,
        identity: &str,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        if current.is_admin(identity) {
            return Err(AdminError::Admin("assigned a policy"));
        }
        if current.policy(name).is_none() {
            return Err(AdminError::PolicyNotFound);
        }
        self.assignments.insert(
            identity.to_owned(),
            Some(RuntimeAssignment {
                policy: name.to_owned(),
                created_at: actor.at.clone(),
                created_by: actor.identity.clone(),
            }),
        );
        Ok(())
    }

    /// Removes the policy assignment of `identity` in `current`.
    pub fn forget(&mut self, current: &PolicySet, identity: &str) -> Result<(), AdminError> {
        if current.is_admin(identity) {
            return Err(AdminError::Admin("forgotten"));
        }
        if current.policy_of(identity).is_none() {
            return Err(AdminError::IdentityNotFound);
        }
        self.assignments.insert(identity.to_owned(), None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Denied, Grant, PolicySpec};

    fn config() -> PolicySet {
        let mut specs = BTreeMap::new();
        specs.insert(
            "app".to_owned(),
            PolicySpec {
                allow: vec!["/v1/key/generate/app*".into()],
                deny: vec![],
                identities: vec!["aaaa".into(), "bbbb".into()],
            },
        );
        PolicySet::new("root", &specs).unwrap()
    }

    fn actor() -> Actor {
        Actor {
            identity: "root".into(),
            at: "2026-12-03T12:00:00Z".into(),
        }
    }

    fn patterns(ps: &[&str]) -> Vec<PathPattern> {
        ps.iter().map(|p| PathPattern::parse(p).unwrap()).collect()
    }

    fn apply(config: &PolicySet, changes: &RuntimeChanges) -> (PolicySet, Vec<String>) {
        let mut warnings = Vec::new();
        let set = config.with_changes(changes, |w| warnings.push(w));
        (set, warnings)
    }

    #[test]
    fn write_assign_forget_delete() {
        let config = config();
        let mut changes = RuntimeChanges::default();
        let name = PolicyName::new("ops").unwrap();
        changes.write_policy(&name, &patterns(&["/v1/status"]), &[], &actor());
        let (set, warnings) = apply(&config, &changes);
        assert!(warnings.is_empty());
        assert_eq!(set.policy_names(""), ["app", "ops"]);

        // Assigning moves `aaaa` from the config policy to the runtime one.
        changes.assign(&set, "ops", "aaaa", &actor()).unwrap();
        let (set, _) = apply(&config, &changes);
        assert_eq!(
            set.authorize("aaaa", "/v1/status"),
            Ok(Grant::Policy("ops"))
        );
        assert_eq!(
            set.authorize("aaaa", "/v1/key/generate/app-1"),
            Err(Denied::Policy("ops".into()))
        );
        let a = set.policy_of("aaaa").unwrap();
        assert_eq!(
            a.origin.created("start", "root"),
            (actor().at.as_str(), "root")
        );

        changes.forget(&set, "bbbb").unwrap();
        let (set, _) = apply(&config, &changes);
        assert_eq!(
            set.authorize("bbbb", "/v1/key/generate/app-1"),
            Err(Denied::NoPolicy)
        );
        assert_eq!(
            changes.forget(&set, "bbbb"),
            Err(AdminError::IdentityNotFound)
        );

        // Deleting unassigns; writing the name again does not bring them back.
        changes.delete_policy(&set, "ops").unwrap();
        let (set, _) = apply(&config, &changes);
        assert!(set.policy("ops").is_none());
        assert_eq!(set.authorize("aaaa", "/v1/status"), Err(Denied::NoPolicy));
        changes.write_policy(&name, &patterns(&["/v1/status"]), &[], &actor());
        let (set, _) = apply(&config, &changes);
        assert_eq!(set.authorize("aaaa", "/v1/status"), Err(Denied::NoPolicy));
        assert_eq!(
            changes.delete_policy(&set, "nope"),
            Err(AdminError::PolicyNotFound)
        );
    }

    #[test]
    fn admin_is_never_assigned() {
        let set = config();
        let mut changes = RuntimeChanges::default();
        assert_eq!(
            changes
                .assign(&set, "app", "root", &actor())
                .unwrap_err()
                .to_string(),
            "identity is the admin: the admin identity cannot be assigned a policy"
        );
        assert_eq!(
            changes.forget(&set, "root"),
            Err(AdminError::Admin("forgotten"))
        );
        assert_eq!(
            changes.assign(&set, "nope", "cccc", &actor()),
            Err(AdminError::PolicyNotFound)
        );
        assert_eq!(changes, RuntimeChanges::default());
    }

    #[test]
    fn reload_keeps_changes_and_skips_what_no_longer_fits() {
        let config = config();
        let mut changes = RuntimeChanges::default();
        let app = PolicyName::new("app").unwrap();
        changes.write_policy(&app, &patterns(&["/v1/status"]), &[], &actor());
        changes.assign(&config, "app", "cccc", &actor()).unwrap();
        let (set, warnings) = apply(&config, &changes);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("replaces the config policy"));
        // The config's identities now get the runtime version of `app`.
        assert_eq!(
            set.authorize("aaaa", "/v1/status"),
            Ok(Grant::Policy("app"))
        );

        // A new config in which `cccc` is the admin.
        let reloaded = PolicySet::new("cccc", &BTreeMap::new()).unwrap();
        let (set, warnings) = apply(&reloaded, &changes);
        assert!(set.policy_of("cccc").is_none());
        assert!(
            warnings.iter().any(|w| w.contains("is the admin")),
            "{warnings:?}"
        );
    }
}
