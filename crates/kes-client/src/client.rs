//! The `Client` and its builder: one HTTPS connection pool (HTTP/2 or
//! HTTP/1.1 by ALPN, keep-alive), request execution with retries, redirects
//! and endpoint failover, and the mapping of error responses to [`Error`].
//!
//! The typed API methods live in `api.rs`; this module only moves requests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kes_crypto::ApiKey;
use kes_types::Identity;
use zeroize::Zeroizing;

use crate::connect::TimeoutConnector;
use crate::endpoint::{Endpoints, normalize_endpoint};
use crate::error::{ConfigError, Error, InvalidResponse, TransportError, TransportKind};
use crate::tls::{Credentials, ServerTrust, client_config};

/// Largest response body read into memory (metrics can be large).
pub(crate) const MAX_RESPONSE_BODY: usize = 16 << 20;
/// Largest error body read; the rest is ignored.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Retry policy for network errors and 503 (spec §11.2).
#[derive(Debug, Clone, Copy)]
struct Retry {
    extra_attempts: u32,
    min_delay: Duration,
    max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            extra_attempts: 2,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_millis(1000),
        }
    }
}

impl Retry {
    fn delay(&self) -> Duration {
        if self.max_delay <= self.min_delay {
            return self.min_delay;
        }
        let spread = self.max_delay - self.min_delay;
        let nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
        self.min_delay + Duration::from_nanos(rand::random_range(0..=nanos))
    }
}

/// Configures and builds a [`Client`]. Obtain one with [`Client::builder`].
///
/// Exactly one credential is required: an API key, or a certificate and a
/// private key file. The server is verified against the system CA bundle
/// unless CA files/directories are given or [`insecure`](Self::insecure) is set.
pub struct ClientBuilder {
    endpoints: Vec<String>,
    api_key: Option<ApiKey>,
    api_key_error: Option<ConfigError>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    key_password: Option<Zeroizing<String>>,
    trust: ServerTrust,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    request_timeout: Option<Duration>,
    idle_timeout: Duration,
    max_idle_per_host: usize,
    retry: Retry,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoints", &self.endpoints)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field(
                "key_password",
                &self.key_password.as_ref().map(|_| "<redacted>"),
            )
            .field("trust", &self.trust)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            api_key: None,
            api_key_error: None,
            cert_file: None,
            key_file: None,
            key_password: None,
            trust: ServerTrust::default(),
            connect_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: None,
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 100,
            retry: Retry::default(),
        }
    }
}

impl ClientBuilder {
    /// Adds one endpoint: `host:port`, `https://host:port` or
    /// `http://host:port` (the `http://` is dropped; TLS is always used).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Adds several endpoints (see [`endpoint`](Self::endpoint)).
    pub fn endpoints<I, S>(mut self, endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.endpoints.extend(endpoints.into_iter().map(Into::into));
        self
    }

    /// Authenticates with an API key; a self-signed client certificate is
    /// derived from it when the client is built.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Authenticates with an API key given as text (`kes:v1:...`). A
    /// malformed key is reported by [`build`](Self::build).
    pub fn api_key_str(mut self, key: &str) -> Self {
        match ApiKey::parse(key) {
            Ok(k) => self.api_key = Some(k),
            Err(e) => self.api_key_error = Some(ConfigError::ApiKey(e)),
        }
        self
    }

    /// Authenticates with a PEM certificate (chain) file.
    pub fn cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(path.into());
        self
    }

    /// The PEM private key (PKCS#8, SEC1 or PKCS#1) of [`cert_file`](Self::cert_file).
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The password of a [`key_file`](Self::key_file) encrypted the legacy
    /// OpenSSL way (`Proc-Type: 4,ENCRYPTED`); ignored for plain keys. An
    /// encrypted key without (or with an empty) password fails to build.
    pub fn key_password(mut self, password: impl Into<String>) -> Self {
        self.key_password = Some(Zeroizing::new(password.into()));
        self
    }

    /// Trusts the CA certificates in a PEM file or in all files of a
    /// directory, instead of the system bundle. May be called repeatedly.
    pub fn ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.trust.ca_paths.push(path.into());
        self
    }

    /// Skips verification of the server's certificate chain and name (the
    /// handshake signature is still checked). For tests and `-k` only.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.trust.insecure = insecure;
        self
    }

    /// TCP connect timeout per endpoint (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// TLS handshake timeout (default 10 s); connection set-up as a whole
    /// is bounded by connect timeout + handshake timeout.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Per-attempt deadline for receiving a response and reading its body
    /// (default none; log streams only apply it to the response head).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Extra attempts on network errors and 503 per endpoint (default 2) and
    /// the random delay range between attempts (default 200 ms – 1 s).
    pub fn retries(
        mut self,
        extra_attempts: u32,
        min_delay: Duration,
        max_delay: Duration,
    ) -> Self {
        self.retry = Retry {
            extra_attempts,
            min_delay,
            max_delay,
        };
        self
    }

    /// Validates the configuration and builds the client (certificate
    /// generation, PEM parsing and CA loading happen here).
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.api_key_error {
            return Err(e.into());
        }
        let endpoints = self
            .endpoints
            .iter()
            .flat_map(|e| e.split(','))
            .filter(|e| !e.trim().is_empty())
            .map(normalize_endpoint)
            .collect::<Result<Vec<_>, _>>()?;
        let endpoints = Endpoints::new(endpoints)?;
        let creds = match (self.api_key, self.cert_file, self.key_file) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ConfigError::ConflictingCredentials.into());
            }
            (Some(key), None, None) => Credentials::ApiKey(key),
            (None, Some(cert), Some(key)) => Credentials::Files {
                cert,
                key,
                password: self.key_password,
            },
            (None, Some(_), None) => {
                return Err(
                    ConfigError::IncompleteCredentials("certificate", "private key").into(),
                );
            }
            (None, None, Some(_)) => {
                return Err(
                    ConfigError::IncompleteCredentials("private key", "certificate").into(),
                );
            }
            (None, None, None) => return Err(ConfigError::NoCredentials.into()),
        };
        let (tls, identity) = client_config(&creds, &self.trust)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let https = TimeoutConnector {
            inner: https,
            timeout: self.connect_timeout + self.handshake_timeout,
        };
        let hyper = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(self.idle_timeout)
            .pool_max_idle_per_host(self.max_idle_per_host)
            .build(https);
        Ok(Client {
            inner: Arc::new(Inner {
                hyper,
                endpoints,
                request_timeout: self.request_timeout,
                retry: self.retry,
                identity,
            }),
        })
    }
}

/// An async KES client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    hyper: HyperClient<TimeoutConnector<HttpsConnector<HttpConnector>>, Full<Bytes>>,
    endpoints: Endpoints,
    request_timeout: Option<Duration>,
    retry: Retry,
    identity: Option<Identity>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.inner.endpoints.all())
            .finish_non_exhaustive()
    }
}

/// One request to send (re-sendable across retries and endpoints).
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) body: Option<Bytes>,
    pub(crate) accept: Option<&'a str>,
}

impl Call<'_> {
    /// Whether sending the call twice has the effect of sending it once, so
    /// that it may go to another node after a failure that may have reached
    /// the first: reads (GET) and the key operations that change nothing
    /// (generate, encrypt, decrypt, bulk decrypt, HMAC). Creating, importing
    /// and deleting keys and changing policies or identities are not: a
    /// second create after a lost answer says "key already exists".
    pub(crate) fn idempotent(&self) -> bool {
        const PURE: [&str; 5] = [
            "/v1/key/generate/",
            "/v1/key/encrypt/",
            "/v1/key/decrypt/",
            "/v1/key/bulk/decrypt/",
            "/v1/key/hmac/",
        ];
        self.method == Method::GET
            || self.method == Method::HEAD
            || PURE.iter().any(|p| self.path.starts_with(p))
    }

    /// Whether the answer is an endless stream (`/v1/log/...`), whose body
    /// the caller reads as it comes; every other body is read before
    /// [`Client::send`] returns.
    pub(crate) fn streams(&self) -> bool {
        self.path.starts_with("/v1/log/")
    }
}

/// A successful (2xx) response whose body is still to be read.
pub(crate) struct Reply {
    pub(crate) endpoint: String,
    pub(crate) path: String,
    pub(crate) content_type: String,
    pub(crate) body: Incoming,
    /// The whole body, when [`Client::send`] read it already.
    pub(crate) buffered: Option<Zeroizing<Vec<u8>>>,
    pub(crate) timeout: Option<Duration>,
}

enum Attempt {
    Response(hyper::Response<Incoming>, String),
    Failed(TransportError),
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The identity the server will see for this client (hex SHA-256 of the
    /// client certificate's public key), if the certificate could be parsed.
    pub fn identity(&self) -> Option<&Identity> {
        self.inner.identity.as_ref()
    }

    /// The normalized endpoints, local ones first.
    pub fn endpoints(&self) -> &[String] {
        self.inner.endpoints.all()
    }

    /// Sends `call` with failover across endpoints and returns the 2xx
    /// response, or the error the last endpoint tried produced.
    ///
    /// A node that answered with anything but a 5xx (except 501) ends the
    /// request: its 4xx is the answer. After a failure the request moves on
    /// to the next endpoint when that cannot apply it twice: always when it
    /// was never sent (no connection); otherwise only when it is idempotent
    /// ([`Call::idempotent`]), since the failed node may have applied it —
    /// also after a 503, which KES answers when a route's deadline passed,
    /// possibly after the handler changed something.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<Reply, Error> {
        let eps = &self.inner.endpoints;
        let idempotent = call.idempotent();
        let mut last = None;
        for i in eps.order() {
            let endpoint = eps.get(i);
            let (failed, next, result) =
                match self.send_with_retry(endpoint, call, idempotent).await {
                    Attempt::Failed(e) => (
                        true,
                        idempotent || e.kind == TransportKind::Connect,
                        Err(e.into()),
                    ),
                    Attempt::Response(resp, path) => {
                        let status = resp.status();
                        let failed =
                            status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED;
                        let next = failed && idempotent;
                        let buffer = !call.streams();
                        match self.to_reply(endpoint.to_owned(), path, resp, buffer).await {
                            // The body was lost midway: like a lost answer.
                            Err(Error::Transport(e)) => (true, idempotent, Err(e.into())),
                            reply => (failed, next, reply),
                        }
                    }
                };
            if failed {
                eps.mark_failed(i);
            } else {
                eps.mark_healthy(i);
            }
            if !next {
                return result;
            }
            last = Some(result);
        }
        last.unwrap_or_else(|| Err(ConfigError::NoEndpoints.into()))
    }

    /// The reply to a response: for a 2xx its body unread, or read into
    /// memory when `buffer` (so that a body lost midway is the request's
    /// failure, handled with failover); for anything else the error it
    /// carries.
    async fn to_reply(
        &self,
        endpoint: String,
        path: String,
        resp: hyper::Response<Incoming>,
        buffer: bool,
    ) -> Result<Reply, Error> {
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut reply = Reply {
            endpoint,
            path,
            content_type,
            body: resp.into_body(),
            buffered: None,
            timeout: self.inner.request_timeout,
        };
        if status.is_success() {
            if buffer {
                reply.buffered = Some(reply.read_limited(MAX_RESPONSE_BODY, false).await?);
            }
            return Ok(reply);
        }
        let body = reply.read_limited(MAX_ERROR_BODY, true).await?;
        if status.as_u16() >= 400 {
            return Err(error_from_body(status.as_u16(), &reply.content_type, &body));
        }
        Err(reply.invalid(format!("unexpected status {status}"), None))
    }

    /// Sends `call` to one endpoint, again after a random delay (at most
    /// `extra_attempts` times) on a connection failure, or — when
    /// `idempotent` — on a 503 or any other network error.
    async fn send_with_retry(&self, endpoint: &str, call: &Call<'_>, idempotent: bool) -> Attempt {
        let retry = self.inner.retry;
        let mut attempt = 0;
        loop {
            let result = self.send_following_redirects(endpoint, call).await;
            let again = attempt < retry.extra_attempts
                && match &result {
                    Attempt::Failed(e) => match e.kind {
                        TransportKind::Connect => true,
                        TransportKind::TooManyRedirects => false,
                        _ => idempotent,
                    },
                    Attempt::Response(r, _) => {
                        idempotent && r.status() == StatusCode::SERVICE_UNAVAILABLE
                    }
                };
            if !again {
                return result;
            }
            drop(result);
            attempt += 1;
            tokio::time::sleep(retry.delay()).await;
        }
    }

    async fn send_following_redirects(&self, endpoint: &str, call: &Call<'_>) -> Attempt {
        let mut path = call.path.clone();
        for _ in 0..=MAX_REDIRECTS {
            let resp = match self.send_once(endpoint, &path, call).await {
                Ok(r) => r,
                Err(e) => return Attempt::Failed(e),
            };
            let follow = match resp.status() {
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
                    call.method == Method::GET
                }
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
                _ => false,
            };
            let location = resp.headers().get(header::LOCATION).and_then(redirect_path);
            match (follow, location) {
                (true, Some(next)) => path = next,
                _ => return Attempt::Response(resp, path),
            }
        }
        Attempt::Failed(TransportError {
            kind: TransportKind::TooManyRedirects,
            endpoint: endpoint.to_owned(),
            source: None,
        })
    }

    async fn send_once(
        &self,
        endpoint: &str,
        path: &str,
        call: &Call<'_>,
    ) -> Result<hyper::Response<Incoming>, TransportError> {
        let transport =
            |kind, source: Option<Box<dyn std::error::Error + Send + Sync>>| TransportError {
                kind,
                endpoint: endpoint.to_owned(),
                source,
            };
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(format!("{endpoint}{path}"))
            .header(
                header::USER_AGENT,
                concat!("kes-client-rust/", env!("CARGO_PKG_VERSION")),
            );
        if call.body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(accept) = call.accept {
            req = req.header(header::ACCEPT, accept);
        }
        let req = req
            .body(Full::new(call.body.clone().unwrap_or_default()))
            .map_err(|e| transport(TransportKind::Connect, Some(Box::new(e))))?;
        let fut = self.inner.hyper.request(req);
        let resp = match self.inner.request_timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| transport(TransportKind::Timeout, None))?,
            None => fut.await,
        };
        resp.map_err(|e| {
            let kind = if e.is_connect() {
                TransportKind::Connect
            } else {
                TransportKind::Exchange
            };
            transport(kind, Some(Box::new(e)))
        })
    }
}

/// The path of a redirect target: a relative `Location` or the path of an
/// absolute one. Redirects are followed on the same endpoint only, so a
/// server cannot send the client (and its certificate) elsewhere.
fn redirect_path(location: &HeaderValue) -> Option<String> {
    let s = location.to_str().ok()?;
    if s.starts_with('/') && !s.starts_with("//") {
        return Some(s.to_owned());
    }
    let uri: http::Uri = s.parse().ok()?;
    uri.path_and_query().map(|p| p.as_str().to_owned())
}

/// Turns an error response into an [`Error`] as kms-go does: the JSON
/// `error` field (if non-empty) or `message` when the content type is JSON,
/// else the raw body text.
pub(crate) fn error_from_body(status: u16, content_type: &str, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        message: String,
        #[serde(default)]
        error: String,
    }
    let text = || {
        String::from_utf8_lossy(body)
            .trim_end_matches(['\n', '\r'])
            .to_owned()
    };
    let message = if content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) if !b.error.is_empty() => b.error,
            Ok(b) => b.message,
            Err(_) => text(),
        }
    } else {
        text()
    };
    Error::from_response(status, &message)
}

impl Reply {
    /// An [`InvalidResponse`] error for this reply.
    pub(crate) fn invalid(
        &self,
        what: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        InvalidResponse {
            endpoint: self.endpoint.clone(),
            path: self.path.clone(),
            what: what.into(),
            source,
        }
        .into()
    }

    fn body_error(&self, source: Option<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        TransportError {
            kind: TransportKind::Body,
            endpoint: self.endpoint.clone(),
            source,
        }
        .into()
    }

    /// Reads the whole body (at most [`MAX_RESPONSE_BODY`]) into a buffer
    /// that is wiped on drop; the capacity is reserved up front from the
    /// declared length so that growth leaves fewer stray copies behind.
    pub(crate) async fn read(&mut self) -> Result<Zeroizing<Vec<u8>>, Error> {
        if let Some(body) = self.buffered.take() {
            return Ok(body);
        }
        self.read_limited(MAX_RESPONSE_BODY, false).await
    }

    async fn read_limited(
        &mut self,
        limit: usize,
        truncate: bool,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let hint = hyper::body::Body::size_hint(&self.body);
        let want = usize::try_from(hint.exact().unwrap_or(hint.lower())).unwrap_or(limit);
        let mut out = Zeroizing::new(Vec::with_capacity(want.min(limit)));
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let next = self.body.frame();
            let frame = match deadline {
                Some(d) => match tokio::time::timeout_at(d, next).await {
                    Ok(f) => f,
                    Err(_) => {
                        return Err(TransportError {
                            kind: TransportKind::Timeout,
                            endpoint: self.endpoint.clone(),
                            source: None,
                        }
                        .into());
                    }
                },
                None => next.await,
            };
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| self.body_error(Some(Box::new(e))))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if out.len().saturating_add(data.len()) > limit {
                if truncate {
                    let room = limit.saturating_sub(out.len());
                    out.extend_from_slice(data.get(..room).unwrap_or_default());
                    break;
                }
                return Err(self.invalid(format!("response body exceeds {limit} bytes"), None));
            }
            if out.capacity() - out.len() < data.len() {
                // Grow by hand so the old buffer is wiped, not just freed.
                let mut bigger = Zeroizing::new(Vec::with_capacity(
                    (out.len() + data.len()).max(out.capacity() * 2).min(limit),
                ));
                bigger.extend_from_slice(&out);
                out = bigger;
            }
            out.extend_from_slice(&data);
        }
        Ok(out)
    }

    /// Reads and decodes a JSON body.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        let body = self.read().await?;
        serde_json::from_slice(&body)
            .map_err(|e| self.invalid("malformed JSON body", Some(Box::new(e))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_mapping_uses_json_only_for_json() {
        let e = error_from_body(
            404,
            "application/json",
            br#"{"message":"key does not exist"}"#,
        );
        assert!(matches!(e, Error::KeyNotFound));
        let e = error_from_body(404, "text/plain", br#"{"message":"key does not exist"}"#);
        assert!(matches!(e, Error::Api { status: 404, .. }));
        let e = error_from_body(404, "text/plain; charset=utf-8", b"404 page not found\n");
        match e {
            Error::Api { status, message } => {
                assert_eq!((status, message.as_str()), (404, "404 page not found"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn error_field_takes_precedence() {
        let e = error_from_body(
            403,
            "application/json; charset=utf-8",
            br#"{"message":"x","error":"prohibited by policy"}"#,
        );
        assert!(matches!(e, Error::NotAllowed));
        let e = error_from_body(
            400,
            "application/json",
            br#"{"message":"key does already exist","error":""}"#,
        );
        assert!(matches!(e, Error::KeyExists));
    }

    #[test]
    fn canonical_pairs_map_to_variants() {
        use kes_types::api::errors::*;
        let cases = [
            (KEY_NOT_FOUND, "KeyNotFound"),
            (KEY_EXISTS, "KeyExists"),
            (LEGACY_KEY_EXISTS, "KeyExists"),
            (NOT_ALLOWED, "NotAllowed"),
            (LEGACY_NOT_ALLOWED, "NotAllowed"),
            (DECRYPT, "DecryptFailed"),
            (POLICY_NOT_FOUND, "PolicyNotFound"),
            (IDENTITY_NOT_FOUND, "IdentityNotFound"),
        ];
        for ((status, msg), want) in cases {
            let e = Error::from_response(status, msg);
            assert_eq!(format!("{e:?}"), want);
            assert_eq!(e.status(), Some(status));
        }
        // Same message, other status: not canonical.
        assert!(matches!(
            Error::from_response(500, "key does not exist"),
            Error::Api { status: 500, .. }
        ));
    }

    #[test]
    fn redirect_paths_stay_on_the_endpoint() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            redirect_path(&v("/v1/key/list/")).as_deref(),
            Some("/v1/key/list/")
        );
        assert_eq!(
            redirect_path(&v("https://evil.example/v1/key/list/?a=b")).as_deref(),
            Some("/v1/key/list/?a=b")
        );
        // A scheme-relative Location is used as a path on the same endpoint.
        assert_eq!(
            redirect_path(&v("//evil.example/x")).as_deref(),
            Some("//evil.example/x")
        );
    }

    #[test]
    fn retry_delay_is_in_range() {
        let r = Retry::default();
        for _ in 0..100 {
            let d = r.delay();
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(1000));
        }
    }
}
