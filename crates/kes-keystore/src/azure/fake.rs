//! FAKE of Azure Key Vault's secrets REST API and of the token endpoints
//! KES uses, built from Microsoft's published REST reference, for tests
//! only (no runnable Key Vault exists here: lowkey-vault ships only through
//! Docker Hub / Maven Central).
//!
//! One HTTPS server plays three parts (keystores.md §5):
//! - the identity platform: `GET
//!   /<tenant>/v2.0/.well-known/openid-configuration` and `POST
//!   /<tenant>/oauth2/v2.0/token`, the client
//!   credentials grant with a client secret or a federated assertion
//!   (scope `https://vault.azure.net/.default`), answering
//!   `{"token_type","expires_in","access_token"}` or
//!   `{"error","error_description"}`;
//! - managed identity: IMDS `GET /metadata/identity/oauth2/token` (header
//!   `Metadata: true`) and App Service `GET /msi/token` (header
//!   `X-IDENTITY-HEADER`);
//! - the vault (api-version 7.5, `Authorization: Bearer <token>`; none or a
//!   bad one: 401 with the `WWW-Authenticate` challenge): `GET
//!   /secrets/<n>/` (latest), `GET /secrets/<n>/<version>`, `PUT
//!   /secrets/<n>` (a new version; 409 `ObjectIsDeletedButRecoverable`
//!   while soft-deleted, `ObjectIsBeingDeleted` during the deletion
//!   window), `GET /secrets/<n>/versions` (200 with an empty list for a
//!   missing secret, as Key Vault does), `GET /secrets` (paged by
//!   `nextLink`), `DELETE /secrets/<n>` (soft delete), `GET
//!   /deletedsecrets/<n>` and `DELETE
//!   /deletedsecrets/<n>` (purge: 409 during the deletion window), `GET /`
//!   (401). Names are Key Vault's alphabet `[0-9a-zA-Z-]`, at most 127.
//!
//! Test hooks: token lifetime, [`FakeKeyVault::expire_tokens`], the
//! deletion window, page sizes, names answered `403 ForbiddenByPolicy`,
//! [`FakeKeyVault::soft_delete`], [`FakeKeyVault::add_version`],
//! [`FakeKeyVault::fail_next`] (503 answers), counters.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{AzureAuth, AzureOptions};
use crate::testkit::fake::{self, FakeAppliance, FakePki, FakeRequest, FakeResponse, random_hex};

/// The settings of a [`FakeKeyVault`].
#[derive(Debug, Clone)]
pub struct KeyVaultFakeConfig {
    /// The tenant of the service principal.
    pub tenant_id: String,
    /// The client id of the service principal (and of the managed identity).
    pub client_id: String,
    /// The service principal's secret.
    pub client_secret: String,
    /// The federated token accepted as a client assertion.
    pub federated_token: String,
    /// The App Service `X-IDENTITY-HEADER` value.
    pub identity_header: String,
    /// How long an access token is valid.
    pub token_lifetime: Duration,
    /// How long a soft-deleted secret stays "being deleted" (409 on purge
    /// and set).
    pub deletion_window: Duration,
    /// Secrets per listing page.
    pub page_size: usize,
    /// Versions per versions page (Key Vault: 25).
    pub versions_page_size: usize,
}

impl Default for KeyVaultFakeConfig {
    fn default() -> Self {
        Self {
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "f1a2b3c4-0000-4000-8000-000000000001".into(),
            client_secret: "kes-test-client-secret~4cA8".into(),
            federated_token: "eyJ.federated.token".into(),
            identity_header: "kes-test-identity-header".into(),
            token_lifetime: Duration::from_secs(3600),
            deletion_window: Duration::ZERO,
            page_size: 25,
            versions_page_size: 25,
        }
    }
}

/// Counters of what the fake saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyVaultStats {
    /// Tokens issued.
    pub tokens: u64,
    /// Token requests refused.
    pub refused_tokens: u64,
    /// Vault calls answered 401 (no, unknown or expired token).
    pub rejected_tokens: u64,
    /// Purges done.
    pub purges: u64,
    /// Listing pages served.
    pub list_pages: u64,
    /// 503 answers injected by [`FakeKeyVault::fail_next`].
    pub injected_failures: u64,
}

#[derive(Debug)]
struct Version {
    id: String,
    value: String,
    created: i64,
}

#[derive(Debug, Default)]
struct Secret {
    versions: Vec<Version>,
    /// When the secret was soft-deleted, if it is.
    deleted: Option<Instant>,
}

#[derive(Debug)]
struct State {
    cfg: KeyVaultFakeConfig,
    endpoint: String,
    tokens: HashMap<String, Instant>,
    secrets: BTreeMap<String, Secret>,
    forbidden: Vec<String>,
    fail_next: u32,
    stats: KeyVaultStats,
}

/// A running fake Key Vault (with its token endpoints); stops on drop.
pub struct FakeKeyVault {
    app: FakeAppliance<State>,
}

impl std::fmt::Debug for FakeKeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKeyVault")
            .field("endpoint", &self.app.endpoint())
            .finish_non_exhaustive()
    }
}

impl FakeKeyVault {
    /// Starts a fake with its own PKI on `127.0.0.1:0`.
    pub async fn start(cfg: KeyVaultFakeConfig) -> std::io::Result<Self> {
        let state = State {
            cfg,
            endpoint: String::new(),
            tokens: HashMap::new(),
            secrets: BTreeMap::new(),
            forbidden: Vec::new(),
            fail_next: 0,
            stats: KeyVaultStats::default(),
        };
        let app = FakeAppliance::start(state, handle).await?;
        let endpoint = app.endpoint();
        app.state().endpoint = endpoint;
        Ok(Self { app })
    }

    /// `https://127.0.0.1:<port>`: the vault, the authority host, the IMDS
    /// host and the App Service identity endpoint's origin.
    pub fn endpoint(&self) -> String {
        self.app.endpoint()
    }

    /// The PKI whose CA signed the fake's certificate.
    pub fn pki(&self) -> &FakePki {
        self.app.pki()
    }

    /// Options for a store using the service principal.
    pub fn options(&self) -> AzureOptions {
        let cfg = &self.app.state().cfg;
        AzureOptions {
            endpoint: self.endpoint(),
            auth: AzureAuth::ClientCredentials {
                tenant_id: cfg.tenant_id.clone(),
                client_id: cfg.client_id.clone(),
                client_secret: kes_config::Secret::new(cfg.client_secret.clone()),
            },
        }
    }

    /// The environment a store needs to reach the fake: the authority and
    /// IMDS hosts and `SSL_CERT_FILE` with the fake's CA.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_AUTHORITY_HOST".into(), self.endpoint()),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST".into(), self.endpoint()),
            (
                "SSL_CERT_FILE".into(),
                self.pki().ca_file().display().to_string(),
            ),
        ]
    }

    /// The settings.
    pub fn config(&self) -> KeyVaultFakeConfig {
        self.app.state().cfg.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> KeyVaultStats {
        self.app.state().stats
    }

    /// Makes every issued token invalid (as if all had expired).
    pub fn expire_tokens(&self) {
        self.app.state().tokens.clear();
    }

    /// Answers the next `n` vault calls with 503.
    pub fn fail_next(&self, n: u32) {
        self.app.state().fail_next = n;
    }

    /// Answers every call on secret `name` with 403 `ForbiddenByPolicy`.
    pub fn forbid(&self, name: &str) {
        self.app.state().forbidden.push(name.to_owned());
    }

    /// Soft-deletes `name` (as someone else's delete would), starting its
    /// deletion window.
    pub fn soft_delete(&self, name: &str) {
        if let Some(s) = self.app.state().secrets.get_mut(name) {
            s.deleted = Some(Instant::now());
        }
    }

    /// Adds a version to `name` (a stray write by someone else), created
    /// one second after the newest.
    pub fn add_version(&self, name: &str, value: &str) {
        let mut st = self.app.state();
        if let Some(s) = st.secrets.get_mut(name) {
            let created = s.versions.iter().map(|v| v.created).max().unwrap_or(0) + 1;
            s.versions.push(Version {
                id: random_hex(16),
                value: value.to_owned(),
                created,
            });
        }
    }

    /// The values of `name`'s versions, oldest first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        let st = self.app.state();
        st.secrets.get(name).map_or_else(Vec::new, |s| {
            let mut v: Vec<&Version> = s.versions.iter().collect();
            v.sort_by_key(|v| v.created);
            v.iter().map(|v| v.value.clone()).collect()
        })
    }

    /// The names of the active (not soft-deleted) secrets.
    pub fn secret_names(&self) -> Vec<String> {
        let st = self.app.state();
        st.secrets
            .iter()
            .filter(|(_, s)| s.deleted.is_none())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether `name` exists in any state (active or soft-deleted).
    pub fn contains(&self, name: &str) -> bool {
        self.app.state().secrets.contains_key(name)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A Key Vault error answer.
fn kv_error(status: StatusCode, code: &str, inner: Option<&str>, message: &str) -> FakeResponse {
    let mut err = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        err["innererror"] = json!({"code": inner});
    }
    fake::json(status, &json!({ "error": err }))
}

/// An identity platform error answer.
fn token_error(status: StatusCode, code: &str, description: &str) -> FakeResponse {
    fake::json(
        status,
        &json!({"error": code, "error_description": description}),
    )
}

/// The form fields of a token request.
fn form(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), fake::percent_decode(v).unwrap_or_default()))
        .collect()
}

fn issue(st: &mut State) -> String {
    let token = format!("fake-kv-{}", random_hex(16));
    st.tokens
        .insert(token.clone(), Instant::now() + st.cfg.token_lifetime);
    st.stats.tokens += 1;
    token
}

fn handle(st: &mut State, req: FakeRequest) -> FakeResponse {
    let path = req.path.clone();
    if req.method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        return token(st, &req);
    }
    if path == "/metadata/identity/oauth2/token" || path == "/msi/token" {
        return managed_token(st, &req);
    }
    if req.method == Method::GET && path.ends_with("/v2.0/.well-known/openid-configuration") {
        // What MSAL-based clients (the official SDKs) read before a token
        // request.
        let tenant = &st.cfg.tenant_id;
        let base = format!("{}/{tenant}", st.endpoint);
        return fake::json(
            StatusCode::OK,
            &json!({
                "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
                "issuer": format!("{base}/v2.0"),
                "tenant_region_scope": "WW",
            }),
        );
    }
    vault(st, &req)
}

fn token(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let f = form(&req.body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    if tenant != st.cfg.tenant_id {
        st.stats.refused_tokens += 1;
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    if get("grant_type") != "client_credentials"
        || get("scope") != "https://vault.azure.net/.default"
    {
        st.stats.refused_tokens += 1;
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: grant_type or scope is wrong.",
        );
    }
    let ok = get("client_id") == st.cfg.client_id
        && (get("client_secret") == st.cfg.client_secret
            || (get("client_assertion_type")
                == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                && get("client_assertion") == st.cfg.federated_token));
    if !ok {
        st.stats.refused_tokens += 1;
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let token = issue(st);
    let secs = st.cfg.token_lifetime.as_secs().max(1);
    fake::json(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token}),
    )
}

fn managed_token(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let imds = req.path == "/metadata/identity/oauth2/token";
    let allowed = if imds {
        req.headers.get("metadata").is_some_and(|v| v == "true")
    } else {
        req.headers
            .get("x-identity-header")
            .is_some_and(|v| v.as_bytes() == st.cfg.identity_header.as_bytes())
    };
    let param = |k: &str| req.query_param(k).and_then(fake::percent_decode);
    let resource_ok = param("resource").as_deref() == Some("https://vault.azure.net");
    let client_ok = param("client_id").is_none_or(|id| id == st.cfg.client_id);
    if !allowed || !resource_ok || !client_ok {
        st.stats.refused_tokens += 1;
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found, or the request is missing its header or resource",
        );
    }
    let token = issue(st);
    let secs = st.cfg.token_lifetime.as_secs().max(1);
    let body = if imds {
        json!({"access_token": token, "expires_in": secs.to_string(), "resource": "https://vault.azure.net", "token_type": "Bearer"})
    } else {
        json!({"access_token": token, "expires_on": (unix_now() + i64::try_from(secs).unwrap_or(0)).to_string(), "resource": "https://vault.azure.net", "token_type": "Bearer"})
    };
    fake::json(StatusCode::OK, &body)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn vault(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let authorized = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| st.tokens.get(t))
        .is_some_and(|exp| *exp > Instant::now());
    if !authorized {
        st.stats.rejected_tokens += 1;
        let mut resp = kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            None,
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
        let challenge = format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            st.endpoint, st.cfg.tenant_id
        );
        if let Ok(v) = http::HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert("www-authenticate", v);
        }
        return resp;
    }
    if req.query_param("api-version") != Some("7.5") {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            None,
            "The specified version of the API is not supported.",
        );
    }
    if st.fail_next > 0 {
        st.fail_next -= 1;
        st.stats.injected_failures += 1;
        return kv_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            None,
            "The service is unavailable.",
        );
    }
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let name = segments.get(1).copied().unwrap_or_default();
    if st.forbidden.iter().any(|f| f == name) {
        return kv_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            Some("ForbiddenByPolicy"),
            "The user, group or application does not have secrets permission on key vault.",
        );
    }
    let window = st.cfg.deletion_window;
    match (&req.method, segments.as_slice()) {
        (&Method::GET, ["secrets"]) => list(st, req),
        (&Method::GET, ["secrets", _] | ["secrets", _, ""]) => {
            match active(st, name).and_then(|s| s.versions.iter().max_by_key(|v| v.created)) {
                Some(v) => fake::json(StatusCode::OK, &bundle(&st.endpoint, name, v)),
                None => not_found(name),
            }
        }
        (&Method::GET, ["secrets", _, "versions"]) => versions(st, req, name),
        (&Method::GET, ["secrets", _, version]) => {
            match active(st, name).and_then(|s| s.versions.iter().find(|v| v.id == *version)) {
                Some(v) => fake::json(StatusCode::OK, &bundle(&st.endpoint, name, v)),
                None => not_found(name),
            }
        }
        (&Method::PUT, ["secrets", _]) => set(st, req, name),
        (&Method::DELETE, ["secrets", _]) => match st.secrets.get_mut(name) {
            Some(s) if s.deleted.is_none() => {
                s.deleted = Some(Instant::now());
                fake::json(
                    StatusCode::OK,
                    &json!({"recoveryId": format!("{}/deletedsecrets/{name}", st.endpoint), "id": format!("{}/secrets/{name}", st.endpoint)}),
                )
            }
            _ => not_found(name),
        },
        (&Method::GET, ["deletedsecrets", _]) => match st.secrets.get(name).and_then(|s| s.deleted)
        {
            Some(_) => fake::json(
                StatusCode::OK,
                &json!({
                    "recoveryId": format!("{}/deletedsecrets/{name}", st.endpoint),
                    "id": format!("{}/secrets/{name}", st.endpoint),
                    "deletedDate": unix_now(),
                    "scheduledPurgeDate": unix_now() + 7 * 86_400,
                    "attributes": {"enabled": true, "recoveryLevel": "Recoverable+Purgeable"},
                }),
            ),
            None => kv_error(
                StatusCode::NOT_FOUND,
                "SecretNotFound",
                None,
                &format!("Deleted Secret not found: {name}"),
            ),
        },
        (&Method::DELETE, ["deletedsecrets", _]) => {
            match st.secrets.get(name).and_then(|s| s.deleted) {
                Some(at) if at.elapsed() < window => being_deleted(name),
                Some(_) => {
                    st.secrets.remove(name);
                    st.stats.purges += 1;
                    fake::respond(StatusCode::NO_CONTENT, "application/json", "")
                }
                None => kv_error(
                    StatusCode::NOT_FOUND,
                    "SecretNotFound",
                    None,
                    &format!("Deleted Secret not found: {name}"),
                ),
            }
        }
        (&Method::GET, [""]) => {
            kv_error(StatusCode::UNAUTHORIZED, "Unauthorized", None, "AKV10000")
        }
        _ => kv_error(StatusCode::NOT_FOUND, "NotFound", None, "no such operation"),
    }
}

fn active<'a>(st: &'a State, name: &str) -> Option<&'a Secret> {
    st.secrets.get(name).filter(|s| s.deleted.is_none())
}

fn not_found(name: &str) -> FakeResponse {
    kv_error(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        None,
        &format!("A secret with (name/id) {name} was not found in this key vault."),
    )
}

fn being_deleted(name: &str) -> FakeResponse {
    kv_error(
        StatusCode::CONFLICT,
        "Conflict",
        Some("ObjectIsBeingDeleted"),
        &format!("Secret {name} is currently being deleted."),
    )
}

fn bundle(endpoint: &str, name: &str, v: &Version) -> Value {
    json!({
        "value": v.value,
        "id": format!("{endpoint}/secrets/{name}/{}", v.id),
        "attributes": {"enabled": true, "created": v.created, "updated": v.created, "recoveryLevel": "Recoverable+Purgeable"},
    })
}

fn set(st: &mut State, req: &FakeRequest, name: &str) -> FakeResponse {
    if !valid_name(name) {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            None,
            "The request URI contains an invalid name: names may contain only 0-9, a-z, A-Z and -.",
        );
    }
    let Some(value) = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.get("value").and_then(Value::as_str).map(str::to_owned))
    else {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            None,
            "value is required",
        );
    };
    let window = st.cfg.deletion_window;
    let secret = st.secrets.entry(name.to_owned()).or_default();
    match secret.deleted {
        Some(at) if at.elapsed() < window => return being_deleted(name),
        Some(_) => {
            return kv_error(
                StatusCode::CONFLICT,
                "Conflict",
                Some("ObjectIsDeletedButRecoverable"),
                &format!("Secret {name} is currently in a deleted but recoverable state."),
            );
        }
        None => {}
    }
    let version = Version {
        id: random_hex(16),
        value,
        created: unix_now(),
    };
    let body = bundle(&st.endpoint, name, &version);
    secret.versions.push(version);
    fake::json(StatusCode::OK, &body)
}

/// A page of `items` from the `$skiptoken` of `req`, with `nextLink` to
/// `path` when more remain.
fn page(st: &State, req: &FakeRequest, path: &str, items: Vec<Value>, size: usize) -> Value {
    let skip: usize = req
        .query_param("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let size = req
        .query_param("maxresults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(size)
        .max(1);
    let end = (skip + size).min(items.len());
    let next = (end < items.len()).then(|| {
        format!(
            "{}{path}?api-version=7.5&$skiptoken={end}&maxresults={size}",
            st.endpoint
        )
    });
    json!({"value": items.get(skip..end).unwrap_or_default(), "nextLink": next})
}

fn versions(st: &mut State, req: &FakeRequest, name: &str) -> FakeResponse {
    // Newest first (Key Vault does not document an order).
    let items: Vec<Value> = active(st, name).map_or_else(Vec::new, |s| {
        s.versions
            .iter()
            .rev()
            .map(|v| {
                json!({"id": format!("{}/secrets/{name}/{}", st.endpoint, v.id), "attributes": {"enabled": true, "created": v.created}})
            })
            .collect()
    });
    let size = st.cfg.versions_page_size;
    let body = page(st, req, &format!("/secrets/{name}/versions"), items, size);
    fake::json(StatusCode::OK, &body)
}

fn list(st: &mut State, req: &FakeRequest) -> FakeResponse {
    st.stats.list_pages += 1;
    let items: Vec<Value> = st
        .secrets
        .iter()
        .filter(|(_, s)| s.deleted.is_none())
        .map(|(name, _)| json!({"id": format!("{}/secrets/{name}", st.endpoint), "attributes": {"enabled": true}}))
        .collect();
    let size = st.cfg.page_size;
    let body = page(st, req, "/secrets", items, size);
    fake::json(StatusCode::OK, &body)
}
