//! Policies and their path patterns (spec §5).
//!
//! A policy is a set of allow patterns and a set of deny patterns matched
//! against the decoded request path. Matching follows the current Go
//! semantics (§5.3): an empty pattern never matches, a trailing `*` makes the
//! rest a prefix, anything else must equal the path exactly. There is no
//! glob: `?`, `[` and a `*` that is not last are literal characters. This
//! module decides; it does not know identities or the admin (the server's
//! auth layer does).

use std::collections::BTreeSet;
use std::fmt;

/// One allow or deny pattern of a policy. Any string is a pattern; see
/// [`PathPattern::matches`] for what it selects.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathPattern(String);

impl PathPattern {
    /// Wraps a pattern as written in the configuration file.
    pub fn new(pattern: impl Into<String>) -> PathPattern {
        PathPattern(pattern.into())
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reports whether the pattern selects `path` (spec §5.3, current rules):
    /// the empty pattern never matches; a pattern ending in `*` matches every
    /// path that starts with the rest; any other pattern matches only the
    /// identical path.
    pub fn matches(&self, path: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        match self.0.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.0,
        }
    }

    /// Reports whether the pattern looks written for the legacy glob rules
    /// (a `*` that is not last, or a `?` or `[`), which now match literally.
    /// Worth a warning at start-up (spec §5.3).
    pub fn looks_like_glob(&self) -> bool {
        let body = self.0.strip_suffix('*').unwrap_or(&self.0);
        body.contains(['*', '?', '['])
    }
}

/// Longest pattern [`PathPattern::parse`] accepts (bytes).
pub const MAX_PATTERN_LEN: usize = 1024;

/// Why a pattern written through the API was refused (see
/// [`PathPattern::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty (it would never match).
    #[error("pattern is empty")]
    Empty,
    /// The pattern does not start with `/` (request paths always do).
    #[error("pattern '{0}' does not start with '/'")]
    NotAbsolute(String),
    /// The pattern is longer than [`MAX_PATTERN_LEN`].
    #[error("pattern is longer than {MAX_PATTERN_LEN} bytes")]
    TooLong,
    /// The pattern holds whitespace or a control character.
    #[error("pattern '{0}' contains whitespace or a control character")]
    BadCharacter(String),
    /// A `*` that is not last, a `?` or a `[`: legacy glob syntax, which the
    /// current rules would match literally.
    #[error("pattern '{0}' uses glob syntax: only one '*' at the end is supported")]
    Glob(String),
}

impl PathPattern {
    /// Validates a pattern written at run time (`/v1/policy/write`): unlike
    /// config files, which keep Go's "any string" rule with a warning, the
    /// API refuses patterns that could never mean what their author intends
    /// — empty, relative, with whitespace or control characters, or with
    /// glob syntax other than one trailing `*`.
    pub fn parse(s: &str) -> Result<PathPattern, PatternError> {
        if s.is_empty() {
            return Err(PatternError::Empty);
        }
        if s.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong);
        }
        // Quote the offending text escaped, so a message never carries raw
        // control characters.
        let shown = || s.escape_debug().to_string();
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::BadCharacter(shown()));
        }
        if !s.starts_with('/') {
            return Err(PatternError::NotAbsolute(shown()));
        }
        let p = PathPattern::new(s);
        if p.looks_like_glob() {
            return Err(PatternError::Glob(shown()));
        }
        Ok(p)
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<&str> for PathPattern {
    fn from(s: &str) -> Self {
        PathPattern::new(s)
    }
}

impl From<String> for PathPattern {
    fn from(s: String) -> Self {
        PathPattern::new(s)
    }
}

impl AsRef<str> for PathPattern {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A policy: sets of allow and deny patterns (duplicates collapse, order is
/// irrelevant). Deny wins; a path no pattern allows is denied, so the empty
/// policy denies everything (spec §5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: BTreeSet<PathPattern>,
    deny: BTreeSet<PathPattern>,
}

impl Policy {
    /// Builds a policy from its allow and deny patterns.
    pub fn new(
        allow: impl IntoIterator<Item = PathPattern>,
        deny: impl IntoIterator<Item = PathPattern>,
    ) -> Policy {
        Policy {
            allow: allow.into_iter().collect(),
            deny: deny.into_iter().collect(),
        }
    }

    /// The allow patterns, sorted.
    pub fn allow(&self) -> &BTreeSet<PathPattern> {
        &self.allow
    }

    /// The deny patterns, sorted.
    pub fn deny(&self) -> &BTreeSet<PathPattern> {
        &self.deny
    }

    /// Reports whether the policy permits `path` (the decoded request path,
    /// e.g. `/v1/key/generate/my-key`): no deny pattern matches and some
    /// allow pattern does.
    pub fn verify(&self, path: &str) -> bool {
        !self.deny.iter().any(|p| p.matches(path)) && self.allow.iter().any(|p| p.matches(path))
    }

    /// The patterns (allow, then deny) that look written for the legacy glob
    /// rules; see [`PathPattern::looks_like_glob`].
    pub fn glob_like_patterns(&self) -> impl Iterator<Item = &PathPattern> {
        self.allow
            .iter()
            .chain(self.deny.iter())
            .filter(|p| p.looks_like_glob())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        PathPattern::new(s)
    }

    #[test]
    fn api_patterns_are_checked() {
        assert!(PathPattern::parse("/v1/key/generate/app-*").is_ok());
        assert!(PathPattern::parse("/v1/status").is_ok());
        assert!(PathPattern::parse("/*").is_ok());
        assert_eq!(PathPattern::parse(""), Err(PatternError::Empty));
        assert_eq!(
            PathPattern::parse("v1/key/*").unwrap_err().to_string(),
            "pattern 'v1/key/*' does not start with '/'"
        );
        assert_eq!(
            PathPattern::parse("/v1/*/generate")
                .unwrap_err()
                .to_string(),
            "pattern '/v1/*/generate' uses glob syntax: only one '*' at the end is supported"
        );
        assert!(matches!(
            PathPattern::parse("/v1/key?"),
            Err(PatternError::Glob(_))
        ));
        assert_eq!(
            PathPattern::parse("/v1/a b").unwrap_err().to_string(),
            "pattern '/v1/a b' contains whitespace or a control character"
        );
        assert_eq!(
            PathPattern::parse("/v1/\u{1b}").unwrap_err().to_string(),
            "pattern '/v1/\\u{1b}' contains whitespace or a control character"
        );
        assert_eq!(
            PathPattern::parse(&format!("/{}", "a".repeat(MAX_PATTERN_LEN))),
            Err(PatternError::TooLong)
        );
    }

    #[test]
    fn empty_pattern_never_matches() {
        assert!(!p("").matches(""));
        assert!(!p("").matches("/v1/status"));
    }

    #[test]
    fn star_alone_matches_everything() {
        assert!(p("*").matches(""));
        assert!(p("*").matches("/v1/key/create/a"));
    }

    #[test]
    fn looks_like_glob() {
        assert!(!p("/v1/key/*").looks_like_glob());
        assert!(!p("/v1/status").looks_like_glob());
        assert!(!p("*").looks_like_glob());
        assert!(!p("").looks_like_glob());
        assert!(p("/v1/key/*/my-key").looks_like_glob());
        assert!(p("/v1/key/generate/k?y").looks_like_glob());
        assert!(p("/v1/key/generate/[ab]*").looks_like_glob());
        assert!(p("/v1/**").looks_like_glob());
    }

    #[test]
    fn glob_like_patterns_lists_both_sets() {
        let policy = Policy::new([p("/v1/*/x"), p("/v1/status")], [p("/v1/?")]);
        let found: Vec<_> = policy.glob_like_patterns().map(|p| p.as_str()).collect();
        assert_eq!(found, ["/v1/*/x", "/v1/?"]);
    }
}
