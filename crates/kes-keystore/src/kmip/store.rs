//! The KMIP store type and its [`KeyStore`] impl: version negotiation at
//! connect and the five operations as KMIP operation sequences.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use kes_types::KeyName;
use zeroize::Zeroizing;

use crate::list::paginate;
use crate::name_locks::NameLocks;
use crate::transport::{CaMode, TlsFiles, client_config};
use crate::{KeyStore, KeyStoreError, ListPage, Status, step_back};

use super::client::{self, Client};
use super::config::{KmipOptions, SUPPORTED_VERSIONS};
use super::error::{BACKEND, malformed};
use super::ttlv::{op, reason};

/// The version a Discover Versions request is sent in (the first that has
/// the operation).
const DISCOVERY_VERSION: (i32, i32) = (1, 1);
/// Get Attributes requests per message when listing.
const LIST_BATCH: usize = 64;
/// How often a create whose object met another node's (both registered
/// the name at once) steps back and tries again.
const CREATE_ATTEMPTS: u32 = 8;

/// A KMIP server as a [`KeyStore`]: each key is one Secret Data object
/// named `<prefix><key name>`.
pub struct KmipKeyStore {
    client: Client,
    prefix: String,
    /// Serializes the Locate-then-Register of one name through this store.
    creates: NameLocks,
}

impl std::fmt::Debug for KmipKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmipKeyStore")
            .field("endpoints", &self.client.endpoints())
            .field("version", &self.client.version())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl KmipKeyStore {
    /// Loads the TLS files, connects and settles the protocol version: the
    /// configured one, or the one the server picks with Discover Versions
    /// from 2.0 and 1.4 to 1.0 offered newest first (2.0 when it speaks it;
    /// 1.0 when the server does not know the operation). Errors name the
    /// bad file or every endpoint's failure.
    pub async fn connect(opts: KmipOptions) -> Result<Self, KeyStoreError> {
        if opts.endpoints.is_empty() {
            return Err(KeyStoreError::invalid_config(BACKEND, "no endpoints"));
        }
        let files = TlsFiles {
            ca: opts.ca.as_deref(),
            client: Some((&opts.cert, &opts.key)),
        };
        let tls = client_config(BACKEND, files, CaMode::ReplaceSystem)?;
        let mut client = Client::new(
            opts.endpoints,
            tls,
            opts.version.unwrap_or(DISCOVERY_VERSION),
        );
        let offer = match opts.version {
            // Prove the server answers in the configured version.
            Some(_) => Vec::new(),
            None => client::discover_versions(&SUPPORTED_VERSIONS),
        };
        let what = "discover versions";
        let answer = client
            .call(what, vec![(op::DISCOVER_VERSIONS, offer)])
            .await?
            .pop()
            .ok_or_else(|| malformed(what, "no batch item"))?;
        let chosen = match answer {
            Ok(payload) => client::chosen_version(&payload),
            // A KMIP 1.0 server does not know the operation.
            Err(f) if f.reason == Some(reason::OPERATION_NOT_SUPPORTED) => Some((1, 0)),
            Err(f) => return Err(f.into_error(what)),
        };
        if opts.version.is_none() {
            let version = chosen.ok_or_else(|| {
                KeyStoreError::backend(
                    BACKEND,
                    "discover versions: the server supports none of KMIP 1.0 to 1.4 and 2.0",
                )
            })?;
            client.set_version(version);
        }
        Ok(Self {
            client,
            prefix: opts.prefix,
            creates: NameLocks::new(),
        })
    }

    /// The object name of key `name`.
    fn object_name(&self, name: &KeyName) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Revoke (Cessation of Operation), then Destroy, object `uid`. A
    /// Revoke the server refuses as an Illegal Operation or (2.0) a Wrong
    /// Key Lifecycle State (objects that were never activated cannot be
    /// revoked) is skipped.
    async fn destroy(&self, what: &str, uid: &str) -> Result<(), KeyStoreError> {
        let revoked = self
            .client
            .call(what, vec![(op::REVOKE, client::revoke(uid))])
            .await?;
        if let Some(Err(f)) = revoked.into_iter().next()
            && !matches!(
                f.reason,
                Some(reason::ILLEGAL_OPERATION | reason::WRONG_KEY_LIFECYCLE_STATE)
            )
        {
            return Err(f.into_error(what));
        }
        self.client
            .call_one(what, op::DESTROY, client::by_id(uid))
            .await?;
        Ok(())
    }

    /// The unique identifiers of the objects named for `name`.
    async fn locate(&self, what: &str, name: &KeyName) -> Result<Vec<String>, KeyStoreError> {
        let object = self.object_name(name);
        let payload = self
            .client
            .call_one(
                what,
                op::LOCATE,
                client::locate(self.client.version(), Some(&object)),
            )
            .await?;
        Ok(client::located(&payload))
    }
}

#[async_trait]
impl KeyStore for KmipKeyStore {
    fn description(&self) -> String {
        let (major, minor) = self.client.version();
        format!(
            "KMIP {major}.{minor}: {}",
            self.client.endpoints().join(", ")
        )
    }

    async fn status(&self) -> Result<Status, KeyStoreError> {
        let started = Instant::now();
        // Any KMIP answer means reachable.
        self.client
            .call("status", vec![(op::DISCOVER_VERSIONS, Vec::new())])
            .await?;
        Ok(Status {
            latency: started.elapsed(),
        })
    }

    /// Locate, then Register when no object has the name. KMIP has no
    /// create-if-absent: the two are serialized per name within this
    /// store, but two KES nodes creating one name at once can both
    /// register. So a create locates again after registering and keeps its
    /// object only if it is the name's only one; otherwise it destroys it
    /// and, after a random pause, starts over (finding the other node's
    /// object: "already exists"; or none, when both stepped back: register
    /// again), [`CREATE_ATTEMPTS`] times at most. Of two creates at most
    /// one can find only its own object (the later search follows the
    /// earlier registration), so two never both succeed, whatever order the
    /// server gives its identifiers.
    async fn create(&self, name: &KeyName, value: &[u8]) -> Result<(), KeyStoreError> {
        let what = format!("create '{name}'");
        let _guard = self.creates.lock(name.as_str()).await;
        let object = self.object_name(name);
        let mut took = Duration::ZERO;
        for attempt in 1..=CREATE_ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(step_back(attempt - 1, took)).await;
            }
            let started = Instant::now();
            if !self.locate(&what, name).await?.is_empty() {
                return Err(KeyStoreError::already_exists());
            }
            let payload = self
                .client
                .call_one(
                    &what,
                    op::REGISTER,
                    client::register(self.client.version(), &object, value),
                )
                .await?;
            let Some(own) = client::located(&payload).into_iter().next() else {
                return Err(malformed(&what, "Register answered no Unique Identifier"));
            };
            let uids = self.locate(&what, name).await?;
            if uids.iter().all(|u| *u == own) {
                return Ok(());
            }
            self.destroy(&what, &own).await?;
            took = started.elapsed();
        }
        Err(KeyStoreError::backend(
            BACKEND,
            format!(
                "{what}: other nodes kept registering the name at the same time \
                 ({CREATE_ATTEMPTS} attempts)"
            ),
        )
        .with_temporary(true))
    }

    async fn get(&self, name: &KeyName) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
        let what = format!("get '{name}'");
        let uids = self.locate(&what, name).await?;
        // KMIP leaves the order of Locate's answer to the server: pick
        // deterministically (the shortest, then smallest, identifier), so
        // that every node reads the same object while two creates' objects
        // both exist for a moment (see `create`).
        let Some(uid) = uids.iter().min_by_key(|u| (u.len(), u.as_str())) else {
            return Err(KeyStoreError::not_found());
        };
        let payload = self
            .client
            .call_one(&what, op::GET, client::by_id(uid))
            .await?;
        client::material(&what, &payload)
    }

    /// Destroys every object of the name (see [`KmipKeyStore::destroy`]).
    async fn delete(&self, name: &KeyName) -> Result<(), KeyStoreError> {
        let what = format!("delete '{name}'");
        let uids = self.locate(&what, name).await?;
        if uids.is_empty() {
            return Err(KeyStoreError::not_found());
        }
        for uid in &uids {
            self.destroy(&what, uid).await?;
        }
        Ok(())
    }

    /// Locate every object, then read the names in batches of Get
    /// Attributes; objects without a name under the prefix are skipped.
    async fn list(
        &self,
        prefix: &str,
        start: &str,
        limit: usize,
    ) -> Result<ListPage, KeyStoreError> {
        let what = "list";
        let payload = self
            .client
            .call_one(
                what,
                op::LOCATE,
                client::locate(self.client.version(), None),
            )
            .await?;
        let uids = client::located(&payload);
        let mut names = Vec::new();
        for chunk in uids.chunks(LIST_BATCH) {
            let items = chunk
                .iter()
                .map(|uid| {
                    (
                        op::GET_ATTRIBUTES,
                        client::get_name(self.client.version(), uid),
                    )
                })
                .collect();
            for result in self.client.call(what, items).await? {
                // An object destroyed since the Locate has no name to list.
                let Ok(payload) = result else { continue };
                names.extend(client::names(&payload).into_iter().filter_map(|n| {
                    let key = n.strip_prefix(&self.prefix)?;
                    (key.starts_with(prefix) && key >= start && KeyName::new(key).is_ok())
                        .then(|| key.to_owned())
                }));
            }
        }
        Ok(paginate(names, prefix, start, limit))
    }
}
