//! The `hsm:` section of the config file: [`HsmConfig`] and [`decode`], the
//! only validation of the block (every error
//! `file:line: hsm.pkcs11.<field>: invalid hsm config: ...`), and
//! [`HsmConfig::seal`], which wraps a connected key store in the seal.
//!
//! ```yaml
//! hsm:
//!   pkcs11:
//!     module: /usr/lib/softhsm/libsofthsm2.so
//!     token: kes            # token label (or `slot: N`)
//!     pin: ${KES_HSM_PIN}
//!     key: kes-seal         # label of the wrapping key
//!     create: false         # true: generate the key on first start if absent
//!     allow_unsealed: false # true: read values written before the seal
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use kes_config::{ConfigError, Ctx, Fields, Secret};

use crate::{KeyStore, KeyStoreError};

/// Which token of the module holds the seal key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    /// The token with this label (`token:`).
    Label(String),
    /// The token in this slot (`slot:`).
    Slot(u64),
}

/// The decoded `hsm.pkcs11` block. `Debug` never shows the PIN.
#[derive(Debug, Clone)]
pub struct HsmConfig {
    /// Path of the PKCS#11 module (shared library).
    pub module: PathBuf,
    /// The token holding the seal key.
    pub token: TokenSelector,
    /// The user PIN of the token.
    pub pin: Secret,
    /// Label of the AES-256 seal key on the token.
    pub key: String,
    /// Generate the seal key (non-extractable) if the token has none.
    pub create: bool,
    /// Read values that are not sealed (written before the seal was
    /// configured) instead of refusing them; writes are always sealed.
    pub allow_unsealed: bool,
}

/// Decodes the `hsm:` mapping (`fields`).
pub fn decode(mut fields: Fields<'_>, ctx: &mut Ctx<'_>) -> Result<HsmConfig, ConfigError> {
    fields.expect_only(ctx, &["pkcs11"])?;
    let Some(mut block) = fields.take_map(ctx, "pkcs11")? else {
        return Err(fields.missing(ctx, "pkcs11", "invalid hsm config: missing 'pkcs11' block"));
    };
    block.expect_only(
        ctx,
        &[
            "module",
            "token",
            "slot",
            "pin",
            "key",
            "create",
            "allow_unsealed",
        ],
    )?;
    let Some(module) = block.path_opt(ctx, "module")? else {
        return Err(block.missing(
            ctx,
            "module",
            "invalid hsm config: no PKCS#11 module specified",
        ));
    };
    let token = match (block.has("token"), block.has("slot")) {
        (true, true) => {
            return Err(ctx.invalid(
                block.line_of("slot"),
                &block.child("slot"),
                "invalid hsm config: both 'token' and 'slot' are given (name the token one way)",
            ));
        }
        (false, true) => {
            let line = block.line_of("slot");
            let text = block.text(ctx, "slot")?;
            let slot = text.trim().parse::<u64>().map_err(|_| {
                ctx.invalid(
                    line,
                    &block.child("slot"),
                    format!("invalid hsm config: invalid slot '{text}' (want a slot number)"),
                )
            })?;
            TokenSelector::Slot(slot)
        }
        _ => TokenSelector::Label(block.required(
            ctx,
            "token",
            "invalid hsm config: no token specified (give its label as 'token' or its 'slot')",
        )?),
    };
    let pin = block.required_secret(ctx, "pin", "invalid hsm config: no PIN specified")?;
    let key = block.required(ctx, "key", "invalid hsm config: no key label specified")?;
    let create = flag(&mut block, ctx, "create")?;
    let allow_unsealed = flag(&mut block, ctx, "allow_unsealed")?;
    block.finish(ctx)?;
    fields.finish(ctx)?;
    Ok(HsmConfig {
        module,
        token,
        pin,
        key,
        create,
        allow_unsealed,
    })
}

/// An optional boolean field, `false` when absent.
fn flag(block: &mut Fields<'_>, ctx: &Ctx<'_>, name: &'static str) -> Result<bool, ConfigError> {
    let field = block.child(name);
    match block.take(name) {
        None => Ok(false),
        Some(node) => ctx.boolean(node, &field),
    }
}

impl HsmConfig {
    /// Opens the token, checks (or creates) the seal key and wraps `inner`
    /// in the seal. Fails if the key is missing and `create` is off.
    #[cfg(feature = "hsm")]
    pub async fn seal(&self, inner: Arc<dyn KeyStore>) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
        Ok(Arc::new(
            super::SealedKeyStore::open(self.clone(), inner).await?,
        ))
    }

    /// Without the `hsm` feature: an error saying so.
    #[cfg(not(feature = "hsm"))]
    pub async fn seal(
        &self,
        _inner: Arc<dyn KeyStore>,
    ) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
        Err(KeyStoreError::new(
            crate::ErrorKind::InvalidConfig,
            "the HSM seal is not compiled into this build (build kes with the cargo feature `hsm`)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_text(text: &str) -> Result<HsmConfig, ConfigError> {
        let root = kes_config::document(text, "c.yml")?;
        let env = |name: &str| (name == "PIN").then(|| "1234".to_owned());
        let mut ctx = Ctx::new("c.yml", &env);
        let mut top = ctx.map(&root, "", 1)?;
        let fields = top.take_map(&ctx, "hsm")?.expect("an hsm block");
        decode(fields, &mut ctx)
    }

    fn decode_err(text: &str) -> String {
        decode_text(text).expect_err("an error").to_string()
    }

    #[test]
    fn full_block() {
        let c = decode_text(
            "hsm:\n  pkcs11:\n    module: /m.so\n    token: kes\n    pin: ${PIN}\n    key: seal\n    create: true\n    allow_unsealed: true\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.module, PathBuf::from("/m.so"));
        assert_eq!(c.token, TokenSelector::Label("kes".into()));
        assert_eq!(c.pin.expose(), "1234");
        assert_eq!(c.key, "seal");
        assert!(c.create && c.allow_unsealed);
        assert!(!format!("{c:?}").contains("1234"));
    }

    #[test]
    fn slot_and_defaults() {
        let c = decode_text("hsm:\n  pkcs11: {module: /m.so, slot: 7, pin: x, key: k}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.token, TokenSelector::Slot(7));
        assert!(!c.create && !c.allow_unsealed);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            decode_err("hsm:\n  pkcs11: {token: t, pin: x, key: k}\n"),
            "c.yml:2: hsm.pkcs11.module: invalid hsm config: no PKCS#11 module specified"
        );
        assert_eq!(
            decode_err(
                "hsm:\n  pkcs11:\n    module: /m\n    token: t\n    slot: 1\n    pin: x\n    key: k\n"
            ),
            "c.yml:5: hsm.pkcs11.slot: invalid hsm config: both 'token' and 'slot' are given \
             (name the token one way)"
        );
        assert!(
            decode_err("hsm:\n  pkcs11: {module: /m, slot: one, pin: x, key: k}\n")
                .ends_with("invalid hsm config: invalid slot 'one' (want a slot number)")
        );
        assert!(
            decode_err("hsm:\n  pkcs11: {module: /m, token: t, key: k}\n")
                .ends_with("hsm.pkcs11.pin: invalid hsm config: no PIN specified")
        );
        assert!(
            decode_err("hsm:\n  pkcs11: {module: /m, token: t, pin: x}\n")
                .ends_with("hsm.pkcs11.key: invalid hsm config: no key label specified")
        );
        assert!(
            decode_err("hsm:\n  pkcs11: {module: /m, token: t, pin: x, key: k, pim: 1}\n")
                .contains("pim")
        );
        assert!(decode_err("hsm:\n  pkcs10: {}\n").contains("pkcs10"));
    }
}
