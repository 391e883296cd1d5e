//! The HTTPS transport shared by the appliance key stores (Entrust
//! KeyControl and Thales CipherTrust Manager), and the TLS helpers the Vault
//! client borrows from it ([`root_store`], [`read_certs`], [`error_chain`]).
//! The token session on top of it (login, background renewal, one re-login
//! on 401) lives in [`session`].
//!
//! # Rules
//!
//! - **Client**: one pooled hyper client per store (HTTP/1.1 and HTTP/2,
//!   `TCP_NODELAY`, idle connections closed after [`POOL_IDLE_TIMEOUT`],
//!   no cap on idle connections), rustls on aws-lc-rs, TLS 1.2+, no client
//!   certificate.
//! - **Trust**: the CA file or directory (`tls.ca`, at least one PEM
//!   certificate) is added to the system roots or replaces them, as the
//!   store's [`CaMode`] says; without a CA the system roots are used.
//! - **Endpoint**: an `https://` or `http://` URL with a host, no query;
//!   a trailing slash is dropped (`InvalidConfig` otherwise).
//! - **Timeouts**: [`CONNECT_TIMEOUT`] for the TCP connect and
//!   [`REQUEST_TIMEOUT`] for one attempt (handshake, request and the whole
//!   response body); both fixed, not configurable.
//! - **Body limit**: [`BODY_LIMIT`] for ordinary answers and
//!   [`LIST_BODY_LIMIT`] for listing pages, chosen per [`Call`]; a larger
//!   body is a permanent `Backend` error.
//! - **Retries** (Go KES's rule): up to [`RETRIES`] extra attempts after a
//!   5xx answer or a temporary failure (dropped connection, timeout), never
//!   after a 4xx, a refused connection or a TLS failure; between attempts
//!   200 ms plus up to 800 ms of jitter. After the last attempt a 5xx answer
//!   is returned to the caller; a temporary failure is `Unreachable`,
//!   temporary, and says how many attempts were made.
//! - **In flight**: no cap of its own (hyper opens connections as needed).
//! - **Errors**: transport failures are `Unreachable` naming the endpoint and
//!   the cause (refused, timeout, TLS with a hint for an untrusted
//!   certificate); HTTP answers, also error statuses, go back to the store,
//!   whose `error.rs` turns unexpected ones into errors through
//!   [`unexpected`] (401/403 `Unauthorized`; else `Backend`, temporary for
//!   5xx).
//!
//! This module never logs or formats a header value or a request body, so
//! credentials and key material cannot leak through it.
//!
//! # How the Vault client (`vault/client.rs`) differs
//!
//! Vault has its own transport for now; these are the differences a
//! unification must keep or settle, per back end:
//!
//! | | here (appliances) | Vault |
//! |---|---|---|
//! | connect / request timeout | 10 s / 30 s per attempt, fixed | 5 s / 10 s per call (`VaultOptions` defaults; the config file does not set them) |
//! | body limit | 2 MiB, listings 32 MiB | 1 MiB, listings 32 MiB |
//! | retries | 2 extra attempts on 5xx and temporary failures, with jitter | none in the transport (the store retries once after a re-login on 401/403) |
//! | in-flight cap | none | 64 requests (waiting for a slot counts against the timeout) |
//! | idle pool | unbounded, 30 s | 32 per host, 60 s |
//! | trust | CA added to or replacing the system roots | CA replaces the system roots |
//! | client certificate | none | optional (`tls.cert`, `tls.key`) |
//! | refused connection / TLS failure | `Unreachable`, not temporary | `Unreachable`, temporary |
//! | temporary answers | 5xx | 429 and 5xx except 501; 503 "sealed" is `Unreachable` |
//! | headers | per call (`Call::secret_header`), token marked sensitive | `X-Vault-Token` (sensitive), `X-Vault-Namespace`, `X-Vault-Request` |
//! | endpoint | parsed as a URI: scheme, host, no query | `VaultOptions::validate`: scheme prefix and trailing slash only |
//!
//! A build with some back ends compiled out (cargo features) leaves parts of
//! this module unused; the build with every back end, which CI lints, keeps
//! the dead-code check meaningful.
#![cfg_attr(
    not(all(feature = "vault", feature = "entrust", feature = "gemalto")),
    allow(dead_code, unused_imports)
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::KeyStoreError;

mod session;
pub(crate) use session::{Login, Scheme, Session, SessionClient};

/// Largest response body accepted for ordinary calls (Go KES: 2 MiB).
pub(crate) const BODY_LIMIT: usize = 2 << 20;
/// Largest response body accepted for a listing page (Go KES: 32 MiB).
pub(crate) const LIST_BODY_LIMIT: usize = 32 << 20;
/// Time allowed for the TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for one attempt: TLS handshake, request and whole response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra attempts after a temporary failure (Go KES: 2).
const RETRIES: u32 = 2;
/// Idle pooled connections are closed after this long (Go KES: 30 s).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a configured CA relates to the system trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaMode {
    /// The CA is trusted in addition to the system roots (Entrust).
    AddToSystem,
    /// The CA replaces the system roots (CipherTrust, Vault).
    ReplaceSystem,
}

/// One HTTP request to the appliance.
#[derive(Clone)]
pub(crate) struct Call<'a> {
    /// HTTP method.
    pub method: Method,
    /// Path and query below the endpoint, starting with `/`.
    pub path: &'a str,
    /// Extra headers; their values are marked sensitive.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, if any.
    pub body: Option<Bytes>,
    /// Whether to send `Content-Type: application/json` with the body.
    pub json: bool,
    /// Largest accepted response body.
    pub limit: usize,
}

impl<'a> Call<'a> {
    /// A call without headers or body.
    pub fn new(method: Method, path: &'a str) -> Self {
        Self {
            method,
            path,
            headers: Vec::new(),
            body: None,
            json: false,
            limit: BODY_LIMIT,
        }
    }

    /// Adds a JSON body (serialized by the caller).
    pub fn json_body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(Bytes::from(body));
        self.json = true;
        self
    }

    /// Adds a body without a content type (Entrust's data calls).
    pub fn raw_body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(Bytes::from(body));
        self
    }

    /// Adds a header whose value is secret (a token).
    pub fn secret_header(mut self, name: HeaderName, value: &str) -> Result<Self, String> {
        let mut v = HeaderValue::from_str(value)
            .map_err(|_| format!("the {name} value contains characters not allowed in a header"))?;
        v.set_sensitive(true);
        self.headers.push((name, v));
        Ok(self)
    }

    /// Sets the response body limit.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// One answer of the appliance: status and (bounded) body.
#[derive(Debug)]
pub(crate) struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response body.
    pub body: Bytes,
}

impl Response {
    /// The body as text for an error message: trimmed, whitespace collapsed,
    /// at most 200 characters.
    pub fn body_excerpt(&self) -> String {
        excerpt(&String::from_utf8_lossy(&self.body))
    }
}

/// The error for an answer `what` (a call or operation) did not expect:
/// 401/403 are `Unauthorized`,
/// anything else a back-end error naming `what`, the status and the
/// appliance's message `text`, temporary for a 5xx answer.
pub(crate) fn unexpected(
    backend: &'static str,
    what: &str,
    resp: &Response,
    text: &str,
) -> KeyStoreError {
    let detail = if text.is_empty() {
        format!("{what}: HTTP {}", resp.status.as_u16())
    } else {
        format!("{what}: HTTP {}: {text}", resp.status.as_u16())
    };
    match resp.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            KeyStoreError::unauthorized(backend, detail)
        }
        status => KeyStoreError::backend(backend, detail).with_temporary(status.is_server_error()),
    }
}

/// An answer with `status` and `body`, for the vendors' unit tests.
#[cfg(test)]
pub(crate) fn test_response(status: u16, body: &str) -> Response {
    Response {
        status: StatusCode::from_u16(status).unwrap(),
        body: Bytes::from(body.to_owned()),
    }
}

/// `s` trimmed, whitespace collapsed, at most 200 characters.
pub(crate) fn excerpt(s: &str) -> String {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 200 {
        let mut out: String = joined.chars().take(200).collect();
        out.push('…');
        out
    } else {
        joined
    }
}

/// The pooled HTTPS client of one store.
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    backend: &'static str,
    retry_base: Duration,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("backend", &self.backend)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Builds the client for `endpoint` (an `https://` or `http://` URL
    /// without path), trusting `ca` as `mode` says.
    pub fn new(
        backend: &'static str,
        endpoint: &str,
        ca: Option<&Path>,
        mode: CaMode,
    ) -> Result<Self, KeyStoreError> {
        let endpoint = normalize_endpoint(backend, endpoint)?;
        let tls = tls_config(backend, ca, mode)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self {
            client,
            endpoint,
            backend,
            retry_base: Duration::from_millis(200),
        })
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `call`, retrying [temporary](KeyStoreError::is_temporary)
    /// failures and 5xx answers up to [`RETRIES`] times. Transport failures
    /// end as `Unreachable`; HTTP
    /// answers (also error statuses) are returned for the caller to interpret.
    pub async fn send(&self, call: &Call<'_>) -> Result<Response, KeyStoreError> {
        let mut attempt = 0;
        loop {
            let last = attempt >= RETRIES;
            match self.send_once(call).await {
                Ok(resp) if resp.status.is_server_error() && !last => {}
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_temporary() && !last => {}
                Err(e) if e.is_temporary() => {
                    let tries = attempt + 1;
                    return Err(e.map_message(|m| format!("{m} (after {tries} attempts)")));
                }
                Err(e) => return Err(e),
            }
            attempt += 1;
            // Go KES waits 200 ms plus up to 800 ms of jitter.
            let jitter = rand::random_range(0..=self.retry_base.as_millis() * 4);
            let jitter = Duration::from_millis(u64::try_from(jitter).unwrap_or(0));
            tokio::time::sleep(self.retry_base + jitter).await;
        }
    }

    /// One attempt of `call` under [`REQUEST_TIMEOUT`]. A failure worth
    /// another try (dropped connection, timeout) is a temporary
    /// `Unreachable` error.
    async fn send_once(&self, call: &Call<'_>) -> Result<Response, KeyStoreError> {
        let path = strip_query(call.path);
        let uri = format!("{}{}", self.endpoint, call.path);
        let mut req = http::Request::builder()
            .method(call.method.clone())
            .uri(&uri);
        for (name, value) in &call.headers {
            req = req.header(name, value);
        }
        if call.json {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let body = Full::new(call.body.clone().unwrap_or_default());
        let req = req.body(body).map_err(|e| {
            KeyStoreError::invalid_config(
                self.backend,
                format!("cannot build a request for {}{path}: {e}", self.endpoint),
            )
        })?;
        let limit = call.limit;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| self.transport_failure(path, &e))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        KeyStoreError::backend(
                            self.backend,
                            format!(
                                "{path}: response body larger than {limit} bytes (HTTP {status})"
                            ),
                        )
                    } else {
                        self.temporary(
                            path,
                            format!("reading the response failed: {}", error_chain(e.as_ref())),
                        )
                    }
                })?
                .to_bytes();
            Ok(Response { status, body })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(r) => r,
            Err(_) => Err(self.temporary(path, format!("no response within {REQUEST_TIMEOUT:?}"))),
        }
    }

    /// A temporary failure of one attempt at `path`.
    fn temporary(&self, path: &str, detail: String) -> KeyStoreError {
        KeyStoreError::unreachable(self.backend, format!("{} {path}: {detail}", self.endpoint))
    }

    /// Classifies a failed request: TLS problems and refused connections are
    /// unreachable but not temporary (Go KES does not retry them: nothing
    /// listens, or the certificate is wrong), the rest (dropped connections)
    /// temporary.
    fn transport_failure(
        &self,
        path: &str,
        e: &hyper_util::client::legacy::Error,
    ) -> KeyStoreError {
        let chain = error_chain(e);
        if let Some(tls) = find_tls_error(e) {
            let hint = match tls {
                rustls::Error::InvalidCertificate(_) => {
                    " (the appliance's certificate is not trusted: set `tls.ca` to the CA certificate that issued it)"
                }
                _ => "",
            };
            return KeyStoreError::unreachable(
                self.backend,
                format!("TLS handshake with {} failed: {tls}{hint}", self.endpoint),
            )
            .with_temporary(false);
        }
        if e.is_connect() {
            return KeyStoreError::unreachable(
                self.backend,
                format!("cannot connect to {} ({path}): {chain}", self.endpoint),
            )
            .with_temporary(false);
        }
        self.temporary(path, chain)
    }
}

/// Checks and normalizes the endpoint: a URL with scheme and host, no query,
/// no trailing slash.
fn normalize_endpoint(backend: &'static str, endpoint: &str) -> Result<String, KeyStoreError> {
    let invalid =
        |why: &str| KeyStoreError::invalid_config(backend, format!("endpoint {endpoint:?}: {why}"));
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(KeyStoreError::invalid_config(
            backend,
            "missing required field `endpoint`",
        ));
    }
    let uri: http::Uri = trimmed
        .parse()
        .map_err(|e| invalid(&format!("not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("https") | Some("http") => {}
        _ => return Err(invalid("must start with https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if uri.query().is_some() {
        return Err(invalid("must not have a query"));
    }
    Ok(trimmed.to_owned())
}

/// The path without its query string (for error messages).
fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// The rustls error inside a hyper client error, if any. `io::Error` hides
/// its payload from `source()`, so it is unwrapped explicitly.
fn find_tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cur = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// An error and its sources, e.g. "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

/// Builds the rustls client config from the CA file/directory and the
/// system roots as `mode` says.
fn tls_config(
    backend: &'static str,
    ca: Option<&Path>,
    mode: CaMode,
) -> Result<rustls::ClientConfig, KeyStoreError> {
    let roots = root_store(backend, ca, mode)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KeyStoreError::invalid_config(backend, format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The trusted roots of a back-end's HTTPS client: the system roots when no
/// CA is given or `mode` adds to them, plus every certificate of the CA file
/// or directory (`tls.ca`), which must hold at least one. Shared with the
/// Vault client.
pub(crate) fn root_store(
    backend: &'static str,
    ca: Option<&Path>,
    mode: CaMode,
) -> Result<RootCertStore, KeyStoreError> {
    let mut roots = RootCertStore::empty();
    if ca.is_none() || mode == CaMode::AddToSystem {
        for cert in rustls_native_certs::load_native_certs().certs {
            // Skip system certificates rustls cannot parse, as Go does.
            let _ = roots.add(cert);
        }
    }
    if let Some(ca) = ca {
        let mut added = 0usize;
        for file in ca_files(backend, ca)? {
            for cert in read_certs(backend, "tls.ca", &file)? {
                roots.add(cert).map_err(|e| {
                    KeyStoreError::invalid_config(
                        backend,
                        format!("tls.ca: invalid certificate in {}: {e}", file.display()),
                    )
                })?;
                added += 1;
            }
        }
        if added == 0 {
            return Err(KeyStoreError::invalid_config(
                backend,
                format!("tls.ca: no PEM certificate found in {}", ca.display()),
            ));
        }
    }
    Ok(roots)
}

/// The CA file itself, or the regular files of a CA directory.
fn ca_files(backend: &'static str, ca: &Path) -> Result<Vec<PathBuf>, KeyStoreError> {
    let meta = std::fs::metadata(ca).map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("tls.ca: cannot read {}: {e}", ca.display()),
        )
    })?;
    if !meta.is_dir() {
        return Ok(vec![ca.to_path_buf()]);
    }
    let entries = std::fs::read_dir(ca).map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("tls.ca: cannot list {}: {e}", ca.display()),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// All PEM certificates of one file, named in errors by its config `field`.
pub(crate) fn read_certs(
    backend: &'static str,
    field: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, KeyStoreError> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("{field}: cannot read {}: {e}", path.display()),
        )
    })?;
    iter.collect::<Result<Vec<_>, _>>().map_err(|e| {
        KeyStoreError::invalid_config(
            backend,
            format!("{field}: invalid PEM in {}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn endpoints_are_checked_and_normalized() {
        assert_eq!(
            normalize_endpoint("x", "https://kc.example.com/").unwrap(),
            "https://kc.example.com"
        );
        assert_eq!(
            normalize_endpoint("x", " https://127.0.0.1:9443 ").unwrap(),
            "https://127.0.0.1:9443"
        );
        let e = normalize_endpoint("x", "").unwrap_err().to_string();
        assert!(e.contains("missing required field `endpoint`"), "{e}");
        let e = normalize_endpoint("x", "kc.example.com")
            .unwrap_err()
            .to_string();
        assert!(e.contains("https://"), "{e}");
        let e = normalize_endpoint("x", "https://h/?a=b")
            .unwrap_err()
            .to_string();
        assert!(e.contains("query"), "{e}");
    }

    #[test]
    fn ca_problems_are_config_errors() {
        let e = tls_config(
            "x",
            Some(Path::new("/nonexistent/ca.pem")),
            CaMode::ReplaceSystem,
        )
        .unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidConfig, "{e:?}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("kes-vendor-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = tls_config("x", Some(&dir), CaMode::ReplaceSystem).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unexpected_answers_are_temporary_only_for_5xx() {
        let e = unexpected("x", "get", &test_response(503, ""), "busy");
        assert!(e.kind() == ErrorKind::Backend && e.is_temporary(), "{e:?}");
        assert_eq!(e.to_string(), "x: get: HTTP 503: busy");
        let e = unexpected("x", "get", &test_response(400, ""), "");
        assert!(e.kind() == ErrorKind::Backend && !e.is_temporary(), "{e:?}");
        let e = unexpected("x", "get", &test_response(401, ""), "expired");
        assert!(
            e.kind() == ErrorKind::Unauthorized && !e.is_temporary(),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "key store denied access: x: get: HTTP 401: expired"
        );
    }

    /// A plain-HTTP client of `addr` that retries without waiting long.
    fn quick_client(addr: std::net::SocketAddr) -> Http {
        let mut http =
            Http::new("x", &format!("http://{addr}"), None, CaMode::AddToSystem).unwrap();
        http.retry_base = Duration::from_millis(1);
        http
    }

    #[tokio::test]
    async fn dropped_connections_are_temporary_and_retried() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let server = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(conn); // closed before any answer
            }
        });
        let e = quick_client(addr)
            .send(&Call::new(Method::GET, "/p?q=1"))
            .await
            .unwrap_err();
        server.abort();
        assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "key store is not reachable: x: http://{addr} /p: "
            )),
            "{text}"
        );
        assert!(text.ends_with(" (after 3 attempts)"), "{text}");
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn refused_connections_are_unreachable_but_not_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = quick_client(addr)
            .send(&Call::new(Method::GET, "/p"))
            .await
            .unwrap_err();
        assert!(e.is_unreachable() && !e.is_temporary(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("cannot connect") && !text.contains("attempts"),
            "{text}"
        );
    }

    #[test]
    fn excerpts_are_short_and_single_line() {
        assert_eq!(excerpt("  a\n b  "), "a b");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).chars().count(), 201);
    }
}
