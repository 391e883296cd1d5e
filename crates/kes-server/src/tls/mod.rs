//! TLS for the server: building the rustls [`rustls::ServerConfig`] from the
//! configured certificate files (or in-memory dev certificates), the
//! client-certificate modes of spec §4.3, and the identity of a TLS peer.
//!
//! The server config is rebuilt on reload and looked up per handshake (the
//! accept loop takes it from the current server state), so a new certificate
//! or client-auth mode applies to new connections without a restart.

pub mod identity;
pub mod server_config;
pub mod verifier;

pub use identity::PeerIdentity;
pub use server_config::{CertSource, ClientAuth, TlsError, TlsSettings, server_config};
