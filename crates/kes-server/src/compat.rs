//! TEMPORARY stand-ins for kes-types APIs being written in parallel
//! (`Identity`, `identity_of_chain`, `Policy`); removed once they land.
#![allow(missing_docs, dead_code)]

pub mod identity {
    use std::fmt;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Identity(String);

    impl fmt::Display for Identity {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl Identity {
        pub fn of_spki(spki: &[u8]) -> Self {
            let d = ring::digest::digest(&ring::digest::SHA256, spki);
            Self(d.as_ref().iter().map(|b| format!("{b:02x}")).collect())
        }
        pub fn of_certificate(der: &[u8]) -> Result<Self, String> {
            let (_, c) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
            Ok(Self::of_spki(c.public_key().raw))
        }
    }

    pub fn identity_of_chain(chain: &[&[u8]]) -> Result<Identity, String> {
        let mut found = None;
        for der in chain {
            let (_, c) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
            let ca = c
                .basic_constraints()
                .ok()
                .flatten()
                .is_some_and(|b| b.value.ca);
            if ca {
                continue;
            }
            if found.is_some() {
                return Err("tls: received more than one client certificate".into());
            }
            found = Some(Identity::of_spki(c.public_key().raw));
        }
        found.ok_or_else(|| "tls: client certificate is required".into())
    }
}

pub mod policy {
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    pub struct PathPattern(String);
    impl PathPattern {
        pub fn new(s: &str) -> Self {
            Self(s.to_owned())
        }
        pub fn matches(&self, p: &str) -> bool {
            if self.0.is_empty() {
                return false;
            }
            match self.0.strip_suffix('*') {
                Some(prefix) => p.starts_with(prefix),
                None => self.0 == p,
            }
        }
    }
    #[derive(Debug, Clone, Default)]
    pub struct Policy {
        pub allow: Vec<PathPattern>,
        pub deny: Vec<PathPattern>,
    }
    impl Policy {
        pub fn verify(&self, p: &str) -> bool {
            !self.deny.iter().any(|d| d.matches(p)) && self.allow.iter().any(|a| a.matches(p))
        }
    }
}
