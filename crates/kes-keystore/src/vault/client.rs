//! The HTTP transport to Vault: one pooled hyper client per store (rustls
//! with the aws-lc-rs provider, custom CA and client certificate; at most 64
//! requests in flight and 32 idle connections), a connect timeout and a
//! whole-request timeout on every call and bounded response bodies (Vault's
//! `{"errors": [...]}` answers are mapped in `error.rs`).
//!
//! Nothing here ever logs or formats a token or a request body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use super::config::{VaultOptions, VaultTlsOptions};
use super::error::BACKEND;
use crate::KeyStoreError;
use crate::transport::{CaMode, error_chain, read_certs, root_store};

/// The Vault token header.
const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-vault-token");
/// The Vault namespace header.
const NAMESPACE_HEADER: HeaderName = HeaderName::from_static("x-vault-namespace");
/// Sent by every Vault client (CSRF protection of the Vault UI).
const REQUEST_HEADER: HeaderName = HeaderName::from_static("x-vault-request");

/// Largest response body accepted for ordinary calls.
pub(crate) const BODY_LIMIT: usize = 1 << 20;
/// Largest response body accepted for a listing (Go KES: 32 MiB).
pub(crate) const LIST_BODY_LIMIT: usize = 32 << 20;
/// Idle pooled connections kept per host.
const POOL_MAX_IDLE: usize = 32;
/// Most requests in flight per store (and so most open connections).
const MAX_IN_FLIGHT: usize = 64;
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One Vault response: status and (bounded) body.
#[derive(Debug)]
pub(crate) struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response body.
    pub body: Bytes,
}

impl Response {
    /// Parses the body as JSON.
    pub fn json(&self, what: &str) -> Result<serde_json::Value, KeyStoreError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            KeyStoreError::backend(BACKEND, format!("{what}: response is not valid JSON: {e}"))
        })
    }
}

/// One request to Vault.
pub(crate) struct Call<'a> {
    /// HTTP method.
    pub method: Method,
    /// Path and query below the endpoint, starting with `/v1/`.
    pub path: &'a str,
    /// `X-Vault-Token`, if any.
    pub token: Option<&'a str>,
    /// `X-Vault-Namespace`, if any.
    pub namespace: Option<&'a str>,
    /// JSON body, if any.
    pub body: Option<&'a [u8]>,
    /// Largest accepted response body.
    pub limit: usize,
}

impl<'a> Call<'a> {
    /// A call without token, namespace or body.
    pub fn new(method: Method, path: &'a str) -> Self {
        Self {
            method,
            path,
            token: None,
            namespace: None,
            body: None,
            limit: BODY_LIMIT,
        }
    }
}

/// The pooled HTTP client of one store.
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    timeout: Duration,
    in_flight: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Builds the client from validated options.
    pub fn new(opts: &VaultOptions) -> Result<Self, KeyStoreError> {
        let tls = tls_config(&opts.tls)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(opts.connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(POOL_MAX_IDLE)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            endpoint: opts.endpoint.clone(),
            timeout: opts.request_timeout,
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        })
    }

    /// The configured endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends one request and reads the whole (bounded) response within the
    /// request timeout. Transport failures and timeouts are
    /// `Unreachable`; HTTP error statuses are returned as
    /// responses for the caller to interpret.
    pub async fn send(&self, call: Call<'_>) -> Result<Response, KeyStoreError> {
        let uri = format!("{}{}", self.endpoint, call.path);
        let mut req = Request::builder()
            .method(call.method)
            .uri(&uri)
            .header(REQUEST_HEADER, HeaderValue::from_static("true"));
        if let Some(token) = call.token {
            let mut v = HeaderValue::from_str(token).map_err(|_| {
                KeyStoreError::backend(
                    BACKEND,
                    "vault token contains characters not allowed in a header",
                )
            })?;
            v.set_sensitive(true);
            req = req.header(TOKEN_HEADER, v);
        }
        if let Some(ns) = call.namespace {
            let v = HeaderValue::from_str(ns).map_err(|_| {
                KeyStoreError::invalid_config(BACKEND, format!("invalid namespace {ns:?}"))
            })?;
            req = req.header(NAMESPACE_HEADER, v);
        }
        let body = match call.body {
            Some(b) => {
                req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Full::new(Bytes::copy_from_slice(b))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| {
            KeyStoreError::backend(
                BACKEND,
                format!("cannot build request for {}: {e}", call.path),
            )
        })?;
        let path = strip_query(call.path);
        let method = req.method().clone();
        let limit = call.limit;
        let fut = async {
            // Waiting for a slot counts against the request timeout.
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| KeyStoreError::backend(BACKEND, "vault client is shut down"))?;
            let resp = self.client.request(req).await.map_err(|e| {
                KeyStoreError::unreachable(
                    BACKEND,
                    format!(
                        "cannot reach {} ({method} {path}): {}",
                        self.endpoint,
                        error_chain(&e)
                    ),
                )
            })?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        KeyStoreError::backend(
                            BACKEND,
                            format!("{path}: response body larger than {limit} bytes"),
                        )
                    } else {
                        KeyStoreError::unreachable(
                            BACKEND,
                            format!(
                                "{} ({method} {path}): reading the response failed: {}",
                                self.endpoint,
                                error_chain(e.as_ref())
                            ),
                        )
                    }
                })?
                .to_bytes();
            Ok(Response { status, body })
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(KeyStoreError::unreachable(
                BACKEND,
                format!(
                    "{} ({method} {path}): no response within {:?}",
                    self.endpoint, self.timeout
                ),
            )),
        }
    }
}

/// The path without its query string (for error messages).
fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Builds the rustls client config: the CA file/directory (or the system
/// roots) and the optional client certificate.
fn tls_config(tls: &VaultTlsOptions) -> Result<rustls::ClientConfig, KeyStoreError> {
    let invalid = |m: String| KeyStoreError::invalid_config(BACKEND, m);
    // A CA replaces the system roots, as in Go's Vault client.
    let roots = root_store(BACKEND, tls.ca.as_deref(), CaMode::ReplaceSystem)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("tls: {e}")))?
        .with_root_certificates(roots);
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(BACKEND, "tls.cert", cert)?;
            if chain.is_empty() {
                return Err(invalid(format!(
                    "tls.cert: no PEM certificate found in {}",
                    cert.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                invalid(format!(
                    "tls.key: cannot read a PEM private key from {}: {e}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("tls.cert/tls.key: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tls_files_are_config_errors() {
        let tls = VaultTlsOptions {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = tls_config(&tls).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let tls = VaultTlsOptions {
            ca: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        assert!(
            tls_config(&tls)
                .unwrap_err()
                .to_string()
                .contains("no PEM certificate")
        );
    }
}
