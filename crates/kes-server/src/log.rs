//! The error log and the audit log (spec §8.7) and their API streams
//! (§2.6, §2.7).
//!
//! * Error records are Go `slog` text lines
//!   (`time=… level=WARN msg="…" req.method=GET …`) written to stderr when
//!   their level passes the `log.error` threshold, and sent to
//!   `/v1/log/error` subscribers as `{"message":"<line>"}`.
//! * Audit records are JSON lines of the [`kes_types::api::AuditEvent`] shape (latency in
//!   integer nanoseconds) written to stdout and sent to `/v1/log/audit`
//!   subscribers when INFO passes the `log.audit` threshold.
//!
//! Audit lines written to stdout are batched: the request path only formats
//! the line and appends it to a buffer; a flusher thread writes the buffer
//! with one `write(2)` at most 5 ms after its first line (one syscall per
//! batch instead of one per request, measured in BENCHMARKS.md). A request
//! that finds 1 MiB pending writes it itself, so nothing is ever dropped and
//! memory stays bounded. [`Logger::flush`] writes what is pending
//! (shutdown). Error records are rare and are written directly.
//!
//! Subscribers are `tokio::sync::broadcast` receivers: a subscriber that
//! falls behind loses events (it sees `RecvError::Lagged`) instead of
//! slowing the server down. Every event handed to subscribers is counted in
//! the shared [`LogCounters`] (one per receiving subscriber).
//!
//! **The logger never sees key material.** Callers must not pass secrets
//! (keys, plaintexts, API keys, passwords) in messages or attributes; the
//! logger escapes what it gets but cannot redact it.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use kes_types::api::ErrorEvent;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;

use crate::level::Level;
use crate::metrics::LogCounters;

/// How many events a subscriber may fall behind before it loses some.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// One audited request (written as one JSON line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the request was received.
    pub time: OffsetDateTime,
    /// Client IP, when known.
    pub ip: Option<IpAddr>,
    /// Request path.
    pub path: String,
    /// Client identity, when known.
    pub identity: Option<String>,
    /// Response status code.
    pub status: u16,
    /// Time taken to answer.
    pub latency: Duration,
}

impl AuditRecord {
    /// The JSON line of this record (with trailing `\n`), e.g.
    /// `{"time":"2025-05-01T12:00:00.123456789Z","request":{"ip":"10.1.2.3","path":"/v1/key/create/k1","identity":"3ecf…"},"response":{"code":200,"time":2000000}}`.
    pub fn to_json_line(&self) -> Vec<u8> {
        // Written by hand (this runs once per audited request): the same
        // bytes serde would produce for `AuditEvent` (the test
        // `hand_written_audit_json_equals_serde` checks that), without
        // building the intermediate strings.
        use std::io::Write as _;
        let mut out = Vec::with_capacity(96 + self.path.len() + 64);
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(rfc3339_nanos(self.time).as_bytes());
        out.extend_from_slice(b"\",\"request\":{");
        if let Some(ip) = self.ip {
            let _ = write!(out, "\"ip\":\"{ip}\",");
        }
        out.extend_from_slice(b"\"path\":");
        push_json_str(&mut out, &self.path);
        if let Some(id) = self.identity.as_deref().filter(|id| !id.is_empty()) {
            out.extend_from_slice(b",\"identity\":");
            push_json_str(&mut out, id);
        }
        let nanos = u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX);
        let _ = writeln!(
            out,
            "}},\"response\":{{\"code\":{},\"time\":{nanos}}}}}",
            self.status
        );
        out
    }
}

/// Appends `s` as a JSON string: verbatim when it needs no escaping (the
/// common case: paths of valid names, hex identities), else via serde_json.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// The error and audit loggers with their thresholds, writers and
/// subscriber hubs. Shared as `Arc<Logger>`; all methods take `&self`.
pub struct Logger {
    error_level: AtomicI32,
    audit_level: AtomicI32,
    error_out: Mutex<Box<dyn Write + Send>>,
    audit_out: Sink,
    error_tx: broadcast::Sender<Arc<[u8]>>,
    audit_tx: broadcast::Sender<Arc<[u8]>>,
    counters: Arc<LogCounters>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (error, audit) = self.levels();
        f.debug_struct("Logger")
            .field("error_level", &error)
            .field("audit_level", &audit)
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// A logger writing error records to stderr and audit records to stdout
    /// (batched by a flusher thread; if that thread cannot be started,
    /// audit lines are written directly).
    pub fn new(error_level: Level, audit_level: Level) -> Arc<Self> {
        let audit_out = Sink::batched(Box::new(std::io::stdout()));
        Self::build(
            error_level,
            audit_level,
            Box::new(std::io::stderr()),
            audit_out,
        )
    }

    /// A logger with explicit writers (tests, files). Each record is written
    /// with one `write_all` and flushed.
    pub fn with_writers(
        error_level: Level,
        audit_level: Level,
        err: Box<dyn Write + Send>,
        audit: Box<dyn Write + Send>,
    ) -> Arc<Self> {
        Self::build(
            error_level,
            audit_level,
            err,
            Sink::Direct(Mutex::new(audit)),
        )
    }

    fn build(
        error_level: Level,
        audit_level: Level,
        err: Box<dyn Write + Send>,
        audit_out: Sink,
    ) -> Arc<Self> {
        let (error_tx, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let (audit_tx, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        Arc::new(Self {
            error_level: AtomicI32::new(error_level.0),
            audit_level: AtomicI32::new(audit_level.0),
            error_out: Mutex::new(err),
            audit_out,
            error_tx,
            audit_tx,
            counters: Arc::new(LogCounters::default()),
        })
    }

    /// Replaces both thresholds (SIGHUP reload).
    pub fn set_levels(&self, error: Level, audit: Level) {
        self.error_level.store(error.0, Ordering::Relaxed);
        self.audit_level.store(audit.0, Ordering::Relaxed);
    }

    /// The current `(error, audit)` thresholds.
    pub fn levels(&self) -> (Level, Level) {
        (
            Level(self.error_level.load(Ordering::Relaxed)),
            Level(self.audit_level.load(Ordering::Relaxed)),
        )
    }

    /// The counters of events handed to subscribers; pass them to
    /// [`crate::metrics::Metrics::with_log_counters`].
    pub fn log_counters(&self) -> &Arc<LogCounters> {
        &self.counters
    }

    /// Writes an error-log record if `level` passes the `log.error`
    /// threshold: one `slog` text line to the error writer and
    /// `{"message":"<line>"}` to error subscribers. `attrs` are written in
    /// order as `key=value` (e.g. `("req.method", "GET")`); values are quoted
    /// and escaped when needed. Never pass key material.
    pub fn error(&self, level: Level, msg: &str, attrs: &[(&str, &str)]) {
        let (threshold, _) = self.levels();
        if !threshold.allows(level) {
            return;
        }
        let line = format_error_line(OffsetDateTime::now_utc(), level, msg, attrs);
        if self.error_tx.receiver_count() > 0 {
            let event = ErrorEvent {
                message: line.clone(),
            };
            let mut json = serde_json::to_vec(&event).unwrap_or_default();
            json.push(b'\n');
            if let Ok(n) = self.error_tx.send(Arc::from(json)) {
                self.counters.add_error(n);
            }
        }
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        write_line(&self.error_out, &bytes);
    }

    /// Writes an audit record (INFO) if it passes the `log.audit`
    /// threshold: one JSON line to the audit writer and to audit
    /// subscribers.
    pub fn audit(&self, event: &AuditRecord) {
        let (_, threshold) = self.levels();
        if !threshold.allows(Level::INFO) {
            return;
        }
        let line: Arc<[u8]> = Arc::from(event.to_json_line());
        if self.audit_tx.receiver_count() > 0
            && let Ok(n) = self.audit_tx.send(line.clone())
        {
            self.counters.add_audit(n);
        }
        self.audit_out.write(&line);
    }

    /// Writes every audit line appended so far. Called at shutdown.
    pub fn flush(&self) {
        self.audit_out.flush();
    }

    /// A new `/v1/log/audit` subscriber: receives NDJSON lines (each with
    /// its trailing `\n`) of audit events produced from now on.
    pub fn subscribe_audit(&self) -> broadcast::Receiver<Arc<[u8]>> {
        self.audit_tx.subscribe()
    }

    /// A new `/v1/log/error` subscriber: receives `{"message":"…"}\n` lines
    /// of error records produced from now on.
    pub fn subscribe_error(&self) -> broadcast::Receiver<Arc<[u8]>> {
        self.error_tx.subscribe()
    }
}

/// Where audit lines go.
enum Sink {
    /// Written and flushed in the caller's thread (tests, files).
    Direct(Mutex<Box<dyn Write + Send>>),
    /// Appended to a buffer that a flusher thread writes out.
    Batched(Arc<Batch>),
}

/// Audit lines waiting to be written. Request threads only append under a
/// short lock; the flusher thread wakes when the buffer stops being empty,
/// waits [`BATCH_WINDOW`] for more lines, and writes the lot with one
/// `write(2)`. Taking and writing happen under the `out` lock, so lines are
/// written in the order they were appended.
struct Batch {
    pending: Mutex<Vec<u8>>,
    ready: Condvar,
    out: Mutex<Box<dyn Write + Send>>,
}

/// How long the flusher collects lines before writing them: the most an
/// audit line is delayed.
const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// Above this many pending bytes the appending request writes the batch
/// itself (back-pressure instead of unbounded memory; nothing is dropped).
const MAX_PENDING: usize = 1 << 20;

impl Sink {
    /// A batched sink writing to `out`, with its flusher thread (which ends
    /// when the sink is dropped). Falls back to direct writes if the thread
    /// cannot be started.
    fn batched(out: Box<dyn Write + Send>) -> Sink {
        let batch = Arc::new(Batch {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            ready: Condvar::new(),
            out: Mutex::new(out),
        });
        let weak = Arc::downgrade(&batch);
        let started = std::thread::Builder::new()
            .name("kes-audit-flusher".into())
            .spawn(move || flush_loop(weak));
        match started {
            Ok(_) => Sink::Batched(batch),
            Err(_) => match Arc::try_unwrap(batch) {
                Ok(b) => Sink::Direct(b.out),
                Err(_) => Sink::Direct(Mutex::new(Box::new(std::io::stdout()))),
            },
        }
    }

    fn write(&self, line: &[u8]) {
        match self {
            Sink::Direct(out) => write_line(out, line),
            Sink::Batched(b) => {
                let mut pending = lock(&b.pending);
                let was_empty = pending.is_empty();
                pending.extend_from_slice(line);
                let full = pending.len() >= MAX_PENDING;
                drop(pending);
                if full {
                    b.write_pending();
                } else if was_empty {
                    b.ready.notify_one();
                }
            }
        }
    }

    fn flush(&self) {
        if let Sink::Batched(b) = self {
            b.write_pending();
        }
    }
}

impl Batch {
    /// Writes out whatever is pending, in order.
    fn write_pending(&self) {
        let mut out = lock(&self.out);
        let data = std::mem::take(&mut *lock(&self.pending));
        if !data.is_empty() {
            let _ = out.write_all(&data);
            let _ = out.flush();
        }
    }
}

fn flush_loop(batch: std::sync::Weak<Batch>) {
    while let Some(b) = batch.upgrade() {
        let pending = lock(&b.pending);
        let (pending, _) = b
            .ready
            .wait_timeout_while(pending, Duration::from_secs(1), |p| p.is_empty())
            .unwrap_or_else(|e| e.into_inner());
        let has_data = !pending.is_empty();
        drop(pending);
        if has_data {
            std::thread::sleep(BATCH_WINDOW);
            b.write_pending();
        }
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes and flushes one line. Write errors are ignored: there is nowhere
/// left to report them.
fn write_line(out: &Mutex<Box<dyn Write + Send>>, line: &[u8]) {
    let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
    let _ = w.write_all(line);
    let _ = w.flush();
}

/// Formats one `slog` text record without trailing newline:
/// `time=2025-05-01T12:00:00.123Z level=WARN msg="…" key=value …`.
/// The time is written in UTC with milliseconds.
pub fn format_error_line(
    time: OffsetDateTime,
    level: Level,
    msg: &str,
    attrs: &[(&str, &str)],
) -> String {
    let t = time.to_offset(time::UtcOffset::UTC);
    let mut out = String::with_capacity(64 + msg.len() + attrs.len() * 24);
    out.push_str(&format!(
        "time={:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z level={}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond(),
        level
    ));
    push_attr(&mut out, "msg", msg);
    for (k, v) in attrs {
        push_attr(&mut out, k, v);
    }
    out
}

fn push_attr(out: &mut String, key: &str, value: &str) {
    out.push(' ');
    push_text(out, key);
    out.push('=');
    push_text(out, value);
}

/// Appends `s` as is when it is a plain token, else as a Go-style quoted
/// string (`strconv.Quote` escapes), so that values can never break the
/// line or forge `key=value` pairs.
fn push_text(out: &mut String, s: &str) {
    if !needs_quoting(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if !is_printable(c) => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a value must be quoted: empty, or containing a space, `=`, `"`,
/// a control character or a non-printable/whitespace Unicode character.
fn needs_quoting(s: &str) -> bool {
    s.is_empty()
        || s.chars().any(|c| {
            if c.is_ascii() {
                c == ' ' || c == '=' || c == '"' || c.is_ascii_control()
            } else {
                !is_printable(c) || c.is_whitespace() || c == char::REPLACEMENT_CHARACTER
            }
        })
}

/// An approximation of Go's `unicode.IsPrint` for non-ASCII characters:
/// no controls, no whitespace other than the ASCII space, no format
/// characters commonly used for spoofing.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}'))
}

/// RFC 3339 in UTC with as many fractional digits as needed (Go's
/// `time.RFC3339Nano`).
fn rfc3339_nanos(time: OffsetDateTime) -> String {
    let t = time.to_offset(time::UtcOffset::UTC);
    t.format(&Rfc3339).unwrap_or_else(|_| {
        // Only years outside 0..=9999 fail; fall back to a plain rendering.
        format!("{t}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn logger(error: Level, audit: Level) -> (Arc<Logger>, Buf, Buf) {
        let (e, a) = (Buf::default(), Buf::default());
        let l = Logger::with_writers(error, audit, Box::new(e.clone()), Box::new(a.clone()));
        (l, e, a)
    }

    #[test]
    fn batched_audit_sink_writes_every_line_in_order() {
        let out = Buf::default();
        let logger = Logger::build(
            Level::INFO,
            Level::INFO,
            Box::new(Buf::default()),
            Sink::batched(Box::new(out.clone())),
        );
        let mut expected = String::new();
        for i in 0..5000u16 {
            let mut r = record();
            r.status = 200 + i % 300;
            expected.push_str(std::str::from_utf8(&r.to_json_line()).unwrap());
            logger.audit(&r);
        }
        logger.flush();
        assert_eq!(out.text(), expected);
    }

    #[test]
    fn hand_written_audit_json_equals_serde() {
        use kes_types::api::{AuditEvent, AuditRequest, AuditResponse};
        let reference = |r: &AuditRecord| {
            let event = AuditEvent {
                time: rfc3339_nanos(r.time),
                request: AuditRequest {
                    ip: r.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    path: r.path.clone(),
                    identity: r.identity.clone().unwrap_or_default(),
                },
                response: AuditResponse {
                    code: r.status,
                    time: u64::try_from(r.latency.as_nanos()).unwrap(),
                },
            };
            let mut v = serde_json::to_vec(&event).unwrap();
            v.push(b'\n');
            v
        };
        let paths = [
            "/v1/key/generate/k1",
            "/v1/key/list/*",
            "/a\"b\\c\n\u{7f}é<>&",
            "",
        ];
        let ips: [Option<IpAddr>; 3] = [
            None,
            Some("10.1.2.3".parse().unwrap()),
            Some("::1".parse().unwrap()),
        ];
        let ids = [
            None,
            Some(String::new()),
            Some("3ecf".to_owned()),
            Some("x\"y".to_owned()),
        ];
        for path in paths {
            for ip in ips {
                for id in &ids {
                    let mut r = record();
                    r.path = path.to_owned();
                    r.ip = ip;
                    r.identity = id.clone();
                    assert_eq!(
                        String::from_utf8(r.to_json_line()).unwrap(),
                        String::from_utf8(reference(&r)).unwrap()
                    );
                }
            }
        }
    }

    fn record() -> AuditRecord {
        AuditRecord {
            time: datetime!(2025-05-01 12:00:00.123456789 UTC),
            ip: Some("10.1.2.3".parse().unwrap()),
            path: "/v1/key/create/k1".into(),
            identity: Some("3ecf".into()),
            status: 200,
            latency: Duration::from_micros(1500),
        }
    }

    #[test]
    fn error_line_is_slog_text() {
        let line = format_error_line(
            datetime!(2025-05-01 14:00:00.123456 +2),
            Level::WARN,
            "key store is not reachable",
            &[
                ("req.method", "GET"),
                ("req.path", "/v1/ready"),
                ("req.identity", "<unknown>"),
                ("empty", ""),
            ],
        );
        assert_eq!(
            line,
            "time=2025-05-01T12:00:00.123Z level=WARN msg=\"key store is not reachable\" \
             req.method=GET req.path=/v1/ready req.identity=<unknown> empty=\"\""
        );
        let line = format_error_line(datetime!(2025-05-01 12:00:00 UTC), Level(2), "plain", &[]);
        assert_eq!(line, "time=2025-05-01T12:00:00.000Z level=INFO+2 msg=plain");
    }

    #[test]
    fn values_cannot_inject_lines_or_pairs() {
        let line = format_error_line(
            datetime!(2025-05-01 12:00:00 UTC),
            Level::ERROR,
            "a\nlevel=INFO msg=\"forged\"",
            &[("req.path", "/x y=\\z\t\u{7}\u{85}\u{2028}é")],
        );
        assert_eq!(
            line,
            "time=2025-05-01T12:00:00.000Z level=ERROR \
             msg=\"a\\nlevel=INFO msg=\\\"forged\\\"\" \
             req.path=\"/x y=\\\\z\\t\\a\\u0085\\u2028é\""
        );
        assert!(!line.contains('\n'));
        // Backslashes alone do not force quoting (Go behaviour); 'é' is printable.
        assert_eq!(
            format_error_line(
                datetime!(2025-05-01 12:00:00 UTC),
                Level::INFO,
                "a\\bé",
                &[]
            ),
            "time=2025-05-01T12:00:00.000Z level=INFO msg=a\\bé"
        );
    }

    #[test]
    fn audit_line_has_go_shape_with_nanoseconds() {
        let line = String::from_utf8(record().to_json_line()).unwrap();
        assert_eq!(
            line,
            "{\"time\":\"2025-05-01T12:00:00.123456789Z\",\"request\":{\"ip\":\"10.1.2.3\",\
             \"path\":\"/v1/key/create/k1\",\"identity\":\"3ecf\"},\
             \"response\":{\"code\":200,\"time\":1500000}}\n"
        );
        let mut r = record();
        r.ip = None;
        r.identity = None;
        r.time = datetime!(2025-05-01 14:00:00.5 +2);
        let line = String::from_utf8(r.to_json_line()).unwrap();
        assert_eq!(
            line,
            "{\"time\":\"2025-05-01T12:00:00.5Z\",\"request\":{\"path\":\"/v1/key/create/k1\"},\
             \"response\":{\"code\":200,\"time\":1500000}}\n"
        );
        let parsed: kes_types::api::AuditEvent = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed.response.time, 1_500_000);
    }

    #[test]
    fn thresholds_filter_writers_and_reload() {
        let (l, e, a) = logger(Level::WARN, Level::OFF);
        l.error(Level::INFO, "hidden", &[]);
        l.error(Level::ERROR, "shown", &[("k", "v")]);
        l.audit(&record());
        let text = e.text();
        assert_eq!(text.lines().count(), 1);
        assert!(text.ends_with(" level=ERROR msg=shown k=v\n"), "{text}");
        assert!(a.text().is_empty());
        l.set_levels(Level::DEBUG, Level::INFO);
        assert_eq!(l.levels(), (Level::DEBUG, Level::INFO));
        l.error(Level::DEBUG, "debug now", &[]);
        l.audit(&record());
        assert_eq!(e.text().lines().count(), 2);
        assert_eq!(
            a.text(),
            String::from_utf8(record().to_json_line()).unwrap()
        );
    }

    #[tokio::test]
    async fn subscribers_get_events_after_subscribing_and_are_counted() {
        let (l, _, _) = logger(Level::INFO, Level::INFO);
        l.audit(&record()); // before anyone subscribed: not delivered, not counted
        l.error(Level::WARN, "before", &[]);
        let mut audit = l.subscribe_audit();
        let mut audit2 = l.subscribe_audit();
        let mut errors = l.subscribe_error();
        l.audit(&record());
        l.error(Level::DEBUG, "filtered", &[]);
        l.error(Level::WARN, "say \"hi\"", &[("req.path", "/v1/x")]);
        assert_eq!(&*audit.recv().await.unwrap(), &record().to_json_line()[..]);
        assert_eq!(&*audit2.recv().await.unwrap(), &record().to_json_line()[..]);
        let line = errors.recv().await.unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let ev: ErrorEvent = serde_json::from_slice(&line).unwrap();
        assert!(
            ev.message
                .ends_with(" level=WARN msg=\"say \\\"hi\\\"\" req.path=/v1/x"),
            "{}",
            ev.message
        );
        assert!(errors.try_recv().is_err());
        assert_eq!(l.log_counters().audit_events(), 2);
        assert_eq!(l.log_counters().error_events(), 1);
        // audit off also silences subscribers
        l.set_levels(Level::INFO, Level::OFF);
        l.audit(&record());
        assert!(audit.try_recv().is_err());
    }

    #[tokio::test]
    async fn lagging_subscriber_loses_events_without_blocking() {
        let (l, _, _) = logger(Level::INFO, Level::INFO);
        let mut rx = l.subscribe_audit();
        for _ in 0..SUBSCRIBER_BUFFER + 10 {
            l.audit(&record());
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(10))
        ));
        assert!(rx.recv().await.is_ok());
    }
}
