//! What each request of a workload looks like, and the setup that makes the
//! workload possible (creating the key, pre-generating ciphertexts).
//!
//! Bodies are built once before the clock starts; during the run a request
//! costs the client a few reference-count increments, so the load tool steals
//! as little CPU from the server as possible (they share the machine).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;
use kes_types::api::{
    DecryptKeyRequest, DecryptKeyResponse, EncryptKeyRequest, EncryptKeyResponse,
    GenerateKeyRequest, GenerateKeyResponse,
};
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::cli::{BenchConfig, Workload};
use crate::conn::Sender;
use crate::error::BenchError;

/// One ready-to-send request.
#[derive(Clone)]
pub struct Template {
    method: Method,
    uri: Uri,
    body: Bytes,
    expect: Expect,
}

/// What a 200 answer must contain (checked with `--verify`).
#[derive(Clone)]
enum Expect {
    /// Anything.
    Nothing,
    /// A generate response with a 32-byte plaintext.
    Generated,
    /// An encrypt response.
    Encrypted,
    /// A decrypt response with exactly this base64 plaintext (a bench DEK).
    Plaintext(Arc<Zeroizing<String>>),
}

/// Builds URIs and headers for one endpoint and HTTP version.
#[derive(Clone)]
pub struct RequestBuilder {
    authority: String,
    host: HeaderValue,
    http2: bool,
    close: bool,
}

impl RequestBuilder {
    /// For `authority` (`host:port`); `close` adds `Connection: close` to
    /// HTTP/1.1 requests (one request per connection).
    pub fn new(authority: &str, http2: bool, close: bool) -> Result<Self, BenchError> {
        let host = HeaderValue::from_str(authority)
            .map_err(|_| BenchError::Config(format!("{authority:?} is not a valid Host header")))?;
        Ok(RequestBuilder {
            authority: authority.to_string(),
            host,
            http2,
            close,
        })
    }

    /// A template for `method path` with `body`.
    fn template(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        expect: Expect,
    ) -> Result<Template, BenchError> {
        // HTTP/2 needs :scheme and :authority, so the URI is absolute; HTTP/1.1
        // sends the origin form plus a Host header.
        let uri = if self.http2 {
            format!("https://{}{}", self.authority, path)
        } else {
            path.to_string()
        };
        let uri = Uri::try_from(uri)
            .map_err(|e| BenchError::Config(format!("request path {path:?}: {e}")))?;
        Ok(Template {
            method,
            uri,
            body,
            expect,
        })
    }

    /// The request for `t`.
    pub fn build(&self, t: &Template) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(t.body.clone()));
        *req.method_mut() = t.method.clone();
        *req.uri_mut() = t.uri.clone();
        let headers = req.headers_mut();
        if !self.http2 {
            headers.insert(HOST, self.host.clone());
            if self.close {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
        }
        if !t.body.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        req
    }
}

/// The requests of one run.
pub struct Plan {
    kind: PlanKind,
    builder: RequestBuilder,
}

enum PlanKind {
    /// The same few requests round-robin (generate, encrypt, decrypt, handshake).
    Cycle(Vec<Template>),
    /// MinIO mix: `reads_per_mille` of each 1000 requests decrypt.
    Mix {
        writes: Vec<Template>,
        reads: Vec<Template>,
        reads_per_mille: u64,
    },
    /// create then delete of a fresh key, per worker.
    CreateDelete { prefix: String },
    /// create `<prefix>-<seq>`.
    CreateSeq { prefix: String },
}

/// Per-task workload state.
#[derive(Debug, Default)]
pub struct WorkerState {
    worker: usize,
    counter: u64,
    pending_delete: Option<String>,
}

impl WorkerState {
    /// State for worker number `worker`.
    pub fn new(worker: usize) -> Self {
        WorkerState {
            worker,
            ..WorkerState::default()
        }
    }
}

impl Plan {
    /// Prepares the workload of `cfg`, using `setup` for setup requests.
    pub async fn prepare(
        cfg: &BenchConfig,
        builder: RequestBuilder,
        setup: &mut Sender,
    ) -> Result<Plan, BenchError> {
        let key = &cfg.key_name;
        let needs_key = !matches!(
            cfg.workload,
            Workload::Handshake | Workload::CreateDelete | Workload::Create
        );
        if cfg.create_key && needs_key {
            create_key(&builder, setup, key).await?;
        }
        let context = cfg
            .context
            .as_deref()
            .map(|c| B64.encode(c))
            .unwrap_or_default();
        let kind = match cfg.workload {
            Workload::Handshake => PlanKind::Cycle(vec![builder.template(
                Method::GET,
                "/version",
                Bytes::new(),
                Expect::Nothing,
            )?]),
            Workload::Generate if cfg.keys > 1 => {
                let body = json(&GenerateKeyRequest { context })?;
                let mut templates = Vec::with_capacity(cfg.keys);
                for i in 0..cfg.keys {
                    templates.push(builder.template(
                        Method::POST,
                        &format!("/v1/key/generate/{key}-{i}"),
                        body.clone(),
                        Expect::Generated,
                    )?);
                }
                PlanKind::Cycle(templates)
            }
            Workload::Generate => PlanKind::Cycle(vec![builder.template(
                Method::POST,
                &format!("/v1/key/generate/{key}"),
                json(&GenerateKeyRequest { context })?,
                Expect::Generated,
            )?]),
            Workload::Create => PlanKind::CreateSeq {
                prefix: key.to_string(),
            },
            Workload::Encrypt => {
                let mut templates = Vec::with_capacity(cfg.pool.min(64));
                for _ in 0..cfg.pool.min(64) {
                    let mut plaintext = Zeroizing::new(vec![0u8; cfg.plaintext_size]);
                    rand::rng().fill_bytes(&mut plaintext);
                    let body = EncryptKeyRequest {
                        plaintext: B64.encode(&*plaintext),
                        context: context.clone(),
                    };
                    templates.push(builder.template(
                        Method::POST,
                        &format!("/v1/key/encrypt/{key}"),
                        json(&body)?,
                        Expect::Encrypted,
                    )?);
                }
                PlanKind::Cycle(templates)
            }
            Workload::Decrypt => {
                let mut templates = Vec::with_capacity(cfg.pool);
                for _ in 0..cfg.pool {
                    templates.push(decrypt_template(&builder, setup, key, &context).await?);
                }
                PlanKind::Cycle(templates)
            }
            Workload::Minio => {
                let mut writes = Vec::with_capacity(cfg.pool);
                let mut reads = Vec::with_capacity(cfg.pool);
                for n in 0..cfg.pool {
                    let context = B64.encode(format!(r#"{{"bucket":"bucket/object-{n}"}}"#));
                    writes.push(builder.template(
                        Method::POST,
                        &format!("/v1/key/generate/{key}"),
                        json(&GenerateKeyRequest {
                            context: context.clone(),
                        })?,
                        Expect::Generated,
                    )?);
                    reads.push(decrypt_template(&builder, setup, key, &context).await?);
                }
                // Rounding to per-mille keeps the choice a cheap integer test.
                let reads_per_mille = (cfg.read_ratio * 1000.0).round().clamp(0.0, 1000.0) as u64;
                PlanKind::Mix {
                    writes,
                    reads,
                    reads_per_mille,
                }
            }
            Workload::CreateDelete => {
                let mut run_id = [0u8; 4];
                rand::rng().fill_bytes(&mut run_id);
                let run_id: String = run_id.iter().map(|b| format!("{b:02x}")).collect();
                PlanKind::CreateDelete {
                    prefix: format!("bench-cd-{run_id}"),
                }
            }
        };
        Ok(Plan { kind, builder })
    }

    /// The request for global sequence number `seq`.
    pub fn next(&self, seq: u64, state: &mut WorkerState) -> Result<Template, BenchError> {
        match &self.kind {
            PlanKind::Cycle(templates) => pick(templates, seq),
            PlanKind::Mix {
                writes,
                reads,
                reads_per_mille,
            } => {
                let pool = if seq % 1000 < *reads_per_mille {
                    reads
                } else {
                    writes
                };
                // Spread objects over the pool independently of the read/write choice.
                pick(pool, seq / 1000 + seq)
            }
            PlanKind::CreateSeq { prefix } => self.builder.template(
                Method::POST,
                &format!("/v1/key/create/{prefix}-{seq}"),
                Bytes::new(),
                Expect::Nothing,
            ),
            PlanKind::CreateDelete { prefix } => match state.pending_delete.take() {
                Some(name) => self.builder.template(
                    Method::DELETE,
                    &format!("/v1/key/delete/{name}"),
                    Bytes::new(),
                    Expect::Nothing,
                ),
                None => {
                    let name = format!("{prefix}-{}-{}", state.worker, state.counter);
                    state.counter += 1;
                    let t = self.builder.template(
                        Method::POST,
                        &format!("/v1/key/create/{name}"),
                        Bytes::new(),
                        Expect::Nothing,
                    );
                    state.pending_delete = Some(name);
                    t
                }
            },
        }
    }

    /// The delete a create-delete worker still owes after the run, if any.
    pub fn cleanup(&self, state: &mut WorkerState) -> Option<Result<Template, BenchError>> {
        let name = state.pending_delete.take()?;
        Some(self.builder.template(
            Method::DELETE,
            &format!("/v1/key/delete/{name}"),
            Bytes::new(),
            Expect::Nothing,
        ))
    }

    /// The request builder of this plan.
    pub fn builder(&self) -> &RequestBuilder {
        &self.builder
    }
}

/// Checks a 200 body against what `t` expects.
pub fn verify(t: &Template, status: StatusCode, body: &[u8]) -> bool {
    if status != StatusCode::OK {
        return true;
    }
    match &t.expect {
        Expect::Nothing => true,
        Expect::Generated => serde_json::from_slice::<GenerateKeyResponse>(body)
            .ok()
            .and_then(|r| B64.decode(&r.plaintext).ok())
            .is_some_and(|p| p.len() == 32),
        Expect::Encrypted => serde_json::from_slice::<EncryptKeyResponse>(body)
            .is_ok_and(|r| B64.decode(&r.ciphertext).is_ok()),
        Expect::Plaintext(want) => serde_json::from_slice::<DecryptKeyResponse>(body)
            .is_ok_and(|r| r.plaintext.as_bytes() == want.as_bytes()),
    }
}

fn pick(templates: &[Template], seq: u64) -> Result<Template, BenchError> {
    let len = u64::try_from(templates.len()).unwrap_or(u64::MAX);
    let i = usize::try_from(seq.checked_rem(len).unwrap_or(0)).unwrap_or(0);
    templates
        .get(i)
        .cloned()
        .ok_or_else(|| BenchError::Config("empty request pool".into()))
}

fn json<T: serde::Serialize>(value: &T) -> Result<Bytes, BenchError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| BenchError::Config(format!("encoding a request body: {e}")))
}

/// Sends one setup request and returns the body of a 200 answer.
async fn setup_call(
    builder: &RequestBuilder,
    setup: &mut Sender,
    t: &Template,
    what: &str,
) -> Result<(StatusCode, Bytes), BenchError> {
    setup
        .send(builder.build(t))
        .await
        .map_err(|e| BenchError::Setup {
            what: what.to_string(),
            detail: e.to_string(),
        })
}

async fn create_key(
    builder: &RequestBuilder,
    setup: &mut Sender,
    key: &str,
) -> Result<(), BenchError> {
    let what = format!("POST /v1/key/create/{key}");
    let t = builder.template(
        Method::POST,
        &format!("/v1/key/create/{key}"),
        Bytes::new(),
        Expect::Nothing,
    )?;
    let (status, body) = setup_call(builder, setup, &t, &what).await?;
    let exists = status == StatusCode::BAD_REQUEST
        && String::from_utf8_lossy(&body).contains("already exists");
    if status == StatusCode::OK || exists {
        return Ok(());
    }
    Err(BenchError::Setup {
        what,
        detail: format!("{status}: {}", String::from_utf8_lossy(&body)),
    })
}

/// Generates one DEK under `context` and returns the decrypt request for it.
async fn decrypt_template(
    builder: &RequestBuilder,
    setup: &mut Sender,
    key: &str,
    context: &str,
) -> Result<Template, BenchError> {
    let what = format!("POST /v1/key/generate/{key}");
    let generate = builder.template(
        Method::POST,
        &format!("/v1/key/generate/{key}"),
        json(&GenerateKeyRequest {
            context: context.to_string(),
        })?,
        Expect::Generated,
    )?;
    let (status, body) = setup_call(builder, setup, &generate, &what).await?;
    if status != StatusCode::OK {
        return Err(BenchError::Setup {
            what,
            detail: format!("{status}: {}", String::from_utf8_lossy(&body)),
        });
    }
    let mut generated: GenerateKeyResponse =
        serde_json::from_slice(&body).map_err(|e| BenchError::Setup {
            what: what.clone(),
            detail: format!("unexpected response body: {e}"),
        })?;
    let plaintext = Arc::new(Zeroizing::new(std::mem::take(&mut generated.plaintext)));
    let request = DecryptKeyRequest {
        ciphertext: generated.ciphertext.clone(),
        context: context.to_string(),
        // As kms-go v0.3 sends it: the version generate answered, if any.
        version: generated.version.clone(),
    };
    builder.template(
        Method::POST,
        &format!("/v1/key/decrypt/{key}"),
        json(&request)?,
        Expect::Plaintext(plaintext),
    )
}
