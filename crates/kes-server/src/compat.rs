//! TEMPORARY stand-ins for kes-types APIs being written in parallel
//! (`Identity`, `identity_of_chain`, `Policy`); removed once they land.
#![allow(missing_docs, dead_code, clippy::unwrap_used)]

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

pub mod crypto {
    use zeroize::Zeroizing;
    fn rnd() -> [u8; 32] {
        let mut b = [0u8; 32];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
        b
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Cipher {
        Aes256,
        ChaCha20,
    }
    impl Cipher {
        pub fn parse(s: &str) -> Option<Cipher> {
            match s {
                "AES256" | "AES256-GCM_SHA256" => Some(Self::Aes256),
                "ChaCha20" | "XCHACHA20-POLY1305" => Some(Self::ChaCha20),
                _ => None,
            }
        }
    }
    impl std::fmt::Display for Cipher {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Self::Aes256 => "AES256",
                Self::ChaCha20 => "ChaCha20",
            })
        }
    }
    pub fn new_key_cipher() -> Cipher {
        Cipher::Aes256
    }
    pub struct SecretKey(Cipher, [u8; 32]);
    impl SecretKey {
        pub fn cipher(&self) -> Cipher {
            self.0
        }
    }
    pub struct KeyVersion {
        pub key: SecretKey,
        pub hmac: Option<[u8; 32]>,
        pub created_at: Option<time::OffsetDateTime>,
        pub created_by: Option<String>,
    }
    pub struct Dek {
        pub plaintext: Zeroizing<[u8; 32]>,
        pub ciphertext: Vec<u8>,
    }
    impl KeyVersion {
        pub fn generate(c: Cipher, created_by: Option<String>) -> Self {
            let k: [u8; 32] = rnd();
            Self {
                key: SecretKey(c, k),
                hmac: Some(rnd()),
                created_at: Some(time::OffsetDateTime::now_utc()),
                created_by,
            }
        }
        pub fn import(c: Cipher, key: &[u8], created_by: Option<String>) -> Result<Self, String> {
            let k: [u8; 32] = key.try_into().map_err(|_| "bad size".to_string())?;
            let mut v = Self::generate(c, created_by);
            v.key = SecretKey(c, k);
            Ok(v)
        }
        pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, String> {
            let mut out = vec![self.key.0 as u8];
            out.extend_from_slice(&self.key.1);
            out.extend_from_slice(&self.hmac.unwrap_or_default());
            out.extend_from_slice(self.created_by.clone().unwrap_or_default().as_bytes());
            Ok(Zeroizing::new(out))
        }
        pub fn decode(b: &[u8]) -> Result<Self, String> {
            if b.len() < 65 {
                return Err("short".into());
            }
            let c = if b[0] == 0 {
                Cipher::Aes256
            } else {
                Cipher::ChaCha20
            };
            let by = String::from_utf8_lossy(&b[65..]).into_owned();
            Ok(Self {
                key: SecretKey(c, b[1..33].try_into().unwrap()),
                hmac: Some(b[33..65].try_into().unwrap()),
                created_at: None,
                created_by: (!by.is_empty()).then_some(by),
            })
        }
        pub fn encrypt(&self, pt: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
            let mut out = vec![0xAA];
            out.extend_from_slice(&self.key.1[..4]);
            out.push(aad.len() as u8);
            out.extend_from_slice(aad);
            out.extend(pt.iter().map(|b| b ^ 0x5a));
            Ok(out)
        }
        pub fn decrypt(&self, ct: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
            if ct.len() < 6 || ct[0] != 0xAA || ct[1..5] != self.key.1[..4] {
                return Err("bad".into());
            }
            let n = ct[5] as usize;
            if ct.len() < 6 + n || &ct[6..6 + n] != aad {
                return Err("bad aad".into());
            }
            Ok(Zeroizing::new(
                ct[6 + n..].iter().map(|b| b ^ 0x5a).collect(),
            ))
        }
        pub fn generate_dek(&self, aad: &[u8]) -> Result<Dek, String> {
            let p: [u8; 32] = rnd();
            Ok(Dek {
                ciphertext: self.encrypt(&p, aad)?,
                plaintext: Zeroizing::new(p),
            })
        }
        pub fn hmac(&self, msg: &[u8]) -> Option<[u8; 32]> {
            let h = self.hmac?;
            let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &h);
            ring::hmac::sign(&k, msg).as_ref().try_into().ok()
        }
        pub fn created_at_rfc3339(&self) -> String {
            "0001-01-01T00:00:00Z".into()
        }
    }
}

pub mod cache {
    use std::sync::Arc;
    use std::time::Duration;

    use kes_keystore::{KeyStore, KeyStoreError};
    use kes_types::KeyName;

    #[derive(Debug, Clone, Copy, Default)]
    pub struct CacheConfig {
        pub any: Duration,
        pub unused: Duration,
        pub offline: Duration,
    }
    #[derive(Debug, thiserror::Error)]
    pub enum CacheError {
        #[error("not found")]
        NotFound,
        #[error("{0}")]
        Store(KeyStoreError),
        #[error("{0}")]
        Decode(String),
    }
    pub struct KeyCache<V> {
        store: Arc<dyn KeyStore>,
        decode: fn(&[u8]) -> Result<V, String>,
    }
    impl<V: Send + Sync + 'static> KeyCache<V> {
        pub fn new(
            store: Arc<dyn KeyStore>,
            _cfg: CacheConfig,
            decode: fn(&[u8]) -> Result<V, String>,
        ) -> Arc<Self> {
            Arc::new(Self { store, decode })
        }
        pub async fn get(&self, name: &KeyName) -> Result<Arc<V>, CacheError> {
            match self.store.get(name).await {
                Ok(v) => (self.decode)(&v).map(Arc::new).map_err(CacheError::Decode),
                Err(KeyStoreError::NotFound) => Err(CacheError::NotFound),
                Err(e) => Err(CacheError::Store(e)),
            }
        }
        pub fn evict(&self, _name: &KeyName) {}
        pub fn is_offline(&self) -> bool {
            false
        }
        pub async fn status(&self) -> Result<kes_keystore::Status, KeyStoreError> {
            self.store.status().await
        }
        pub fn store(&self) -> &Arc<dyn KeyStore> {
            &self.store
        }
    }
}

pub mod log {
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::level::Level;

    pub struct AuditRecord {
        pub time: time::OffsetDateTime,
        pub ip: Option<IpAddr>,
        pub path: String,
        pub identity: Option<String>,
        pub status: u16,
        pub latency: Duration,
    }
    pub struct Logger {
        audit: tokio::sync::broadcast::Sender<Arc<[u8]>>,
        error: tokio::sync::broadcast::Sender<Arc<[u8]>>,
    }
    impl Logger {
        pub fn new(_e: Level, _a: Level) -> Arc<Self> {
            Arc::new(Self {
                audit: tokio::sync::broadcast::channel(64).0,
                error: tokio::sync::broadcast::channel(64).0,
            })
        }
        pub fn set_levels(&self, _e: Level, _a: Level) {}
        pub fn error(&self, level: Level, msg: &str, attrs: &[(&str, &str)]) {
            let line = format!("{{\"message\":\"level={level} msg={msg:?} {attrs:?}\"}}\n");
            let _ = self.error.send(Arc::from(line.into_bytes()));
        }
        pub fn audit(&self, r: &AuditRecord) {
            let line = format!(
                "{{\"time\":\"x\",\"request\":{{\"path\":{:?},\"identity\":{:?}}},\"response\":{{\"code\":{},\"time\":{}}}}}\n",
                r.path,
                r.identity.clone().unwrap_or_default(),
                r.status,
                r.latency.as_nanos()
            );
            let _ = self.audit.send(Arc::from(line.into_bytes()));
        }
        pub fn subscribe_audit(&self) -> tokio::sync::broadcast::Receiver<Arc<[u8]>> {
            self.audit.subscribe()
        }
        pub fn subscribe_error(&self) -> tokio::sync::broadcast::Receiver<Arc<[u8]>> {
            self.error.subscribe()
        }
    }
}

pub mod metrics {
    use std::time::Duration;

    pub struct SysStats {
        pub num_cpu: u64,
    }
    impl SysStats {
        pub fn collect() -> Self {
            Self { num_cpu: 1 }
        }
    }
    #[derive(Default)]
    pub struct Metrics {}
    pub struct ActiveGuard;
    impl Metrics {
        pub fn new() -> std::sync::Arc<Self> {
            std::sync::Arc::new(Self {})
        }
        pub fn observe(&self, _status: u16, _latency: Duration) {}
        pub fn active_guard(&self) -> ActiveGuard {
            ActiveGuard
        }
        pub fn render(&self, _sys: &SysStats) -> String {
            "kes_system_num_cpu 1\n".into()
        }
    }
}
