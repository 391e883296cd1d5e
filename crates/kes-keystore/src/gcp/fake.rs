//! An in-process FAKE of Google's OAuth 2.0 token endpoint for the
//! JWT-bearer grant (RFC 7523; Google's "OAuth 2.0 for server to server
//! applications"), for tests only (feature `testkit`), on the shared plain
//! HTTP server of `testkit::fake`. The Secret Manager API itself is tested
//! against the real drongo emulator; this fake covers what drongo does not:
//!
//! - `POST /token`: checks the form (`grant_type`, `assertion`) and the
//!   assertion's header and claims (RS256, `kid`, `iss`, `scope`, `aud`,
//!   at most one hour between `iat` and `exp`; the signature is not checked:
//!   that is `kes-crypto`'s unit test), records them, and issues a token
//!   `{"access_token", "expires_in", "token_type": "Bearer"}`, or answers
//!   400 `invalid_grant` when told to refuse;
//! - `GET /computeMetadata/v1/instance/service-accounts/default/token`
//!   (the metadata server, for application default credentials): with
//!   `Metadata-Flavor: Google` a token like the above (the `scopes` query
//!   is recorded), else 403;
//! - every other path but `GET /` (the status probe, 404) requires a current
//!   token (else 401 `UNAUTHENTICATED`, as Google answers); then
//!   `GET /v1/projects/<p>/secrets` lists the configured secret names in
//!   pages of `page_size` with `nextPageToken`, and anything else is a
//!   Google-style 404 `NOT_FOUND`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::testkit::fake::{
    FakeRequest, FakeResponse, FakeServer, json as json_answer, percent_decode, random_hex, respond,
};

/// How a [`FakeGoogle`] behaves.
#[derive(Debug, Clone)]
pub struct FakeGoogleConfig {
    /// The `expires_in` of issued tokens, in seconds.
    pub expires_in: u64,
    /// Whether token requests are refused (`invalid_grant`).
    pub refuse: bool,
    /// The secret IDs `ListSecrets` answers with, in this order.
    pub secrets: Vec<String>,
    /// Secrets per `ListSecrets` page (the fake ignores `pageSize`, as the
    /// API may return fewer than asked for).
    pub page_size: usize,
}

impl Default for FakeGoogleConfig {
    fn default() -> Self {
        Self {
            expires_in: 3599,
            refuse: false,
            secrets: Vec::new(),
            page_size: 2,
        }
    }
}

/// What the fake counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeGoogleStats {
    /// Tokens issued.
    pub tokens: u64,
    /// Calls refused for a missing, unknown or expired token.
    pub rejected_tokens: u64,
    /// `ListSecrets` pages served.
    pub list_pages: u64,
}

/// The assertion of the last token request: its JOSE header and claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// `{"alg", "typ", "kid"}`.
    pub header: Value,
    /// `{"iss", "scope", "aud", "iat", "exp"}`.
    pub claims: Value,
}

/// The metadata server's token path.
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

#[derive(Debug)]
struct State {
    cfg: FakeGoogleConfig,
    /// The URI the assertions' `aud` must name.
    token_uri: String,
    tokens: HashSet<String>,
    issued: u64,
    stats: FakeGoogleStats,
    last: Option<Assertion>,
    /// The `scopes` of the last metadata token request.
    metadata_scopes: Option<String>,
}

/// A running fake token endpoint; stops on drop.
pub struct FakeGoogle {
    state: Arc<Mutex<State>>,
    server: FakeServer,
}

impl std::fmt::Debug for FakeGoogle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGoogle")
            .field("endpoint", &self.server.endpoint())
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeGoogle {
    /// Starts the fake on `127.0.0.1:0` (plain HTTP).
    pub async fn start(cfg: FakeGoogleConfig) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            cfg,
            token_uri: String::new(),
            tokens: HashSet::new(),
            issued: 0,
            stats: FakeGoogleStats::default(),
            last: None,
            metadata_scopes: None,
        }));
        let handler_state = Arc::clone(&state);
        let server =
            FakeServer::start_plain(Arc::new(move |req| handle(&mut lock(&handler_state), req)))
                .await?;
        lock(&state).token_uri = format!("{}/token", server.endpoint());
        Ok(Self { state, server })
    }

    /// `http://127.0.0.1:<port>`: the API endpoint (auth gate and listing).
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// `http://127.0.0.1:<port>/token`.
    pub fn token_uri(&self) -> String {
        lock(&self.state).token_uri.clone()
    }

    /// The counters.
    pub fn stats(&self) -> FakeGoogleStats {
        lock(&self.state).stats
    }

    /// The assertion of the last token request.
    pub fn last_assertion(&self) -> Option<Assertion> {
        lock(&self.state).last.clone()
    }

    /// The `scopes` query of the last metadata-server token request
    /// (`Some("")` when it had none).
    pub fn metadata_scopes(&self) -> Option<String> {
        lock(&self.state).metadata_scopes.clone()
    }

    /// `127.0.0.1:<port>`: the host to reach the metadata server at
    /// (`GCE_METADATA_HOST`).
    pub fn metadata_host(&self) -> String {
        self.endpoint().trim_start_matches("http://").to_owned()
    }

    /// Invalidates every token issued so far.
    pub fn expire_tokens(&self) {
        lock(&self.state).tokens.clear();
    }
}

fn google_error(status: StatusCode, text: &str, message: &str) -> FakeResponse {
    json_answer(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "status": text}}),
    )
}

fn handle(st: &mut State, req: FakeRequest) -> FakeResponse {
    if req.method == Method::POST && req.path == "/token" {
        return token(st, &req);
    }
    if req.method == Method::GET && req.path == METADATA_TOKEN_PATH {
        return metadata_token(st, &req);
    }
    if req.method == Method::GET && req.path == "/" {
        return respond(StatusCode::NOT_FOUND, "text/html", "<html>404</html>");
    }
    let bearer = req
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| st.tokens.contains(t)) {
        st.stats.rejected_tokens += 1;
        return google_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let is_list = req.method == Method::GET
        && req
            .path
            .strip_prefix("/v1/projects/")
            .and_then(|rest| rest.strip_suffix("/secrets"))
            .is_some_and(|p| !p.contains('/'));
    if is_list {
        return list(st, &req);
    }
    google_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("{} not found.", req.path),
    )
}

/// One page of the configured secrets; the page token is the offset.
fn list(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let from: usize = match req.query_param("pageToken").map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return google_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "bad pageToken");
        }
    };
    st.stats.list_pages += 1;
    let project = req
        .path
        .trim_start_matches("/v1/projects/")
        .trim_end_matches("/secrets");
    let end = (from + st.cfg.page_size.max(1)).min(st.cfg.secrets.len());
    let secrets: Vec<Value> = st.cfg.secrets[from.min(end)..end]
        .iter()
        .map(|id| json!({"name": format!("projects/{project}/secrets/{id}")}))
        .collect();
    let mut body = json!({"secrets": secrets, "totalSize": st.cfg.secrets.len()});
    if end < st.cfg.secrets.len() {
        body["nextPageToken"] = json!(end.to_string());
    }
    json_answer(StatusCode::OK, &body)
}

/// The value of form field `key` in an `application/x-www-form-urlencoded`
/// body, percent-decoded.
fn form_field(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)?
        .1;
    percent_decode(raw)
}

fn invalid_grant(description: &str) -> FakeResponse {
    json_answer(
        StatusCode::BAD_REQUEST,
        &json!({"error": "invalid_grant", "error_description": description}),
    )
}

/// The JSON of a base64url JWT part.
fn jwt_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn token(st: &mut State, req: &FakeRequest) -> FakeResponse {
    if form_field(&req.body, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return json_answer(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}),
        );
    }
    let Some(assertion) = form_field(&req.body, "assertion") else {
        return invalid_grant("Missing required parameter: assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let (Some(header), Some(claims), Some(sig)) = (
        parts.first().and_then(|p| jwt_part(p)),
        parts.get(1).and_then(|p| jwt_part(p)),
        parts.get(2),
    ) else {
        return invalid_grant(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let lifetime = claims.get("exp").and_then(Value::as_i64).unwrap_or(0)
        - claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    let well_formed = parts.len() == 3
        && text(&header, "alg") == "RS256"
        && !text(&header, "kid").is_empty()
        && !text(&claims, "iss").is_empty()
        && !text(&claims, "scope").is_empty()
        && text(&claims, "aud") == st.token_uri
        && (1..=3600).contains(&lifetime)
        && URL_SAFE_NO_PAD.decode(sig).is_ok_and(|s| !s.is_empty());
    st.last = Some(Assertion { header, claims });
    if !well_formed {
        return invalid_grant("Invalid JWT: claims or header not as required");
    }
    if st.cfg.refuse {
        return invalid_grant("Invalid JWT Signature.");
    }
    issue(st)
}

/// A new token answer.
fn issue(st: &mut State) -> FakeResponse {
    st.issued += 1;
    st.stats.tokens += 1;
    let token = format!("ya29.fake-{}-{}", st.issued, random_hex(8));
    st.tokens.insert(token.clone());
    json_answer(
        StatusCode::OK,
        &json!({"access_token": token, "expires_in": st.cfg.expires_in, "token_type": "Bearer"}),
    )
}

/// The metadata server's token answer; Google requires the
/// `Metadata-Flavor: Google` header.
fn metadata_token(st: &mut State, req: &FakeRequest) -> FakeResponse {
    let flavor = req
        .headers
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok());
    if flavor != Some("Google") {
        return respond(
            StatusCode::FORBIDDEN,
            "text/html",
            "Missing Metadata-Flavor:Google header.",
        );
    }
    st.metadata_scopes = Some(
        req.query_param("scopes")
            .and_then(percent_decode)
            .unwrap_or_default(),
    );
    issue(st)
}
