//! The identity of a TLS peer, computed once per connection from the
//! certificate chain it presented (spec §4.1).
//!
//! One deliberate hardening over Go KES: the certificate that yields the
//! identity must be the *first* of the chain, the one whose private key the
//! handshake signature proved. Go picks the single non-CA certificate
//! wherever it sits, so a client could prepend a throw-away CA-flagged
//! certificate and borrow someone else's identity.

/// The outcome of identifying a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerIdentity {
    /// The peer's identity (lowercase hex SHA-256 of its SPKI).
    Known(String),
    /// No usable client certificate; the text is the 400 message for
    /// routes that need an identity.
    Unknown(String),
}

impl PeerIdentity {
    /// The identity, if known.
    pub fn known(&self) -> Option<&str> {
        match self {
            Self::Known(id) => Some(id),
            Self::Unknown(_) => None,
        }
    }

    /// Identifies a peer from its certificate chain (leaf first).
    pub fn of_chain(chain: Option<&[rustls_pki_types::CertificateDer<'_>]>) -> Self {
        const REQUIRED: &str = "tls: client certificate is required";
        let Some(chain) = chain.filter(|c| !c.is_empty()) else {
            return Self::Unknown(REQUIRED.into());
        };
        let ders: Vec<&[u8]> = chain.iter().map(|c| c.as_ref()).collect();
        match kes_types::identity_of_chain(&ders) {
            Ok(identity) => {
                let leaf = ders
                    .first()
                    .and_then(|d| kes_types::Identity::of_certificate(d).ok());
                if leaf.as_ref() == Some(&identity) {
                    Self::Known(identity.to_string())
                } else {
                    Self::Unknown(REQUIRED.into())
                }
            }
            Err(e) => Self::Unknown(e.to_string()),
        }
    }
}
