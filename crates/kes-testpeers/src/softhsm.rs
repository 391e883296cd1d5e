//! SoftHSM2 as the test HSM (`apt-get install softhsm2`; `.ci/run` installs
//! it): a private token per test, in a child process.
//!
//! SoftHSM reads its config (`SOFTHSM2_CONF`) once per process, and a test
//! cannot set its own environment (`set_var` is unsafe), so
//! [`in_private_token`] runs the calling test again in a child process of
//! the same test binary, with a private config and token directory in a
//! temp dir holding one token [`TOKEN`] (user PIN [`PIN`]) made by
//! `softhsm2-util --init-token --free`. When SoftHSM2 is not installed the
//! test is skipped with a message saying so (the one peer that skips rather
//! than fails: it is a Debian package, not a PyPI one).

use std::path::PathBuf;
use std::process::Command;

/// The label of the test token.
pub const TOKEN: &str = "kes";
/// The user PIN of the test token.
pub const PIN: &str = "kes-test-pin-4711";
/// Set in the child: the directory holding its SoftHSM config.
const CHILD_MARK: &str = "KES_TEST_SOFTHSM_DIR";

/// Where Debian and others install the SoftHSM2 module.
const MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The installed SoftHSM2 module, if any.
pub fn module() -> Option<PathBuf> {
    MODULES.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Call first in test `name` (its exact name in this test binary). In the
/// test process: runs `name` in a child with a fresh token, asserts that it
/// passed, prints the child's figures (what follows `figure: ` on a line), and
/// returns `None`, so the test returns. In the child: returns the module's
/// path, so the test goes on. Returns `None` with a message when SoftHSM2
/// is not installed.
pub fn in_private_token(name: &str) -> Option<PathBuf> {
    let module = module();
    if std::env::var_os(CHILD_MARK).is_some() {
        return module;
    }
    if module.is_none() {
        eprintln!(
            "SKIPPED {name}: SoftHSM2 is not installed (no {}); apt-get install softhsm2",
            MODULES[0]
        );
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tokens = tmp.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = tmp.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--pin", PIN, "--so-pin", "kes-test-so-pin"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util (Debian package softhsm2)");
    assert!(
        init.status.success(),
        "softhsm2-util --init-token failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_MARK, tmp.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} ran no test:\n{text}"
    );
    for line in text.lines() {
        if let Some(at) = line.find("figure: ") {
            println!("{}", &line[at + "figure: ".len()..]);
        }
    }
    None
}
