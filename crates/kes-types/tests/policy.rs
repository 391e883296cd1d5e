//! Policy decisions and path patterns (spec §5.2, §5.3 current rules).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kes_types::{PathPattern, Policy};
use proptest::prelude::*;

fn p(s: &str) -> PathPattern {
    PathPattern::new(s)
}

fn policy(allow: &[&str], deny: &[&str]) -> Policy {
    Policy::new(allow.iter().map(|s| p(s)), deny.iter().map(|s| p(s)))
}

const KEY_APIS: &[&str] = &[
    "create", "import", "describe", "list", "delete", "generate", "encrypt", "decrypt", "hmac",
];

#[test]
fn table_5_3_key_star_matches_all_key_apis() {
    let pat = p("/v1/key/*");
    for api in KEY_APIS {
        assert!(pat.matches(&format!("/v1/key/{api}/my-key")), "{api}");
    }
    assert!(pat.matches("/v1/key/"));
    assert!(!pat.matches("/v1/key"));
    assert!(!pat.matches("/v1/policy/list/*"));
}

#[test]
fn table_5_3_inner_star_is_literal() {
    let pat = p("/v1/key/*/my-key");
    for api in KEY_APIS {
        assert!(!pat.matches(&format!("/v1/key/{api}/my-key")), "{api}");
    }
    // Only the identical text matches.
    assert!(pat.matches("/v1/key/*/my-key"));
}

#[test]
fn table_5_3_key_name_prefix() {
    let pat = p("/v1/key/generate/my-app*");
    assert!(pat.matches("/v1/key/generate/my-app"));
    assert!(pat.matches("/v1/key/generate/my-app-1"));
    assert!(pat.matches("/v1/key/generate/my-app/x"));
    assert!(!pat.matches("/v1/key/generate/my-ap"));
    assert!(!pat.matches("/v1/key/generate/other"));
    assert!(!pat.matches("/v1/key/decrypt/my-app"));
}

#[test]
fn table_5_3_v1_star_crosses_slashes() {
    let pat = p("/v1/*");
    for path in [
        "/v1/status",
        "/v1/metrics",
        "/v1/api",
        "/v1/ready",
        "/v1/key/create/a",
        "/v1/log/audit",
        "/v1/",
    ] {
        assert!(pat.matches(path), "{path}");
    }
    assert!(!pat.matches("/version"));
    assert!(!pat.matches("/v1"));
}

#[test]
fn table_5_3_generate_star() {
    let pat = p("/v1/key/generate/*");
    assert!(pat.matches("/v1/key/generate/a"));
    assert!(pat.matches("/v1/key/generate/minio-default"));
    assert!(pat.matches("/v1/key/generate/"));
    assert!(!pat.matches("/v1/key/generate"));
    assert!(!pat.matches("/v1/key/encrypt/a"));
}

#[test]
fn table_5_3_list_star() {
    let pat = p("/v1/key/list/*");
    for path in [
        "/v1/key/list/",
        "/v1/key/list/*",
        "/v1/key/list/abc*",
        "/v1/key/list/abc",
    ] {
        assert!(pat.matches(path), "{path}");
    }
}

#[test]
fn question_mark_and_brackets_are_literal() {
    assert!(!p("/v1/key/create/k?y").matches("/v1/key/create/key"));
    assert!(p("/v1/key/create/k?y").matches("/v1/key/create/k?y"));
    assert!(!p("/v1/key/create/[ab]").matches("/v1/key/create/a"));
    assert!(!p("/v1/key/create/\\*").matches("/v1/key/create/*"));
}

#[test]
fn exact_patterns() {
    let pat = p("/v1/status");
    assert!(pat.matches("/v1/status"));
    assert!(!pat.matches("/v1/status/"));
    assert!(!pat.matches("/v1/statu"));
    assert!(!pat.matches("/V1/status"));
    assert!(!pat.matches(""));
}

#[test]
fn empty_pattern_never_matches() {
    assert!(!p("").matches(""));
    assert!(!policy(&[""], &[]).verify(""));
    assert!(!policy(&[""], &[]).verify("/v1/status"));
    // An empty deny pattern denies nothing.
    assert!(policy(&["/v1/status"], &[""]).verify("/v1/status"));
}

#[test]
fn deny_wins_over_allow() {
    let pol = policy(
        &["/v1/key/*"],
        &["/v1/key/delete/*", "/v1/key/decrypt/secret"],
    );
    assert!(pol.verify("/v1/key/create/a"));
    assert!(pol.verify("/v1/key/decrypt/other"));
    assert!(!pol.verify("/v1/key/delete/a"));
    assert!(!pol.verify("/v1/key/decrypt/secret"));
    // The same pattern in both sets: deny.
    let both = policy(&["/v1/status"], &["/v1/status"]);
    assert!(!both.verify("/v1/status"));
}

#[test]
fn default_deny() {
    let pol = policy(&["/v1/key/generate/my-app*", "/v1/status"], &[]);
    assert!(pol.verify("/v1/status"));
    assert!(pol.verify("/v1/key/generate/my-app-1"));
    assert!(!pol.verify("/v1/metrics"));
    assert!(!pol.verify("/v1/key/decrypt/my-app-1"));
}

#[test]
fn empty_policy_denies_everything() {
    let pol = Policy::default();
    for path in ["", "/", "/v1/status", "/v1/key/create/a", "/version"] {
        assert!(!pol.verify(path), "{path}");
    }
    assert_eq!(pol, policy(&[], &[]));
}

#[test]
fn patterns_are_sets() {
    let a = policy(&["/v1/b", "/v1/a", "/v1/a"], &["/x", "/x"]);
    let b = policy(&["/v1/a", "/v1/b"], &["/x"]);
    assert_eq!(a, b);
    assert_eq!(a.allow().len(), 2);
    assert_eq!(a.deny().len(), 1);
    let order: Vec<_> = a.allow().iter().map(|p| p.as_str()).collect();
    assert_eq!(order, ["/v1/a", "/v1/b"]);
}

#[test]
fn typical_minio_policy() {
    let pol = policy(
        &[
            "/v1/key/create/minio-*",
            "/v1/key/generate/minio-*",
            "/v1/key/decrypt/minio-*",
            "/v1/key/describe/minio-*",
            "/v1/key/hmac/minio-*",
            "/v1/key/list/*",
            "/v1/status",
            "/v1/metrics",
            "/v1/api",
        ],
        &[],
    );
    assert!(pol.verify("/v1/key/generate/minio-default"));
    assert!(pol.verify("/v1/key/list/minio-*"));
    assert!(!pol.verify("/v1/key/delete/minio-default"));
    assert!(!pol.verify("/v1/key/generate/other"));
    assert!(!pol.verify("/v1/log/audit"));
}

proptest! {
    #[test]
    fn prefix_pattern_matches_prefix_plus_anything(prefix in ".*", rest in ".*") {
        let pat = PathPattern::new(format!("{prefix}*"));
        let path = format!("{prefix}{rest}");
        prop_assert!(pat.matches(&path));
        let pol = Policy::new([pat], []);
        prop_assert!(pol.verify(&path));
    }

    #[test]
    fn prefix_pattern_matches_only_prefixed_paths(prefix in ".*", path in ".*") {
        let pat = PathPattern::new(format!("{prefix}*"));
        prop_assert_eq!(pat.matches(&path), path.starts_with(&prefix));
    }

    #[test]
    fn exact_pattern_matches_only_itself(pattern in "[^*]*", path in ".*") {
        let pat = PathPattern::new(pattern.clone());
        prop_assert_eq!(pat.matches(&path), !pattern.is_empty() && path == pattern);
        prop_assert!(pat.matches(&pattern) || pattern.is_empty());
    }

    #[test]
    fn deny_always_wins(pattern in ".*", path in ".*") {
        let pat = PathPattern::new(pattern);
        let pol = Policy::new([pat.clone(), PathPattern::new("*")], [pat.clone()]);
        prop_assert_eq!(pol.verify(&path), !pat.matches(&path));
    }

    #[test]
    fn verify_is_deny_then_allow(
        allow in prop::collection::vec("(/v1/[a-c]{0,2}\\*?)?", 0..4),
        deny in prop::collection::vec("(/v1/[a-c]{0,2}\\*?)?", 0..4),
        path in "/v1/[a-c]{0,3}",
    ) {
        let pol = Policy::new(
            allow.iter().map(|s| PathPattern::new(s.as_str())),
            deny.iter().map(|s| PathPattern::new(s.as_str())),
        );
        let any = |v: &[String]| v.iter().any(|s| PathPattern::new(s.as_str()).matches(&path));
        prop_assert_eq!(pol.verify(&path), !any(&deny) && any(&allow));
    }
}
