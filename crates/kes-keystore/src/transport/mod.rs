//! The one HTTP(S) transport of the remote key stores (Vault / OpenBao,
//! Entrust KeyControl, Thales CipherTrust Manager, Azure Key Vault, GCP
//! Secret Manager, Fortanix DSM, and the token endpoints of Azure and
//! Google): a pooled client per
//! store ([`Http`]) that sends a [`Call`] under the store's [`Policy`] and
//! hands the answer ([`Response`]) back for the store to interpret. The TLS
//! trust and client certificate are built in [`tls`]; the token session of
//! the appliance stores, GCP and Fortanix (login, background renewal, one
//! re-login on 401) lives in [`session`]. Vault keeps its own token lifecycle (`vault/auth.rs`,
//! `vault/store.rs`) and builds its headers (`X-Vault-Token`,
//! `X-Vault-Namespace`, `X-Vault-Request`) in `vault/client.rs`.
//!
//! # Rules
//!
//! Every remote back end follows these rules; the numbers are its
//! [`Policy`] (table below), declared once as a constant in its `store.rs`.
//!
//! - **Client**: one pooled hyper client per store: HTTP/1.1 and HTTP/2
//!   (ALPN), `TCP_NODELAY`, rustls on aws-lc-rs, TLS 1.2+. At most
//!   `pool_max_idle` idle connections per host, each closed after
//!   `pool_idle_timeout` unused.
//! - **Endpoint**: an `https://` or `http://` URL with a host and no query;
//!   a trailing slash is dropped (`InvalidConfig` otherwise).
//! - **TLS trust**: a CA file or directory (`tls.ca`, at least one PEM
//!   certificate) is added to the system roots or replaces them, as the
//!   policy's [`CaMode`] says; without a CA the system roots are trusted. A
//!   client certificate (`tls.cert` with `tls.key`, PEM) is presented when
//!   the store's config names one (only Vault's does). Azure has no CA
//!   field: the file named by `SSL_CERT_FILE` is its CA. A bad file is
//!   `InvalidConfig` naming the field and the path.
//! - **Timeouts**: `connect_timeout` for the TCP connect; `request_timeout`
//!   for one attempt as a whole: waiting for an in-flight slot, the TLS
//!   handshake, the request and the whole response body. With retries a
//!   call may take `(1 + retry.extra_attempts) × request_timeout` plus the
//!   waits; the server's route deadline ends the request before that.
//! - **In flight**: at most `max_in_flight` attempts of one store at a time
//!   (no cap when `None`; hyper then opens connections as needed). Waiting
//!   for a slot counts against the attempt's `request_timeout`.
//! - **Body limit**: `body_limit` for ordinary answers, `list_body_limit` for
//!   listing pages ([`Call::listing`]). A larger body is a `Backend` error,
//!   not temporary: "`<path>`: response body larger than `<n>` bytes (HTTP
//!   `<status>`)".
//! - **Temporary failures**: a failed attempt is `Unreachable`, and
//!   temporary (trying again later may succeed) unless it is a TLS failure:
//!   - a failed connect (refused, DNS, connect timeout): "cannot connect to
//!     `<endpoint>` (`<path>`): ...". Temporary: nothing listens *now*, the
//!     store may be restarting or failing over;
//!   - a dropped or reset connection, a failed body read ("`<endpoint>`
//!     `<path>`: ..."), an attempt over `request_timeout` ("... no response
//!     within ..."): temporary;
//!   - a TLS failure ("TLS handshake with `<endpoint>` failed: ...", with a
//!     hint when the certificate is not trusted): *not* temporary, a
//!     certificate or trust problem stays until the config changes.
//!
//!   A request that cannot be built is `InvalidConfig`.
//! - **Retries and backoff** (Go KES's `internal/http` rule): a 5xx answer
//!   and a temporary failure of an established connection (dropped, reset,
//!   timed out) are sent again, up to `retry.extra_attempts` times, after a
//!   wait of `retry.wait` plus a random part of up to `retry.jitter` (so
//!   that clients failing together do not retry together). Nothing else is
//!   retried: not a 4xx, not an oversized body, not a TLS failure, and not a
//!   failed connect: an outage then reaches the caller at once (a refused
//!   connection in milliseconds), and the server's cache goes offline
//!   without waiting out the backoff. After the last attempt a 5xx answer
//!   goes back to the caller, and a failure says how many attempts were
//!   made ("... (after 3 attempts)"). A store's own retries come on top:
//!   the appliance session and Vault log in again, once, when a call is
//!   refused for a dead token.
//! - **Answers**: every HTTP answer, also an error status, goes back to the
//!   store, whose `error.rs` decides what it means; [`unexpected`] is the
//!   appliances' rule (401/403 `Unauthorized`, else `Backend`, temporary for
//!   5xx), Vault's `parse_error` its own (429 and 5xx but 501 temporary,
//!   503 "sealed" `Unreachable`).
//!
//! This module never logs or formats a header value or a request body, so
//! credentials and key material cannot leak through it; header values given
//! as secret ([`Call::secret_header`]) are also marked sensitive for HTTP/2
//! header compression.
//!
//! # Policies
//!
//! | | Entrust KeyControl | CipherTrust Manager | Fortanix DSM | Vault / OpenBao | Azure Key Vault (vault and token endpoints) | GCP Secret Manager (API and token endpoint) |
//! |---|---|---|---|---|---|---|
//! | declared in | `entrust/store.rs` ([`APPLIANCE`]) | `gemalto/store.rs` ([`APPLIANCE`]) | `fortanix/store.rs` ([`APPLIANCE`]) | `vault/store.rs` | `azure/store.rs` ([`APPLIANCE`]) | `gcp/store.rs` ([`APPLIANCE`]) |
//! | connect / request timeout | 10 s / 30 s | 10 s / 30 s | 10 s / 30 s | 5 s / 10 s, the defaults of `VaultOptions`, which may set others | 10 s / 30 s | 10 s / 30 s |
//! | body limit / listings | 2 MiB / 32 MiB | 2 MiB / 32 MiB | 2 MiB / 32 MiB | 1 MiB / 32 MiB | 2 MiB / 32 MiB | 2 MiB / 32 MiB |
//! | retries | 2, after 200 ms + up to 800 ms | 2, after 200 ms + up to 800 ms | 2, after 200 ms + up to 800 ms | none (Go KES's Vault client retries twice) | 2, after 200 ms + up to 800 ms | 2, after 200 ms + up to 800 ms |
//! | in-flight cap | none | none | none | 64 | none | none |
//! | idle pool | unbounded, 30 s | unbounded, 30 s | unbounded, 30 s | 32 per host, 60 s | unbounded, 30 s | unbounded, 30 s |
//! | CA | `tls.ca` added to the system roots | `tls.ca` replaces the system roots | `tls.ca` replaces the system roots | `tls.ca` replaces the system roots | no `ca` field: the file named by `SSL_CERT_FILE` is added | no `ca` field |
//! | client certificate | none | none | none | `tls.cert` + `tls.key` when set | none | none |
//!
//! "The system roots" are what rustls-native-certs finds; like OpenSSL it
//! reads `SSL_CERT_FILE` / `SSL_CERT_DIR` *instead of* the platform store
//! when they are set, so with `SSL_CERT_FILE` set the stores without a `ca`
//! field trust that file alone.
//!
//! A build with some back ends compiled out (cargo features) leaves parts of
//! this module unused; the build with every back end, which CI lints, keeps
//! the dead-code check meaningful.
#![cfg_attr(
    not(all(
        feature = "vault",
        feature = "entrust",
        feature = "gemalto",
        feature = "azure",
        feature = "gcp",
        feature = "fortanix"
    )),
    allow(dead_code, unused_imports)
)]

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::Semaphore;

use crate::KeyStoreError;

mod session;
mod tls;
pub(crate) use session::{Login, Scheme, Session, SessionClient};
pub(crate) use tls::{CaMode, TlsFiles, client_config, handshake_hint};

/// How the transport treats one back end's calls (see the module doc's
/// rules and table). Each back end declares its policy once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Time allowed for the TCP connect.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt: the wait for an in-flight slot, the
    /// TLS handshake, the request and the whole response body.
    pub request_timeout: Duration,
    /// Largest response body accepted for an ordinary call.
    pub body_limit: usize,
    /// Largest response body accepted for a listing page.
    pub list_body_limit: usize,
    /// Whether and how temporary failures and 5xx answers are retried.
    pub retry: Retry,
    /// Most attempts in flight at a time; `None`: no cap.
    pub max_in_flight: Option<usize>,
    /// Most idle pooled connections kept per host.
    pub pool_max_idle: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// How a configured CA relates to the system roots.
    pub ca: CaMode,
}

/// Go KES's HTTP rules (`internal/http`), the policy of the appliance
/// stores; each sets its own [`Policy::ca`].
pub(crate) const APPLIANCE: Policy = Policy {
    connect_timeout: Duration::from_secs(10),
    request_timeout: Duration::from_secs(30),
    body_limit: 2 << 20,
    list_body_limit: 32 << 20,
    retry: Retry {
        extra_attempts: 2,
        wait: Duration::from_millis(200),
        jitter: Duration::from_millis(800),
    },
    max_in_flight: None,
    pool_max_idle: usize::MAX,
    pool_idle_timeout: Duration::from_secs(30),
    ca: CaMode::AddToSystem,
};

/// How a call is retried after a temporary failure or a 5xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    /// Attempts after the first one; 0: none.
    pub extra_attempts: u32,
    /// Fixed part of the wait before a retry.
    pub wait: Duration,
    /// Largest random part added to `wait`.
    pub jitter: Duration,
}

impl Retry {
    /// No retries: every call is sent once.
    pub const NONE: Self = Self {
        extra_attempts: 0,
        wait: Duration::ZERO,
        jitter: Duration::ZERO,
    };

    /// The wait before the next attempt: `wait` plus a random part of
    /// `jitter`, so that clients failing together do not retry together.
    pub(crate) fn delay(&self) -> Duration {
        self.wait + self.jitter.mul_f64(rand::random::<f64>())
    }
}

/// Which of the policy's body limits an answer is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLimit {
    /// [`Policy::body_limit`].
    Ordinary,
    /// [`Policy::list_body_limit`].
    Listing,
}

/// One HTTP request to a store.
#[derive(Clone)]
pub(crate) struct Call<'a> {
    /// HTTP method.
    pub method: Method,
    /// Path and query below the endpoint, starting with `/`.
    pub path: &'a str,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, if any.
    pub body: Option<Bytes>,
    /// Whether to send `Content-Type: application/json` with the body.
    pub json: bool,
    /// The body limit the answer is held to.
    pub limit: BodyLimit,
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
            limit: BodyLimit::Ordinary,
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

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds a header whose value is secret (a token): marked sensitive.
    pub fn secret_header(self, name: HeaderName, value: &str) -> Result<Self, String> {
        let mut v = HeaderValue::from_str(value)
            .map_err(|_| format!("the {name} value contains characters not allowed in a header"))?;
        v.set_sensitive(true);
        Ok(self.header(name, v))
    }

    /// Holds the answer to the policy's listing limit.
    pub fn listing(mut self) -> Self {
        self.limit = BodyLimit::Listing;
        self
    }
}

/// One answer of a store: status and (bounded) body.
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

impl Response {
    /// The body as JSON; the error names the back end, the call (`what`)
    /// and the status.
    pub fn json(
        &self,
        backend: &'static str,
        what: &str,
    ) -> Result<serde_json::Value, KeyStoreError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            KeyStoreError::backend(
                backend,
                format!(
                    "{what}: answer (HTTP {}) is not valid JSON: {e}",
                    self.status.as_u16()
                ),
            )
        })
    }
}

/// `v` as a JSON request body.
pub(crate) fn to_json(
    backend: &'static str,
    v: &impl serde::Serialize,
) -> Result<Vec<u8>, KeyStoreError> {
    serde_json::to_vec(v)
        .map_err(|e| KeyStoreError::backend(backend, format!("cannot encode a request: {e}")))
}

/// `s` percent-encoded for a query value or a form field: everything but
/// the RFC 3986 unreserved characters.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The pooled HTTP(S) client of one store, sending under its [`Policy`].
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    backend: &'static str,
    policy: Policy,
    /// One permit per attempt in flight, when the policy caps them.
    in_flight: Option<Semaphore>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("backend", &self.backend)
            .field("endpoint", &self.endpoint)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// Builds the client of `backend` for `endpoint` (an `https://` or
    /// `http://` URL), with the TLS `files` of its config, under `policy`.
    pub fn new(
        backend: &'static str,
        endpoint: &str,
        files: TlsFiles<'_>,
        policy: Policy,
    ) -> Result<Self, KeyStoreError> {
        let endpoint = normalize_endpoint(backend, endpoint)?;
        let tls = tls::client_config(backend, files, policy.ca)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(policy.connect_timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(policy.pool_max_idle)
            .pool_idle_timeout(policy.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            endpoint,
            backend,
            policy,
            in_flight: policy.max_in_flight.map(Semaphore::new),
        })
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `call`, retrying failures of an established connection
    /// (dropped, reset, timed out) and 5xx answers as the policy's [`Retry`]
    /// says. Transport failures end as `Unreachable`; HTTP answers (also
    /// error statuses) are returned for the caller to interpret.
    pub async fn send(&self, call: &Call<'_>) -> Result<Response, KeyStoreError> {
        let retry = self.policy.retry;
        let mut attempt = 0;
        loop {
            let last = attempt >= retry.extra_attempts;
            match self.send_once(call).await {
                Ok(resp) if resp.status.is_server_error() && !last => {}
                Ok(resp) => return Ok(resp),
                Err(f) if f.retry && !last => {}
                Err(f) if f.retry && attempt > 0 => {
                    let tries = attempt + 1;
                    return Err(f
                        .error
                        .map_message(|m| format!("{m} (after {tries} attempts)")));
                }
                Err(f) => return Err(f.error),
            }
            attempt += 1;
            tokio::time::sleep(retry.delay()).await;
        }
    }

    /// One attempt of `call` under the policy's `request_timeout`, the wait
    /// for an in-flight slot included.
    async fn send_once(&self, call: &Call<'_>) -> Result<Response, Failed> {
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
            Failed::stop(KeyStoreError::invalid_config(
                self.backend,
                format!("cannot build a request for {}{path}: {e}", self.endpoint),
            ))
        })?;
        let limit = match call.limit {
            BodyLimit::Ordinary => self.policy.body_limit,
            BodyLimit::Listing => self.policy.list_body_limit,
        };
        let fut = async {
            let _permit = match &self.in_flight {
                // The semaphore is never closed, so acquiring cannot fail.
                Some(slots) => Some(slots.acquire().await.map_err(|_| {
                    Failed::stop(KeyStoreError::backend(
                        self.backend,
                        "the HTTP client is shut down",
                    ))
                })?),
                None => None,
            };
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
                        Failed::stop(KeyStoreError::backend(
                            self.backend,
                            format!(
                                "{path}: response body larger than {limit} bytes (HTTP {status})"
                            ),
                        ))
                    } else {
                        Failed::retry(self.temporary(
                            path,
                            format!("reading the response failed: {}", error_chain(e.as_ref())),
                        ))
                    }
                })?
                .to_bytes();
            Ok(Response { status, body })
        };
        let timeout = self.policy.request_timeout;
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Failed::retry(
                self.temporary(path, format!("no response within {timeout:?}")),
            )),
        }
    }

    /// A temporary failure of one attempt at `path`.
    fn temporary(&self, path: &str, detail: String) -> KeyStoreError {
        KeyStoreError::unreachable(self.backend, format!("{} {path}: {detail}", self.endpoint))
    }

    /// Classifies a failed request: a TLS problem is unreachable, neither
    /// temporary nor retried (the certificate or the trust is wrong, and
    /// stays so); a failed connect (refused, DNS, connect timeout) is
    /// temporary but not retried (nothing listens now: the caller learns at
    /// once); anything else (a dropped or reset connection) is temporary and
    /// retried.
    fn transport_failure(&self, path: &str, e: &hyper_util::client::legacy::Error) -> Failed {
        if let Some(tls) = find_tls_error(e) {
            let hint = tls::handshake_hint(tls);
            return Failed::stop(
                KeyStoreError::unreachable(
                    self.backend,
                    format!("TLS handshake with {} failed: {tls}{hint}", self.endpoint),
                )
                .with_temporary(false),
            );
        }
        let chain = error_chain(e);
        if e.is_connect() {
            return Failed::stop(KeyStoreError::unreachable(
                self.backend,
                format!("cannot connect to {} ({path}): {chain}", self.endpoint),
            ));
        }
        Failed::retry(self.temporary(path, chain))
    }
}

/// A failed attempt.
struct Failed {
    /// What went wrong.
    error: KeyStoreError,
    /// Whether the call may be sent again (see [`Http::send`]).
    retry: bool,
}

impl Failed {
    /// A failure worth another attempt.
    fn retry(error: KeyStoreError) -> Self {
        Self { error, retry: true }
    }

    /// A failure the next attempt would repeat, or that should reach the
    /// caller at once.
    fn stop(error: KeyStoreError) -> Self {
        Self {
            error,
            retry: false,
        }
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
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    /// The appliance policy, retrying without waiting long.
    const QUICK: Policy = Policy {
        retry: Retry {
            extra_attempts: 2,
            wait: Duration::from_millis(1),
            jitter: Duration::from_millis(1),
        },
        ..APPLIANCE
    };

    /// A plain-HTTP client of `addr` under `policy`.
    fn client(addr: SocketAddr, policy: Policy) -> Http {
        Http::new("x", &format!("http://{addr}"), TlsFiles::default(), policy).unwrap()
    }

    /// A plain HTTP/1.1 peer on 127.0.0.1 that answers every request with
    /// `status` and `body` after `delay` and closes the connection.
    struct Peer {
        addr: SocketAddr,
        /// Requests received.
        requests: Arc<AtomicUsize>,
        /// The most requests it handled at the same time.
        most_at_once: Arc<AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn peer(status: u16, body: &'static str, delay: Duration) -> Peer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let (r, m) = (Arc::clone(&requests), Arc::clone(&most_at_once));
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (r, m, open) = (Arc::clone(&r), Arc::clone(&m), Arc::clone(&open));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Peer {
            addr,
            requests,
            most_at_once,
            task,
        }
    }

    #[tokio::test]
    async fn dropped_connections_are_temporary_and_retried() {
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
        let e = client(addr, QUICK)
            .send(&Call::new(Method::GET, "/p?q=1"))
            .await
            .unwrap_err();
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

        // Without retries: one attempt, and no count in the text.
        let e = client(
            addr,
            Policy {
                retry: Retry::NONE,
                ..QUICK
            },
        )
        .send(&Call::new(Method::GET, "/p"))
        .await
        .unwrap_err();
        server.abort();
        assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
        assert!(!e.to_string().contains("attempts"), "{e}");
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn refused_connections_are_temporary_but_not_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        // A retry would wait a minute first.
        let patient = Policy {
            retry: Retry {
                extra_attempts: 2,
                wait: Duration::from_secs(60),
                jitter: Duration::ZERO,
            },
            ..APPLIANCE
        };
        let http = client(addr, patient);
        let call = Call::new(Method::GET, "/p");
        let e = tokio::time::timeout(Duration::from_secs(10), http.send(&call))
            .await
            .expect("a refused connection is not retried")
            .unwrap_err();
        assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "key store is not reachable: x: cannot connect to http://{addr} (/p): "
            )),
            "{text}"
        );
        assert!(!text.contains("attempts"), "{text}");
    }

    #[tokio::test]
    async fn server_errors_are_retried_client_errors_are_not() {
        let busy = peer(503, "busy", Duration::ZERO).await;
        let resp = client(busy.addr, QUICK)
            .send(&Call::new(Method::GET, "/p"))
            .await
            .unwrap();
        assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(&resp.body[..], b"busy");
        assert_eq!(busy.requests.load(Ordering::SeqCst), 3);
        let once = Policy {
            retry: Retry::NONE,
            ..QUICK
        };
        let resp = client(busy.addr, once)
            .send(&Call::new(Method::GET, "/p"))
            .await
            .unwrap();
        assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.requests.load(Ordering::SeqCst), 4);

        let missing = peer(404, "", Duration::ZERO).await;
        let resp = client(missing.addr, QUICK)
            .send(&Call::new(Method::GET, "/p"))
            .await
            .unwrap();
        assert_eq!(resp.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_permanent_errors() {
        let big = peer(200, "0123456789abcdef", Duration::ZERO).await;
        let small = Policy {
            body_limit: 10,
            list_body_limit: 100,
            ..QUICK
        };
        let http = client(big.addr, small);
        let e = http
            .send(&Call::new(Method::GET, "/p?x=1"))
            .await
            .unwrap_err();
        assert!(e.kind() == ErrorKind::Backend && !e.is_temporary(), "{e:?}");
        assert_eq!(
            e.to_string(),
            "x: /p: response body larger than 10 bytes (HTTP 200 OK)"
        );
        assert_eq!(big.requests.load(Ordering::SeqCst), 1, "not retried");
        let resp = http
            .send(&Call::new(Method::GET, "/p").listing())
            .await
            .unwrap();
        assert_eq!(resp.body.len(), 16);
    }

    #[tokio::test]
    async fn the_in_flight_cap_holds_attempts_back_within_the_timeout() {
        /// Sends two calls at once to a fresh slow peer under `policy`: the
        /// results and the most requests the peer saw at the same time.
        async fn send_two(policy: Policy) -> (Vec<Result<Response, KeyStoreError>>, usize) {
            let slow = peer(200, "ok", Duration::from_millis(400)).await;
            let http = client(slow.addr, policy);
            let call = Call::new(Method::GET, "/p");
            let (a, b) = tokio::join!(http.send(&call), http.send(&call));
            (vec![a, b], slow.most_at_once.load(Ordering::SeqCst))
        }
        let capped = Policy {
            max_in_flight: Some(1),
            request_timeout: Duration::from_millis(700),
            retry: Retry::NONE,
            ..QUICK
        };
        // One is answered after 400 ms; the other waits 400 ms for the slot
        // and cannot be answered within its 700 ms.
        let (results, most) = send_two(capped).await;
        assert_eq!(most, 1);
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        let e = results.into_iter().find_map(Result::err).unwrap();
        assert!(e.is_unreachable() && e.is_temporary(), "{e:?}");
        assert!(e.to_string().contains("no response within 700ms"), "{e}");

        let uncapped = Policy {
            max_in_flight: None,
            ..capped
        };
        let (results, most) = send_two(uncapped).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(most, 2);
    }

    #[test]
    fn retry_waits_are_the_wait_plus_some_jitter() {
        assert_eq!(Retry::NONE.delay(), Duration::ZERO);
        let r = APPLIANCE.retry;
        for _ in 0..100 {
            let d = r.delay();
            assert!(d >= r.wait && d <= r.wait + r.jitter, "{d:?}");
        }
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(query_escape("a+b/c=:é"), "a%2Bb%2Fc%3D%3A%C3%A9");
    }

    #[test]
    fn excerpts_are_short_and_single_line() {
        assert_eq!(excerpt("  a\n b  "), "a b");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).chars().count(), 201);
    }
}
