//! The `keystore.entrust.keycontrol` block (keystores.md §8.1): the
//! settings of the Entrust KeyControl store ([`KeyControlOptions`]) and the
//! decoder that is the only place checking them, with file:line errors.

use std::path::PathBuf;

use kes_config::{ConfigError, Ctx, Fields};
use zeroize::Zeroizing;

use crate::config::tls_ca;

/// Connection settings of an Entrust KeyControl vault
/// (`keystore.entrust.keycontrol` in the config file).
#[derive(Clone, Default)]
pub struct KeyControlOptions {
    /// The appliance URL, e.g. `https://keycontrol.example.com`.
    pub endpoint: String,
    /// The vault UUID (used in the login path).
    pub vault_id: String,
    /// The box (name or id) that holds the keys.
    pub box_id: String,
    /// The vault user.
    pub username: String,
    /// The vault user's password.
    pub password: Zeroizing<String>,
    /// A CA certificate file or directory trusted in addition to the system
    /// roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for KeyControlOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyControlOptions")
            .field("endpoint", &self.endpoint)
            .field("vault_id", &self.vault_id)
            .field("box_id", &self.box_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("ca", &self.ca)
            .finish()
    }
}

/// The start of every error message about this block.
const E: &str = "invalid entrust keycontrol keystore";

/// Decodes the `keycontrol` block `e`: the only validation of its fields.
pub(crate) fn decode(
    e: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<KeyControlOptions, ConfigError> {
    e.expect_only(
        ctx,
        &["endpoint", "vault_id", "box_id", "credentials", "tls"],
    )?;
    let endpoint = e.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let vault_id_line = e.line_of("vault_id");
    let vault_id = e.required(ctx, "vault_id", &format!("{E}: no vault ID specified"))?;
    // The vault id goes into the login path.
    if !vault_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ctx.invalid(
            vault_id_line,
            &e.child("vault_id"),
            format!(
                "{E}: vault_id {vault_id:?} is not a vault id (letters, digits, '-', '_', '.')"
            ),
        ));
    }
    let box_id = e.required(ctx, "box_id", &format!("{E}: no box ID specified"))?;
    let Some(mut c) = e.take_map(ctx, "credentials")? else {
        return Err(e.missing(
            ctx,
            "credentials",
            &format!("{E}: no credentials (username, password) specified"),
        ));
    };
    c.expect_only(ctx, &["username", "password"])?;
    let username = c.required(ctx, "username", &format!("{E}: no username specified"))?;
    let password = c.required_secret(ctx, "password", &format!("{E}: no password specified"))?;
    c.finish(ctx)?;
    let ca = tls_ca(e, ctx)?;
    Ok(KeyControlOptions {
        endpoint,
        vault_id,
        box_id,
        username,
        password: password.into_zeroizing(),
        ca,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::decode_err;

    #[test]
    fn vault_id_must_fit_the_login_path() {
        let e = decode_err(
            "keystore:\n  entrust:\n    keycontrol:\n      endpoint: https://h\n      vault_id: a/b\n      box_id: b\n      credentials: {username: u, password: p}\n",
        );
        assert!(
            e.starts_with("c.yml:5: keystore.entrust.keycontrol.vault_id: invalid entrust keycontrol keystore: vault_id \"a/b\""),
            "{e}"
        );
    }
}
