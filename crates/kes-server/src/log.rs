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

use std::cell::Cell;
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use kes_types::api::ErrorEvent;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;

use crate::level::Level;
use crate::metrics::LogCounters;

/// How many events a subscriber may fall behind before it loses some.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// One audited request (written as one JSON line). Borrows the request's
/// path and identity, so recording it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    /// When the request was answered (wall clock).
    pub time: SystemTime,
    /// Client IP, when known.
    pub ip: Option<IpAddr>,
    /// Request path.
    pub path: &'a str,
    /// Client identity, when known.
    pub identity: Option<&'a str>,
    /// Response status code.
    pub status: u16,
    /// Time taken to answer.
    pub latency: Duration,
}

impl AuditRecord<'_> {
    /// The JSON line of this record (with trailing `\n`), e.g.
    /// `{"time":"2025-05-01T12:00:00.123456789Z","request":{"ip":"10.1.2.3","path":"/v1/key/create/k1","identity":"3ecf…"},"response":{"code":200,"time":2000000}}`.
    pub fn to_json_line(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json_line(&mut out);
        out
    }

    /// Appends the JSON line of this record (with trailing `\n`) to `out`.
    ///
    /// Written by hand (this runs once per audited request): the same bytes
    /// serde would produce for `AuditEvent` (the test
    /// `hand_written_audit_json_equals_serde` checks that), without
    /// intermediate strings or `fmt` machinery on the common path.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        out.reserve(128 + self.path.len() + self.identity.map_or(0, str::len));
        out.extend_from_slice(b"{\"time\":\"");
        push_rfc3339_nanos(out, self.time);
        out.extend_from_slice(b"\",\"request\":{");
        match self.ip {
            Some(IpAddr::V4(ip)) => {
                out.extend_from_slice(b"\"ip\":\"");
                push_ipv4(out, ip);
                out.extend_from_slice(b"\",");
            }
            Some(ip @ IpAddr::V6(_)) => {
                let _ = write!(out, "\"ip\":\"{ip}\",");
            }
            None => {}
        }
        out.extend_from_slice(b"\"path\":");
        push_json_str(out, self.path);
        if let Some(id) = self.identity.filter(|id| !id.is_empty()) {
            out.extend_from_slice(b",\"identity\":");
            push_json_str(out, id);
        }
        out.extend_from_slice(b"},\"response\":{\"code\":");
        push_u64(out, u64::from(self.status));
        out.extend_from_slice(b",\"time\":");
        push_u64(
            out,
            u64::try_from(self.latency.as_nanos()).unwrap_or(u64::MAX),
        );
        out.extend_from_slice(b"}}\n");
    }
}

/// Appends `n` in decimal.
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        start -= 1;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

/// Appends an IPv4 address in dotted decimal (what `Display` prints).
fn push_ipv4(out: &mut Vec<u8>, ip: std::net::Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_u64(out, u64::from(octet));
    }
}

/// Seconds since the Unix epoch of 10000-01-01T00:00:00Z: the fast
/// RFC 3339 path covers `[1970, 10000)`.
const YEAR_10000: u64 = 253_402_300_800;

thread_local! {
    /// The last second formatted on this thread and its
    /// `YYYY-MM-DDTHH:MM:SS` rendering (audit lines arrive many per second).
    static SECOND_PREFIX: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

/// Appends `time` as RFC 3339 in UTC with as many fractional digits as
/// needed (Go's `time.RFC3339Nano`): exactly what `time`'s `Rfc3339`
/// formatter prints (the proptest `fast_rfc3339_equals_time_crate` checks
/// that), with the date/time prefix computed once per second per thread.
fn push_rfc3339_nanos(out: &mut Vec<u8>, time: SystemTime) {
    let since_epoch = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) if d.as_secs() < YEAR_10000 => d,
        _ => {
            // Before 1970 or after 9999: never on a real clock.
            let nanos = match time.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
                Err(e) => i128::try_from(e.duration().as_nanos()).map_or(i128::MIN, |n| -n),
            };
            let text = match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                Ok(t) => rfc3339_nanos(t),
                Err(_) => format!("{time:?}"),
            };
            out.extend_from_slice(text.as_bytes());
            return;
        }
    };
    let secs = since_epoch.as_secs();
    let prefix = SECOND_PREFIX.with(|cell| {
        let (cached_secs, cached) = cell.get();
        if cached_secs == secs {
            return cached;
        }
        let prefix = second_prefix(secs);
        cell.set((secs, prefix));
        prefix
    });
    out.extend_from_slice(&prefix);
    let nanos = since_epoch.subsec_nanos();
    if nanos != 0 {
        let mut digits = [0u8; 9];
        let mut n = nanos;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        // `time` strips trailing zeros: .5, .123, .123456789.
        let len = digits.iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
        out.push(b'.');
        out.extend_from_slice(digits.get(..len).unwrap_or_default());
    }
    out.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the Unix epoch (`secs` below
/// [`YEAR_10000`]).
fn second_prefix(secs: u64) -> [u8; 19] {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let two = |n: u64| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let [y0, y1] = two(year / 100);
    let [y2, y3] = two(year % 100);
    let [mo0, mo1] = two(month);
    let [d0, d1] = two(day);
    let [h0, h1] = two(hour);
    let [mi0, mi1] = two(minute);
    let [s0, s1] = two(second);
    [
        y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1,
    ]
}

/// The proleptic Gregorian `(year, month, day)` of `days` since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Appends `s` as a JSON string: verbatim when it needs no escaping (the
/// common case: paths of valid names, hex identities), else via serde_json.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // A fold without early exit, so the check vectorizes.
    let plain = s.bytes().fold(true, |plain, b| {
        plain & ((0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\'))
    });
    if plain {
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
    ///
    /// Without subscribers the line is formatted straight into the batch
    /// buffer (no allocation); with subscribers it is built once as the
    /// shared `Arc<[u8]>` they receive and copied to the writer.
    pub fn audit(&self, event: &AuditRecord<'_>) {
        let (_, threshold) = self.levels();
        if !threshold.allows(Level::INFO) {
            return;
        }
        if self.audit_tx.receiver_count() == 0 {
            self.audit_out.write_with(|buf| event.write_json_line(buf));
            return;
        }
        let line: Arc<[u8]> = Arc::from(event.to_json_line());
        if let Ok(n) = self.audit_tx.send(line.clone()) {
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
    out: Mutex<Output>,
}

/// The batch's writer and the spare buffer that takes the pending lines'
/// place while they are written.
struct Output {
    writer: Box<dyn Write + Send>,
    spare: Vec<u8>,
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
            out: Mutex::new(Output {
                writer: out,
                spare: Vec::with_capacity(64 * 1024),
            }),
        });
        let weak = Arc::downgrade(&batch);
        let started = std::thread::Builder::new()
            .name("kes-audit-flusher".into())
            .spawn(move || flush_loop(weak));
        match started {
            Ok(_) => Sink::Batched(batch),
            Err(_) => match Arc::try_unwrap(batch) {
                Ok(b) => Sink::Direct(Mutex::new(lock_into_inner(b.out).writer)),
                Err(_) => Sink::Direct(Mutex::new(Box::new(std::io::stdout()))),
            },
        }
    }

    fn write(&self, line: &[u8]) {
        self.write_with(|buf| buf.extend_from_slice(line));
    }

    /// Writes the line that `format` appends to the buffer it is given:
    /// the pending batch itself (under its lock, so lines keep their
    /// order), or a scratch buffer for a direct sink.
    fn write_with(&self, format: impl FnOnce(&mut Vec<u8>)) {
        match self {
            Sink::Direct(out) => {
                let mut line = Vec::new();
                format(&mut line);
                write_line(out, &line);
            }
            Sink::Batched(b) => {
                let mut pending = lock(&b.pending);
                let was_empty = pending.is_empty();
                format(&mut pending);
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
    /// The pending buffer is swapped with the spare one kept beside the
    /// writer, so neither is reallocated batch after batch.
    fn write_pending(&self) {
        let mut out = lock(&self.out);
        let Output { writer, spare } = &mut *out;
        std::mem::swap(&mut *lock(&self.pending), spare);
        if !spare.is_empty() {
            let _ = writer.write_all(spare);
            let _ = writer.flush();
            spare.clear();
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

fn lock_into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(|e| e.into_inner())
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
    use proptest::strategy::Strategy as _;
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
                time: rfc3339_nanos(OffsetDateTime::from(r.time)),
                request: AuditRequest {
                    ip: r.ip.map(|ip| ip.to_string()).unwrap_or_default(),
                    path: r.path.to_owned(),
                    identity: r.identity.unwrap_or_default().to_owned(),
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
        let ips: [Option<IpAddr>; 7] = [
            None,
            Some("10.1.2.3".parse().unwrap()),
            Some("0.0.0.0".parse().unwrap()),
            Some("255.255.255.255".parse().unwrap()),
            Some("::1".parse().unwrap()),
            Some("::ffff:10.1.2.3".parse().unwrap()),
            Some("2001:db8::8a2e:370:7334".parse().unwrap()),
        ];
        let ids = [None, Some(""), Some("3ecf"), Some("x\"y")];
        let times = [
            datetime!(2025-05-01 12:00:00.123456789 UTC),
            datetime!(2025-05-01 12:00:00 UTC),
            datetime!(2025-05-01 12:00:00.1 UTC),
            datetime!(2024-02-29 23:59:59.000000001 UTC),
        ];
        let latencies = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1500),
            Duration::from_secs(u64::MAX / 1_000_000_000),
        ];
        for path in paths {
            for ip in ips {
                for (i, id) in ids.into_iter().enumerate() {
                    let mut r = record();
                    r.path = path;
                    r.ip = ip;
                    r.identity = id;
                    r.time = times[i].into();
                    r.latency = latencies[i];
                    r.status = [200, 400, 403, 9999][i];
                    assert_eq!(
                        String::from_utf8(r.to_json_line()).unwrap(),
                        String::from_utf8(reference(&r)).unwrap()
                    );
                }
            }
        }
    }

    fn record() -> AuditRecord<'static> {
        AuditRecord {
            time: datetime!(2025-05-01 12:00:00.123456789 UTC).into(),
            ip: Some("10.1.2.3".parse().unwrap()),
            path: "/v1/key/create/k1",
            identity: Some("3ecf"),
            status: 200,
            latency: Duration::from_micros(1500),
        }
    }

    /// What `time`'s RFC 3339 formatter prints for `secs.nanos` since the
    /// epoch (the reference the fast formatter must equal).
    fn time_crate_rfc3339(secs: i64, nanos: u32) -> String {
        let t = OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(secs) * 1_000_000_000 + i128::from(nanos),
        )
        .unwrap();
        rfc3339_nanos(t)
    }

    fn fast_rfc3339(time: SystemTime) -> String {
        let mut out = Vec::new();
        push_rfc3339_nanos(&mut out, time);
        String::from_utf8(out).unwrap()
    }

    fn at(secs: i64, nanos: u32) -> SystemTime {
        let d = Duration::new(secs.unsigned_abs(), 0);
        let whole = if secs >= 0 {
            SystemTime::UNIX_EPOCH + d
        } else {
            SystemTime::UNIX_EPOCH - d
        };
        whole + Duration::from_nanos(u64::from(nanos))
    }

    proptest::proptest! {
        #[test]
        fn fast_rfc3339_equals_time_crate(
            secs in 0..YEAR_10000 as i64,
            nanos in proptest::prop_oneof![
                0..1_000_000_000u32,
                proptest::strategy::Just(0u32),
                (0..1000u32).prop_map(|ms| ms * 1_000_000),
                (0..1_000_000u32).prop_map(|us| us * 1000),
            ],
        ) {
            proptest::prop_assert_eq!(fast_rfc3339(at(secs, nanos)), time_crate_rfc3339(secs, nanos));
            // Same second again (served from the per-thread prefix cache).
            let other = (nanos + 1) % 1_000_000_000;
            proptest::prop_assert_eq!(fast_rfc3339(at(secs, other)), time_crate_rfc3339(secs, other));
        }

        #[test]
        fn push_u64_equals_display(n in proptest::num::u64::ANY) {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }

        #[test]
        fn push_ipv4_equals_display(octets in proptest::array::uniform4(proptest::num::u8::ANY)) {
            let ip = std::net::Ipv4Addr::from(octets);
            let mut out = Vec::new();
            push_ipv4(&mut out, ip);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn fast_rfc3339_edges_equal_time_crate() {
        let days = |y: i64, m: u8, d: u8| {
            time::Date::from_calendar_date(i32::try_from(y).unwrap(), m.try_into().unwrap(), d)
                .unwrap()
                .midnight()
                .assume_utc()
                .unix_timestamp()
        };
        let mut instants = vec![0, 59, 60, 3599, 3600, 86_399, 86_400, YEAR_10000 as i64 - 1];
        for y in [1970, 1972, 1999, 2000, 2024, 2025, 2100, 2400, 9999] {
            for (m, d) in [(1, 1), (2, 28), (3, 1), (12, 31)] {
                let s = days(y, m, d);
                instants.extend([s - 1, s, s + 86_399]);
            }
            if time::util::is_leap_year(i32::try_from(y).unwrap()) {
                instants.push(days(y, 2, 29));
            }
        }
        for secs in instants
            .into_iter()
            .filter(|s| (0..YEAR_10000 as i64).contains(s))
        {
            for nanos in [0, 1, 10, 100_000_000, 120_000_000, 123_456_789, 999_999_999] {
                assert_eq!(
                    fast_rfc3339(at(secs, nanos)),
                    time_crate_rfc3339(secs, nanos),
                    "{secs}.{nanos}"
                );
            }
        }
        // Going back to an earlier second after a later one (cache miss).
        let t = datetime!(2025-05-01 12:00:01.5 UTC);
        assert_eq!(fast_rfc3339(t.into()), "2025-05-01T12:00:01.5Z");
        assert_eq!(
            fast_rfc3339((t - Duration::from_secs(1)).into()),
            "2025-05-01T12:00:00.5Z"
        );
        assert_eq!(fast_rfc3339(t.into()), "2025-05-01T12:00:01.5Z");
    }

    #[test]
    fn rfc3339_outside_the_fast_range_falls_back_to_time_crate() {
        for (secs, nanos) in [(-1, 0), (-1, 500_000_000), (-86_400 * 365, 7)] {
            assert_eq!(
                fast_rfc3339(at(secs, nanos)),
                time_crate_rfc3339(secs, nanos),
                "{secs}.{nanos}"
            );
        }
        // Beyond what `time` can represent: some rendering, no panic.
        assert!(!fast_rfc3339(at(YEAR_10000 as i64, 0)).is_empty());
    }

    #[tokio::test]
    async fn lines_without_and_with_subscribers_keep_their_order() {
        let out = Buf::default();
        let logger = Logger::build(
            Level::INFO,
            Level::INFO,
            Box::new(Buf::default()),
            Sink::batched(Box::new(out.clone())),
        );
        let line = |status: u16| {
            let mut r = record();
            r.status = status;
            r
        };
        let mut expected = Vec::new();
        let mut audit = |status: u16| {
            logger.audit(&line(status));
            expected.extend_from_slice(&line(status).to_json_line());
        };
        audit(200); // no subscriber: formatted into the batch buffer
        let mut rx = logger.subscribe_audit();
        audit(201); // subscriber: shared line, also written out
        audit(202);
        rx_take(&mut rx, 2, &line).await;
        drop(rx);
        audit(203); // no subscriber again
        logger.flush();
        assert_eq!(out.text(), String::from_utf8(expected).unwrap());
        assert_eq!(logger.log_counters().audit_events(), 2);
    }

    /// Receives `n` events and checks they are the lines of statuses
    /// 201, 202, ….
    async fn rx_take(
        rx: &mut broadcast::Receiver<Arc<[u8]>>,
        n: u16,
        line: &impl Fn(u16) -> AuditRecord<'static>,
    ) {
        for i in 0..n {
            assert_eq!(
                &*rx.recv().await.unwrap(),
                &line(201 + i).to_json_line()[..]
            );
        }
        assert!(rx.try_recv().is_err());
    }

    /// The audit line as the previous implementation built it (`time`'s
    /// RFC 3339 formatter, `fmt` for the IP and numbers, owned strings);
    /// a second reference for the bytes and the baseline of
    /// `audit_cost_per_record`.
    fn previous_json_line(r: &AuditRecord<'_>) -> Vec<u8> {
        let (path, identity) = (r.path.to_owned(), r.identity.map(str::to_owned));
        let mut out = Vec::with_capacity(96 + path.len() + 64);
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(rfc3339_nanos(OffsetDateTime::from(r.time)).as_bytes());
        out.extend_from_slice(b"\",\"request\":{");
        if let Some(ip) = r.ip {
            write!(out, "\"ip\":\"{ip}\",").unwrap();
        }
        out.extend_from_slice(b"\"path\":");
        push_json_str(&mut out, &path);
        if let Some(id) = identity.as_deref().filter(|id| !id.is_empty()) {
            out.extend_from_slice(b",\"identity\":");
            push_json_str(&mut out, id);
        }
        let nanos = u64::try_from(r.latency.as_nanos()).unwrap_or(u64::MAX);
        writeln!(
            out,
            "}},\"response\":{{\"code\":{},\"time\":{nanos}}}}}",
            r.status
        )
        .unwrap();
        out
    }

    proptest::proptest! {
        #[test]
        fn audit_line_equals_previous_implementation(
            secs in 0..YEAR_10000 as i64,
            nanos in 0..1_000_000_000u32,
            ip in proptest::option::of(proptest::array::uniform4(proptest::num::u8::ANY)),
            status in proptest::num::u16::ANY,
            latency in proptest::num::u64::ANY,
        ) {
            let mut r = record();
            r.time = at(secs, nanos);
            r.ip = ip.map(IpAddr::from);
            r.status = status;
            r.latency = Duration::from_nanos(latency);
            proptest::prop_assert_eq!(r.to_json_line(), previous_json_line(&r));
        }
    }

    /// Prints what one audit record costs on the request path, previous
    /// vs current implementation, without subscribers (run with
    /// `cargo test --release -p kes-server --lib audit_cost -- --ignored --nocapture`).
    #[test]
    #[ignore = "measurement, prints timings"]
    fn audit_cost_per_record() {
        const N: u32 = 1_000_000;
        let logger = Logger::build(
            Level::INFO,
            Level::INFO,
            Box::new(std::io::sink()),
            Sink::batched(Box::new(std::io::sink())),
        );
        let path = String::from("/v1/key/generate/bench-key");
        let identity =
            String::from("5326534a17fc7ae0428483e7c8b294631229101ce7e9361a39b195307c86af5f");
        let rec = || AuditRecord {
            time: SystemTime::now(),
            ip: Some(IpAddr::from([127, 0, 0, 1])),
            path: &path,
            identity: Some(&identity),
            status: 200,
            latency: Duration::from_nanos(123_456),
        };
        for round in 0..3 {
            let start = std::time::Instant::now();
            for _ in 0..N {
                let line: Arc<[u8]> = Arc::from(previous_json_line(&rec()));
                logger.audit_out.write(&line);
            }
            let previous = start.elapsed();
            let start = std::time::Instant::now();
            for _ in 0..N {
                logger.audit(&rec());
            }
            let current = start.elapsed();
            println!(
                "round {round}: previous {:.0} ns/record, current {:.0} ns/record",
                previous.as_nanos() as f64 / f64::from(N),
                current.as_nanos() as f64 / f64::from(N)
            );
        }
        logger.flush();
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
        r.time = datetime!(2025-05-01 14:00:00.5 +2).into();
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
