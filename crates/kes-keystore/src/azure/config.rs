//! The `keystore.azure.keyvault` block (keystores.md §5.1): the settings of the
//! Azure Key Vault store and the decoder that is the only place checking
//! them, with file:line errors.

use kes_config::{ConfigError, Ctx, Fields, Secret};

/// Azure Key Vault settings (keystores.md §5.1).
#[derive(Debug, Clone)]
pub struct AzureOptions {
    /// Vault URL, e.g. `https://my-vault.vault.azure.net`.
    pub endpoint: String,
    /// How KES authenticates.
    pub auth: AzureAuth,
}

/// Azure authentication method.
#[derive(Debug, Clone)]
pub enum AzureAuth {
    /// The platform default credential chain (neither block given).
    Default,
    /// Service principal (`credentials`).
    ClientCredentials {
        /// Tenant ID.
        tenant_id: String,
        /// Client ID.
        client_id: String,
        /// Client secret.
        client_secret: Secret,
    },
    /// User-assigned managed identity (`managed_identity`).
    ManagedIdentity {
        /// Client ID of the identity.
        client_id: String,
    },
}

/// Decodes the block: the only validation of its fields.
pub(crate) fn decode(a: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<AzureOptions, ConfigError> {
    const E: &str = "invalid azure keystore";
    a.expect_only(ctx, &["endpoint", "credentials", "managed_identity"])?;
    let endpoint = a.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let credentials = match a.take_map(ctx, "credentials")? {
        None => None,
        Some(mut c) => {
            c.expect_only(ctx, &["tenant_id", "client_id", "client_secret"])?;
            let tenant_id = c.required(
                ctx,
                "tenant_id",
                &format!("{E}: credentials: no tenant_id specified"),
            )?;
            let client_id = c.required(
                ctx,
                "client_id",
                &format!("{E}: credentials: no client_id specified"),
            )?;
            let client_secret = c.required_secret(
                ctx,
                "client_secret",
                &format!("{E}: credentials: no client_secret specified"),
            )?;
            c.finish(ctx)?;
            Some(AzureAuth::ClientCredentials {
                tenant_id,
                client_id,
                client_secret,
            })
        }
    };
    let managed = match a.take_map(ctx, "managed_identity")? {
        None => None,
        Some(mut m) => {
            m.expect_only(ctx, &["client_id"])?;
            let line = m.line();
            let client_id = m.required(
                ctx,
                "client_id",
                &format!("{E}: managed_identity: no client_id specified"),
            )?;
            m.finish(ctx)?;
            Some((line, AzureAuth::ManagedIdentity { client_id }))
        }
    };
    let auth = match (credentials, managed) {
        (Some(_), Some((line, _))) => {
            return Err(ctx.invalid(
                line,
                &a.child("managed_identity"),
                format!("{E}: both credentials and managed_identity specified (want one)"),
            ));
        }
        (Some(c), None) => c,
        (None, Some((_, m))) => m,
        (None, None) => AzureAuth::Default,
    };
    Ok(AzureOptions { endpoint, auth })
}
