//! What a key-store entry holds once keys have versions
//! (docs/key-versions.md): a key version (§7.3, unchanged), the marker a
//! rotated key's own name holds, or the tombstone of a removed version.
//!
//! The marker and the tombstone are short texts that are neither JSON nor
//! base64 (`-` and `:` stop a base64 decoder), so Go KES, and servers
//! without versions, refuse them with an error instead of misreading them.

use crate::error::KeyFormatError;
use crate::key_version::KeyVersion;

/// What the entry of a rotated key's own name holds.
pub const ROTATED_MARKER: &[u8] =
    b"kes-rotated-key: this key has versions, stored as <name>-v<N>-; \
it needs a KES server with key versions\n";

/// What the entry of a removed key version holds.
pub const REMOVED_MARKER: &[u8] =
    b"kes-removed-version: the key material of this version was destroyed\n";

/// A decoded key-store entry.
#[derive(Debug)]
pub enum StoredEntry {
    /// A key version: a never-rotated key, or an entry `<name>-v<N>-`.
    Key(KeyVersion),
    /// The name of a rotated key: its versions are separate entries.
    Rotated,
    /// A removed version: the key material is gone.
    Removed,
}

impl StoredEntry {
    /// Decodes a stored value: one of the two markers, else a key version.
    pub fn decode(stored: &[u8]) -> Result<Self, KeyFormatError> {
        if stored == ROTATED_MARKER {
            Ok(Self::Rotated)
        } else if stored == REMOVED_MARKER {
            Ok(Self::Removed)
        } else {
            KeyVersion::decode(stored).map(Self::Key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;
    use crate::cipher::Cipher;

    #[test]
    fn markers_are_neither_keys_nor_json_nor_base64() {
        for m in [ROTATED_MARKER, REMOVED_MARKER] {
            assert!(KeyVersion::decode(m).is_err());
            assert!(serde_json::from_slice::<serde_json::Value>(m).is_err());
            assert!(b64::decode(m).is_err());
        }
        assert!(matches!(
            StoredEntry::decode(ROTATED_MARKER),
            Ok(StoredEntry::Rotated)
        ));
        assert!(matches!(
            StoredEntry::decode(REMOVED_MARKER),
            Ok(StoredEntry::Removed)
        ));
    }

    #[test]
    fn keys_decode_as_before() {
        let k = KeyVersion::generate(Cipher::Aes256, None);
        let Ok(StoredEntry::Key(d)) = StoredEntry::decode(&k.encode().unwrap()) else {
            panic!("not a key");
        };
        assert_eq!(d.key.bytes(), k.key.bytes());
        assert!(StoredEntry::decode(b"{bytes\":1}").is_err());
    }
}
