//! Names and listing patterns (spec §1.8).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_types::name::{NameKind, is_valid_name, is_valid_pattern, validate_identity};
use kes_types::{KeyName, ListPattern, PolicyName};
use proptest::prelude::*;

const VALID_NAMES: &[&str] = &[
    "my-key",
    "abc123",
    "0",
    "_-___---_",
    "_0",
    "0-Z",
    "my_key-0",
];

fn invalid_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "", "my.key", "key/", "☰", "hel<lo", "Εmacs", "-a", "a-", "_", "-", "a b", "a*", "*",
        "a\0", "a\n", "ü", "%41",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(81));
    v
}

#[test]
fn valid_name_examples() {
    for name in VALID_NAMES {
        assert!(is_valid_name(name), "{name}");
        assert_eq!(KeyName::new(name).unwrap().as_str(), *name);
        assert_eq!(PolicyName::new(name).unwrap().to_string(), *name);
        validate_identity(name).unwrap();
        // Every valid name is also a valid pattern.
        assert!(is_valid_pattern(name), "{name}");
    }
    assert!(is_valid_name(&"a".repeat(80)));
}

#[test]
fn invalid_name_examples() {
    for name in invalid_names() {
        assert!(!is_valid_name(&name), "{name:?}");
        let err = KeyName::new(&name).unwrap_err();
        assert_eq!(err.kind(), NameKind::Key);
        assert_eq!(
            err.to_string(),
            format!("key name '{name}' is empty, too long or contains invalid characters")
        );
        let err = PolicyName::new(&name).unwrap_err();
        assert_eq!(err.kind(), NameKind::Policy);
        assert_eq!(
            err.to_string(),
            format!("policy name '{name}' is empty, too long or contains invalid characters")
        );
        let err = validate_identity(&name).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("identity '{name}' is empty, too long or contains invalid characters")
        );
    }
}

#[test]
fn eighty_bytes_of_multibyte_text_is_still_invalid() {
    // The limit is in bytes and non-ASCII is rejected anyway.
    assert!(!is_valid_name(&"é".repeat(40)));
}

#[test]
fn valid_pattern_examples() {
    for pat in [
        "",
        "*",
        "my*",
        "_-*",
        "my-key",
        "a",
        "abc-*",
        &format!("{}*", "a".repeat(79)),
    ] {
        assert!(is_valid_pattern(pat), "{pat}");
        let lp = ListPattern::new(pat).unwrap();
        assert_eq!(lp.as_str(), pat);
        assert_eq!(lp.to_string().parse::<ListPattern>().unwrap(), lp);
    }
}

#[test]
fn invalid_pattern_examples() {
    for pat in [
        "*-*",
        "my.key",
        "key/",
        "_",
        "**",
        "*a",
        "a*b",
        "-*",
        "-a*",
        "a-",
        "☰*",
        "a?",
        "[a]*",
        &format!("{}*", "a".repeat(80)),
        &"a".repeat(81),
    ] {
        assert!(!is_valid_pattern(pat), "{pat}");
        let err = ListPattern::new(pat).unwrap_err();
        assert_eq!(err.kind(), NameKind::Pattern);
        assert_eq!(
            err.to_string(),
            format!("listing pattern '{pat}' is empty, too long or is invalid")
        );
    }
}

#[test]
fn pattern_prefix() {
    for (pat, prefix) in [
        ("", ""),
        ("*", ""),
        ("my*", "my"),
        ("my-key", "my-key"),
        ("_-*", "_-"),
    ] {
        assert_eq!(ListPattern::new(pat).unwrap().prefix(), prefix, "{pat}");
    }
}

#[test]
fn names_parse_with_from_str() {
    let k: KeyName = "my-key".parse().unwrap();
    assert_eq!(k.as_ref(), "my-key");
    assert_eq!(format!("{k:?}"), "\"my-key\"");
    assert!("my.key".parse::<KeyName>().is_err());
    assert!("-".parse::<PolicyName>().is_err());
}

/// An independent model of §1.8 `validName`.
fn model_valid_name(s: &str) -> bool {
    let n = s.len();
    (1..=80).contains(&n)
        && s != "_"
        && s.char_indices().all(|(i, c)| {
            c.is_ascii_alphanumeric() || c == '_' || (c == '-' && i != 0 && i != n - 1)
        })
}

/// An independent model of §1.8 `validPattern`.
fn model_valid_pattern(s: &str) -> bool {
    if s.is_empty() || s == "*" {
        return true;
    }
    let n = s.len();
    n <= 80
        && s != "_"
        && s.char_indices().all(|(i, c)| {
            c.is_ascii_alphanumeric()
                || c == '_'
                || (c == '-' && i != 0 && i != n - 1)
                || (c == '*' && i == n - 1)
        })
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = KeyName::new(&s);
        let _ = PolicyName::new(&s);
        let _ = ListPattern::new(&s).map(|p| p.prefix().len());
        let _ = validate_identity(&s);
        prop_assert_eq!(is_valid_name(&s), model_valid_name(&s));
        prop_assert_eq!(is_valid_pattern(&s), model_valid_pattern(&s));
    }

    #[test]
    fn name_alphabet_strings_match_the_model(s in "[-_a-zA-Z0-9*.]{0,82}") {
        prop_assert_eq!(is_valid_name(&s), model_valid_name(&s));
        prop_assert_eq!(is_valid_pattern(&s), model_valid_pattern(&s));
    }

    #[test]
    fn valid_names_round_trip(s in "[_a-zA-Z0-9]([-_a-zA-Z0-9]{0,78}[_a-zA-Z0-9])?") {
        prop_assume!(s != "_");
        let key = KeyName::new(&s).unwrap();
        prop_assert_eq!(key.as_str(), s.as_str());
        prop_assert_eq!(key.to_string().parse::<KeyName>().unwrap(), key);
        let pol = PolicyName::new(&s).unwrap();
        prop_assert_eq!(pol.as_str(), s.as_str());
        prop_assert!(validate_identity(&s).is_ok());
        let pat = ListPattern::new(&format!("{s}*")).map(|p| p.prefix().to_owned());
        if s.len() < 80 {
            prop_assert_eq!(pat.unwrap(), s);
        } else {
            prop_assert!(pat.is_err());
        }
    }
}
