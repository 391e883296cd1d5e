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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyStoreConfig;
    use crate::config::tests::decode_ok;

    /// The example of README.md, verbatim; the test decodes it with the
    /// secret written in place of the `${AZURE_CLIENT_SECRET}` reference.
    const README_EXAMPLE: &str = "keystore:
  azure:
    keyvault:
      endpoint: https://my-vault.vault.azure.net
      credentials:
        tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
        client_id: f1a2b3c4-0000-4000-8000-000000000001
        client_secret: ${AZURE_CLIENT_SECRET}
";

    #[test]
    fn the_readme_example_decodes() {
        let readme = include_str!("../../../../README.md");
        assert!(
            readme.contains(README_EXAMPLE),
            "README.md lost the Azure example"
        );
        let text = README_EXAMPLE.replace("${AZURE_CLIENT_SECRET}", "s3cr3t");
        let KeyStoreConfig::Azure(a) = decode_ok(&text) else {
            panic!("not an Azure config")
        };
        assert_eq!(a.endpoint, "https://my-vault.vault.azure.net");
        let AzureAuth::ClientCredentials {
            tenant_id,
            client_secret,
            ..
        } = a.auth
        else {
            panic!("not a service principal")
        };
        assert_eq!(tenant_id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(client_secret.expose(), "s3cr3t");
    }
}
