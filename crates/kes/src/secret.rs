//! [`SecretArg`]: a command-line argument that may be a secret (an API key,
//! key bytes, a message to encrypt). Held in zeroizing memory and shown as
//! `<redacted>` by `Debug`, so the derived `Debug` of the clap structs never
//! reveals it.

use std::convert::Infallible;
use std::str::FromStr;

use zeroize::Zeroizing;

/// A possibly secret argument.
#[derive(Clone, Default)]
pub struct SecretArg(Zeroizing<String>);

impl SecretArg {
    /// The argument's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for SecretArg {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(SecretArg(Zeroizing::new(s.to_owned())))
    }
}

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s: SecretArg = "kes:v1:secret".parse().unwrap();
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "kes:v1:secret");
    }
}
