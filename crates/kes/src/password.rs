//! Password prompts for legacy PEM-encrypted private keys: the client key of
//! the connection (spec §10.2) and `kes identity new --encrypt` (§10.4).
//!
//! The prompt always goes to stderr. When stdin is a terminal the password is
//! read from the terminal with echo off (the `rpassword` crate, which also
//! ends the line); otherwise one line of stdin is read (its `\n`/`\r\n` end
//! dropped), so scripts and tests can pipe the password in:
//! `printf 'secret\n' | kes key ls`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use zeroize::Zeroizing;

use crate::error::CliError;

/// The prompt for the password of an encrypted private key.
pub const ENTER_PROMPT: &str = "Enter password for private key: ";
/// The second prompt of `kes identity new --encrypt`.
pub const CONFIRM_PROMPT: &str = "Confirm password for private key: ";

/// Prints `prompt` on stderr and reads a password (see the module docs).
pub fn read(prompt: &str) -> Result<Zeroizing<String>, CliError> {
    let mut stderr = std::io::stderr();
    // A prompt that cannot be shown does not stop the read.
    let _ = write!(stderr, "{prompt}").and_then(|()| stderr.flush());
    let failed = |e: std::io::Error| CliError::Invalid(format!("cannot read the password: {e}"));
    if std::io::stdin().is_terminal() {
        return rpassword::read_password()
            .map(Zeroizing::new)
            .map_err(failed);
    }
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(failed)?;
    // Not a terminal: end the prompt's line ourselves.
    let _ = writeln!(stderr);
    if n == 0 {
        return Err(CliError::Invalid(
            "cannot read the password: standard input is empty".into(),
        ));
    }
    let len = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(len);
    Ok(line)
}

/// Reads a new password twice (`kes identity new --encrypt`): both entries
/// must match and must not be empty.
pub fn read_new() -> Result<Zeroizing<String>, CliError> {
    let first = read(ENTER_PROMPT)?;
    if first.is_empty() {
        return Err(CliError::Invalid(
            "the private key password must not be empty".into(),
        ));
    }
    let second = read(CONFIRM_PROMPT)?;
    if !same(first.as_bytes(), second.as_bytes()) {
        return Err(CliError::Invalid("passwords do not match".into()));
    }
    Ok(first)
}

/// Equality of two secrets without an early exit at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_compares_whole_secrets() {
        assert!(same(b"", b""));
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
    }
}
