//! The two secret-key types KES knows (§7.1), their names, and the choice of
//! type for newly created keys (§7.2).

use std::fmt;

use crate::error::KeyError;

/// The type of a secret key: which AEAD protects data under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// HMAC-SHA256 key derivation + AES-256-GCM (protobuf enum value 1).
    Aes256,
    /// HChaCha20 key derivation + ChaCha20-Poly1305 (protobuf enum value 2).
    ChaCha20,
}

impl Cipher {
    /// Parses a cipher name. Accepts the current names `AES256` and
    /// `ChaCha20` and the legacy spellings `AES256-GCM_SHA256` and
    /// `XCHACHA20-POLY1305` (exact case).
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        match s {
            "AES256" | "AES256-GCM_SHA256" => Ok(Self::Aes256),
            "ChaCha20" | "XCHACHA20-POLY1305" => Ok(Self::ChaCha20),
            other => Err(KeyError::UnknownCipher(shorten(other))),
        }
    }

    /// The canonical name: `AES256` or `ChaCha20`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "AES256",
            Self::ChaCha20 => "ChaCha20",
        }
    }

    /// The protobuf enum value (§7.3).
    pub(crate) fn proto_value(self) -> u64 {
        match self {
            Self::Aes256 => 1,
            Self::ChaCha20 => 2,
        }
    }

    /// The cipher of a protobuf enum value, if known.
    pub(crate) fn from_proto_value(v: u64) -> Option<Self> {
        match v {
            1 => Some(Self::Aes256),
            2 => Some(Self::ChaCha20),
            _ => None,
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type for a newly created key (§7.2): AES256 when the CPU accelerates
/// AES-GCM, otherwise ChaCha20.
pub fn new_key_cipher() -> Cipher {
    if has_aes_gcm_hardware() {
        Cipher::Aes256
    } else {
        Cipher::ChaCha20
    }
}

#[cfg(target_arch = "x86_64")]
fn has_aes_gcm_hardware() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

// On aarch64 Rust's "aes" feature means FEAT_AES and FEAT_PMULL together.
#[cfg(target_arch = "aarch64")]
fn has_aes_gcm_hardware() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
}

// Go KES always picks AES on ppc64le (§7.2).
#[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
fn has_aes_gcm_hardware() -> bool {
    true
}

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    all(target_arch = "powerpc64", target_endian = "little")
)))]
fn has_aes_gcm_hardware() -> bool {
    false
}

/// Makes an untrusted name safe to echo in an error message: control and
/// other unprintable characters are escaped, and the result is bounded to 64
/// characters so a hostile value cannot flood or forge log lines.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    let mut escaped = s.chars().flat_map(char::escape_debug);
    let mut out: String = escaped.by_ref().take(MAX).collect();
    if escaped.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_all_four_spellings() {
        assert_eq!(Cipher::parse("AES256").unwrap(), Cipher::Aes256);
        assert_eq!(Cipher::parse("AES256-GCM_SHA256").unwrap(), Cipher::Aes256);
        assert_eq!(Cipher::parse("ChaCha20").unwrap(), Cipher::ChaCha20);
        assert_eq!(
            Cipher::parse("XCHACHA20-POLY1305").unwrap(),
            Cipher::ChaCha20
        );
    }

    #[test]
    fn parse_rejects_others() {
        for s in ["", "aes256", "AES-256-GCM", "CHACHA20", "ChaCha20Poly1305"] {
            let err = Cipher::parse(s).unwrap_err();
            assert_eq!(err.to_string(), format!("unknown cipher '{s}'"));
        }
    }

    #[test]
    fn display_and_proto_values() {
        assert_eq!(Cipher::Aes256.to_string(), "AES256");
        assert_eq!(Cipher::ChaCha20.to_string(), "ChaCha20");
        for c in [Cipher::Aes256, Cipher::ChaCha20] {
            assert_eq!(Cipher::from_proto_value(c.proto_value()), Some(c));
        }
        assert_eq!(Cipher::from_proto_value(0), None);
        assert_eq!(Cipher::from_proto_value(3), None);
    }

    #[test]
    fn new_key_cipher_is_stable() {
        assert_eq!(new_key_cipher(), new_key_cipher());
    }

    #[test]
    fn shorten_bounds_length() {
        let long = "x".repeat(200);
        assert_eq!(shorten(&long).chars().count(), 65);
        assert_eq!(shorten("abc"), "abc");
        assert_eq!(shorten(&"y".repeat(64)), "y".repeat(64));
        assert_eq!(shorten("a\nb'"), "a\\nb\\'");
    }
}
