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
