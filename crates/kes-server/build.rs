//! Build script: records the commit the server is built from as the
//! compile-time variable `KES_BUILD_COMMIT` (read by `api::system::COMMIT`).
//!
//! The commit is, in order: the `KES_COMMIT` environment variable when set
//! and not empty (packagers building from a source tarball pass the commit of
//! the tarball this way); else `git rev-parse HEAD` when the workspace is the
//! top of a git work tree; else `<unknown>`. A build never fails for want of
//! git.

#[path = "build/commit.rs"]
mod commit;

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/commit.rs");
    println!("cargo:rerun-if-env-changed=KES_COMMIT");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    // crates/kes-server -> the workspace root.
    let workspace = Path::new(&manifest).join("../..");
    let commit = match std::env::var("KES_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => match commit::from_git(&workspace) {
            Some((commit, watched)) => {
                for path in watched {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
                commit
            }
            None => commit::UNKNOWN.to_owned(),
        },
    };
    println!("cargo:rustc-env=KES_BUILD_COMMIT={commit}");
}
