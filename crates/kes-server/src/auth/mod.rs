//! Authorization (spec §4.2, §4.4, §5): the admin identity, the policies of
//! the config file and those written at run time ([`runtime`]), the
//! one-policy-per-identity assignment, and the decision for a request path.
//!
//! A [`PolicySet`] is immutable: the server keeps the config's set and the
//! effective set (config with the runtime changes applied) in its state
//! snapshot and swaps in a new one on every change, so the hot path never
//! takes a lock. The path given to [`PolicySet::authorize`] is the decoded,
//! canonical path the router matched (`api::routes`), never a different
//! spelling of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kes_types::api::Empty;
use kes_types::name::{NameError, PolicyName, validate_identity};

use kes_types::{PathPattern, Policy};

pub mod runtime;

pub use runtime::{AdminError, RuntimeChanges};

/// One policy as written in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySpec {
    /// Allowed path patterns.
    pub allow: Vec<String>,
    /// Denied path patterns.
    pub deny: Vec<String>,
    /// Identities assigned to the policy.
    pub identities: Vec<String>,
}

/// Where a policy or an assignment comes from; decides the `created_at` /
/// `created_by` the API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file: created at server start by the admin.
    Config,
    /// An API call at run time.
    Runtime {
        /// When, RFC 3339.
        created_at: String,
        /// The caller's identity.
        created_by: String,
    },
}

impl Origin {
    /// `(created_at, created_by)` for the API, given the server start time
    /// and the admin identity that config entries are attributed to.
    pub fn created<'a>(&'a self, started: &'a str, admin: &'a str) -> (&'a str, &'a str) {
        match self {
            Self::Config => (started, admin),
            Self::Runtime {
                created_at,
                created_by,
            } => (created_at, created_by),
        }
    }
}

/// A named policy, compiled for matching and pre-rendered for the API.
#[derive(Debug)]
pub struct PolicyEntry {
    /// The policy name.
    pub name: String,
    /// The compiled policy.
    pub policy: Policy,
    /// Allow patterns as the API renders them (`{"pattern":{}}`).
    pub allow: BTreeMap<String, Empty>,
    /// Deny patterns as the API renders them.
    pub deny: BTreeMap<String, Empty>,
    /// Config file or API.
    pub origin: Origin,
}

impl PolicyEntry {
    /// Compiles a policy from its patterns.
    pub fn new(name: &str, allow: &[String], deny: &[String], origin: Origin) -> Self {
        Self {
            name: name.to_owned(),
            policy: Policy::new(
                allow.iter().map(|p| PathPattern::new(p.as_str())),
                deny.iter().map(|p| PathPattern::new(p.as_str())),
            ),
            allow: allow.iter().map(|p| (p.clone(), Empty {})).collect(),
            deny: deny.iter().map(|p| (p.clone(), Empty {})).collect(),
            origin,
        }
    }
}

/// The policy an identity is assigned to, and who assigned it.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The policy.
    pub policy: Arc<PolicyEntry>,
    /// Config file or API.
    pub origin: Origin,
}

/// Policy errors found when building a [`PolicySet`] (start-up or reload).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A policy name is invalid.
    #[error("{0}")]
    InvalidPolicyName(NameError),
    /// An identity in a policy is invalid.
    #[error("{0}")]
    InvalidIdentity(NameError),
    /// An identity appears in two policies.
    #[error("cannot assign policy '{policy}' to '{identity}': identity already has a policy")]
    AlreadyAssigned {
        /// The second policy.
        policy: String,
        /// The identity.
        identity: String,
    },
    /// The admin identity appears in a policy.
    #[error("invalid policy '{policy}': identity '{identity}' is already admin")]
    AdminInPolicy {
        /// The policy.
        policy: String,
        /// The identity.
        identity: String,
    },
    /// No admin identity.
    #[error("invalid admin identity: no admin identity")]
    NoAdmin,
}

/// Why a request was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant<'a> {
    /// The caller is the admin.
    Admin,
    /// The named policy allows the path.
    Policy(&'a str),
}

/// Why a request was denied (for the DEBUG error log; clients only ever see
/// the canonical 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The identity has no policy.
    NoPolicy,
    /// The identity's policy does not allow the path.
    Policy(String),
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPolicy => f.write_str("access denied: identity not found"),
            Self::Policy(p) => write!(f, "access denied: rejected by policy '{p}'"),
        }
    }
}

/// The admin identity and every policy with its identities.
#[derive(Debug)]
pub struct PolicySet {
    admin: String,
    policies: BTreeMap<String, Arc<PolicyEntry>>,
    assigned: HashMap<String, Assignment>,
}

impl PolicySet {
    /// Validates and compiles the policies (spec §5.1 rules and messages).
    pub fn new(admin: &str, specs: &BTreeMap<String, PolicySpec>) -> Result<Self, AuthError> {
        let admin = admin.trim();
        if admin.is_empty() {
            return Err(AuthError::NoAdmin);
        }
        let mut policies = BTreeMap::new();
        let mut assigned: HashMap<String, Assignment> = HashMap::new();
        for (name, spec) in specs {
            PolicyName::new(name).map_err(AuthError::InvalidPolicyName)?;
            let entry = Arc::new(PolicyEntry::new(
                name,
                &spec.allow,
                &spec.deny,
                Origin::Config,
            ));
            for identity in &spec.identities {
                let identity = identity.trim();
                validate_identity(identity).map_err(AuthError::InvalidIdentity)?;
                if identity == admin {
                    return Err(AuthError::AdminInPolicy {
                        policy: name.clone(),
                        identity: identity.to_owned(),
                    });
                }
                if assigned.contains_key(identity) {
                    return Err(AuthError::AlreadyAssigned {
                        policy: name.clone(),
                        identity: identity.to_owned(),
                    });
                }
                assigned.insert(
                    identity.to_owned(),
                    Assignment {
                        policy: entry.clone(),
                        origin: Origin::Config,
                    },
                );
            }
            policies.insert(name.clone(), entry);
        }
        Ok(Self {
            admin: admin.to_owned(),
            policies,
            assigned,
        })
    }

    /// The admin identity (may be a placeholder such as `disabled`).
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// Whether `identity` is the admin.
    pub fn is_admin(&self, identity: &str) -> bool {
        identity == self.admin
    }

    /// Decides whether `identity` may request `path` (deny wins, admin bypasses).
    pub fn authorize(&self, identity: &str, path: &str) -> Result<Grant<'_>, Denied> {
        if self.is_admin(identity) {
            return Ok(Grant::Admin);
        }
        let entry = &self.assigned.get(identity).ok_or(Denied::NoPolicy)?.policy;
        if entry.policy.verify(path) {
            Ok(Grant::Policy(&entry.name))
        } else {
            Err(Denied::Policy(entry.name.clone()))
        }
    }

    /// The policy named `name`.
    pub fn policy(&self, name: &str) -> Option<&Arc<PolicyEntry>> {
        self.policies.get(name)
    }

    /// The assignment of `identity`.
    pub fn policy_of(&self, identity: &str) -> Option<&Assignment> {
        self.assigned.get(identity)
    }

    /// The identities assigned to the policy `name`.
    pub fn identities_of(&self, name: &str) -> impl Iterator<Item = &str> {
        self.assigned
            .iter()
            .filter(move |(_, a)| a.policy.name == name)
            .map(|(id, _)| id.as_str())
    }

    /// This set (the config's) with the runtime `changes` applied: a
    /// runtime policy replaces the config policy of its name, a deleted
    /// one is gone, a runtime assignment replaces the identity's config
    /// assignment and a forgotten identity has none. Assignments of the
    /// admin or to a policy that does not exist are skipped; `warn` hears
    /// about every skip and every shadowed config policy (a reload logs
    /// them).
    pub fn with_changes(&self, changes: &RuntimeChanges, mut warn: impl FnMut(String)) -> Self {
        let mut policies = self.policies.clone();
        for (name, change) in changes.policies() {
            match change {
                Some(p) => {
                    if self.policies.contains_key(name) {
                        warn(format!(
                            "policy '{name}' written at run time replaces the config policy of that name until restart"
                        ));
                    }
                    policies.insert(name.clone(), Arc::new(p.entry(name)));
                }
                None => {
                    policies.remove(name);
                }
            }
        }
        let mut assigned = HashMap::with_capacity(self.assigned.len());
        let mut assign = |id: &str, name: &str, origin: Origin| {
            if self.is_admin(id) {
                warn(format!(
                    "identity '{id}' is the admin: its assignment to policy '{name}' is ignored"
                ));
            } else if let Some(policy) = policies.get(name) {
                let policy = policy.clone();
                assigned.insert(id.to_owned(), Assignment { policy, origin });
            } else {
                warn(format!(
                    "identity '{id}' is assigned to policy '{name}', which does not exist: ignored"
                ));
            }
        };
        for (id, a) in &self.assigned {
            if !changes.assignments().contains_key(id) {
                assign(id, &a.policy.name, a.origin.clone());
            }
        }
        for (id, a) in changes.assignments() {
            if let Some(a) = a {
                assign(id, &a.policy, a.origin());
            }
        }
        Self {
            admin: self.admin.clone(),
            policies,
            assigned,
        }
    }

    /// Policy names starting with `prefix`, sorted.
    pub fn policy_names(&self, prefix: &str) -> Vec<String> {
        self.policies
            .keys()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Assigned identities plus the admin, starting with `prefix`, sorted.
    pub fn identities(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .assigned
            .keys()
            .chain(std::iter::once(&self.admin))
            .filter(|i| i.starts_with(prefix))
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(allow: &[&str], deny: &[&str], ids: &[&str]) -> PolicySpec {
        PolicySpec {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            identities: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn decisions() {
        let mut specs = BTreeMap::new();
        specs.insert(
            "app".to_string(),
            spec(
                &["/v1/key/generate/app*", "/v1/status"],
                &["/v1/key/generate/app-internal*"],
                &["aaaa"],
            ),
        );
        let set = PolicySet::new("root", &specs).unwrap();
        assert_eq!(set.authorize("root", "/anything"), Ok(Grant::Admin));
        assert_eq!(
            set.authorize("aaaa", "/v1/key/generate/app-1"),
            Ok(Grant::Policy("app"))
        );
        assert_eq!(
            set.authorize("aaaa", "/v1/key/generate/app-internal-1"),
            Err(Denied::Policy("app".into()))
        );
        assert_eq!(set.authorize("bbbb", "/v1/status"), Err(Denied::NoPolicy));
        assert_eq!(set.identities(""), vec!["aaaa", "root"]);
        assert_eq!(set.policy_names("a"), vec!["app"]);
    }

    #[test]
    fn config_errors() {
        let mut specs = BTreeMap::new();
        specs.insert("a".to_string(), spec(&[], &[], &["x"]));
        specs.insert("b".to_string(), spec(&[], &[], &["x"]));
        assert_eq!(
            PolicySet::new("root", &specs).unwrap_err().to_string(),
            "cannot assign policy 'b' to 'x': identity already has a policy"
        );
        let mut specs = BTreeMap::new();
        specs.insert("a.b".to_string(), spec(&[], &[], &[]));
        assert_eq!(
            PolicySet::new("root", &specs).unwrap_err().to_string(),
            "policy name 'a.b' is empty, too long or contains invalid characters"
        );
        let mut specs = BTreeMap::new();
        specs.insert("a".to_string(), spec(&[], &[], &["root"]));
        assert_eq!(
            PolicySet::new("root", &specs).unwrap_err().to_string(),
            "invalid policy 'a': identity 'root' is already admin"
        );
        assert!(matches!(
            PolicySet::new(" ", &BTreeMap::new()),
            Err(AuthError::NoAdmin)
        ));
    }
}
