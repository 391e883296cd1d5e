//! FAKE of the Fortanix DSM (SDKMS) REST API, built from the published API
//! (the `sdkms` Python client's paths and models, keystores.md §9), for
//! tests only; no runnable DSM exists outside Fortanix's service.
//!
//! Implements over HTTPS: `GET /sys/v1/health` (204),
//! `POST /sys/v1/session/auth` (`Authorization: Basic <API key>` →
//! `{"token_type", "expires_in", "access_token", "entity_id"}`, 401 plain
//! text otherwise), `POST /sys/v1/session/terminate`, and with a session
//! token: `PUT /crypto/v1/keys` (import; 201, 409 JSON
//! `{"code", "message": "sobject already exists"}`),
//! `POST /crypto/v1/keys/export` and `POST /crypto/v1/keys/info` by name
//! (404 plain text `sobject does not exist`), `DELETE /crypto/v1/keys/<kid>`
//! (204) and `GET /crypto/v1/keys?sort=name:asc&limit=&start=` (a JSON
//! array in name order after the exclusive `start`, at most `limit`, capped
//! by the fake's page size; empty past the end). Values must be base64, as
//! the API requires.
//!
//! Test hooks: short session lifetimes, [`FakeFortanix::expire_tokens`],
//! [`FakeFortanix::fail_next`] (503 answers), objects of other apps
//! ([`FakeFortanix::insert_raw`]), counters.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::FortanixOptions;
use crate::testkit::fake::{
    self, FakeAppliance, FakePki, FakeRequest, FakeResponse, percent_decode, random_hex,
};

/// The settings of a [`FakeFortanix`].
#[derive(Debug, Clone)]
pub struct FortanixFakeConfig {
    /// The app id of the one valid API key.
    pub app_id: String,
    /// The app's secret (the API key is base64 of `app_id:secret`).
    pub secret: String,
    /// How long a session is valid (reported as whole seconds, at least 1).
    pub session_lifetime: Duration,
    /// Most objects per listing page, whatever `limit` asks for.
    pub max_page: usize,
}

impl Default for FortanixFakeConfig {
    fn default() -> Self {
        Self {
            app_id: "4f6b2c1e-8d3a-4e5f-9a0b-1c2d3e4f5a6b".into(),
            secret: "kes-test-app-secret-7d1f".into(),
            session_lifetime: Duration::from_secs(600),
            max_page: 100,
        }
    }
}

impl FortanixFakeConfig {
    /// The API key of the app: base64 of `app_id:secret`.
    pub fn api_key(&self) -> String {
        STANDARD.encode(format!("{}:{}", self.app_id, self.secret))
    }
}

/// Counters of what the fake saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FortanixStats {
    /// Successful session authentications.
    pub logins: u64,
    /// Refused authentications (wrong API key).
    pub failed_logins: u64,
    /// Calls rejected with 401 for a missing, unknown or expired session.
    pub rejected_tokens: u64,
    /// Listing pages served.
    pub list_pages: u64,
    /// 503 answers injected by [`FakeFortanix::fail_next`].
    pub injected_failures: u64,
}

#[derive(Debug)]
struct Object {
    kid: String,
    /// The value as sent: base64.
    value: String,
    group_id: Option<String>,
    obj_type: String,
    key_ops: Value,
    enabled: bool,
}

#[derive(Debug)]
struct State {
    cfg: FortanixFakeConfig,
    sessions: HashMap<String, Instant>,
    /// By name.
    objects: BTreeMap<String, Object>,
    fail_next: u32,
    stats: FortanixStats,
}

/// A running fake Fortanix DSM; stops on drop.
pub struct FakeFortanix {
    app: FakeAppliance<State>,
}

impl std::fmt::Debug for FakeFortanix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeFortanix")
            .field("endpoint", &self.app.endpoint())
            .finish_non_exhaustive()
    }
}

impl FakeFortanix {
    /// Starts a fake with its own PKI on `127.0.0.1:0`.
    pub async fn start(cfg: FortanixFakeConfig) -> std::io::Result<Self> {
        let state = State {
            cfg,
            sessions: HashMap::new(),
            objects: BTreeMap::new(),
            fail_next: 0,
            stats: FortanixStats::default(),
        };
        let app = FakeAppliance::start(state, handle).await?;
        Ok(Self { app })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        self.app.endpoint()
    }

    /// The PKI whose CA signed the fake's certificate.
    pub fn pki(&self) -> &FakePki {
        self.app.pki()
    }

    /// Options that connect to this fake (the right API key, the fake's CA,
    /// no group).
    pub fn options(&self) -> FortanixOptions {
        let st = self.app.state();
        FortanixOptions {
            endpoint: self.endpoint(),
            group_id: None,
            api_key: Zeroizing::new(st.cfg.api_key()),
            ca: Some(self.app.pki().ca_file().to_path_buf()),
        }
    }

    /// Invalidates every session issued so far (as if they expired).
    pub fn expire_tokens(&self) {
        self.app.state().sessions.clear();
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: u32) {
        self.app.state().fail_next = n;
    }

    /// Stores an object directly (another app's, or one Go KES wrote),
    /// `value` verbatim (base64, as the API holds it).
    pub fn insert_raw(&self, name: &str, obj_type: &str, value: &str) {
        self.app.state().objects.insert(
            name.to_owned(),
            Object {
                kid: uuid(),
                value: value.to_owned(),
                group_id: None,
                obj_type: obj_type.to_owned(),
                key_ops: json!(["EXPORT", "APPMANAGEABLE"]),
                enabled: true,
            },
        );
    }

    /// The stored value (base64) and group of `name`, verbatim.
    pub fn raw_object(&self, name: &str) -> Option<(String, Option<String>)> {
        self.app
            .state()
            .objects
            .get(name)
            .map(|o| (o.value.clone(), o.group_id.clone()))
    }

    /// The names of all stored objects, sorted.
    pub fn secret_names(&self) -> Vec<String> {
        self.app.state().objects.keys().cloned().collect()
    }

    /// What the fake saw so far.
    pub fn stats(&self) -> FortanixStats {
        self.app.state().stats
    }
}

/// A random UUID-shaped id.
fn uuid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn text(status: StatusCode, message: &str) -> FakeResponse {
    fake::respond(status, "text/plain", message.to_owned())
}

fn not_found() -> FakeResponse {
    text(StatusCode::NOT_FOUND, "sobject does not exist")
}

/// The `KeyObject` of `name`, with its value when `export`.
fn key_object(st: &State, name: &str, o: &Object, export: bool) -> Value {
    let mut v = json!({
        "name": name,
        "kid": o.kid,
        "acct_id": "a1b2c3d4-0000-4000-8000-000000000001",
        "group_id": o.group_id.clone().unwrap_or_else(|| "default-group".into()),
        "creator": {"app": st.cfg.app_id},
        "obj_type": o.obj_type,
        "key_ops": o.key_ops,
        "origin": "External",
        "enabled": o.enabled,
        "compliant_with_policies": true,
        "never_exportable": false,
        "state": "Active",
        "created_at": "20240101T000000Z",
        "lastused_at": "19700101T000000Z",
    });
    if export && let Some(obj) = v.as_object_mut() {
        obj.insert("value".into(), Value::String(o.value.clone()));
    }
    v
}

/// Serves one request.
fn handle(st: &mut State, req: FakeRequest) -> FakeResponse {
    if st.fail_next > 0 {
        st.fail_next -= 1;
        st.stats.injected_failures += 1;
        return text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    let auth = req
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match (&req.method, req.path.as_str()) {
        (&Method::GET, "/sys/v1/health") => return fake::respond(StatusCode::NO_CONTENT, "", ""),
        (&Method::POST, "/sys/v1/session/auth") => return authenticate(st, &auth),
        _ => {}
    }
    // Everything else needs a live session.
    let now = Instant::now();
    st.sessions.retain(|_, exp| *exp > now);
    let Some(token) = auth
        .strip_prefix("Bearer ")
        .filter(|t| st.sessions.contains_key(*t))
        .map(str::to_owned)
    else {
        st.stats.rejected_tokens += 1;
        return text(StatusCode::UNAUTHORIZED, "Invalid or expired session token");
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    match (&req.method, req.path.as_str()) {
        (&Method::POST, "/sys/v1/session/terminate") => {
            st.sessions.remove(&token);
            fake::respond(StatusCode::NO_CONTENT, "", "")
        }
        (&Method::PUT, "/crypto/v1/keys") => import(st, &body),
        (&Method::GET, "/crypto/v1/keys") => list(st, &req),
        (&Method::POST, "/crypto/v1/keys/export") => by_name(st, &body, true),
        (&Method::POST, "/crypto/v1/keys/info") => by_name(st, &body, false),
        (&Method::DELETE, path) => match path.strip_prefix("/crypto/v1/keys/") {
            Some(kid) => delete(st, kid),
            None => text(StatusCode::NOT_FOUND, "Not found"),
        },
        _ => text(StatusCode::NOT_FOUND, "Not found"),
    }
}

fn authenticate(st: &mut State, auth: &str) -> FakeResponse {
    if auth.strip_prefix("Basic ") != Some(st.cfg.api_key().as_str()) {
        st.stats.failed_logins += 1;
        return text(
            StatusCode::UNAUTHORIZED,
            "Invalid API key or app credentials",
        );
    }
    st.stats.logins += 1;
    let token = random_hex(32);
    let lifetime = st.cfg.session_lifetime.max(Duration::from_secs(1));
    st.sessions.insert(token.clone(), Instant::now() + lifetime);
    fake::json(
        StatusCode::OK,
        &json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "access_token": token,
            "entity_id": st.cfg.app_id,
        }),
    )
}

fn import(st: &mut State, body: &Value) -> FakeResponse {
    let field = |k: &str| body.get(k).and_then(Value::as_str);
    let Some(name) = field("name").filter(|n| !n.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "Missing required field `name`");
    };
    let Some(obj_type) = field("obj_type") else {
        return text(StatusCode::BAD_REQUEST, "Missing required field `obj_type`");
    };
    let Some(value) = field("value").filter(|v| STANDARD.decode(v).is_ok()) else {
        return text(StatusCode::BAD_REQUEST, "`value` must be base64");
    };
    if st.objects.contains_key(name) {
        return fake::json(
            StatusCode::CONFLICT,
            &json!({"code": "Conflict", "message": "sobject already exists"}),
        );
    }
    let object = Object {
        kid: uuid(),
        value: value.to_owned(),
        group_id: field("group_id").map(str::to_owned),
        obj_type: obj_type.to_owned(),
        key_ops: body.get("key_ops").cloned().unwrap_or(json!([])),
        enabled: body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    };
    let answer = key_object(st, name, &object, false);
    st.objects.insert(name.to_owned(), object);
    fake::json(StatusCode::CREATED, &answer)
}

fn by_name(st: &mut State, body: &Value, export: bool) -> FakeResponse {
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return text(StatusCode::BAD_REQUEST, "Missing required field `name`");
    };
    let Some(o) = st.objects.get(name) else {
        return not_found();
    };
    let exportable = o
        .key_ops
        .as_array()
        .is_some_and(|ops| ops.iter().any(|op| op == "EXPORT"));
    if export && !exportable {
        return text(StatusCode::BAD_REQUEST, "sobject is not exportable");
    }
    fake::json(StatusCode::OK, &key_object(st, name, o, export))
}

fn delete(st: &mut State, kid: &str) -> FakeResponse {
    let Some(name) = st
        .objects
        .iter()
        .find(|(_, o)| o.kid == kid)
        .map(|(n, _)| n.clone())
    else {
        return not_found();
    };
    st.objects.remove(&name);
    fake::respond(StatusCode::NO_CONTENT, "", "")
}

fn list(st: &mut State, req: &FakeRequest) -> FakeResponse {
    // Query values arrive percent-encoded (the Python client sends
    // `name%3Aasc`).
    let param = |k: &str| req.query_param(k).map(percent_decode);
    if param("sort") != Some(Some("name:asc".to_owned())) {
        return text(
            StatusCode::BAD_REQUEST,
            "the fake lists only with sort=name:asc",
        );
    }
    let limit = match param("limit").map(|l| l.and_then(|l| l.parse::<usize>().ok())) {
        None => 100,
        Some(Some(n)) => n,
        Some(None) => return text(StatusCode::BAD_REQUEST, "invalid limit"),
    }
    .min(st.cfg.max_page);
    let start = match param("start") {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => return text(StatusCode::BAD_REQUEST, "invalid start"),
    };
    st.stats.list_pages += 1;
    let lower = match &start {
        Some(s) => Bound::Excluded(s.as_str()),
        None => Bound::Unbounded,
    };
    let page: Vec<Value> = st
        .objects
        .range::<str, _>((lower, Bound::Unbounded))
        .take(limit)
        .map(|(n, o)| key_object(st, n, o, false))
        .collect();
    fake::json(StatusCode::OK, &Value::Array(page))
}
