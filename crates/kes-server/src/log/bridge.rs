//! Forwards the `tracing` events of the project's own crates — above all
//! the key-store back ends of `kes-keystore` (failed Vault token renewal
//! and re-login, failed vendor session renewal, a key directory other users
//! can read, stale temporary files) — into the error log of the running
//! server, at their level, so they reach stderr and `/v1/log/error`
//! subscribers like every other error-log record.
//!
//! * [`install`] sets a process-wide `tracing` subscriber once (later calls
//!   do nothing; if the process already has another global subscriber,
//!   that one stays and nothing is forwarded).
//! * [`attach`] makes a logger the destination: the server attaches its
//!   logger when it is built, so in a process that starts several servers
//!   (tests) the most recently built one receives the events.
//! * Events that arrive while no logger is attached (the key store is
//!   connected before the server and its logger exist) wait in a bounded
//!   queue and are written, with their original time, when a logger is
//!   attached. [`flush_to_stderr`] writes them if start-up fails first.
//!
//! Only events whose target is one of our crates (`kes`, `kes_*`) are taken;
//! the callsites of dependencies (h2, hyper, rustls, SDKs) are disabled
//! once, when first seen, so their `trace!`/`debug!` calls stay one atomic
//! load. Spans are not recorded. The event's `message` becomes the record's
//! message, every other field a `key=value` attribute. Events carry no
//! secrets: the crates that emit them must not log any (see the logger's
//! rule in the parent module).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, Once, Weak};

use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use super::{Logger, lock};
use crate::level::Level;

/// How many events may wait for a logger; later ones are dropped.
pub const MAX_PENDING_EVENTS: usize = 256;

/// An event waiting for a logger.
struct PendingEvent {
    time: OffsetDateTime,
    level: Level,
    message: String,
    attrs: Vec<(&'static str, String)>,
}

/// Where events go: the attached logger, or the queue.
struct Route {
    logger: Option<Weak<Logger>>,
    pending: VecDeque<PendingEvent>,
}

static ROUTE: Mutex<Route> = Mutex::new(Route {
    logger: None,
    pending: VecDeque::new(),
});

/// Installs the forwarding subscriber for the whole process (idempotent).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only if another global subscriber exists; that one stays.
        let _ = tracing::subscriber::set_global_default(Bridge);
    });
}

/// Installs the subscriber if needed and makes `logger` the destination of
/// forwarded events; events queued so far are written to it first.
pub fn attach(logger: &Arc<Logger>) {
    install();
    let mut route = lock(&ROUTE);
    route.logger = Some(Arc::downgrade(logger));
    for e in route.pending.drain(..) {
        write(logger, &e);
    }
}

/// Writes queued events to stderr with the default threshold (INFO): for
/// a start-up that fails before a server logger exists.
pub fn flush_to_stderr() {
    let logger = Logger::with_writers(
        Level::INFO,
        Level::OFF,
        Box::new(std::io::stderr()),
        Box::new(std::io::sink()),
    );
    let mut route = lock(&ROUTE);
    for e in route.pending.drain(..) {
        write(&logger, &e);
    }
}

fn write(logger: &Logger, e: &PendingEvent) {
    let attrs: Vec<(&str, &str)> = e.attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    logger.error_at(e.time, e.level, &e.message, &attrs);
}

/// Whether `target` (a module path) belongs to one of our crates.
fn is_ours(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    krate == "kes" || krate.starts_with("kes_")
}

/// The `slog` level of a `tracing` level.
fn level_of(level: &tracing::Level) -> Level {
    match *level {
        tracing::Level::ERROR => Level::ERROR,
        tracing::Level::WARN => Level::WARN,
        tracing::Level::INFO => Level::INFO,
        tracing::Level::DEBUG => Level::DEBUG,
        tracing::Level::TRACE => Level(Level::DEBUG.0 - 4),
    }
}

/// The process-wide subscriber.
struct Bridge;

impl Subscriber for Bridge {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_event() && is_ours(meta.target()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_event() && is_ours(meta.target())
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called for disabled span callsites; any non-zero id will do.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let level = level_of(event.metadata().level());
        let mut route = lock(&ROUTE);
        let logger = route.logger.as_ref().and_then(Weak::upgrade);
        if let Some(logger) = &logger {
            drop(route);
            if !logger.levels().0.allows(level) {
                return;
            }
            let e = pending_event(event, level);
            write(logger, &e);
        } else if route.pending.len() < MAX_PENDING_EVENTS {
            route.pending.push_back(pending_event(event, level));
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn pending_event(event: &Event<'_>, level: Level) -> PendingEvent {
    let mut fields = Fields::default();
    event.record(&mut fields);
    PendingEvent {
        time: OffsetDateTime::now_utc(),
        level,
        message: fields.message,
        attrs: fields.attrs,
    }
}

/// Collects an event's fields.
#[derive(Default)]
struct Fields {
    message: String,
    attrs: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.attrs.push((field.name(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_targets() {
        assert!(is_ours("kes_keystore::fs"));
        assert!(is_ours("kes_server"));
        assert!(is_ours("kes::cli"));
        assert!(!is_ours("kestrel::x"));
        assert!(!is_ours("h2::proto"));
        assert!(!is_ours("hyper"));
    }

    #[test]
    fn levels_map_to_the_slog_scale() {
        assert_eq!(level_of(&tracing::Level::WARN), Level::WARN);
        assert_eq!(level_of(&tracing::Level::ERROR), Level::ERROR);
        assert_eq!(level_of(&tracing::Level::INFO), Level::INFO);
        assert_eq!(level_of(&tracing::Level::DEBUG), Level::DEBUG);
        assert!(level_of(&tracing::Level::TRACE) < Level::DEBUG);
    }
}
