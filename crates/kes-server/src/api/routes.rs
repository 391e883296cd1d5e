//! The one declarative route table (spec §2.1) and everything derived from
//! it: path matching with the 301 / 404 rules of §1.3, the method check and
//! `Accept` header of §1.4, body limits, timeouts, auth modes, metering,
//! auditing, the `/v1/api` listing, and the `api:` config overrides.
//!
//! Paths are matched after percent-decoding; a decoded path that is not
//! canonical (`//`, `.` or `..` segments, also when spelled `%2F`/`%2E`) is
//! rejected with 400 instead of being redirected like Go's ServeMux does, so
//! neither the router nor the policy check ever sees an uncleaned path.

use std::borrow::Cow;
use std::time::Duration;

use http::Method;
use kes_types::api::CONTINUE_AT_PARAM;
use percent_encoding::percent_decode_str;

use super::error::Error;

/// Which authentication a route needs (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No identity needed (`/version`).
    None,
    /// Identity computed if possible, never checked (self-describe, `skip_auth`).
    Identify,
    /// Admin, or a policy must allow the path.
    Verify,
}

/// What a route does; dispatched by `api::dispatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `GET /version`.
    Version,
    /// `GET /v1/ready`.
    Ready,
    /// `GET /v1/status`.
    Status,
    /// `GET /v1/metrics`.
    Metrics,
    /// `GET /v1/api`.
    Api,
    /// `PUT /v1/key/create/<name>`.
    KeyCreate,
    /// `PUT /v1/key/import/<name>`.
    KeyImport,
    /// `GET /v1/key/describe/<name>`.
    KeyDescribe,
    /// `GET /v1/key/list/<pattern>`.
    KeyList,
    /// `DELETE /v1/key/delete/<name>`.
    KeyDelete,
    /// `PUT /v1/key/generate/<name>`.
    KeyGenerate,
    /// `PUT /v1/key/encrypt/<name>`.
    KeyEncrypt,
    /// `PUT /v1/key/decrypt/<name>`.
    KeyDecrypt,
    /// `PUT /v1/key/hmac/<name>`.
    KeyHmac,
    /// `POST /v1/key/bulk/decrypt/<name>` (legacy, §3.2).
    KeyBulkDecrypt,
    /// `PUT /v1/key/rotate/<name>` (key versions, docs/key-versions.md).
    KeyRotate,
    /// `GET /v1/key/versions/<name>` (key versions).
    KeyVersions,
    /// `DELETE /v1/key/version/delete/<name>/<version>` (key versions, admin only).
    KeyVersionDelete,
    /// `GET /v1/policy/describe/<name>`.
    PolicyDescribe,
    /// `GET /v1/policy/read/<name>`.
    PolicyRead,
    /// `GET /v1/policy/list/<pattern>`.
    PolicyList,
    /// `PUT /v1/policy/write/<name>` (runtime policies, §3.1).
    PolicyWrite,
    /// `DELETE /v1/policy/delete/<name>` (runtime policies, §3.1).
    PolicyDelete,
    /// `GET /v1/identity/describe/<identity>`.
    IdentityDescribe,
    /// `GET /v1/identity/list/<pattern>`.
    IdentityList,
    /// `GET /v1/identity/self/describe`.
    SelfDescribe,
    /// `PUT /v1/identity/assign/<policy>/<identity>` (runtime, §3.1).
    IdentityAssign,
    /// `DELETE /v1/identity/forget/<identity>` (runtime, §3.1).
    IdentityForget,
    /// `GET /v1/log/error` (also the legacy `…/trace` spellings, §3.7).
    ErrorLog,
    /// `GET /v1/log/audit` (also the legacy `/v1/log/audit/trace`, §3.7).
    AuditLog,
}

/// One route: every property the pipeline needs, declared once.
#[derive(Debug, Clone)]
pub struct Route {
    /// Canonical method (POST is also accepted on PUT routes).
    pub method: Method,
    /// Exact path, or a subtree prefix ending in `/`.
    pub path: &'static str,
    /// Maximum request body in bytes (0: the body is never read).
    pub max_body: u64,
    /// Response deadline; `None` for the log streams.
    pub timeout: Option<Duration>,
    /// Authentication mode (after `api:` overrides).
    pub auth: Auth,
    /// Counted in the `kes_http_*` metrics.
    pub metered: bool,
    /// One audit record per request.
    pub audited: bool,
    /// Listed in `/v1/api` (the legacy bulk and trace routes are not).
    pub listed: bool,
    /// The handler.
    pub handler: Handler,
}

impl Route {
    /// Whether the route is a subtree prefix.
    pub fn is_prefix(&self) -> bool {
        self.path.ends_with('/')
    }

    /// Whether `method` is acceptable: the canonical one, or POST on a PUT route.
    pub fn accepts(&self, method: &Method) -> bool {
        method == self.method || (self.method == Method::PUT && method == Method::POST)
    }
}

const MB: u64 = 1_000_000;
const S10: Option<Duration> = Some(Duration::from_secs(10));
const S15: Option<Duration> = Some(Duration::from_secs(15));

/// Paths of the §3 legacy routes that old clients still call but that
/// `/v1/api` does not advertise.
const UNLISTED: [&str; 4] = [
    "/v1/key/bulk/decrypt/",
    "/v1/log/audit/trace",
    "/v1/log/error/trace",
    "/v1/log/log/error/trace",
];

/// The route table of the current server, in spec order, followed by the
/// routes of the original API (§3.1) that the KES reference describes:
/// runtime policy and identity administration, and the log `trace` paths.
/// Those are PUT routes like every current body route, so both the
/// original POST and PUT are accepted.
pub fn default_routes() -> Vec<Route> {
    use Handler as H;
    let r = |method: Method,
             path: &'static str,
             max_body: u64,
             timeout: Option<Duration>,
             auth: Auth,
             handler: Handler| {
        let metered = path.starts_with("/v1/key/")
            || path.starts_with("/v1/policy/")
            || path.starts_with("/v1/identity/");
        Route {
            method,
            path,
            max_body,
            timeout,
            auth,
            metered,
            audited: metered,
            listed: !UNLISTED.contains(&path),
            handler,
        }
    };
    let (get, put, del) = (Method::GET, Method::PUT, Method::DELETE);
    vec![
        r(get.clone(), "/version", 0, S10, Auth::None, H::Version),
        r(get.clone(), "/v1/ready", 0, S15, Auth::Verify, H::Ready),
        r(get.clone(), "/v1/status", 0, S15, Auth::Verify, H::Status),
        r(get.clone(), "/v1/metrics", 0, S15, Auth::Verify, H::Metrics),
        r(get.clone(), "/v1/api", 0, S10, Auth::Verify, H::Api),
        r(
            put.clone(),
            "/v1/key/create/",
            0,
            S15,
            Auth::Verify,
            H::KeyCreate,
        ),
        r(
            put.clone(),
            "/v1/key/import/",
            MB,
            S15,
            Auth::Verify,
            H::KeyImport,
        ),
        r(
            get.clone(),
            "/v1/key/describe/",
            0,
            S15,
            Auth::Verify,
            H::KeyDescribe,
        ),
        r(
            get.clone(),
            "/v1/key/list/",
            0,
            S15,
            Auth::Verify,
            H::KeyList,
        ),
        r(
            del.clone(),
            "/v1/key/delete/",
            0,
            S15,
            Auth::Verify,
            H::KeyDelete,
        ),
        r(
            put.clone(),
            "/v1/key/generate/",
            MB,
            S15,
            Auth::Verify,
            H::KeyGenerate,
        ),
        r(
            put.clone(),
            "/v1/key/encrypt/",
            MB,
            S15,
            Auth::Verify,
            H::KeyEncrypt,
        ),
        r(
            put.clone(),
            "/v1/key/decrypt/",
            MB,
            S15,
            Auth::Verify,
            H::KeyDecrypt,
        ),
        r(
            put.clone(),
            "/v1/key/hmac/",
            MB,
            S15,
            Auth::Verify,
            H::KeyHmac,
        ),
        r(
            put.clone(),
            "/v1/key/rotate/",
            0,
            S15,
            Auth::Verify,
            H::KeyRotate,
        ),
        r(
            get.clone(),
            "/v1/key/versions/",
            0,
            S15,
            Auth::Verify,
            H::KeyVersions,
        ),
        r(
            del.clone(),
            "/v1/key/version/delete/",
            0,
            S15,
            Auth::Verify,
            H::KeyVersionDelete,
        ),
        r(
            put.clone(),
            "/v1/key/bulk/decrypt/",
            1 << 20,
            S15,
            Auth::Verify,
            H::KeyBulkDecrypt,
        ),
        r(
            get.clone(),
            "/v1/policy/describe/",
            0,
            S15,
            Auth::Verify,
            H::PolicyDescribe,
        ),
        r(
            get.clone(),
            "/v1/policy/read/",
            0,
            S15,
            Auth::Verify,
            H::PolicyRead,
        ),
        r(
            get.clone(),
            "/v1/policy/list/",
            0,
            S15,
            Auth::Verify,
            H::PolicyList,
        ),
        r(
            get.clone(),
            "/v1/identity/describe/",
            0,
            S15,
            Auth::Verify,
            H::IdentityDescribe,
        ),
        r(
            get.clone(),
            "/v1/identity/list/",
            0,
            S15,
            Auth::Verify,
            H::IdentityList,
        ),
        r(
            get.clone(),
            "/v1/identity/self/describe",
            0,
            S15,
            Auth::Identify,
            H::SelfDescribe,
        ),
        r(
            get.clone(),
            "/v1/log/error",
            0,
            None,
            Auth::Verify,
            H::ErrorLog,
        ),
        r(
            get.clone(),
            "/v1/log/audit",
            0,
            None,
            Auth::Verify,
            H::AuditLog,
        ),
        r(
            put.clone(),
            "/v1/policy/write/",
            MB,
            S15,
            Auth::Verify,
            H::PolicyWrite,
        ),
        r(
            del.clone(),
            "/v1/policy/delete/",
            0,
            S15,
            Auth::Verify,
            H::PolicyDelete,
        ),
        r(
            put,
            "/v1/identity/assign/",
            0,
            S15,
            Auth::Verify,
            H::IdentityAssign,
        ),
        r(
            del,
            "/v1/identity/forget/",
            0,
            S15,
            Auth::Verify,
            H::IdentityForget,
        ),
        r(
            get.clone(),
            "/v1/log/audit/trace",
            0,
            None,
            Auth::Verify,
            H::AuditLog,
        ),
        r(
            get.clone(),
            "/v1/log/error/trace",
            0,
            None,
            Auth::Verify,
            H::ErrorLog,
        ),
        r(
            get,
            "/v1/log/log/error/trace",
            0,
            None,
            Auth::Verify,
            H::ErrorLog,
        ),
    ]
}

/// A per-route override from the `api:` config section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteOverride {
    /// Make the route callable without authentication.
    pub skip_auth: bool,
    /// Replace the route's timeout (zero keeps the default).
    pub timeout: Option<Duration>,
}

/// The outcome of matching a request path.
#[derive(Debug)]
pub enum Lookup<'r, 'p> {
    /// A route and its resource argument (empty for exact routes).
    Found(&'r Route, &'p str),
    /// A subtree root without its trailing slash: redirect there.
    Redirect(&'r Route),
    /// Nothing matches.
    NotFound,
}

/// The route table with the `api:` overrides applied.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// The default table with `overrides` applied; keys must equal a route
    /// path exactly (prefix routes with their slash), others are ignored as
    /// in Go (the config loader warns about them).
    pub fn new<'a>(overrides: impl IntoIterator<Item = (&'a str, RouteOverride)>) -> Self {
        let mut routes = default_routes();
        for (path, o) in overrides {
            if let Some(route) = routes.iter_mut().find(|r| r.path == path) {
                if o.skip_auth && route.auth != Auth::None {
                    route.auth = Auth::Identify;
                }
                if let Some(t) = o.timeout.filter(|t| !t.is_zero()) {
                    route.timeout = Some(t);
                }
            }
        }
        Self { routes }
    }

    /// Whether any route was relaxed by `skip_auth` (the TLS handshake then
    /// only requests a client certificate, §4.3).
    pub fn any_skip_auth(&self) -> bool {
        default_routes()
            .iter()
            .zip(&self.routes)
            .any(|(d, r)| d.auth == Auth::Verify && r.auth != Auth::Verify)
    }

    /// All routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Matches a decoded, canonical path.
    pub fn lookup<'r, 'p>(&'r self, path: &'p str) -> Lookup<'r, 'p> {
        for route in &self.routes {
            if route.is_prefix() {
                if let Some(resource) = path.strip_prefix(route.path) {
                    return Lookup::Found(route, resource);
                }
                if route.path.strip_suffix('/') == Some(path) {
                    return Lookup::Redirect(route);
                }
            } else if route.path == path {
                return Lookup::Found(route, "");
            }
        }
        Lookup::NotFound
    }
}

/// A request path that cannot be routed safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request path '{0}': empty, '.' and '..' segments are not allowed")]
pub struct NonCanonicalPath(pub String);

/// Percent-decodes `raw` and checks that the result is canonical: it starts
/// with `/` and has no empty, `.` or `..` segment (a single trailing `/` is
/// fine, it marks a subtree root with an empty argument).
pub fn decode_path(raw: &str) -> Result<Cow<'_, str>, NonCanonicalPath> {
    // Nearly every path has no escape: skip the byte-wise decoder then (a
    // `&str` is UTF-8 already).
    let decoded = if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
    } else {
        Cow::Borrowed(raw)
    };
    let Some(rest) = decoded.strip_prefix('/') else {
        return Err(NonCanonicalPath(decoded.into_owned()));
    };
    let body = rest.strip_suffix('/').unwrap_or(rest);
    if !rest.is_empty()
        && body
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(NonCanonicalPath(decoded.into_owned()));
    }
    Ok(decoded)
}

/// The longest `continue_at` query value accepted, in bytes: more than a
/// key name (80) because remote key stores may list longer names than the
/// API can address, and such a name may be where a page ends.
pub const MAX_CONTINUE_AT: usize = 1024;

/// The `continue_at` value of a key-list query (docs/compat.md) (empty when absent): given at
/// most once, percent-decoded to non-empty UTF-8 of at most
/// [`MAX_CONTINUE_AT`] bytes without control characters, and starting with
/// the pattern's `prefix` (a page's `continue_at` always does).
pub fn decode_continue_at(query: Option<&str>, prefix: &str) -> Result<String, Error> {
    let bad = |reason: String| Error::BadQuery {
        param: CONTINUE_AT_PARAM,
        reason,
    };
    let mut found: Option<String> = None;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode_str(key).decode_utf8().ok().as_deref() != Some(CONTINUE_AT_PARAM) {
            continue;
        }
        if found.is_some() {
            return Err(bad("given more than once".into()));
        }
        let value = percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| bad("not UTF-8 after percent-decoding".into()))?;
        if value.is_empty() {
            return Err(bad("empty; omit it to list from the beginning".into()));
        }
        if value.len() > MAX_CONTINUE_AT {
            return Err(bad(format!(
                "{} bytes long, more than {MAX_CONTINUE_AT}",
                value.len()
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(bad("contains a control character".into()));
        }
        if !value.starts_with(prefix) {
            return Err(bad(format!(
                "'{value}' does not start with the pattern's prefix '{prefix}'"
            )));
        }
        found = Some(value.into_owned());
    }
    Ok(found.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_rules() {
        let t = RouteTable::new([]);
        assert!(
            matches!(t.lookup("/version"), Lookup::Found(r, "") if r.handler == Handler::Version)
        );
        assert!(
            matches!(t.lookup("/v1/key/list"), Lookup::Redirect(r) if r.path == "/v1/key/list/")
        );
        assert!(matches!(t.lookup("/v1/key/list/"), Lookup::Found(_, "")));
        assert!(matches!(
            t.lookup("/v1/key/create/a/b"),
            Lookup::Found(_, "a/b")
        ));
        assert!(matches!(t.lookup("/v1/key"), Lookup::NotFound));
        assert!(matches!(t.lookup("/version/"), Lookup::NotFound));
        assert!(
            matches!(t.lookup("/v1/identity/self/describe"), Lookup::Found(r, _) if r.handler == Handler::SelfDescribe)
        );
        assert!(
            matches!(t.lookup("/v1/key/bulk/decrypt/k"), Lookup::Found(r, "k") if r.handler == Handler::KeyBulkDecrypt)
        );
        assert!(
            matches!(t.lookup("/v1/identity/assign/p/id"), Lookup::Found(r, "p/id") if r.handler == Handler::IdentityAssign)
        );
        assert!(
            matches!(t.lookup("/v1/log/log/error/trace"), Lookup::Found(r, "") if r.handler == Handler::ErrorLog && !r.listed)
        );
        assert!(
            matches!(t.lookup("/v1/log/audit/trace"), Lookup::Found(r, "") if r.handler == Handler::AuditLog && r.timeout.is_none())
        );
        assert!(matches!(t.lookup("/v1/policy/write"), Lookup::Redirect(_)));
    }

    #[test]
    fn canonical_paths() {
        assert_eq!(decode_path("/v1/key/create/a").unwrap(), "/v1/key/create/a");
        assert_eq!(decode_path("/v1/key/list/").unwrap(), "/v1/key/list/");
        assert_eq!(decode_path("/").unwrap(), "/");
        assert_eq!(
            decode_path("/v1/key/create/a%2Fb").unwrap(),
            "/v1/key/create/a/b"
        );
        for bad in [
            "/v1//key",
            "/v1/./key",
            "/v1/../key",
            "/v1/key/create/..",
            "/v1/key/create/.",
            "/v1/key/create/%2E%2E",
            "/v1/key/create%2F%2Fx",
            "v1/key",
            "/v1/key/list//",
        ] {
            assert!(decode_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides() {
        let t = RouteTable::new([
            (
                "/v1/ready",
                RouteOverride {
                    skip_auth: true,
                    timeout: Some(Duration::from_secs(3)),
                },
            ),
            ("/v1/nope", RouteOverride::default()),
        ]);
        let ready = t.routes().iter().find(|r| r.path == "/v1/ready").unwrap();
        assert_eq!(ready.auth, Auth::Identify);
        assert_eq!(ready.timeout, Some(Duration::from_secs(3)));
        assert!(t.any_skip_auth());
        assert!(!RouteTable::new([]).any_skip_auth());
    }
}
