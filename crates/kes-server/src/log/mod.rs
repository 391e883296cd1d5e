//! The error log and the audit log (spec §8.7) and their API streams
//! (§2.6, §2.7).
//!
//! * Error records are Go `slog` text lines
//!   (`time=… level=WARN msg="…" req.method=GET …`) written to stderr when
//!   their level passes the `log.error` threshold, and sent to
//!   `/v1/log/error` subscribers as `{"message":"<line>"}`.
//! * Audit records are JSON lines of the [`kes_types::api::AuditEvent`] shape (latency in
//!   integer nanoseconds) written to stdout and sent to `/v1/log/audit`
//!   subscribers when INFO passes the `log.audit` threshold. The line is
//!   built by the private `audit_line` module (hand-written, allocation-free).
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
//! `tracing` events of the project's crates (the key-store back ends) are
//! forwarded into the error log by the [`bridge`] module.
//!
//! **The logger never sees key material.** Callers must not pass secrets
//! (keys, plaintexts, API keys, passwords) in messages or attributes; the
//! logger escapes what it gets but cannot redact it.

use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use kes_types::api::ErrorEvent;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::level::Level;
use crate::metrics::LogCounters;

mod audit_line;
pub mod bridge;

pub use audit_line::AuditRecord;

/// How many events a subscriber may fall behind before it loses some.
pub const SUBSCRIBER_BUFFER: usize = 1024;

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
        self.error_at(OffsetDateTime::now_utc(), level, msg, attrs);
    }

    /// Like [`Logger::error`] for a record made at `time` (events queued
    /// before this logger existed).
    pub fn error_at(&self, time: OffsetDateTime, level: Level, msg: &str, attrs: &[(&str, &str)]) {
        let (threshold, _) = self.levels();
        if !threshold.allows(level) {
            return;
        }
        let line = format_error_line(time, level, msg, attrs);
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

#[cfg(test)]
mod tests {
    use super::audit_line::tests::{previous_json_line, record};
    use super::*;
    use std::net::IpAddr;
    use std::time::SystemTime;
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

    /// A logger whose audit lines go through the batched sink into `Buf`.
    fn batched_logger() -> (Arc<Logger>, Buf) {
        let out = Buf::default();
        let logger = Logger::build(
            Level::INFO,
            Level::INFO,
            Box::new(Buf::default()),
            Sink::batched(Box::new(out.clone())),
        );
        (logger, out)
    }

    #[test]
    fn batched_audit_sink_writes_every_line_in_order() {
        let (logger, out) = batched_logger();
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

    #[tokio::test]
    async fn lines_without_and_with_subscribers_keep_their_order() {
        let (logger, out) = batched_logger();
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
