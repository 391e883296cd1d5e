//! The `keystore.fortanix.sdkms` block (keystores.md §9.1): the settings of the
//! Fortanix DSM (SDKMS) store and the decoder that is the only place checking
//! them, with file:line errors.

use std::path::PathBuf;

use kes_config::{ConfigError, Ctx, Fields, Secret};

use crate::config::tls_ca;

/// Fortanix DSM settings (keystores.md §9.1).
#[derive(Debug, Clone)]
pub struct FortanixOptions {
    /// Server URL.
    pub endpoint: String,
    /// Group for new objects; `None` = the app's default group.
    pub group_id: Option<String>,
    /// API key.
    pub api_key: Secret,
    /// CA file or directory; replaces the system roots.
    pub ca: Option<PathBuf>,
}

/// Decodes the block: the only validation of its fields.
pub(crate) fn decode(
    f: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<FortanixOptions, ConfigError> {
    const E: &str = "invalid fortanix keystore";
    f.expect_only(ctx, &["endpoint", "group_id", "credentials", "tls"])?;
    let endpoint = f.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let group_id = f.text(ctx, "group_id")?;
    let group_id = (!group_id.is_empty()).then_some(group_id);
    let api_key = match f.take_map(ctx, "credentials")? {
        None => {
            return Err(f.missing(ctx, "credentials", &format!("{E}: no API key specified")));
        }
        Some(mut c) => {
            c.expect_only(ctx, &["key"])?;
            let key = c.required_secret(ctx, "key", &format!("{E}: no API key specified"))?;
            c.finish(ctx)?;
            key
        }
    };
    let ca = tls_ca(f, ctx)?;
    Ok(FortanixOptions {
        endpoint,
        group_id,
        api_key,
        ca,
    })
}
