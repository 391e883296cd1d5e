//! FAKE of the Entrust KeyControl REST API, built from its published API
//! docs, for tests only.
//!
//! Implements the Secrets Vault calls of keystores.md §8 over HTTPS: `Login`,
//! `Renew`, `GetBox`, `CreateSecret`, `CheckoutSecret`, `DeleteSecret` and
//! `ListSecretIds` (all `POST`, JSON bodies, trailing slashes), the
//! `X-Vault-Auth` session header with tokens that expire, the two error
//! bodies KES relies on (`409 {"error":"Secret already exists"}`,
//! `404 {"error":"Secret not found"}`) and `next_token` paging as base64 JSON
//! `{"box_id", "next_ctx"}`. Where the vendor's exact answer is not public
//! (wrong password, unknown vault or box, invalid token) the fake answers
//! 401 / 404 with an `{"error": ..}` body, as its other errors do.
//!
//! Test hooks: short token lifetimes, [`FakeKeyControl::expire_tokens`],
//! [`FakeKeyControl::fail_next`] (503 answers), expired secrets, and counters.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::KeyControlOptions;
use crate::testkit::fake::{self, FakeAppliance, FakePki, FakeRequest, FakeResponse, random_hex};

/// The settings of a [`FakeKeyControl`].
#[derive(Debug, Clone)]
pub struct KeyControlFakeConfig {
    /// The vault UUID accepted by `Login/<vault_id>/`.
    pub vault_id: String,
    /// The box id.
    pub box_id: String,
    /// The box name (accepted wherever a box id is).
    pub box_name: String,
    /// The one user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// How long an access token is valid.
    pub token_lifetime: Duration,
    /// `max_items` when a listing does not say.
    pub default_page: usize,
}

impl Default for KeyControlFakeConfig {
    fn default() -> Self {
        Self {
            vault_id: "e30497c1-bff7-4e81-beb7-fb35c4b7410c".into(),
            box_id: "6c1f7e2a-57c0-4b7a-9d0e-0e0f6c1a2b3c".into(),
            box_name: "tenant-1".into(),
            username: "kes".into(),
            password: "kes-test-password".into(),
            token_lifetime: Duration::from_secs(300),
            default_page: 256,
        }
    }
}

/// One stored secret.
#[derive(Debug, Clone)]
struct Secret {
    id: String,
    data: String,
    expired: bool,
}

/// Counters of what the fake saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyControlStats {
    /// Successful logins.
    pub logins: u64,
    /// Failed logins (wrong user or password).
    pub failed_logins: u64,
    /// Successful renewals.
    pub renewals: u64,
    /// Calls rejected with 401 for a missing, unknown or expired token.
    pub rejected_tokens: u64,
    /// 503 answers injected by [`FakeKeyControl::fail_next`].
    pub injected_failures: u64,
}

#[derive(Debug)]
struct State {
    cfg: KeyControlFakeConfig,
    tokens: HashMap<String, Instant>,
    secrets: BTreeMap<String, Secret>,
    fail_next: u32,
    stats: KeyControlStats,
}

/// A running fake KeyControl appliance; stops on drop.
pub struct FakeKeyControl {
    app: FakeAppliance<State>,
}

impl std::fmt::Debug for FakeKeyControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKeyControl")
            .field("endpoint", &self.app.endpoint())
            .finish_non_exhaustive()
    }
}

impl FakeKeyControl {
    /// Starts a fake with its own PKI on `127.0.0.1:0`.
    pub async fn start(cfg: KeyControlFakeConfig) -> std::io::Result<Self> {
        let state = State {
            cfg,
            tokens: HashMap::new(),
            secrets: BTreeMap::new(),
            fail_next: 0,
            stats: KeyControlStats::default(),
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

    /// Options that connect to this fake (right credentials, box by name,
    /// the fake's CA).
    pub fn options(&self) -> KeyControlOptions {
        let st = self.app.state();
        KeyControlOptions {
            endpoint: self.endpoint(),
            vault_id: st.cfg.vault_id.clone(),
            box_id: st.cfg.box_name.clone(),
            username: st.cfg.username.clone(),
            password: Zeroizing::new(st.cfg.password.clone()),
            ca: Some(self.app.pki().ca_file().to_path_buf()),
        }
    }

    /// Invalidates every access token issued so far (as if they expired).
    pub fn expire_tokens(&self) {
        self.app.state().tokens.clear();
    }

    /// Answers the next `n` requests with `503 {"error":"Service unavailable"}`.
    pub fn fail_next(&self, n: u32) {
        self.app.state().fail_next = n;
    }

    /// Marks a stored secret as expired (listings flag it, checkout fails).
    pub fn expire_secret(&self, name: &str) -> bool {
        match self.app.state().secrets.get_mut(name) {
            Some(s) => {
                s.expired = true;
                true
            }
            None => false,
        }
    }

    /// Stores a secret directly, `secret_data` verbatim (as another client
    /// such as Go KES would have written it).
    pub fn insert_raw(&self, name: &str, secret_data: &str) {
        self.app.state().secrets.insert(
            name.to_owned(),
            Secret {
                id: random_hex(16),
                data: secret_data.to_owned(),
                expired: false,
            },
        );
    }

    /// The stored `secret_data` of `name`, verbatim.
    pub fn raw_secret(&self, name: &str) -> Option<String> {
        self.app.state().secrets.get(name).map(|s| s.data.clone())
    }

    /// The names of all stored secrets, sorted.
    pub fn secret_names(&self) -> Vec<String> {
        self.app.state().secrets.keys().cloned().collect()
    }

    /// What the fake saw so far.
    pub fn stats(&self) -> KeyControlStats {
        self.app.state().stats
    }
}

fn error(status: StatusCode, message: &str) -> FakeResponse {
    fake::json(status, &json!({ "error": message }))
}

fn ok(value: &Value) -> FakeResponse {
    fake::json(StatusCode::OK, value)
}

/// Serves one request.
fn handle(st: &mut State, req: FakeRequest) -> FakeResponse {
    if st.fail_next > 0 {
        st.fail_next -= 1;
        st.stats.injected_failures += 1;
        return error(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable");
    }
    let Some(call) = req.path.strip_prefix("/vault/1.0/") else {
        return error(StatusCode::NOT_FOUND, "Not found");
    };
    if req.method != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    if let Some(rest) = call.strip_prefix("Login/") {
        let Some(vault) = rest.strip_suffix('/') else {
            return error(StatusCode::NOT_FOUND, "Not found");
        };
        return login(st, vault, &req);
    }
    // Every other call needs a valid session.
    let token = req
        .headers
        .get("x-vault-auth")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let now = Instant::now();
    st.tokens.retain(|_, exp| *exp > now);
    if token.is_empty() {
        st.stats.rejected_tokens += 1;
        return error(StatusCode::UNAUTHORIZED, "Missing X-Vault-Auth header");
    }
    if !st.tokens.contains_key(&token) {
        st.stats.rejected_tokens += 1;
        return error(StatusCode::UNAUTHORIZED, "Invalid or expired access token");
    }
    if call == "Renew/" {
        st.stats.renewals += 1;
        return ok(&issue_token(st));
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "Request body must be a JSON object",
            );
        }
    };
    let box_id = body.get("box_id").and_then(Value::as_str).unwrap_or("");
    if box_id != st.cfg.box_id && box_id != st.cfg.box_name {
        return error(StatusCode::NOT_FOUND, "Box not found");
    }
    match call {
        "GetBox/" => ok(&json!({
            "box_id": st.cfg.box_id,
            "name": st.cfg.box_name,
            "description": "KES test box",
            "secret_duration": "",
        })),
        "CreateSecret/" => create(st, &body),
        "CheckoutSecret/" => checkout(st, &body),
        "DeleteSecret/" => delete(st, &body),
        "ListSecretIds/" => list(st, &body),
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// A fresh token and its expiry, as the Login/Renew answer.
fn issue_token(st: &mut State) -> Value {
    let token = random_hex(24);
    st.tokens
        .insert(token.clone(), Instant::now() + st.cfg.token_lifetime);
    let lifetime = time::Duration::try_from(st.cfg.token_lifetime).unwrap_or(time::Duration::ZERO);
    let expires_at = (time::OffsetDateTime::now_utc() + lifetime)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({
        "is_user": true,
        "box_admin": false,
        "appliance_id": "3f7e0c52-7a43-4a55-8d84-2c1f51f3a1b0",
        "access_token": token,
        "expires_at": expires_at,
        "admin": false,
        "user": st.cfg.username,
    })
}

fn login(st: &mut State, vault: &str, req: &FakeRequest) -> FakeResponse {
    if vault != st.cfg.vault_id {
        return error(StatusCode::NOT_FOUND, "Vault not found");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let user = body.get("username").and_then(Value::as_str);
    let pass = body.get("password").and_then(Value::as_str);
    if user != Some(st.cfg.username.as_str()) || pass != Some(st.cfg.password.as_str()) {
        st.stats.failed_logins += 1;
        return error(StatusCode::UNAUTHORIZED, "Invalid username or password");
    }
    st.stats.logins += 1;
    ok(&issue_token(st))
}

fn create(st: &mut State, body: &Value) -> FakeResponse {
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(data) = body.get("secret_data").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "secret_data is required");
    };
    if name.is_empty() {
        return error(StatusCode::BAD_REQUEST, "name is required");
    }
    if st.secrets.contains_key(name) {
        return error(StatusCode::CONFLICT, "Secret already exists");
    }
    let id = random_hex(16);
    st.secrets.insert(
        name.to_owned(),
        Secret {
            id: id.clone(),
            data: data.to_owned(),
            expired: false,
        },
    );
    ok(&json!({ "secret_id": id, "name": name, "box_id": st.cfg.box_id }))
}

/// The secret addressed by `secret_id` (a name, or an id).
fn find<'a>(st: &'a State, body: &Value) -> Option<(&'a String, &'a Secret)> {
    let id = body.get("secret_id").and_then(Value::as_str)?;
    st.secrets
        .get_key_value(id)
        .or_else(|| st.secrets.iter().find(|(_, s)| s.id == id))
}

fn checkout(st: &mut State, body: &Value) -> FakeResponse {
    match find(st, body) {
        Some((_, s)) if s.expired => error(StatusCode::BAD_REQUEST, "Secret has expired"),
        Some((_, s)) => ok(&json!({ "secret_id": s.id, "secret_data": s.data })),
        None => error(StatusCode::NOT_FOUND, "Secret not found"),
    }
}

fn delete(st: &mut State, body: &Value) -> FakeResponse {
    let Some((name, _)) = find(st, body) else {
        return error(StatusCode::NOT_FOUND, "Secret not found");
    };
    let name = name.clone();
    st.secrets.remove(&name);
    ok(&json!({}))
}

fn list(st: &mut State, body: &Value) -> FakeResponse {
    let max = body
        .get("max_items")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(st.cfg.default_page);
    let token = body.get("next_token").and_then(Value::as_str).unwrap_or("");
    let from = if token.is_empty() {
        String::new()
    } else {
        let ctx: Option<Value> = STANDARD
            .decode(token)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok());
        match ctx
            .as_ref()
            .and_then(|c| c.get("next_ctx"))
            .and_then(Value::as_str)
        {
            Some(c) => c.to_owned(),
            None => return error(StatusCode::BAD_REQUEST, "Invalid next_token"),
        }
    };
    let mut iter = st
        .secrets
        .range::<str, _>((Bound::Included(from.as_str()), Bound::Unbounded));
    let items: Vec<Value> = iter
        .by_ref()
        .take(max)
        .map(|(name, s)| json!({ "secret_id": s.id, "name": name, "expired": s.expired }))
        .collect();
    let next_token = iter
        .next()
        .map(|(name, _)| {
            STANDARD.encode(json!({ "box_id": st.cfg.box_id, "next_ctx": name }).to_string())
        })
        .unwrap_or_default();
    ok(&json!({ "secrets": items, "next_token": next_token }))
}
