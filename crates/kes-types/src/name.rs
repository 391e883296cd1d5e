//! Validated names and listing patterns (spec §1.8).
//!
//! A name (of a key, a policy or an identity) is 1..=80 bytes of
//! `0-9 A-Z a-z _ -`, where `-` may not be first or last and the name may not
//! be exactly `_`. A listing pattern is empty, `*`, or a name-like string with
//! an optional single trailing `*`.

use std::fmt;

/// The longest name or pattern, in bytes.
pub const MAX_NAME_LEN: usize = 80;

/// Which kind of name failed validation; decides the error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A key name.
    Key,
    /// A policy name.
    Policy,
    /// An identity.
    Identity,
    /// A listing pattern.
    Pattern,
}

/// A name or pattern that failed validation. `Display` gives the exact text
/// Go KES sends with its 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NameError {
    kind: NameKind,
    value: String,
}

impl NameError {
    /// Which kind of name was rejected.
    pub fn kind(&self) -> NameKind {
        self.kind
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.value;
        match self.kind {
            NameKind::Key => write!(
                f,
                "key name '{v}' is empty, too long or contains invalid characters"
            ),
            NameKind::Policy => {
                write!(
                    f,
                    "policy name '{v}' is empty, too long or contains invalid characters"
                )
            }
            NameKind::Identity => {
                write!(
                    f,
                    "identity '{v}' is empty, too long or contains invalid characters"
                )
            }
            NameKind::Pattern => {
                write!(f, "listing pattern '{v}' is empty, too long or is invalid")
            }
        }
    }
}

/// Reports whether `s` is a valid KES name (spec §1.8 `validName`).
pub fn is_valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_NAME_LEN || s == "_" {
        return false;
    }
    let last = b.len() - 1;
    b.iter().enumerate().all(|(i, &c)| match c {
        b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' => true,
        b'-' => i != 0 && i != last,
        _ => false,
    })
}

/// Reports whether `s` is a valid listing pattern (spec §1.8 `validPattern`).
pub fn is_valid_pattern(s: &str) -> bool {
    if s.is_empty() || s == "*" {
        return true;
    }
    let b = s.as_bytes();
    if b.len() > MAX_NAME_LEN || s == "_" {
        return false;
    }
    let last = b.len() - 1;
    b.iter().enumerate().all(|(i, &c)| match c {
        b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'_' => true,
        b'-' => i != 0 && i != last,
        b'*' => i == last,
        _ => false,
    })
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Validates `s` and wraps it.
            pub fn new(s: &str) -> Result<Self, NameError> {
                if is_valid_name(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(NameError { kind: $kind, value: s.to_owned() })
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

name_type!(
    /// A validated key name.
    KeyName,
    NameKind::Key
);
name_type!(
    /// A validated policy name.
    PolicyName,
    NameKind::Policy
);

impl KeyName {
    /// The name under which version `version` of this key is stored:
    /// `<key>-v<N>-` (docs/key-versions.md). Deliberately not a valid key
    /// name (a key name never ends with `-`, §1.8, in any Go KES release):
    /// no request can name it, Go KES refuses it, and it never clashes with
    /// a key. It keeps to the alphabet every key store accepts, the
    /// strictest being Azure Key Vault's `[0-9a-zA-Z-]` and GCP's
    /// `[a-zA-Z0-9_-]` (so no `.`).
    pub fn version_entry(&self, version: KeyVersionId) -> KeyName {
        KeyName(format!("{}-v{}-", self.0, version.get()))
    }
}

/// Reports whether a stored entry name is the version entry of a key
/// (`<key>-v<N>-`, see [`KeyName::version_entry`]) rather than a key.
pub fn is_version_entry(s: &str) -> bool {
    s.strip_suffix('-')
        .and_then(|rest| rest.rsplit_once("-v"))
        .is_some_and(|(key, n)| {
            is_valid_name(key)
                && !n.is_empty()
                && !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// The number of a key version (docs/key-versions.md), 1 for the version
/// a key is created or imported with. On the wire it is `v<N>`; `<N>`
/// alone is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyVersionId(std::num::NonZeroU32);

impl KeyVersionId {
    /// The first version of every key.
    pub const FIRST: Self = Self(std::num::NonZeroU32::MIN);

    /// Version `n`; `None` for 0.
    pub fn new(n: u32) -> Option<Self> {
        std::num::NonZeroU32::new(n).map(Self)
    }

    /// The version number.
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The version after this one; `None` at `u32::MAX`.
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

impl fmt::Display for KeyVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A key version that is not `v<N>` or `<N>` with `1 <= N < 2^32`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key version '{0}': want v<N> with N a positive integer")]
pub struct VersionIdError(String);

impl std::str::FromStr for KeyVersionId {
    type Err = VersionIdError;
    fn from_str(s: &str) -> Result<Self, VersionIdError> {
        let digits = s.strip_prefix('v').unwrap_or(s);
        // Digits only: `u32::from_str` would also take a leading `+`.
        if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionIdError(s.to_owned()));
        }
        digits
            .parse::<u32>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| VersionIdError(s.to_owned()))
    }
}

/// A validated listing pattern: empty or `*` (everything), or a prefix with
/// an optional trailing `*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListPattern(String);

impl ListPattern {
    /// Validates `s` as a listing pattern.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if is_valid_pattern(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError {
                kind: NameKind::Pattern,
                value: s.to_owned(),
            })
        }
    }

    /// The prefix the pattern selects: one trailing `*` stripped (so `*` and
    /// the empty pattern select everything). Go forgets this for keys; we do
    /// not (spec §2.3).
    pub fn prefix(&self) -> &str {
        self.0.strip_suffix('*').unwrap_or(&self.0)
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ListPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ListPattern {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ListPattern {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Self::new(s)
    }
}

/// Validates an identity as it appears in a URL or the config file and
/// returns the error Go sends for a bad one.
pub fn validate_identity(s: &str) -> Result<(), NameError> {
    if is_valid_name(s) {
        Ok(())
    } else {
        Err(NameError {
            kind: NameKind::Identity,
            value: s.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_parse_and_print() {
        for (s, n) in [("v1", 1), ("1", 1), ("v42", 42), ("4294967295", u32::MAX)] {
            let v: KeyVersionId = s.parse().unwrap();
            assert_eq!(v.get(), n, "{s}");
            assert_eq!(v.to_string(), format!("v{n}"));
        }
        for s in [
            "",
            "v",
            "v0",
            "0",
            "-1",
            "+1",
            "v+1",
            "V1",
            "v1.0",
            "4294967296",
            " 1",
        ] {
            let e = s.parse::<KeyVersionId>().unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid key version '{s}': want v<N> with N a positive integer")
            );
        }
        assert_eq!(KeyVersionId::FIRST.next().unwrap().get(), 2);
        assert!(KeyVersionId::new(u32::MAX).unwrap().next().is_none());
    }

    #[test]
    fn version_entries_are_not_key_names() {
        let k = KeyName::new(&"k".repeat(MAX_NAME_LEN)).unwrap();
        let e = k.version_entry(KeyVersionId::new(u32::MAX).unwrap());
        assert_eq!(e.as_str(), format!("{}-v4294967295-", k.as_str()));
        assert!(!is_valid_name(e.as_str()));
        assert!(KeyName::new(e.as_str()).is_err());
        assert!(is_version_entry(e.as_str()));
        let nested = KeyName::new("a-v1")
            .unwrap()
            .version_entry(KeyVersionId::FIRST);
        assert_eq!(nested.as_str(), "a-v1-v1-");
        assert!(is_version_entry(nested.as_str()));
        for other in [
            "k", "k-v-", "k-vx-", "k-v1x-", "-v1-", "--k-v1-", "k-1-", "k-v1", "k-v01-", "k.v1",
        ] {
            assert!(!is_version_entry(other), "{other}");
        }
    }
}
