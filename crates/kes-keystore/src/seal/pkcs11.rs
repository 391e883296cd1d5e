//! The HSM side of the seal: one PKCS#11 context per module per process,
//! the token and key lookup (or creation) at start-up, a pool of logged-in
//! sessions, and AES-256-GCM encryption and decryption with the seal key
//! (`C_Encrypt` / `C_Decrypt`, `CKM_AES_GCM`, 96-bit IV, 128-bit tag).
//!
//! Every function here blocks (the module is a C library); the store calls
//! them in `spawn_blocking`, at most [`MAX_SESSIONS`] at a time. A
//! `Session` may be used by one thread at a time (it is `Send`, not
//! `Sync`), so idle sessions wait in a `Mutex<Vec<_>>`: a call takes one
//! (or opens one when none is idle), uses it alone and puts it back. A call that fails because the session or the
//! login was lost (handle invalid, session closed, not logged in, device
//! removed) drops that session, opens and logs in a new one, finds the key
//! again and tries once more.
//!
//! The PIN is held as cryptoki's `AuthPin` (a `secrecy` string, wiped on
//! drop) and never appears in an error: errors name the PKCS#11 function
//! and its return value (`Login failed: PinIncorrect`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::config::{HsmConfig, TokenSelector};
use crate::{KeyStoreError, step_back};

/// The back-end name of every error of the seal.
pub(crate) const BACKEND: &str = "hsm";

/// Length of the GCM IV (96 bits, the size GCM handles without hashing).
pub(crate) const IV_LEN: usize = 12;
/// Length of the GCM tag appended to the ciphertext (128 bits).
pub(crate) const TAG_LEN: usize = 16;

/// Most sessions open at once: the store runs at most this many HSM calls
/// at a time (HSMs limit sessions per application), so the pool never
/// holds more.
pub(crate) const MAX_SESSIONS: usize = 16;

/// How often start-up looks for the seal key while nodes generating it at
/// the same time settle on one (see `Hsm::find_or_create_key`).
const CREATE_ATTEMPTS: u32 = 5;

/// One logged-in session and the seal key's handle in it.
struct Pooled {
    session: Session,
    key: ObjectHandle,
}

/// An open token with the seal key: the session pool and what is needed to
/// open more sessions.
pub(crate) struct Hsm {
    context: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    key_label: String,
    /// `token '<label>'` or `slot N`, for messages.
    token: String,
    idle: Mutex<Vec<Pooled>>,
}

impl std::fmt::Debug for Hsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hsm")
            .field("token", &self.token)
            .field("key", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// The PKCS#11 context of `module`, loaded and initialised once per
/// process: `C_Initialize` is process-wide, and finalising one context
/// would end every other's sessions (a reload opens the seal again).
fn context(module: &Path) -> Result<Pkcs11, KeyStoreError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let shown = module.display();
    let context = Pkcs11::new(module).map_err(|e| {
        KeyStoreError::invalid_config(BACKEND, format!("cannot load PKCS#11 module {shown}: {e}"))
    })?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(KeyStoreError::backend(
                BACKEND,
                format!("cannot initialise PKCS#11 module {shown}: {}", describe(&e)),
            ));
        }
    }
    contexts.insert(module.to_owned(), context.clone());
    Ok(context)
}

/// `<function> failed: <return value>`, or cryptoki's text for the rest;
/// never contains the PIN (cryptoki's errors carry no arguments).
fn describe(e: &Error) -> String {
    match e {
        Error::Pkcs11(rv, function) => format!("{function:?} failed: {rv:?}"),
        other => other.to_string(),
    }
}

/// Whether `e` means the session or its login is gone, so a fresh session
/// may succeed.
fn session_lost(e: &Error) -> bool {
    matches!(
        e,
        Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::DeviceError,
            _
        )
    )
}

impl Hsm {
    /// Loads the module, finds the token, logs in, and finds the seal key,
    /// generating it when absent and `config.create` is set.
    pub(crate) fn open(config: &HsmConfig) -> Result<Self, KeyStoreError> {
        let context = context(&config.module)?;
        let (slot, token) = find_slot(&context, &config.token)?;
        let hsm = Hsm {
            context,
            slot,
            pin: AuthPin::from(config.pin.expose().to_owned()),
            key_label: config.key.clone(),
            token,
            idle: Mutex::default(),
        };
        let session = hsm.login()?;
        let key = hsm.find_or_create_key(&session, config.create)?;
        hsm.put_back(Pooled { session, key });
        Ok(hsm)
    }

    /// `token '<label>'` or `slot N`.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// The seal key's label.
    pub(crate) fn key_label(&self) -> &str {
        &self.key_label
    }

    /// Opens a read-write session and logs the user in (a login already
    /// held by another session of this process counts).
    fn login(&self) -> Result<Session, KeyStoreError> {
        let session = self.context.open_rw_session(self.slot).map_err(|e| {
            KeyStoreError::unreachable(
                BACKEND,
                format!("cannot open a session on {}: {}", self.token, describe(&e)),
            )
        })?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(KeyStoreError::unauthorized(
                BACKEND,
                format!("cannot log in to {}: {}", self.token, describe(&e)),
            )),
        }
    }

    /// The template naming the seal key.
    fn key_template(&self) -> Vec<Attribute> {
        vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ]
    }

    /// The seal key's handle, found or (with `create`) generated.
    ///
    /// Nodes started together with `create: true` may all find no key and
    /// each generate one. So a node searches again right after generating:
    /// if its key is the only one it keeps it; otherwise it destroys its own
    /// (never used yet), waits a random moment and starts over, finding the
    /// other node's key or generating again. Of two nodes at most one can
    /// see only its own key (the later search follows the earlier
    /// generation), so no two nodes go on with different keys; when both see
    /// two, both step back and the random waits break the tie. While
    /// `create` is set, finding several keys is taken for such a tie being
    /// broken and waited out, [`CREATE_ATTEMPTS`] times at most.
    fn find_or_create_key(
        &self,
        session: &Session,
        create: bool,
    ) -> Result<ObjectHandle, KeyStoreError> {
        let mut took = std::time::Duration::ZERO;
        for attempt in 1..=CREATE_ATTEMPTS {
            if attempt > 1 {
                std::thread::sleep(step_back(attempt - 1, took));
            }
            let started = std::time::Instant::now();
            match (self.find_keys(session)?.as_slice(), create) {
                ([key], _) => return Ok(*key),
                ([], false) => {
                    return Err(KeyStoreError::invalid_config(
                        BACKEND,
                        format!(
                            "the seal key '{}' does not exist on {} (set hsm.pkcs11.create: \
                             true to generate it)",
                            self.key_label, self.token
                        ),
                    ));
                }
                ([], true) => {
                    let key = self.generate_key(session)?;
                    if self.find_keys(session)?.len() == 1 {
                        tracing::warn!(
                            token = %self.token,
                            key = %self.key_label,
                            "generated the HSM seal key (hsm.pkcs11.create)"
                        );
                        return Ok(key);
                    }
                    self.destroy_key(session, key)?;
                    tracing::warn!(
                        token = %self.token,
                        key = %self.key_label,
                        "another node generated the HSM seal key at the same time; \
                         removed this node's and looking again"
                    );
                }
                (found, false) => return Err(self.not_unique(found.len())),
                (found, true) if attempt == CREATE_ATTEMPTS => {
                    return Err(self.not_unique(found.len()));
                }
                (_, true) => {}
            }
            took = started.elapsed();
        }
        Err(KeyStoreError::backend(
            BACKEND,
            format!(
                "nodes kept generating the seal key '{}' on {} at the same time \
                 ({CREATE_ATTEMPTS} attempts); start one node with hsm.pkcs11.create: true first",
                self.key_label, self.token
            ),
        ))
    }

    /// The error for a token holding `n` > 1 keys with the seal key's label.
    fn not_unique(&self, n: usize) -> KeyStoreError {
        KeyStoreError::invalid_config(
            BACKEND,
            format!(
                "{} holds {n} AES keys labelled '{}'; the seal key's label must be unique",
                self.token, self.key_label
            ),
        )
    }

    /// Every key on the token with the seal key's label and type.
    fn find_keys(&self, session: &Session) -> Result<Vec<ObjectHandle>, KeyStoreError> {
        session.find_objects(&self.key_template()).map_err(|e| {
            KeyStoreError::backend(
                BACKEND,
                format!(
                    "cannot search {} for the seal key: {}",
                    self.token,
                    describe(&e)
                ),
            )
        })
    }

    /// Destroys a seal key this node generated and has not used.
    fn destroy_key(&self, session: &Session, key: ObjectHandle) -> Result<(), KeyStoreError> {
        session.destroy_object(key).map_err(|e| {
            KeyStoreError::backend(
                BACKEND,
                format!(
                    "cannot remove the extra seal key '{}' from {}: {}",
                    self.key_label,
                    self.token,
                    describe(&e)
                ),
            )
        })
    }

    /// Generates the seal key: AES-256, a token object, private, sensitive
    /// and never extractable, for encryption and decryption only.
    fn generate_key(&self, session: &Session) -> Result<ObjectHandle, KeyStoreError> {
        let mut template = self.key_template();
        template.remove(0); // CKA_CLASS is implied by CKM_AES_KEY_GEN.
        template.extend([
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
        ]);
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| {
                KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "cannot generate the seal key '{}' on {}: {}",
                        self.key_label,
                        self.token,
                        describe(&e)
                    ),
                )
            })
    }

    /// A fresh logged-in session with the key's handle.
    fn open_session(&self) -> Result<Pooled, KeyStoreError> {
        let session = self.login()?;
        let key = match self.find_keys(&session)?.as_slice() {
            [key] => *key,
            [] => {
                return Err(KeyStoreError::backend(
                    BACKEND,
                    format!(
                        "the seal key '{}' is gone from {}",
                        self.key_label, self.token
                    ),
                ));
            }
            found => return Err(self.not_unique(found.len())),
        };
        Ok(Pooled { session, key })
    }

    /// Returns a session to the pool.
    fn put_back(&self, pooled: Pooled) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_SESSIONS {
            idle.push(pooled);
        }
    }

    /// Runs `op` on a pooled session; on a lost session, once more on a
    /// new one. `Ok(Err(e))` is a PKCS#11 failure of `op` itself.
    fn with_session<T>(
        &self,
        op: impl Fn(&Session, ObjectHandle) -> Result<T, Error>,
    ) -> Result<Result<T, Error>, KeyStoreError> {
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let pooled = match taken {
            Some(pooled) => pooled,
            None => self.open_session()?,
        };
        let result = op(&pooled.session, pooled.key);
        let (pooled, result) = match result {
            Err(e) if session_lost(&e) => {
                tracing::warn!(token = %self.token, error = %describe(&e), "HSM session lost; reopening");
                drop(pooled);
                let fresh = self.open_session()?;
                let result = op(&fresh.session, fresh.key);
                (fresh, result)
            }
            result => (pooled, result),
        };
        self.put_back(pooled);
        Ok(result)
    }

    /// AES-GCM encryption of `plaintext` under the seal key with `iv` and
    /// `aad`: the IV used and the ciphertext with the tag appended. The IV
    /// used is read back from the parameters: HSMs that generate the IV
    /// themselves (e.g. in FIPS mode) write theirs there, and the value
    /// must be stored with that one.
    pub(crate) fn encrypt(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<([u8; IV_LEN], Vec<u8>), KeyStoreError> {
        self.with_session(|session, key| {
            let mut iv = *iv;
            let sealed = {
                let params = GcmParams::new(&mut iv, aad, ((TAG_LEN * 8) as u64).into())?;
                session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?
            };
            Ok((iv, sealed))
        })?
        .map_err(|e| {
            KeyStoreError::backend(
                BACKEND,
                format!(
                    "cannot seal with the key '{}': {}",
                    self.key_label,
                    describe(&e)
                ),
            )
        })
    }

    /// AES-GCM decryption; `Ok(None)` when the tag does not verify (wrong
    /// name, wrong key or tampered value).
    pub(crate) fn decrypt(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError> {
        let result = self.with_session(|session, key| {
            let mut iv = *iv;
            let params = GcmParams::new(&mut iv, aad, ((TAG_LEN * 8) as u64).into())?;
            session
                .decrypt(&Mechanism::AesGcm(params), key, ciphertext)
                .map(Zeroizing::new)
        })?;
        match result {
            Ok(plaintext) => Ok(Some(plaintext)),
            // PKCS#11 says CKR_ENCRYPTED_DATA_INVALID; SoftHSM2 answers a
            // failed GCM tag check with CKR_GENERAL_ERROR.
            Err(Error::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                Function::Decrypt,
            )) => Ok(None),
            Err(e) => Err(KeyStoreError::backend(
                BACKEND,
                format!(
                    "cannot unseal with the key '{}': {}",
                    self.key_label,
                    describe(&e)
                ),
            )),
        }
    }

    /// Checks that a session works (for `status`).
    pub(crate) fn probe(&self) -> Result<(), KeyStoreError> {
        self.with_session(|session, _| session.get_session_info().map(drop))?
            .map_err(|e| {
                KeyStoreError::unreachable(
                    BACKEND,
                    format!("{} does not answer: {}", self.token, describe(&e)),
                )
            })
    }

    /// Logs the token out, as an HSM restart or a session timeout does:
    /// every pooled session loses its login (tests of the reopen path).
    #[cfg(feature = "testkit")]
    pub(crate) fn logout(&self) {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pooled) = idle.first() {
            let _ = pooled.session.logout();
        }
    }
}

/// The slot of the token `selector` names, and its name for messages.
fn find_slot(context: &Pkcs11, selector: &TokenSelector) -> Result<(Slot, String), KeyStoreError> {
    let slots = context.get_slots_with_token().map_err(|e| {
        KeyStoreError::unreachable(BACKEND, format!("cannot list the slots: {}", describe(&e)))
    })?;
    match selector {
        TokenSelector::Slot(id) => slots
            .into_iter()
            .find(|s| s.id() == *id)
            .map(|s| (s, format!("slot {id}")))
            .ok_or_else(|| {
                KeyStoreError::invalid_config(BACKEND, format!("no token in slot {id}"))
            }),
        TokenSelector::Label(label) => {
            for slot in slots {
                let Ok(info) = context.get_token_info(slot) else {
                    continue;
                };
                if info.label().trim_end() == label {
                    return Ok((slot, format!("token '{label}'")));
                }
            }
            Err(KeyStoreError::invalid_config(
                BACKEND,
                format!("no token labelled '{label}'"),
            ))
        }
    }
}
