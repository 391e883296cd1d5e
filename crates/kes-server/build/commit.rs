//! The git commit a build comes from, for `/version` and the banner.
//!
//! Shared by the build script (`build.rs`) and its test in `api::system`:
//! plain `std`, no dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What `/version` reports as `commit` when the build knows no commit: a
/// source tarball (no `.git`), no `git` program, or a workspace that is not
/// the top of the git work tree it sits in (a tarball unpacked inside some
/// other repository must not report that repository's commit).
pub const UNKNOWN: &str = "<unknown>";

/// The commit checked out in the git work tree whose top directory is
/// `workspace`, with the files a build script watches so that a new commit
/// re-runs it; `None` when `workspace` is not such a work tree or `git`
/// cannot be run.
pub fn from_git(workspace: &Path) -> Option<(String, Vec<PathBuf>)> {
    let top = PathBuf::from(git(workspace, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != workspace.canonicalize().ok()? {
        return None;
    }
    let commit = git(workspace, &["rev-parse", "HEAD"])?;
    if !is_object_id(&commit) {
        return None;
    }
    // HEAD moves on checkout; this work tree's reflog and its branch's
    // loose ref change on every commit, packed-refs on `git pack-refs`. Not
    // the whole refs directory: other work trees' commits must not rebuild
    // this one. Only existing paths: Cargo re-runs a build script on every
    // build when a watched path is missing (so a commit that creates the
    // loose ref of a packed branch is seen through the reflog only).
    let mut watch = vec![
        "HEAD".to_owned(),
        "logs/HEAD".to_owned(),
        "packed-refs".to_owned(),
    ];
    if let Some(branch) = git(workspace, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    let watched = watch
        .iter()
        .filter_map(|p| git(workspace, &["rev-parse", "--git-path", p]))
        .map(|p| workspace.join(p))
        .filter(|p| p.exists())
        .collect();
    Some((commit, watched))
}

/// A full SHA-1 (40) or SHA-256 (64) object id in lower-case hex.
pub fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The trimmed standard output of a successful `git -C dir args...`.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    Some(s.trim().to_owned())
}
