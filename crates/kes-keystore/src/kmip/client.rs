//! The wire of the KMIP store: TTLV request messages over mutual TLS
//! (tokio-rustls; the rustls config is the shared `transport::client_config`),
//! one request and one response at a time per connection, connections kept
//! idle for reuse; the payloads of the operations the store sends, and the
//! reading of their answers.
//!
//! Endpoints are tried in order when connecting (failover). A request whose
//! pooled connection turns out dead is sent once more on a new connection
//! when it is idempotent (every operation here but Register).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

use super::error::{self, BACKEND};
use super::ttlv::{self, Ttlv, Value, op, tag};
use crate::KeyStoreError;
use crate::transport::handshake_hint;

/// Bound on TCP connect plus TLS handshake, per endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one request/response exchange.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response accepted (a listing of many objects is the largest).
const MAX_RESPONSE: usize = 16 << 20;
/// The most idle connections kept.
const MAX_IDLE: usize = 16;

/// Secret Data Type "Seed" (the stored value is opaque bytes).
const SECRET_DATA_TYPE_SEED: u32 = 0x02;
/// Key Format Type "Opaque".
const KEY_FORMAT_OPAQUE: u32 = 0x02;
/// Object Type "Secret Data".
const OBJECT_TYPE_SECRET_DATA: u32 = 0x07;
/// Name Type "Uninterpreted Text String".
const NAME_TYPE_TEXT: u32 = 0x01;
/// Revocation Reason Code "Cessation of Operation".
const REVOKE_CESSATION: u32 = 0x06;
/// Result Status "Success".
const SUCCESS: u32 = 0;

/// One TLS connection to one endpoint.
struct Conn {
    stream: TlsStream<TcpStream>,
    endpoint: usize,
}

/// A KMIP client: the endpoints, the TLS config, the protocol version and
/// the idle connections.
pub(crate) struct Client {
    endpoints: Vec<String>,
    tls: TlsConnector,
    version: (i32, i32),
    idle: Mutex<Vec<Conn>>,
}

/// One failed batch item: the Result Status, Reason and Message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: u32,
    pub reason: Option<u32>,
    pub message: String,
}

impl Failure {
    /// The [`KeyStoreError`] for this failure of operation `what`.
    pub(crate) fn into_error(self, what: &str) -> KeyStoreError {
        error::parse_error(what, self.status, self.reason, &self.message)
    }
}

/// The outcome of one batch item: its payload, or why it failed.
pub(crate) type ItemResult = Result<Ttlv, Failure>;

impl Client {
    /// A client for `endpoints` with `tls` speaking `version`. Connects
    /// lazily.
    pub(crate) fn new(
        endpoints: Vec<String>,
        tls: rustls::ClientConfig,
        version: (i32, i32),
    ) -> Self {
        Client {
            endpoints,
            tls: TlsConnector::from(Arc::new(tls)),
            version,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The endpoints, in failover order.
    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The protocol version spoken.
    pub(crate) fn version(&self) -> (i32, i32) {
        self.version
    }

    /// Sets the protocol version (after negotiation, before first use).
    pub(crate) fn set_version(&mut self, version: (i32, i32)) {
        self.version = version;
    }

    /// Sends one request message holding `items` (operation, payload) and
    /// returns each item's outcome, in order. `what` names the call in
    /// errors.
    pub(crate) async fn call(
        &self,
        what: &str,
        items: Vec<(u32, Vec<Ttlv>)>,
    ) -> Result<Vec<ItemResult>, KeyStoreError> {
        let count = items.len();
        let idempotent = items.iter().all(|(o, _)| *o != op::REGISTER);
        let request = Zeroizing::new(request(self.version, items).to_bytes());
        let pooled = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let answer = match pooled {
            Some(mut conn) => match exchange(&mut conn, &request).await {
                Ok(answer) => Ok((conn, answer)),
                // A dead idle connection: once more on a new one.
                Err(_) if idempotent => self.exchange_new(what, &request).await,
                Err(e) => Err(error::unreachable(&self.endpoints[conn.endpoint], what, e)),
            },
            None => self.exchange_new(what, &request).await,
        };
        let (conn, answer) = answer?;
        let results = parse_response(what, &answer, count)?;
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        Ok(results)
    }

    /// Sends one request with a single item and returns its payload, or the
    /// item's failure as an error.
    pub(crate) async fn call_one(
        &self,
        what: &str,
        operation: u32,
        payload: Vec<Ttlv>,
    ) -> Result<Ttlv, KeyStoreError> {
        let mut results = self.call(what, vec![(operation, payload)]).await?;
        match results.pop() {
            Some(Ok(payload)) => Ok(payload),
            Some(Err(failure)) => Err(failure.into_error(what)),
            None => Err(error::malformed(what, "no batch item")),
        }
    }

    /// Connects (endpoints in order) and exchanges `request` on the new
    /// connection.
    async fn exchange_new(
        &self,
        what: &str,
        request: &[u8],
    ) -> Result<(Conn, Zeroizing<Vec<u8>>), KeyStoreError> {
        let mut conn = self.connect(what).await?;
        match exchange(&mut conn, request).await {
            Ok(answer) => Ok((conn, answer)),
            Err(e) => Err(error::unreachable(&self.endpoints[conn.endpoint], what, e)),
        }
    }

    /// A new connection to the first endpoint that accepts one; the error
    /// names every endpoint's failure. Temporary unless every endpoint
    /// failed the TLS handshake (a trust or certificate problem stays until
    /// the config changes).
    async fn connect(&self, what: &str) -> Result<Conn, KeyStoreError> {
        let mut failures = Vec::new();
        let mut temporary = false;
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            match tokio::time::timeout(CONNECT_TIMEOUT, self.connect_one(endpoint)).await {
                Ok(Ok(stream)) => {
                    return Ok(Conn {
                        stream,
                        endpoint: i,
                    });
                }
                Ok(Err((message, tls))) => {
                    temporary |= !tls;
                    failures.push(format!("{endpoint}: {message}"));
                }
                Err(_) => {
                    temporary = true;
                    failures.push(format!(
                        "{endpoint}: no connection within {CONNECT_TIMEOUT:?}"
                    ));
                }
            }
        }
        Err(KeyStoreError::unreachable(
            BACKEND,
            format!("{what}: cannot connect: {}", failures.join("; ")),
        )
        .with_temporary(temporary))
    }

    /// A TLS connection to `endpoint`, or why not and whether TLS itself
    /// refused it (a lasting failure).
    async fn connect_one(&self, endpoint: &str) -> Result<TlsStream<TcpStream>, (String, bool)> {
        let host = endpoint
            .rsplit_once(':')
            .map_or(endpoint, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| (format!("invalid server name {host:?}: {e}"), false))?;
        let tcp = TcpStream::connect(endpoint)
            .await
            .map_err(|e| (format!("TCP connect: {e}"), false))?;
        let _ = tcp.set_nodelay(true);
        self.tls.connect(name, tcp).await.map_err(|e| {
            // Only a TLS error (trust, certificate, alert) is lasting; a
            // connection reset or closed mid-handshake is a peer going
            // down, as temporary as a refused connect.
            let tls = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            let hint = tls.map_or("", handshake_hint);
            (format!("TLS handshake: {e}{hint}"), tls.is_some())
        })
    }
}

/// The request message in `version`: header (version, batch count) and one
/// batch item per operation.
fn request(version: (i32, i32), items: Vec<(u32, Vec<Ttlv>)>) -> Ttlv {
    let (major, minor) = version;
    let count = i32::try_from(items.len()).unwrap_or(i32::MAX);
    let mut children = vec![Ttlv::structure(
        tag::REQUEST_HEADER,
        vec![
            Ttlv::structure(
                tag::PROTOCOL_VERSION,
                vec![
                    Ttlv::int(tag::PROTOCOL_VERSION_MAJOR, major),
                    Ttlv::int(tag::PROTOCOL_VERSION_MINOR, minor),
                ],
            ),
            Ttlv::int(tag::BATCH_COUNT, count),
        ],
    )];
    let batched = items.len() > 1;
    for (i, (operation, payload)) in items.into_iter().enumerate() {
        let mut item = vec![Ttlv::enumeration(tag::OPERATION, operation)];
        // Batches of several items must number them.
        if batched {
            item.push(Ttlv::bytes(tag::UNIQUE_BATCH_ITEM_ID, &batch_id(i)));
        }
        item.push(Ttlv::structure(tag::REQUEST_PAYLOAD, payload));
        children.push(Ttlv::structure(tag::BATCH_ITEM, item));
    }
    Ttlv::structure(tag::REQUEST_MESSAGE, children)
}

/// The Unique Batch Item ID of the `i`-th item of a batch.
fn batch_id(i: usize) -> [u8; 4] {
    u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes()
}

/// Writes `request` and reads one whole response message, under
/// [`REQUEST_TIMEOUT`].
async fn exchange(conn: &mut Conn, request: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let io = async {
        conn.stream
            .write_all(request)
            .await
            .map_err(|e| format!("write: {e}"))?;
        conn.stream
            .flush()
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut header = [0u8; 8];
        conn.stream
            .read_exact(&mut header)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let len = ttlv::message_len(&header);
        if len > MAX_RESPONSE {
            return Err(format!(
                "response of {len} bytes is over the limit of {MAX_RESPONSE}"
            ));
        }
        let mut answer = Zeroizing::new(vec![0u8; len]);
        answer[..8].copy_from_slice(&header);
        conn.stream
            .read_exact(&mut answer[8..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok(answer)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, io)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// Reads a response message with `count` batch items.
fn parse_response(
    what: &str,
    bytes: &[u8],
    count: usize,
) -> Result<Vec<ItemResult>, KeyStoreError> {
    let msg = ttlv::decode(bytes).map_err(|e| error::malformed(what, e))?;
    if msg.tag != tag::RESPONSE_MESSAGE {
        return Err(error::malformed(
            what,
            format!("tag {:06X} is not a Response Message", msg.tag),
        ));
    }
    let mut items = Vec::new();
    for (i, item) in msg.children_with(tag::BATCH_ITEM).enumerate() {
        // Answers come in request order; a numbered one must say so.
        if let Some(id) = item.child(tag::UNIQUE_BATCH_ITEM_ID)
            && id.value != Value::Bytes(Zeroizing::new(batch_id(i).to_vec()))
        {
            return Err(error::malformed(
                what,
                format!("batch item {i} answers another request"),
            ));
        }
        items.push(parse_item(item));
    }
    if items.len() != count {
        // A server that cannot parse the request answers one failed item.
        if let Some(Err(_)) = items.first() {
            return Err(items.into_iter().next().and_then(Result::err).map_or_else(
                || error::malformed(what, "no batch item"),
                |f| f.into_error(what),
            ));
        }
        return Err(error::malformed(
            what,
            format!("{} batch items for {count} requests", items.len()),
        ));
    }
    Ok(items)
}

/// One response batch item: its payload on success (an empty structure if
/// it has none), else its failure.
fn parse_item(item: &Ttlv) -> ItemResult {
    let status = item
        .child(tag::RESULT_STATUS)
        .and_then(Ttlv::as_u32)
        .unwrap_or(u32::MAX);
    if status == SUCCESS {
        return Ok(item
            .child(tag::RESPONSE_PAYLOAD)
            .cloned()
            .unwrap_or_else(|| Ttlv::structure(tag::RESPONSE_PAYLOAD, Vec::new())));
    }
    Err(Failure {
        status,
        reason: item.child(tag::RESULT_REASON).and_then(Ttlv::as_u32),
        message: item
            .child(tag::RESULT_MESSAGE)
            .and_then(Ttlv::as_text)
            .unwrap_or_default()
            .to_owned(),
    })
}

/// Whether `version` uses the KMIP 2.0 message shapes: attributes are sent
/// and answered as their own tagged items (the Name structure itself) in
/// an Attributes structure, and named in Get Attributes by an Attribute
/// Reference (the attribute's tag), where 1.x has Attribute (Attribute
/// Name, Attribute Value) pairs, a Template-Attribute in Register and
/// Attribute Name text in Get Attributes. Every other message this store
/// sends is the same in both.
fn kmip2(version: (i32, i32)) -> bool {
    version >= (2, 0)
}

/// The Name attribute `name` (for Locate and Register) in the shape of
/// `version`.
fn name_attribute(version: (i32, i32), name: &str) -> Ttlv {
    let name = vec![
        Ttlv::text(tag::NAME_VALUE, name),
        Ttlv::enumeration(tag::NAME_TYPE, NAME_TYPE_TEXT),
    ];
    if kmip2(version) {
        return Ttlv::structure(tag::NAME, name);
    }
    Ttlv::structure(
        tag::ATTRIBUTE,
        vec![
            Ttlv::text(tag::ATTRIBUTE_NAME, "Name"),
            Ttlv::structure(tag::ATTRIBUTE_VALUE, name),
        ],
    )
}

/// Locate payload: the objects named `name`, or every object when `None`.
/// In 1.x the Name attribute is a direct child of the payload; 2.0 always
/// has an Attributes structure (the spec requires one), empty to match
/// every object.
pub(crate) fn locate(version: (i32, i32), name: Option<&str>) -> Vec<Ttlv> {
    let attributes = name.map(|n| name_attribute(version, n)).into_iter();
    if kmip2(version) {
        return vec![Ttlv::structure(tag::ATTRIBUTES, attributes.collect())];
    }
    attributes.collect()
}

/// The Unique Identifiers of a Locate answer.
pub(crate) fn located(payload: &Ttlv) -> Vec<String> {
    payload
        .children_with(tag::UNIQUE_IDENTIFIER)
        .filter_map(Ttlv::as_text)
        .map(str::to_owned)
        .collect()
}

/// Register payload: a Secret Data object holding `value`, named `name`
/// (the Name in a Template-Attribute in 1.x, in an Attributes structure in
/// 2.0).
pub(crate) fn register(version: (i32, i32), name: &str, value: &[u8]) -> Vec<Ttlv> {
    let attributes = if kmip2(version) {
        tag::ATTRIBUTES
    } else {
        tag::TEMPLATE_ATTRIBUTE
    };
    vec![
        Ttlv::enumeration(tag::OBJECT_TYPE, OBJECT_TYPE_SECRET_DATA),
        Ttlv::structure(attributes, vec![name_attribute(version, name)]),
        Ttlv::structure(
            tag::SECRET_DATA,
            vec![
                Ttlv::enumeration(tag::SECRET_DATA_TYPE, SECRET_DATA_TYPE_SEED),
                Ttlv::structure(
                    tag::KEY_BLOCK,
                    vec![
                        Ttlv::enumeration(tag::KEY_FORMAT_TYPE, KEY_FORMAT_OPAQUE),
                        Ttlv::structure(
                            tag::KEY_VALUE,
                            vec![Ttlv::bytes(tag::KEY_MATERIAL, value)],
                        ),
                    ],
                ),
            ],
        ),
    ]
}

/// A payload holding only a Unique Identifier (Get, Destroy).
pub(crate) fn by_id(uid: &str) -> Vec<Ttlv> {
    vec![Ttlv::text(tag::UNIQUE_IDENTIFIER, uid)]
}

/// Revoke payload: `uid`, reason Cessation of Operation.
pub(crate) fn revoke(uid: &str) -> Vec<Ttlv> {
    vec![
        Ttlv::text(tag::UNIQUE_IDENTIFIER, uid),
        Ttlv::structure(
            tag::REVOCATION_REASON,
            vec![Ttlv::enumeration(
                tag::REVOCATION_REASON_CODE,
                REVOKE_CESSATION,
            )],
        ),
    ]
}

/// Get Attributes payload: the Name attribute of `uid`, asked for by its
/// Attribute Name in 1.x and by an Attribute Reference holding the Name
/// tag in 2.0.
pub(crate) fn get_name(version: (i32, i32), uid: &str) -> Vec<Ttlv> {
    let which = if kmip2(version) {
        Ttlv::enumeration(tag::ATTRIBUTE_REFERENCE, tag::NAME)
    } else {
        Ttlv::text(tag::ATTRIBUTE_NAME, "Name")
    };
    vec![Ttlv::text(tag::UNIQUE_IDENTIFIER, uid), which]
}

/// The Name values of a Get Attributes answer, in either shape: 1.x
/// Attribute items named "Name", or the Name items of a 2.0 Attributes
/// structure.
pub(crate) fn names(payload: &Ttlv) -> Vec<String> {
    let kmip1 = payload
        .children_with(tag::ATTRIBUTE)
        .filter(|a| a.child(tag::ATTRIBUTE_NAME).and_then(Ttlv::as_text) == Some("Name"))
        .filter_map(|a| a.child(tag::ATTRIBUTE_VALUE));
    let kmip2 = payload
        .children_with(tag::ATTRIBUTES)
        .flat_map(|a| a.children_with(tag::NAME));
    kmip1
        .chain(kmip2)
        .filter_map(|name| name.child(tag::NAME_VALUE)?.as_text())
        .map(str::to_owned)
        .collect()
}

/// The key material of a Get answer (a Secret Data or Symmetric Key
/// object with an unwrapped Key Value).
pub(crate) fn material(what: &str, payload: &Ttlv) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let object = payload
        .child(tag::SECRET_DATA)
        .or_else(|| payload.child(tag::SYMMETRIC_KEY))
        .ok_or_else(|| error::malformed(what, "no Secret Data or Symmetric Key object"))?;
    let key_value = object
        .child(tag::KEY_BLOCK)
        .and_then(|b| b.child(tag::KEY_VALUE))
        .ok_or_else(|| error::malformed(what, "no Key Block with a Key Value"))?;
    match &key_value.value {
        Value::Structure(_) => match key_value.child(tag::KEY_MATERIAL).map(|m| &m.value) {
            Some(Value::Bytes(b)) => Ok(b.clone()),
            _ => Err(error::malformed(
                what,
                "the Key Value holds no Key Material bytes",
            )),
        },
        _ => Err(error::malformed(
            what,
            "the Key Value is wrapped (not supported)",
        )),
    }
}

/// Discover Versions payload offering `versions` (newest first).
pub(crate) fn discover_versions(versions: &[(i32, i32)]) -> Vec<Ttlv> {
    versions
        .iter()
        .map(|(major, minor)| {
            Ttlv::structure(
                tag::PROTOCOL_VERSION,
                vec![
                    Ttlv::int(tag::PROTOCOL_VERSION_MAJOR, *major),
                    Ttlv::int(tag::PROTOCOL_VERSION_MINOR, *minor),
                ],
            )
        })
        .collect()
}

/// The first version of a Discover Versions answer (the server's choice
/// among those offered).
pub(crate) fn chosen_version(payload: &Ttlv) -> Option<(i32, i32)> {
    let v = payload.child(tag::PROTOCOL_VERSION)?;
    let part = |t| match v.child(t)?.value {
        Value::Integer(n) => Some(n),
        _ => None,
    };
    Some((
        part(tag::PROTOCOL_VERSION_MAJOR)?,
        part(tag::PROTOCOL_VERSION_MINOR)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The header of a one-item KMIP 2.0 request message.
    const HEADER_2_0: &str = "42 00 77 01 00 00 00 38 \
        42 00 69 01 00 00 00 20 \
          42 00 6A 02 00 00 00 04 00 00 00 02 00 00 00 00 \
          42 00 6B 02 00 00 00 04 00 00 00 00 00 00 00 00 \
        42 00 0D 02 00 00 00 04 00 00 00 01 00 00 00 00";

    /// The 2.0 Name attribute of "Key1": the Name structure in Attributes.
    const ATTRIBUTES_NAME_KEY1: &str = "42 01 25 01 00 00 00 28 \
        42 00 53 01 00 00 00 20 \
          42 00 55 07 00 00 00 04 4B 65 79 31 00 00 00 00 \
          42 00 54 05 00 00 00 04 00 00 00 01 00 00 00 00";

    /// The KMIP 2.0 requests this store sends, byte for byte as PyKMIP
    /// 0.11's encoder writes them (`RequestMessage.write` with
    /// `KMIPVersion.KMIP_2_0` of the same Locate, Register and Get
    /// Attributes payloads).
    #[test]
    fn kmip_2_0_requests_match_pykmip() {
        let v = (2, 0);
        let want = format!(
            "42 00 78 01 00 00 00 90 {HEADER_2_0} \
             42 00 0F 01 00 00 00 48 \
               42 00 5C 05 00 00 00 04 00 00 00 08 00 00 00 00 \
               42 00 79 01 00 00 00 30 {ATTRIBUTES_NAME_KEY1}"
        );
        let msg = request(v, vec![(op::LOCATE, locate(v, Some("Key1")))]);
        assert_eq!(msg.to_bytes(), hex(&want), "{msg:?}");

        let want = format!(
            "42 00 78 01 00 00 00 E8 {HEADER_2_0} \
             42 00 0F 01 00 00 00 A0 \
               42 00 5C 05 00 00 00 04 00 00 00 03 00 00 00 00 \
               42 00 79 01 00 00 00 88 \
                 42 00 57 05 00 00 00 04 00 00 00 07 00 00 00 00 \
                 {ATTRIBUTES_NAME_KEY1} \
                 42 00 85 01 00 00 00 40 \
                   42 00 86 05 00 00 00 04 00 00 00 02 00 00 00 00 \
                   42 00 40 01 00 00 00 28 \
                     42 00 42 05 00 00 00 04 00 00 00 02 00 00 00 00 \
                     42 00 45 01 00 00 00 10 \
                       42 00 43 08 00 00 00 03 01 02 03 00 00 00 00 00"
        );
        let msg = request(v, vec![(op::REGISTER, register(v, "Key1", &[1, 2, 3]))]);
        assert_eq!(msg.to_bytes(), hex(&want), "{msg:?}");

        let want = format!(
            "42 00 78 01 00 00 00 80 {HEADER_2_0} \
             42 00 0F 01 00 00 00 38 \
               42 00 5C 05 00 00 00 04 00 00 00 0B 00 00 00 00 \
               42 00 79 01 00 00 00 20 \
                 42 00 94 07 00 00 00 01 31 00 00 00 00 00 00 00 \
                 42 01 3B 05 00 00 00 04 00 42 00 53 00 00 00 00"
        );
        let msg = request(v, vec![(op::GET_ATTRIBUTES, get_name(v, "1"))]);
        assert_eq!(msg.to_bytes(), hex(&want), "{msg:?}");

        // Locating every object: an empty Attributes structure (required by
        // KMIP 2.0; PyKMIP's own client leaves it out, its server takes
        // both).
        assert_eq!(
            locate(v, None),
            [Ttlv::structure(tag::ATTRIBUTES, Vec::new())]
        );
    }

    /// Only the attribute shapes differ between 1.x and 2.0.
    #[test]
    fn kmip_1_x_requests_keep_their_shapes() {
        let v = (1, 4);
        let name = Ttlv::structure(
            tag::ATTRIBUTE,
            vec![
                Ttlv::text(tag::ATTRIBUTE_NAME, "Name"),
                Ttlv::structure(
                    tag::ATTRIBUTE_VALUE,
                    vec![
                        Ttlv::text(tag::NAME_VALUE, "Key1"),
                        Ttlv::enumeration(tag::NAME_TYPE, NAME_TYPE_TEXT),
                    ],
                ),
            ],
        );
        assert_eq!(locate(v, Some("Key1")), std::slice::from_ref(&name));
        assert!(locate(v, None).is_empty());
        assert_eq!(
            register(v, "Key1", b"x")[1],
            Ttlv::structure(tag::TEMPLATE_ATTRIBUTE, vec![name])
        );
        assert_eq!(get_name(v, "1")[1], Ttlv::text(tag::ATTRIBUTE_NAME, "Name"));
        // The Secret Data object is the same in both.
        assert_eq!(register((2, 0), "n", b"x")[2], register(v, "n", b"x")[2]);
    }

    /// A 2.0 Get Attributes answer as PyKMIP 0.11 writes it
    /// (`GetAttributesResponsePayload.write`, KMIP 2.0), and a 1.x one.
    #[test]
    fn names_are_read_in_both_shapes() {
        let answer = format!(
            "42 00 7C 01 00 00 00 40 \
               42 00 94 07 00 00 00 01 31 00 00 00 00 00 00 00 \
               {ATTRIBUTES_NAME_KEY1}"
        );
        let payload = ttlv::decode(&hex(&answer)).unwrap();
        assert_eq!(names(&payload), ["Key1"]);
        let kmip1 = Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![Ttlv::text(tag::UNIQUE_IDENTIFIER, "1")]
                .into_iter()
                .chain(locate((1, 4), Some("Key1")))
                .collect(),
        );
        assert_eq!(names(&kmip1), ["Key1"]);
        let none = Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![Ttlv::text(tag::UNIQUE_IDENTIFIER, "1")],
        );
        assert!(names(&none).is_empty());
    }

    #[test]
    fn get_answers_are_read() {
        let payload = Ttlv::structure(tag::RESPONSE_PAYLOAD, register((1, 4), "n", b"value"));
        assert_eq!(material("get", &payload).unwrap().as_slice(), b"value");
        let empty = Ttlv::structure(tag::RESPONSE_PAYLOAD, vec![]);
        let e = material("get 'k'", &empty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kmip: get 'k': malformed KMIP answer: no Secret Data or Symmetric Key object"
        );
    }

    #[test]
    fn failed_items_keep_reason_and_message() {
        let item = Ttlv::structure(
            tag::BATCH_ITEM,
            vec![
                Ttlv::enumeration(tag::RESULT_STATUS, 1),
                Ttlv::enumeration(tag::RESULT_REASON, 1),
                Ttlv::text(tag::RESULT_MESSAGE, "Could not locate object: 9"),
            ],
        );
        let Err(f) = parse_item(&item) else {
            panic!("want a failure")
        };
        assert_eq!((f.status, f.reason), (1, Some(1)));
        assert_eq!(f.message, "Could not locate object: 9");
        let msg = Ttlv::structure(tag::RESPONSE_MESSAGE, vec![item]).to_bytes();
        let e = parse_response("x", &msg, 2).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NotFound);
        let e =
            parse_response("x", &Ttlv::int(tag::RESPONSE_MESSAGE, 1).to_bytes(), 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kmip: x: malformed KMIP answer: 0 batch items for 1 requests"
        );
    }
}
