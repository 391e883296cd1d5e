//! The `keystore.gemalto.keysecure` block (keystores.md §7.1): the
//! settings of the CipherTrust Manager / KeySecure store
//! ([`KeySecureOptions`]) and the decoder that is the only place checking
//! them, with file:line errors.

use std::path::PathBuf;

use kes_config::{ConfigError, Ctx, Fields};
use zeroize::Zeroizing;

use crate::config::tls_ca;

/// Connection settings of a CipherTrust Manager / KeySecure appliance
/// (`keystore.gemalto.keysecure`, formerly `keys.gemalto.keysecure`).
#[derive(Clone, Default)]
pub struct KeySecureOptions {
    /// The appliance URL, e.g. `https://ciphertrust.example.com`.
    pub endpoint: String,
    /// The refresh token exchanged for short-lived JWTs.
    pub token: Zeroizing<String>,
    /// The domain the secrets live in; empty means the root domain.
    pub domain: String,
    /// A CA certificate file or directory that replaces the system roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for KeySecureOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecureOptions")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field("domain", &self.domain)
            .field("ca", &self.ca)
            .finish()
    }
}

/// The start of every error message about this block.
const E: &str = "invalid gemalto keystore";

/// Decodes the `keysecure` block `g`: the only validation of its fields.
pub(crate) fn decode(
    g: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<KeySecureOptions, ConfigError> {
    g.expect_only(ctx, &["endpoint", "credentials", "tls"])?;
    let endpoint = g.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let Some(mut c) = g.take_map(ctx, "credentials")? else {
        return Err(g.missing(
            ctx,
            "credentials",
            &format!("{E}: no credentials (token) specified"),
        ));
    };
    c.expect_only(ctx, &["token", "domain", "retry"])?;
    let token = c.required_secret(ctx, "token", &format!("{E}: no token specified"))?;
    let domain = c.text(ctx, "domain")?;
    c.retired(ctx, "retry", "KES uses a fixed login retry");
    c.finish(ctx)?;
    let ca = tls_ca(g, ctx)?;
    Ok(KeySecureOptions {
        endpoint,
        token: token.into_zeroizing(),
        domain,
        ca,
    })
}
