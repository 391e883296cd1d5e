//! FAKE of the Thales CipherTrust Manager (Gemalto KeySecure) REST API,
//! built from its published API docs, for tests only.
//!
//! Implements the calls of keystores.md §7 over HTTPS: the refresh-token →
//! JWT exchange `POST /api/v1/auth/tokens` (JWTs that expire after a
//! configurable lifetime, domain scoping), and the vault secrets calls
//! `POST /api/v1/vault/secrets` (201, 409 on duplicates),
//! `POST /api/v1/vault/secrets/<name>/export?type=name` (200, 404),
//! `DELETE /api/v1/vault/secrets/<name>?type=name` (204, 404) and
//! `GET /api/v1/vault/secrets?limit=&skip=` (paging with `total`, in
//! creation order), plus `GET /` for the status probe. Errors are JSON
//! `{"code": N, "codeDesc": ".."}`; the code numbers are not public and are
//! made up here.
//!
//! Test hooks: short JWT lifetimes, [`FakeCipherTrust::expire_tokens`],
//! [`FakeCipherTrust::fail_next`] (503 answers), non-KES secrets, counters.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::KeySecureOptions;
use crate::testkit::fake::{self, FakeAppliance, FakePki, FakeRequest, FakeResponse, random_hex};

/// The settings of a [`FakeCipherTrust`].
#[derive(Debug, Clone)]
pub struct CipherTrustFakeConfig {
    /// The one valid refresh token.
    pub refresh_token: String,
    /// The domain the refresh token belongs to (empty = root).
    pub domain: String,
    /// How long a JWT is valid (reported as whole seconds, at least 1).
    pub jwt_lifetime: Duration,
    /// Page size when a listing does not say `limit`.
    pub default_limit: usize,
}

impl Default for CipherTrustFakeConfig {
    fn default() -> Self {
        Self {
            refresh_token: "kes-test-refresh-token-5c3b0d9e".into(),
            domain: String::new(),
            jwt_lifetime: Duration::from_secs(300),
            default_limit: 10,
        }
    }
}

/// Counters of what the fake saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CipherTrustStats {
    /// Successful token exchanges.
    pub exchanges: u64,
    /// Rejected token exchanges.
    pub failed_exchanges: u64,
    /// Calls rejected with 401 for a missing, unknown or expired JWT.
    pub rejected_tokens: u64,
    /// Listing pages served.
    pub list_pages: u64,
    /// 503 answers injected by [`FakeCipherTrust::fail_next`].
    pub injected_failures: u64,
}

#[derive(Debug)]
struct Secret {
    id: String,
    name: String,
    material: String,
    data_type: String,
}

#[derive(Debug)]
struct State {
    cfg: CipherTrustFakeConfig,
    jwts: HashMap<String, Instant>,
    /// In creation order.
    secrets: Vec<Secret>,
    fail_next: u32,
    stats: CipherTrustStats,
}

/// A running fake CipherTrust Manager; stops on drop.
pub struct FakeCipherTrust {
    app: FakeAppliance<State>,
}

impl std::fmt::Debug for FakeCipherTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCipherTrust")
            .field("endpoint", &self.app.endpoint())
            .finish_non_exhaustive()
    }
}

impl FakeCipherTrust {
    /// Starts a fake with its own PKI on `127.0.0.1:0`.
    pub async fn start(cfg: CipherTrustFakeConfig) -> std::io::Result<Self> {
        let state = State {
            cfg,
            jwts: HashMap::new(),
            secrets: Vec::new(),
            fail_next: 0,
            stats: CipherTrustStats::default(),
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

    /// Options that connect to this fake (right token and domain, the
    /// fake's CA).
    pub fn options(&self) -> KeySecureOptions {
        let st = self.app.state();
        KeySecureOptions {
            endpoint: self.endpoint(),
            token: Zeroizing::new(st.cfg.refresh_token.clone()),
            domain: st.cfg.domain.clone(),
            ca: Some(self.app.pki().ca_file().to_path_buf()),
        }
    }

    /// Invalidates every JWT issued so far (as if they expired).
    pub fn expire_tokens(&self) {
        self.app.state().jwts.clear();
    }

    /// Answers the next `n` requests with 503.
    pub fn fail_next(&self, n: u32) {
        self.app.state().fail_next = n;
    }

    /// Stores a secret directly (another application's secret, or one Go
    /// KES wrote), `material` verbatim.
    pub fn insert_raw(&self, name: &str, data_type: &str, material: &str) {
        self.app.state().secrets.push(Secret {
            id: random_hex(32),
            name: name.to_owned(),
            material: material.to_owned(),
            data_type: data_type.to_owned(),
        });
    }

    /// The stored material of `name`, verbatim.
    pub fn raw_secret(&self, name: &str) -> Option<String> {
        self.app
            .state()
            .secrets
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.material.clone())
    }

    /// The names of all stored secrets, in creation order.
    pub fn secret_names(&self) -> Vec<String> {
        self.app
            .state()
            .secrets
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// What the fake saw so far.
    pub fn stats(&self) -> CipherTrustStats {
        self.app.state().stats
    }
}

fn error(status: StatusCode, code: i64, desc: &str) -> FakeResponse {
    fake::json(status, &json!({ "code": code, "codeDesc": desc }))
}

fn not_found() -> FakeResponse {
    error(
        StatusCode::NOT_FOUND,
        5,
        "NCERRResourceNotFound: Resource not found",
    )
}

fn resource(s: &Secret, with_material: bool) -> Value {
    let mut v = json!({
        "id": s.id,
        "uri": format!("kylo:kylo:vault:secrets:{}-{}", s.name, s.id),
        "account": "kylo:kylo:admin:accounts:kylo",
        "application": "ncryptify:gemalto:admin:apps:kylo",
        "devAccount": "ncryptify:gemalto:admin:accounts:gemalto",
        "name": s.name,
        "dataType": s.data_type,
        "createdAt": "2024-01-01T00:00:00.000000Z",
    });
    if with_material && let Some(obj) = v.as_object_mut() {
        obj.insert("material".into(), Value::String(s.material.clone()));
    }
    v
}

/// Serves one request.
fn handle(st: &mut State, req: FakeRequest) -> FakeResponse {
    if st.fail_next > 0 {
        st.fail_next -= 1;
        st.stats.injected_failures += 1;
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            1,
            "NCERRServiceUnavailable: try again later",
        );
    }
    if req.path == "/" && req.method == Method::GET {
        return fake::respond(
            StatusCode::OK,
            "text/html",
            "<html><body>CipherTrust Manager (test fake)</body></html>",
        );
    }
    if req.path == "/api/v1/auth/tokens" {
        if req.method != Method::POST {
            return error(StatusCode::METHOD_NOT_ALLOWED, 3, "NCERRMethodNotAllowed");
        }
        return exchange(st, &req);
    }
    let Some(rest) = req.path.strip_prefix("/api/v1/vault/secrets") else {
        return not_found();
    };
    // Every secrets call needs a valid JWT.
    let now = Instant::now();
    st.jwts.retain(|_, exp| *exp > now);
    let auth = req
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let valid = auth
        .strip_prefix("Bearer ")
        .is_some_and(|jwt| st.jwts.contains_key(jwt));
    if !valid {
        st.stats.rejected_tokens += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            10,
            "NCERRUnauthorized: Token is expired or invalid",
        );
    }
    let by_name = req.query_param("type") == Some("name");
    match (&req.method, rest) {
        (&Method::POST, "" | "/") => create(st, &req),
        (&Method::GET, "" | "/") => list(st, &req),
        (&Method::POST, r) if r.ends_with("/export") => {
            let key = r.trim_start_matches('/').trim_end_matches("/export");
            match find(st, key, by_name) {
                Some(i) => st.secrets.get(i).map_or_else(not_found, |s| {
                    fake::json(StatusCode::OK, &resource(s, true))
                }),
                None => not_found(),
            }
        }
        (&Method::DELETE, r) => {
            let key = r.trim_start_matches('/');
            match find(st, key, by_name) {
                Some(i) => {
                    st.secrets.remove(i);
                    fake::respond(StatusCode::NO_CONTENT, "application/json", "")
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

/// The index of the secret `key` (a name with `type=name`, else an id).
fn find(st: &State, key: &str, by_name: bool) -> Option<usize> {
    if key.is_empty() || key.contains('/') {
        return None;
    }
    st.secrets
        .iter()
        .position(|s| if by_name { s.name == key } else { s.id == key })
}

fn exchange(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let grant = body.get("grant_type").and_then(Value::as_str).unwrap_or("");
    if grant != "refresh_token" {
        st.stats.failed_exchanges += 1;
        return error(
            StatusCode::BAD_REQUEST,
            15,
            "NCERRInvalidParamValue: unsupported grant_type",
        );
    }
    let token = body.get("refresh_token").and_then(Value::as_str);
    let domain = body.get("domain").and_then(Value::as_str).unwrap_or("");
    if token != Some(st.cfg.refresh_token.as_str()) {
        st.stats.failed_exchanges += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            10,
            "NCERRUnauthorized: Invalid refresh token",
        );
    }
    if domain != st.cfg.domain {
        st.stats.failed_exchanges += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            10,
            "NCERRUnauthorized: Refresh token not valid in this domain",
        );
    }
    st.stats.exchanges += 1;
    let jwt = format!("eyJhbGciOiJIUzI1NiJ9.{}.{}", random_hex(24), random_hex(16));
    st.jwts
        .insert(jwt.clone(), Instant::now() + st.cfg.jwt_lifetime);
    let secs = st.cfg.jwt_lifetime.as_secs_f64().ceil().max(1.0);
    json_ok(&json!({
        "jwt": jwt,
        "duration": secs as u64,
        "token_type": "Bearer",
        "client_id": "3b5d7e2f-0c1a-4d8e-9f60-7a1b2c3d4e5f",
        "refresh_token_id": "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
    }))
}

fn json_ok(v: &Value) -> FakeResponse {
    fake::json(StatusCode::OK, v)
}

fn create(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                15,
                "NCERRInvalidParamValue: body must be a JSON object",
            );
        }
    };
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    let data_type = body.get("dataType").and_then(Value::as_str).unwrap_or("");
    let Some(material) = body.get("material").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            15,
            "NCERRInvalidParamValue: material is required",
        );
    };
    if name.is_empty() || !matches!(data_type, "seed" | "blob" | "password") {
        return error(
            StatusCode::BAD_REQUEST,
            15,
            "NCERRInvalidParamValue: name and dataType (seed, blob, password) are required",
        );
    }
    if st.secrets.iter().any(|s| s.name == name) {
        return error(
            StatusCode::CONFLICT,
            4,
            "NCERRConflict: Resource already exists",
        );
    }
    let secret = Secret {
        id: random_hex(32),
        name: name.to_owned(),
        material: material.to_owned(),
        data_type: data_type.to_owned(),
    };
    let answer = resource(&secret, false);
    st.secrets.push(secret);
    fake::json(StatusCode::CREATED, &answer)
}

fn list(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let parse = |key: &str| req.query_param(key).map(str::parse::<usize>);
    let limit = match parse("limit") {
        None => st.cfg.default_limit,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return error(StatusCode::BAD_REQUEST, 15, "NCERRInvalidParamValue: limit");
        }
    };
    let skip = match parse("skip") {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return error(StatusCode::BAD_REQUEST, 15, "NCERRInvalidParamValue: skip");
        }
    };
    st.stats.list_pages += 1;
    let resources: Vec<Value> = st
        .secrets
        .iter()
        .skip(skip)
        .take(limit)
        .map(|s| resource(s, false))
        .collect();
    json_ok(&json!({
        "skip": skip,
        "limit": limit,
        "total": st.secrets.len(),
        "resources": resources,
    }))
}
