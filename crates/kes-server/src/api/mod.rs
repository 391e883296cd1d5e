//! The HTTP API: the request pipeline of spec §2.1 / §8.1 and the handlers.
//!
//! Order for every request: decode and canonicalise the path → route
//! lookup (301 / 404) → method (405 + `Accept`) → deadline → authentication
//! and authorization (400 / 403) → handler (name validation, body limit and
//! decoding, cache / key store, crypto). Metrics count handler responses
//! only; audit records cover every request on the key, policy and identity
//! routes, denied ones included. Every answer then passes through
//! [`handle`], which drains a request body the answer left unread (bounded
//! by [`UNREAD_BODY_LIMIT`] and the route's deadline) and strips the body
//! of an answer to HEAD.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Body as _, Incoming};
use kes_types::api::ApiError;

use crate::accept::ConnInfo;
use crate::level::Level;
use crate::log::AuditRecord;
use crate::state::{Server, ServerState};

pub mod body;
pub mod error;
mod identity;
mod key;
mod log;
mod policy;
pub mod routes;
mod system;

use error::Error;
use routes::{Auth, Handler, Lookup, Route};
pub use system::{COMMIT, VERSION, go_arch};

/// The response body type of every route.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What a handler knows about its request.
pub(crate) struct Ctx<'a> {
    pub server: &'a Arc<Server>,
    pub state: &'a ServerState,
    pub conn: &'a ConnInfo,
    pub route: &'a Route,
    /// The path argument after the route prefix (decoded).
    pub resource: &'a str,
    /// The raw query string. Ignored (spec §1.3) except by the key listing,
    /// which reads `continue_at`; never used for authorization.
    pub query: Option<&'a str>,
    /// The caller's identity, if it has one.
    pub identity: Option<&'a str>,
    /// The request method as received.
    pub method: &'a Method,
}

impl Ctx<'_> {
    /// The caller as the author of a runtime policy change.
    pub(crate) fn actor(&self) -> crate::auth::runtime::Actor {
        crate::auth::runtime::Actor {
            identity: self.identity.unwrap_or_default().to_owned(),
            at: crate::state::rfc3339(time::OffsetDateTime::now_utc()),
        }
    }

    /// Logs a runtime policy change at INFO, naming who made it (the
    /// request's audit record has the path and status too).
    pub(crate) fn log_change(&self, what: &str) {
        self.server.logger().error(
            Level::INFO,
            what,
            &[
                ("req.path", &format!("{}{}", self.route.path, self.resource)),
                ("req.ip", &self.conn.peer.ip().to_string()),
                ("req.identity", self.identity.unwrap_or("<unknown>")),
            ],
        );
    }
}

/// How many bytes of a request body are read and thrown away when the
/// answer did not read the body (403, 404, 405, an over-limit 400, a body
/// on a route that takes none). Over HTTP/2 an answer to a request whose
/// body is still arriving ends with `RST_STREAM(NO_ERROR)`: RFC 9113 §8.1
/// allows it, but curl 7.88 then drops the answer. Over HTTP/1.1 an unread
/// body ends the keep-alive connection. Go's server drains small bodies to
/// avoid both, and so do we. 1 MiB is the largest body a route accepts (the
/// legacy bulk decrypt), so whatever a client may legitimately send is
/// drained; a larger body is cut off: the stream is reset (HTTP/2) or the
/// connection closed after the answer (HTTP/1.1).
pub const UNREAD_BODY_LIMIT: u64 = 1 << 20;

/// How long draining an unread body may take for a request without a route
/// deadline (no route, or a log stream); otherwise the route's deadline
/// bounds it, so a slow client cannot hold a request past its timeout.
pub const UNREAD_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers one request: the pipeline, then (the one place every answer
/// passes through) draining a body the answer left unread and dropping the
/// body of a HEAD answer.
pub(crate) async fn handle(
    server: &Arc<Server>,
    conn: &ConnInfo,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let (parts, mut body) = req.into_parts();
    let (resp, limit) = answer(server, conn, &parts, &mut body, started).await;
    if !body.is_end_stream() {
        let deadline = started + limit.unwrap_or(UNREAD_BODY_TIMEOUT);
        discard_unread(&mut body, &parts.headers, deadline.into()).await;
    }
    if parts.method == Method::HEAD {
        return without_body(resp);
    }
    resp
}

/// Reads and throws away the rest of a request body, at most
/// [`UNREAD_BODY_LIMIT`] bytes and until `deadline`; a longer or slower
/// body is left unread. A client that waits for `100 Continue` has not sent
/// its body and is not asked to.
async fn discard_unread(body: &mut Incoming, headers: &HeaderMap, deadline: tokio::time::Instant) {
    if headers.contains_key(EXPECT) {
        return;
    }
    if body
        .size_hint()
        .exact()
        .is_some_and(|len| len > UNREAD_BODY_LIMIT)
    {
        return;
    }
    let drain = async {
        let mut left = UNREAD_BODY_LIMIT;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                if len > left {
                    return;
                }
                left -= len;
            }
        }
    };
    // Polls the drain before looking at the clock: what has already
    // arrived is read even when the deadline has passed.
    let _ = tokio::time::timeout_at(deadline, drain).await;
}

/// A HEAD answer has the headers of the answer and no body (RFC 9110
/// §9.3.2, RFC 9113 §8.1): hyper drops the body over HTTP/1.1, not over
/// HTTP/2. `Content-Length` stays what it would have been.
fn without_body(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    if let Some(len) = body.size_hint().exact() {
        parts
            .headers
            .entry(CONTENT_LENGTH)
            .or_insert_with(|| HeaderValue::from(len));
    }
    Response::from_parts(parts, Empty::new().boxed_unsync())
}

/// The request pipeline; also returns the route's deadline, if any.
async fn answer(
    server: &Arc<Server>,
    conn: &ConnInfo,
    parts: &http::request::Parts,
    body: &mut Incoming,
    started: Instant,
) -> (Response<Body>, Option<Duration>) {
    let state = server.state();
    let path = match routes::decode_path(parts.uri.path()) {
        Ok(path) => path,
        Err(e) => {
            return (
                error_response(&Error::BadPath(e.to_string()).to_api()),
                None,
            );
        }
    };
    let (route, resource) = match state.routes.lookup(&path) {
        Lookup::Found(route, resource) => (route, resource),
        Lookup::Redirect(route) => return (redirect(route.path, parts.uri.query()), None),
        Lookup::NotFound => return (not_found(), None),
    };
    if !route.accepts(&parts.method) {
        let want = route.method.as_str();
        let e = Error::Method {
            got: parts.method.to_string(),
            want: method_str(&route.method),
        };
        let mut resp = error_response(&e.to_api());
        if let Ok(v) = HeaderValue::from_str(want) {
            resp.headers_mut().insert(http::header::ACCEPT, v);
        }
        return (resp, route.timeout);
    }

    let ctx = Ctx {
        server,
        state: &state,
        conn,
        route,
        resource,
        query: parts.uri.query(),
        identity: conn.identity.known(),
        method: &parts.method,
    };
    let work = authorize_and_run(&ctx, &path, body);
    let resp = match route.timeout {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(resp) => resp,
            Err(_) => {
                log_error(&ctx, &path, &Error::Timeout);
                error_response(&Error::Timeout.to_api())
            }
        },
        None => work.await,
    };
    if route.audited && server.logger().levels().1.allows(Level::INFO) {
        server.logger().audit(&AuditRecord {
            time: std::time::SystemTime::now(),
            ip: Some(conn.peer.ip()),
            path: &path,
            identity: ctx.identity,
            status: resp.status().as_u16(),
            latency: started.elapsed(),
        });
    }
    (resp, route.timeout)
}

fn method_str(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::POST => "POST",
        _ => "GET",
    }
}

async fn authorize_and_run(ctx: &Ctx<'_>, path: &str, body: &mut Incoming) -> Response<Body> {
    if let Err(e) = authorize(ctx, path) {
        log_error(ctx, path, &e);
        return error_response(&e.to_api());
    }
    let metrics = ctx.server.metrics();
    let _active = ctx.route.metered.then(|| metrics.active_guard());
    let started = Instant::now();
    let resp = match dispatch(ctx, body).await {
        Ok(resp) => resp,
        Err(e) => {
            log_error(ctx, path, &e);
            error_response(&e.to_api())
        }
    };
    if ctx.route.metered {
        metrics.observe(resp.status().as_u16(), started.elapsed());
    }
    resp
}

fn authorize(ctx: &Ctx<'_>, path: &str) -> Result<(), Error> {
    match ctx.route.auth {
        Auth::None | Auth::Identify => Ok(()),
        Auth::Verify => {
            let identity = match &ctx.conn.identity {
                crate::tls::PeerIdentity::Known(id) => id.as_str(),
                crate::tls::PeerIdentity::Unknown(why) => {
                    return Err(Error::NoIdentity(why.clone()));
                }
            };
            match ctx.state.policies.authorize(identity, path) {
                Ok(_) => Ok(()),
                Err(denied) => {
                    ctx.server.logger().error(
                        Level::DEBUG,
                        &denied.to_string(),
                        &[
                            ("req.path", path),
                            ("req.ip", &ctx.conn.peer.ip().to_string()),
                            ("req.identity", identity),
                        ],
                    );
                    Err(Error::NotAllowed)
                }
            }
        }
    }
}

fn log_error(ctx: &Ctx<'_>, path: &str, e: &Error) {
    // Denials are logged by `authorize` with their reason.
    if matches!(e, Error::NotAllowed) {
        return;
    }
    if let Some(level) = e.log_level() {
        ctx.server.logger().error(
            level,
            &e.to_string(),
            &[
                ("req.method", ctx.method.as_str()),
                ("req.path", path),
                ("req.ip", &ctx.conn.peer.ip().to_string()),
                ("req.identity", ctx.identity.unwrap_or("<unknown>")),
            ],
        );
    }
}

async fn dispatch(ctx: &Ctx<'_>, body: &mut Incoming) -> Result<Response<Body>, Error> {
    match ctx.route.handler {
        Handler::Version => system::version(),
        Handler::Ready => system::ready(ctx).await,
        Handler::Status => system::status(ctx).await,
        Handler::Metrics => system::metrics(ctx),
        Handler::Api => system::api(ctx),
        Handler::KeyCreate => key::create(ctx).await,
        Handler::KeyImport => key::import(ctx, body).await,
        Handler::KeyDescribe => key::describe(ctx).await,
        Handler::KeyList => key::list(ctx).await,
        Handler::KeyDelete => key::delete(ctx).await,
        Handler::KeyGenerate => key::generate(ctx, body).await,
        Handler::KeyEncrypt => key::encrypt(ctx, body).await,
        Handler::KeyDecrypt => key::decrypt(ctx, body).await,
        Handler::KeyHmac => key::hmac(ctx, body).await,
        Handler::KeyBulkDecrypt => key::bulk_decrypt(ctx, body).await,
        Handler::KeyRotate => key::rotate(ctx).await,
        Handler::KeyVersions => key::list_versions(ctx).await,
        Handler::KeyVersionDelete => key::remove_version(ctx).await,
        Handler::PolicyDescribe => policy::describe(ctx),
        Handler::PolicyRead => policy::read(ctx),
        Handler::PolicyList => policy::list(ctx),
        Handler::PolicyWrite => policy::write(ctx, body).await,
        Handler::PolicyDelete => policy::delete(ctx),
        Handler::IdentityDescribe => identity::describe(ctx),
        Handler::IdentityList => identity::list(ctx),
        Handler::SelfDescribe => identity::self_describe(ctx),
        Handler::IdentityAssign => identity::assign(ctx),
        Handler::IdentityForget => identity::forget(ctx),
        Handler::ErrorLog => Ok(log::stream(ctx, false)),
        Handler::AuditLog => Ok(log::stream(ctx, true)),
    }
}

/// Reads a request body of at most `ctx.route.max_body` bytes; a larger or
/// unreadable body is the route's 400 `message`.
pub(crate) async fn read_body(
    ctx: &Ctx<'_>,
    body: &mut Incoming,
    message: &'static str,
) -> Result<Bytes, Error> {
    let limit = ctx.route.max_body;
    let too_large = |cause: String| Error::BadBody { message, cause };
    if let Some(len) = body.size_hint().exact()
        && len > limit
    {
        return Err(too_large(format!(
            "body of {len} bytes exceeds the limit of {limit} bytes"
        )));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(too_large(format!("failed to read body: {e}"))),
    }
}

/// A 200 response with a JSON body followed by `\n` (Go's encoder).
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<Response<Body>, Error> {
    let mut buf = serde_json::to_vec(value).map_err(|e| Error::Internal {
        message: "failed to encode response",
        cause: e.to_string(),
    })?;
    buf.push(b'\n');
    Ok(json_bytes(StatusCode::OK, buf))
}

/// A 200 JSON object answer written straight into one buffer: the
/// data-key routes' answers (generate, encrypt, decrypt, HMAC), the hottest
/// in the API. Their values are base64 (encoded in place, no intermediate
/// string) or a key version, neither of which needs escaping, so no serde
/// and no per-byte escape scan.
/// Fields come out in the order written, as serde writes the wire types of
/// `kes_types::api` (test `hand_written_answers_equal_serde`).
pub(crate) struct JsonAnswer {
    buf: Vec<u8>,
}

impl JsonAnswer {
    /// An object with room for `capacity` bytes of field values.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 64);
        buf.push(b'{');
        Self { buf }
    }

    /// `"name":"` after a comma unless first; `name` is a fixed ASCII field
    /// name that needs no escaping.
    fn field(&mut self, name: &'static str) {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":\"");
    }

    /// A field whose value is the standard padded base64 of `bytes`.
    pub(crate) fn base64(mut self, name: &'static str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        self.field(name);
        let start = self.buf.len();
        let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
        self.buf.resize(start + len, 0);
        let written = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, &mut self.buf[start..])
            .unwrap_or(0);
        self.buf.truncate(start + written);
        self.buf.push(b'"');
        self
    }

    /// The `"version":"v<N>"` field.
    pub(crate) fn version(mut self, version: kes_types::KeyVersionId) -> Self {
        self.field("version");
        self.buf.push(b'v');
        let mut digits = [0u8; 10];
        let mut n = version.get();
        let mut i = digits.len();
        loop {
            i -= 1;
            // `n % 10` is a single decimal digit.
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
        self.buf.push(b'"');
        self
    }

    /// The 200 answer: the object and Go's trailing `\n`.
    pub(crate) fn finish(mut self) -> Response<Body> {
        self.buf.extend_from_slice(b"}\n");
        json_bytes(StatusCode::OK, self.buf)
    }
}

fn json_bytes(status: StatusCode, buf: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(buf)).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A bodiless 200 with `Content-Length: 0`.
pub(crate) fn empty_ok() -> Response<Body> {
    let mut resp = Response::new(Empty::new().boxed_unsync());
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// An API error: status + `{"message":"…"\n}` as JSON.
pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_bytes(status, e.body())
}

fn not_found() -> Response<Body> {
    let mut resp =
        Response::new(Full::new(Bytes::from_static(b"404 page not found\n")).boxed_unsync());
    *resp.status_mut() = StatusCode::NOT_FOUND;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn redirect(path: &str, query: Option<&str>) -> Response<Body> {
    let location = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut resp = Response::new(Empty::new().boxed_unsync());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn unread_body_limit_covers_every_route() {
        for r in super::routes::default_routes() {
            assert!(r.max_body <= super::UNREAD_BODY_LIMIT, "{}", r.path);
        }
    }

    /// The hand-written data-key answers are byte for byte what serde
    /// writes for the wire types the clients decode.
    #[tokio::test]
    async fn hand_written_answers_equal_serde() {
        use super::*;
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        use kes_types::KeyVersionId;
        use kes_types::api::{
            DecryptKeyResponse, EncryptKeyResponse, GenerateKeyResponse, HmacResponse,
        };

        async fn body(resp: Response<Body>) -> Vec<u8> {
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec()
        }
        for len in [0usize, 1, 2, 3, 31, 32, 33, 60, 1000] {
            let a: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let b: Vec<u8> = (0..len + 28).map(|i| (i * 13 + 1) as u8).collect();
            for n in [1u32, 9, 10, 99, 100, 12345, u32::MAX] {
                let v = KeyVersionId::new(n).unwrap();
                let got = body(
                    JsonAnswer::new(0)
                        .base64("plaintext", &a)
                        .base64("ciphertext", &b)
                        .version(v)
                        .finish(),
                )
                .await;
                let want = serde(&GenerateKeyResponse {
                    plaintext: STANDARD.encode(&a),
                    ciphertext: STANDARD.encode(&b),
                    version: v.to_string(),
                });
                assert_eq!(String::from_utf8(got).unwrap(), want);
                let got = body(
                    JsonAnswer::new(3)
                        .base64("ciphertext", &b)
                        .version(v)
                        .finish(),
                )
                .await;
                let want = serde(&EncryptKeyResponse {
                    ciphertext: STANDARD.encode(&b),
                    version: v.to_string(),
                });
                assert_eq!(String::from_utf8(got).unwrap(), want);
            }
            let got = body(JsonAnswer::new(len).base64("plaintext", &a).finish()).await;
            let want = serde(&DecryptKeyResponse {
                plaintext: STANDARD.encode(&a),
            });
            assert_eq!(String::from_utf8(got).unwrap(), want);
            let got = body(JsonAnswer::new(1).base64("hmac", &a).finish()).await;
            let want = serde(&HmacResponse {
                hmac: STANDARD.encode(&a),
            });
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }

    /// serde's answer line, as `json()` writes it.
    fn serde<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap() + "\n"
    }
}
