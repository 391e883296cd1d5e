//! The `keystore.gcp.secretmanager` block (keystores.md §6.1): the settings of the
//! Google Cloud Secret Manager store and the decoder that is the only place checking
//! them, with file:line errors.

use kes_config::{ConfigError, Ctx, Fields, index};
use zeroize::Zeroizing;

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

/// GCP service-account credentials (the fields of a service-account JSON
/// key file that the token flow needs).
#[derive(Clone)]
pub struct GcpCredentials {
    /// Service-account e-mail.
    pub client_email: String,
    /// Client ID.
    pub client_id: String,
    /// Private key ID.
    pub private_key_id: String,
    /// PEM private key (literal `\n` sequences already turned into newlines).
    pub private_key: Zeroizing<String>,
    /// The OAuth token endpoint; `None` = [`DEFAULT_TOKEN_URI`].
    pub token_uri: Option<String>,
}

/// Google's OAuth 2.0 token endpoint, used when the credentials name none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

impl std::fmt::Debug for GcpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpCredentials")
            .field("client_email", &self.client_email)
            .field("client_id", &self.client_id)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

/// Decodes the block: the only validation of its fields.
pub(crate) fn decode(g: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<GcpOptions, ConfigError> {
    const E: &str = "invalid gcp keystore";
    g.expect_only(ctx, &["project_id", "endpoint", "scopes", "credentials"])?;
    let project_line = g.line_of("project_id");
    let project_id = g.required(ctx, "project_id", &format!("{E}: no project ID specified"))?;
    // The project ID goes into every request path.
    if !project_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(ctx.invalid(
            project_line,
            &g.child("project_id"),
            format!(
                "{E}: project_id {project_id:?} is not a project ID (letters, digits, '-', '_', '.', ':')"
            ),
        ));
    }
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
            &[
                "client_email",
                "client_id",
                "private_key_id",
                "private_key",
                "token_uri",
            ],
        )?;
        let client_email = c.text(ctx, "client_email")?;
        let client_id = c.text(ctx, "client_id")?;
        let private_key_id = c.text(ctx, "private_key_id")?;
        let private_key = c.secret(ctx, "private_key")?;
        let token_uri = c.text(ctx, "token_uri")?;
        let token_uri = (!token_uri.is_empty()).then_some(token_uri);
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
            let pem = Zeroizing::new(private_key.expose().replace("\\n", "\n"));
            credentials = Some(GcpCredentials {
                client_email,
                client_id,
                private_key_id,
                private_key: pem,
                token_uri,
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

#[cfg(test)]
mod tests {
    use crate::KeyStoreConfig;
    use crate::config::tests::{decode_err, decode_ok};

    const HEAD: &str = "keystore:\n  gcp:\n    secretmanager:\n";

    /// The example of README.md, verbatim.
    const README_EXAMPLE: &str = r#"keystore:
  gcp:
    secretmanager:
      project_id: my-project
      credentials:
        client_email: kes@my-project.iam.gserviceaccount.com
        client_id: "113400000000000000000"
        private_key_id: "3815b6b8e1f2a3c4d5e6f708192a3b4c5d6e7f80"
        private_key: '-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n'
"#;

    #[test]
    fn the_readme_example_decodes() {
        let readme = include_str!("../../../../README.md");
        assert!(
            readme.contains(README_EXAMPLE),
            "README.md lost the GCP example"
        );
        let KeyStoreConfig::Gcp(g) = decode_ok(README_EXAMPLE) else {
            panic!("not a GCP config")
        };
        assert_eq!(g.project_id, "my-project");
        assert!(g.endpoint.is_none() && g.scopes.is_empty());
        let c = g.credentials.unwrap();
        assert_eq!(c.client_email, "kes@my-project.iam.gserviceaccount.com");
        assert_eq!(
            c.private_key.as_str(),
            "-----BEGIN PRIVATE KEY-----\nMIIEvQ...\n-----END PRIVATE KEY-----\n"
        );
        assert!(c.token_uri.is_none());
    }

    #[test]
    fn token_uri_is_an_optional_credential_field() {
        let c = decode_ok(&format!(
            "{HEAD}      project_id: p\n      endpoint: http://127.0.0.1:9090\n      \
             credentials:\n        client_email: e\n        client_id: c\n        \
             private_key_id: k\n        private_key: pem\n        token_uri: http://t/token\n"
        ));
        let KeyStoreConfig::Gcp(g) = c else {
            panic!("{c:?}")
        };
        assert_eq!(g.endpoint.as_deref(), Some("http://127.0.0.1:9090"));
        let creds = g.credentials.unwrap();
        assert_eq!(creds.token_uri.as_deref(), Some("http://t/token"));
        assert_eq!(creds.private_key.as_str(), "pem");
        assert!(!format!("{creds:?}").contains("pem"), "{creds:?}");
    }

    #[test]
    fn project_id_must_fit_the_request_paths() {
        let e = decode_err(&format!("{HEAD}      project_id: a/b\n"));
        assert_eq!(
            e,
            "c.yml:4: keystore.gcp.secretmanager.project_id: invalid gcp keystore: project_id \
             \"a/b\" is not a project ID (letters, digits, '-', '_', '.', ':')"
        );
        assert!(matches!(
            decode_ok(&format!("{HEAD}      project_id: example.com:my-proj-1\n")),
            KeyStoreConfig::Gcp(_)
        ));
    }
}
