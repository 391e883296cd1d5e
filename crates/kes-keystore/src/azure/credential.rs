//! Where the Key Vault access token comes from: the `credentials` block
//! (client secret), the `managed_identity` block (user-assigned identity),
//! or with neither the environment, as the Azure SDKs' default credential
//! chain reads it, in this order:
//!
//! 1. `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`: client
//!    secret (a certificate, `AZURE_CLIENT_CERTIFICATE_PATH`, is not
//!    supported and says so);
//! 2. `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_TENANT_ID` + `AZURE_CLIENT_ID`:
//!    workload identity, the file re-read at every token request;
//! 3. managed identity: App Service / Functions / Container Apps when
//!    `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, else the VM
//!    metadata service (IMDS), system-assigned unless `AZURE_CLIENT_ID`
//!    names a user-assigned identity.
//!
//! The SDK tries each source in turn at the first token request; we pick
//! the first whose variables are set when the store connects, and the
//! login at start-up says which one failed. The Azure CLI sources are left
//! out (no `az` on a server).
//!
//! Token requests go to `AZURE_AUTHORITY_HOST` (default
//! `https://login.microsoftonline.com`) for the identity platform, to
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST` (default `http://169.254.169.254`)
//! for IMDS, as the Azure SDKs do. KES asks for the Key Vault scope
//! directly instead of waiting for Key Vault's 401 challenge, so a vault on
//! any host (a test endpoint on 127.0.0.1) works.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use zeroize::Zeroizing;

use super::client::{self, RESOURCE, SCOPE};
use super::config::AzureAuth;
use super::error::{BACKEND, parse_error};
use crate::KeyStoreError;
use crate::transport::{Call, Http, Login, Policy, Scheme, Session, TlsFiles, query_escape};

/// The identity platform's host when `AZURE_AUTHORITY_HOST` is not set.
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The metadata service when `AZURE_POD_IDENTITY_AUTHORITY_HOST` is not set.
const DEFAULT_IMDS: &str = "http://169.254.169.254";
/// The session header and what the token and session are called.
const SCHEME: Scheme = Scheme {
    backend: BACKEND,
    header: AUTHORIZATION,
    token: "access token",
    session: "access token",
};

/// The process environment, or a stand-in for tests.
pub(crate) type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// One way of obtaining Key Vault tokens.
pub(crate) enum Credential {
    /// The client credentials grant with a client secret.
    ClientSecret {
        /// The identity platform.
        authority: Http,
        /// The tenant (directory) id.
        tenant: String,
        /// The application (client) id.
        client_id: String,
        /// The client secret.
        secret: Zeroizing<String>,
    },
    /// The client credentials grant with a federated token (workload
    /// identity), read from a file at every request.
    WorkloadIdentity {
        /// The identity platform.
        authority: Http,
        /// The tenant (directory) id.
        tenant: String,
        /// The application (client) id.
        client_id: String,
        /// The file holding the federated token.
        token_file: PathBuf,
    },
    /// A managed identity through the VM metadata service.
    Imds {
        /// The metadata service.
        http: Http,
        /// A user-assigned identity; `None`: the system-assigned one.
        client_id: Option<String>,
    },
    /// A managed identity through App Service's identity endpoint.
    AppService {
        /// The identity endpoint's origin.
        http: Http,
        /// Its path.
        path: String,
        /// The `X-IDENTITY-HEADER` value.
        header: Zeroizing<String>,
        /// A user-assigned identity; `None`: the system-assigned one.
        client_id: Option<String>,
    },
}

impl Credential {
    /// The credential the config (and, without a block, the environment)
    /// names, with clients for its token endpoint.
    pub(crate) fn new(
        auth: &AzureAuth,
        env: Env<'_>,
        tls: TlsFiles<'_>,
        policy: Policy,
    ) -> Result<Self, KeyStoreError> {
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let authority = || {
            let host = var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| DEFAULT_AUTHORITY.into());
            Http::new(BACKEND, &host, tls, policy)
        };
        let managed = |client_id: Option<String>| -> Result<Self, KeyStoreError> {
            if let (Some(endpoint), Some(header)) =
                (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER"))
            {
                let (origin, path) = split_url(&endpoint)?;
                return Ok(Self::AppService {
                    http: Http::new(BACKEND, &origin, tls, policy)?,
                    path,
                    header: Zeroizing::new(header),
                    client_id,
                });
            }
            let host =
                var("AZURE_POD_IDENTITY_AUTHORITY_HOST").unwrap_or_else(|| DEFAULT_IMDS.into());
            Ok(Self::Imds {
                http: Http::new(BACKEND, &host, tls, policy)?,
                client_id,
            })
        };
        match auth {
            AzureAuth::ClientCredentials {
                tenant_id,
                client_id,
                client_secret,
            } => Ok(Self::ClientSecret {
                authority: authority()?,
                tenant: tenant_id.clone(),
                client_id: client_id.clone(),
                secret: Zeroizing::new(client_secret.expose().to_owned()),
            }),
            AzureAuth::ManagedIdentity { client_id } => managed(Some(client_id.clone())),
            AzureAuth::Default => {
                let tenant = var("AZURE_TENANT_ID");
                let client_id = var("AZURE_CLIENT_ID");
                if let (Some(tenant), Some(client_id), Some(secret)) =
                    (&tenant, &client_id, var("AZURE_CLIENT_SECRET"))
                {
                    return Ok(Self::ClientSecret {
                        authority: authority()?,
                        tenant: tenant.clone(),
                        client_id: client_id.clone(),
                        secret: Zeroizing::new(secret),
                    });
                }
                if var("AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
                    return Err(KeyStoreError::invalid_config(
                        BACKEND,
                        "AZURE_CLIENT_CERTIFICATE_PATH is set, but certificate credentials are \
                         not supported: use AZURE_CLIENT_SECRET, workload identity or a managed \
                         identity",
                    ));
                }
                if let (Some(tenant), Some(client_id), Some(file)) =
                    (&tenant, &client_id, var("AZURE_FEDERATED_TOKEN_FILE"))
                {
                    return Ok(Self::WorkloadIdentity {
                        authority: authority()?,
                        tenant: tenant.clone(),
                        client_id: client_id.clone(),
                        token_file: PathBuf::from(file),
                    });
                }
                managed(client_id)
            }
        }
    }

    /// What this credential is, for errors and the banner.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Self::ClientSecret { .. } => "client secret",
            Self::WorkloadIdentity { .. } => "workload identity",
            Self::Imds { .. } => "managed identity (IMDS)",
            Self::AppService { .. } => "managed identity (App Service)",
        }
    }

    /// Requests a token for the Key Vault scope.
    async fn token(&self) -> Result<client::Token, KeyStoreError> {
        let what = format!("{} token", self.describe());
        let (http, resp) = match self {
            Self::ClientSecret {
                authority,
                tenant,
                client_id,
                secret,
            } => {
                let body = client::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("scope", SCOPE),
                ]);
                (authority, post_form(authority, tenant, body).await?)
            }
            Self::WorkloadIdentity {
                authority,
                tenant,
                client_id,
                token_file,
            } => {
                let assertion = std::fs::read_to_string(token_file).map_err(|e| {
                    KeyStoreError::invalid_config(
                        BACKEND,
                        format!(
                            "cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}",
                            token_file.display()
                        ),
                    )
                })?;
                let assertion = Zeroizing::new(assertion);
                let body = client::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.trim()),
                    ("scope", SCOPE),
                ]);
                (authority, post_form(authority, tenant, body).await?)
            }
            Self::Imds { http, client_id } => {
                let mut path = format!(
                    "/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                    query_escape(RESOURCE)
                );
                if let Some(id) = client_id {
                    path.push_str(&format!("&client_id={}", query_escape(id)));
                }
                let call = Call::new(Method::GET, &path).header(
                    HeaderName::from_static("metadata"),
                    HeaderValue::from_static("true"),
                );
                (http, http.send(&call).await?)
            }
            Self::AppService {
                http,
                path,
                header,
                client_id,
            } => {
                let sep = if path.contains('?') { '&' } else { '?' };
                let mut path = format!(
                    "{path}{sep}api-version=2019-08-01&resource={}",
                    query_escape(RESOURCE)
                );
                if let Some(id) = client_id {
                    path.push_str(&format!("&client_id={}", query_escape(id)));
                }
                let call = Call::new(Method::GET, &path)
                    .secret_header(HeaderName::from_static("x-identity-header"), header)
                    .map_err(|e| {
                        KeyStoreError::invalid_config(BACKEND, format!("IDENTITY_HEADER: {e}"))
                    })?;
                (http, http.send(&call).await?)
            }
        };
        if resp.status != StatusCode::OK {
            let e = parse_error(&what, &resp);
            return Err(e.map_message(|m| format!("{m} (token endpoint {})", http.endpoint())));
        }
        client::parse_token(&resp, &what, unix_now())
    }
}

/// Posts a token request `body` to the tenant's v2 token endpoint.
async fn post_form(
    authority: &Http,
    tenant: &str,
    body: Zeroizing<Vec<u8>>,
) -> Result<crate::transport::Response, KeyStoreError> {
    let path = format!("/{}/oauth2/v2.0/token", query_escape(tenant));
    let call = Call::new(Method::POST, &path)
        .raw_body(body.to_vec())
        .header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    authority.send(&call).await
}

/// Splits a URL into origin (`scheme://host[:port]`) and path with query.
fn split_url(url: &str) -> Result<(String, String), KeyStoreError> {
    let bad = || {
        KeyStoreError::invalid_config(
            BACKEND,
            format!("IDENTITY_ENDPOINT {url:?} is not an http(s) URL"),
        )
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((format!("{scheme}://{host}"), path.to_owned()))
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[async_trait]
impl Login for Credential {
    const SCHEME: Scheme = SCHEME;

    async fn login(&self, _vault: &Http) -> Result<Session, KeyStoreError> {
        let token = self.token().await?;
        Ok(Session::bearer(
            &token.access_token,
            Duration::from_secs(token.expires_in),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_endpoints_split() {
        assert_eq!(
            split_url("http://127.0.0.1:41741/MSI/token/").unwrap(),
            ("http://127.0.0.1:41741".into(), "/MSI/token/".into())
        );
        assert!(split_url("nonsense").is_err());
    }
}
