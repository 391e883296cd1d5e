//! KES key material, with no I/O: secret keys (AES-256 / ChaCha20), the
//! ciphertext formats Go KES ever wrote, the stored-key codec, DEK generation
//! and HMAC. TODO(issue 2).
#![forbid(unsafe_code)]
