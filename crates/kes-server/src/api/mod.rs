//! The HTTP API: the request pipeline of spec §2.1 / §8.1 and the handlers.
//!
//! Order for every request: decode and canonicalise the path → route
//! lookup (301 / 404) → method (405 + `Accept`) → deadline → authentication
//! and authorization (400 / 403) → handler (name validation, body limit and
//! decoding, cache / key store, crypto). Metrics count handler responses
//! only; audit records cover every request on the key, policy and identity
//! routes, denied ones included.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
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

/// Answers one request.
pub(crate) async fn handle(
    server: &Arc<Server>,
    conn: &ConnInfo,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let state = server.state();
    let (parts, body) = req.into_parts();
    let path = match routes::decode_path(parts.uri.path()) {
        Ok(path) => path,
        Err(e) => return error_response(&Error::BadPath(e.to_string()).to_api()),
    };
    let (route, resource) = match state.routes.lookup(&path) {
        Lookup::Found(route, resource) => (route, resource),
        Lookup::Redirect(route) => return redirect(route.path, parts.uri.query()),
        Lookup::NotFound => return not_found(),
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
        return resp;
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
    resp
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

async fn authorize_and_run(ctx: &Ctx<'_>, path: &str, body: Incoming) -> Response<Body> {
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

async fn dispatch(ctx: &Ctx<'_>, body: Incoming) -> Result<Response<Body>, Error> {
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
    body: Incoming,
    message: &'static str,
) -> Result<Bytes, Error> {
    let limit = ctx.route.max_body;
    let too_large = |cause: String| Error::BadBody { message, cause };
    if let Some(len) = hyper::body::Body::size_hint(&body).exact()
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
