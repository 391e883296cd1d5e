//! `kes migrate` between two fs key stores through the real binary: the
//! copy, the conflict rules (`--force`, `--merge`), the pattern and the
//! usage errors. The copy from a real OpenBao is in `keystores.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{api_key_in, identity_in, run};

fn config(admin: &str, dir: &str) -> String {
    format!(
        "admin:\n  identity: {admin}\ntls:\n  key: private.key\n  cert: public.crt\nkeystore:\n  fs:\n    path: ./{dir}\n"
    )
}

#[test]
fn copies_between_fs_stores_with_go_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run(d, &["identity", "new"]);
    let (_, admin) = (api_key_in(out.ok()), identity_in(out.ok()));
    std::fs::write(d.join("a.yml"), config(&admin, "a")).unwrap();
    std::fs::write(d.join("b.yml"), config(&admin, "b")).unwrap();
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::create_dir_all(d.join("b")).unwrap();
    for (name, value) in [("app-1", "v1"), ("app-2", "v2"), ("other", "v3")] {
        std::fs::write(d.join("a").join(name), value).unwrap();
    }
    std::fs::write(d.join("b").join("app-2"), "different").unwrap();

    let m = |args: &[&str]| {
        let mut all = vec!["migrate", "--from", "a.yml", "--to", "b.yml"];
        all.extend_from_slice(args);
        run(d, &all)
    };
    // A different value at the destination stops the run, naming the key.
    let e = m(&["app-*"]);
    assert!(
        e.fails(1).contains(
            "key 'app-2' exists at the destination with a different value: use --force to replace it or --merge to keep it"
        ),
        "{e:?}"
    );
    assert_eq!(
        m(&["--merge", "app-*"]).ok(),
        "app-1: identical, skipped\napp-2: differs, kept (--merge)\n2 matched: copied 0, 0 replaced, 1 identical, 1 kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("b/app-2")).unwrap(),
        "different"
    );
    assert_eq!(
        m(&["--force", "app-?"]).ok(),
        "app-1: identical, skipped\napp-2: replaced\n2 matched: copied 0, 1 replaced, 1 identical, 0 kept\n"
    );
    assert_eq!(std::fs::read_to_string(d.join("b/app-2")).unwrap(), "v2");
    assert!(!d.join("b/other").exists());
    // The source is never changed.
    assert_eq!(std::fs::read_to_string(d.join("a/app-2")).unwrap(), "v2");

    // Usage errors exit 2.
    assert!(
        m(&["--force", "--merge"])
            .fails(2)
            .contains("cannot be used with")
    );
    let e = m(&["app-["]);
    assert!(
        e.fails(2)
            .contains("invalid pattern 'app-[': a '[' is not closed"),
        "{e:?}"
    );
    let e = run(d, &["migrate", "--from", "nope.yml", "--to", "b.yml"]);
    assert!(e.fails(1).contains("cannot use the --from config"), "{e:?}");
}

#[test]
fn key_store_warnings_reach_stderr() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = identity_in(run(d, &["identity", "new"]).ok());
    std::fs::write(d.join("a.yml"), config(&admin, "a")).unwrap();
    std::fs::write(d.join("b.yml"), config(&admin, "b")).unwrap();
    for store in ["a", "b"] {
        std::fs::create_dir(d.join(store)).unwrap();
        std::fs::set_permissions(d.join(store), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = run(d, &["migrate", "--from", "a.yml", "--to", "b.yml"]);
    assert_eq!(
        out.ok(),
        "0 matched: copied 0, 0 replaced, 0 identical, 0 kept\n"
    );
    assert!(
        out.stderr.contains("is accessible by other users"),
        "{out:?}"
    );
}
