//! The `keystore.gcp.secretmanager` block (keystores.md §6.1): the settings of the
//! Google Cloud Secret Manager store and the decoder that is the only place checking
//! them, with file:line errors.

use kes_config::{ConfigError, Ctx, Fields, Secret, index};

/// Google Cloud Secret Manager settings (keystores.md §6.1).
#[derive(Debug, Clone)]
pub struct GcpOptions {
    /// Project ID.
    pub project_id: String,
    /// Endpoint override; `None` = the default endpoint.
    pub endpoint: Option<String>,
    /// OAuth scopes; empty = library default.
    pub scopes: Vec<String>,
    /// Service-account credentials; `None` = application default credentials.
    pub credentials: Option<GcpCredentials>,
}

/// GCP service-account credentials.
#[derive(Debug, Clone)]
pub struct GcpCredentials {
    /// Service-account e-mail.
    pub client_email: String,
    /// Client ID.
    pub client_id: String,
    /// Private key ID.
    pub private_key_id: String,
    /// PEM private key (literal `\n` sequences already turned into newlines).
    pub private_key: Secret,
}

/// Decodes the block: the only validation of its fields.
pub(crate) fn decode(g: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<GcpOptions, ConfigError> {
    const E: &str = "invalid gcp keystore";
    g.expect_only(ctx, &["project_id", "endpoint", "scopes", "credentials"])?;
    let project_id = g.required(ctx, "project_id", &format!("{E}: no project ID specified"))?;
    let endpoint = g.text(ctx, "endpoint")?;
    let endpoint = (!endpoint.is_empty()).then_some(endpoint);
    let mut scopes = Vec::new();
    if let Some(node) = g.take("scopes") {
        let field = g.child("scopes");
        for (i, item) in ctx.list(node, &field)?.iter().enumerate() {
            let scope = ctx.text(item, &index(&field, i))?;
            if !scope.is_empty() {
                scopes.push(scope);
            }
        }
    }
    let mut credentials = None;
    if let Some(mut c) = g.take_map(ctx, "credentials")? {
        c.expect_only(
            ctx,
            &["client_email", "client_id", "private_key_id", "private_key"],
        )?;
        let client_email = c.text(ctx, "client_email")?;
        let client_id = c.text(ctx, "client_id")?;
        let private_key_id = c.text(ctx, "private_key_id")?;
        let private_key = c.secret(ctx, "private_key")?;
        let any = !client_email.is_empty()
            || !client_id.is_empty()
            || !private_key_id.is_empty()
            || private_key.is_some();
        if any {
            for (name, empty) in [
                ("client_email", client_email.is_empty()),
                ("client_id", client_id.is_empty()),
                ("private_key_id", private_key_id.is_empty()),
                ("private_key", private_key.is_none()),
            ] {
                if empty {
                    return Err(c.missing(ctx, name,
                        &format!(
                            "{E}: credentials: no {name} specified (when one credential field is set, all four are required)"
                        ),
                    ));
                }
            }
        }
        c.finish(ctx)?;
        if let Some(private_key) = private_key {
            // Single-quoted YAML keeps `\n` literally; KES means newlines.
            let pem = private_key.expose().replace("\\n", "\n");
            credentials = Some(GcpCredentials {
                client_email,
                client_id,
                private_key_id,
                private_key: Secret::new(pem),
            });
        }
    }
    Ok(GcpOptions {
        project_id,
        endpoint,
        scopes,
        credentials,
    })
}
