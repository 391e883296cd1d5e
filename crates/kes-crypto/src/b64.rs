//! Standard base64 with padding, decoded as leniently as Go's
//! `base64.StdEncoding` (non-zero trailing bits accepted, `\r`/`\n` skipped).
//! Decoded bytes may be key material, so they come back zeroizing.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decodes standard padded base64.
pub(crate) fn decode(text: &[u8]) -> Result<Zeroizing<Vec<u8>>, base64::DecodeError> {
    if text.iter().any(|b| *b == b'\r' || *b == b'\n') {
        let cleaned: Zeroizing<Vec<u8>> = Zeroizing::new(
            text.iter()
                .copied()
                .filter(|b| *b != b'\r' && *b != b'\n')
                .collect(),
        );
        return GO_STD.decode(cleaned.as_slice()).map(Zeroizing::new);
    }
    GO_STD.decode(text).map(Zeroizing::new)
}

/// Encodes as standard padded base64 text.
pub(crate) fn encode(data: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(GO_STD.encode(data).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_like_go() {
        assert_eq!(decode(b"AAAA\nAAAA\r\n").unwrap().as_slice(), &[0u8; 6]);
        // "AB==" has non-zero trailing bits; Go's StdEncoding accepts it.
        assert_eq!(decode(b"AB==").unwrap().as_slice(), &[0u8]);
        assert!(decode(b"AA").is_err());
        assert!(decode(b"A===").is_err());
        assert_eq!(encode(&[0u8; 2]).as_slice(), b"AAA=");
    }
}
