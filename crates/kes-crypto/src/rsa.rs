//! RSA signatures with a service account's private key (RS256: RSASSA-PKCS1-v1_5
//! with SHA-256, RFC 7518 §3.3), the one primitive the OAuth JWT-bearer token
//! flow of a remote key store needs (kes-keystore builds the JWT itself).
//!
//! The key is read once from a PEM PKCS#8 `PRIVATE KEY` block (the form
//! Google issues service-account keys in); ring holds it, and neither `Debug`
//! nor an error ever shows key material.

use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::apikey::{Pkcs8Error, pem_private_key};

/// An RSA private key that signs RS256.
pub struct RsaSigningKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("bits", &(self.pair.public().modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

/// Why an RSA private key was rejected or a signature failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RsaKeyError {
    /// The PEM text holds no usable PKCS#8 block.
    #[error("{0}")]
    Pem(Pkcs8Error),
    /// A PEM block other than PKCS#8 `PRIVATE KEY` (e.g. `RSA PRIVATE KEY`).
    #[error("unsupported PEM block '{label}': a PKCS#8 'PRIVATE KEY' block is required")]
    Label {
        /// The block's label.
        label: String,
    },
    /// The PKCS#8 key is not an RSA key ring accepts (2048 to 8192 bits).
    #[error("not an RSA private key of 2048 to 8192 bits: {reason}")]
    Rejected {
        /// ring's reason (no key material).
        reason: String,
    },
    /// Signing failed.
    #[error("RSA signing failed")]
    Sign,
}

impl RsaSigningKey {
    /// Reads a PEM PKCS#8 `PRIVATE KEY` block holding an RSA key. Other PEM
    /// blocks before it (such as certificates) are skipped.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, RsaKeyError> {
        let der = pem_private_key(pem).map_err(|e| match e {
            Pkcs8Error::UnsupportedPemBlock { label } => RsaKeyError::Label { label },
            e => RsaKeyError::Pem(e),
        })?;
        let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| RsaKeyError::Rejected {
            reason: e.to_string(),
        })?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The RS256 signature of `message` (as long as the modulus).
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, RsaKeyError> {
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| RsaKeyError::Sign)?;
        Ok(sig)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ring::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    const PEM: &str = include_str!("../tests/data/rsa-2048.pem");

    #[test]
    fn signatures_verify_with_the_public_key() {
        let key = RsaSigningKey::from_pkcs8_pem(PEM).unwrap();
        let sig = key.sign_rs256(b"header.claims").unwrap();
        assert_eq!(sig.len(), 256);
        let public = UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            key.pair.public_key().as_ref().to_vec(),
        );
        public.verify(b"header.claims", &sig).unwrap();
        assert!(public.verify(b"header.claimz", &sig).is_err());
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(key.sign_rs256(b"header.claims").unwrap(), sig);
        assert_eq!(format!("{key:?}"), "RsaSigningKey { bits: 2048, .. }");
    }

    #[test]
    fn other_keys_are_rejected_with_a_reason() {
        let pkcs1 = PEM.replace("PRIVATE KEY", "RSA PRIVATE KEY");
        let e = RsaSigningKey::from_pkcs8_pem(&pkcs1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported PEM block 'RSA PRIVATE KEY': a PKCS#8 'PRIVATE KEY' block is required"
        );
        let ed = crate::ApiKey::generate().unwrap().to_pkcs8_pem();
        let e = RsaSigningKey::from_pkcs8_pem(&ed).unwrap_err();
        assert!(matches!(e, RsaKeyError::Rejected { .. }), "{e:?}");
        let e = RsaSigningKey::from_pkcs8_pem("no pem here").unwrap_err();
        assert_eq!(e.to_string(), "no PEM 'PRIVATE KEY' block found");
    }
}
