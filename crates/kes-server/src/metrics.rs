//! Prometheus metrics of the server (spec §8.8): per-status-code request
//! counters, the active-requests gauge, the response-time histogram, the
//! log-stream event counters and the `kes_system_*` gauges, rendered in
//! text exposition format 0.0.4.
//!
//! Everything is a lock-free atomic: the request path never takes a lock.
//! Rendering follows the kms-go client constraints: a labelled counter
//! family without samples is omitted entirely, every other family has
//! exactly one sample, and families are sorted by name.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::sys::SysStats;

/// Upper bounds (seconds) of the `kes_http_response_time` buckets.
pub const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 5.0, 10.0];

/// The `le` label texts of [`BUCKETS`], as Go prints them.
const BUCKET_LABELS: [&str; 10] = [
    "0.01", "0.05", "0.1", "0.25", "0.5", "1", "1.5", "3", "5", "10",
];

/// The `Content-Type` of [`Metrics::render`] output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const MIN_CODE: u16 = 100;
const MAX_CODE: u16 = 599;

/// Events handed to log-stream subscribers, shared by the
/// [`Logger`](crate::log::Logger) (which counts) and [`Metrics`] (which
/// renders).
#[derive(Debug, Default)]
pub struct LogCounters {
    error: AtomicU64,
    audit: AtomicU64,
}

impl LogCounters {
    /// Adds `n` error events written to subscribers.
    pub fn add_error(&self, n: usize) {
        self.error.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adds `n` audit events written to subscribers.
    pub fn add_audit(&self, n: usize) {
        self.audit.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Error events written to subscribers so far.
    pub fn error_events(&self) -> u64 {
        self.error.load(Ordering::Relaxed)
    }

    /// Audit events written to subscribers so far.
    pub fn audit_events(&self) -> u64 {
        self.audit.load(Ordering::Relaxed)
    }
}

/// The server's request and log metrics. Shared as `Arc<Metrics>` and kept
/// across reloads.
#[derive(Debug)]
pub struct Metrics {
    /// Responses per status code, index `code - 100` for 100..=599.
    codes: Box<[AtomicU64]>,
    active: AtomicI64,
    /// Non-cumulative bucket counts; the last slot is `+Inf` only.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
    log: Arc<LogCounters>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics with their own (unshared) log counters.
    pub fn new() -> Self {
        Self::with_log_counters(Arc::new(LogCounters::default()))
    }

    /// Fresh metrics rendering the given log counters (those of the
    /// [`Logger`](crate::log::Logger), see `Logger::log_counters`).
    pub fn with_log_counters(log: Arc<LogCounters>) -> Self {
        Self {
            codes: (MIN_CODE..=MAX_CODE).map(|_| AtomicU64::new(0)).collect(),
            active: AtomicI64::new(0),
            buckets: Default::default(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
            log,
        }
    }

    /// The log counters rendered as `kes_log_*_events`.
    pub fn log_counters(&self) -> &Arc<LogCounters> {
        &self.log
    }

    /// Records one handler response: its status (2xx, 4xx and 5xx are
    /// counted per code; others only in the histogram) and latency.
    pub fn observe(&self, status: u16, latency: Duration) {
        if matches!(status / 100, 2 | 4 | 5)
            && let Some(c) = self.codes.get(usize::from(status.saturating_sub(MIN_CODE)))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let secs = latency.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        if let Some(b) = self.buckets.get(slot) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request as active until the guard is dropped.
    pub fn active_guard(&self) -> ActiveGuard<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard { metrics: self }
    }

    /// Requests currently active.
    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Renders all metrics in Prometheus text format 0.0.4
    /// ([`CONTENT_TYPE`]), with the system figures of `sys`.
    pub fn render(&self, sys: &SysStats) -> String {
        let mut out = String::with_capacity(4096);
        gauge(
            &mut out,
            "kes_http_request_active",
            "Number of active requests that are not finished, yet.",
            self.active().max(0),
        );
        self.code_family(
            &mut out,
            "kes_http_request_error",
            "Number of requests that failed due to some error. (HTTP 4xx status code)",
            4,
        );
        self.code_family(
            &mut out,
            "kes_http_request_failure",
            "Number of requests that failed due to some internal failure. (HTTP 5xx status code)",
            5,
        );
        self.code_family(
            &mut out,
            "kes_http_request_success",
            "Number of requests that have been served successfully.",
            2,
        );
        self.histogram(&mut out);
        counter(
            &mut out,
            "kes_log_audit_events",
            "Number of audit log events written to audit log subscribers.",
            self.log.audit_events(),
        );
        counter(
            &mut out,
            "kes_log_error_events",
            "Number of error log events written to error log subscribers.",
            self.log.error_events(),
        );
        gauge(
            &mut out,
            "kes_system_mem_heap_objects",
            "Number of heap objects (not tracked: always 0).",
            sys.mem_heap_objects,
        );
        gauge(
            &mut out,
            "kes_system_mem_heap_used",
            "Estimated heap memory in use in bytes (resident set minus main stack).",
            sys.mem_heap_used,
        );
        gauge(
            &mut out,
            "kes_system_mem_stack_used",
            "Stack memory of the main thread in bytes.",
            sys.mem_stack_used,
        );
        gauge(
            &mut out,
            "kes_system_num_cpu",
            "Number of logical CPUs.",
            sys.num_cpu,
        );
        gauge(
            &mut out,
            "kes_system_num_cpu_used",
            "Number of CPUs the server may use.",
            sys.num_cpu_used,
        );
        gauge(
            &mut out,
            "kes_system_num_threads",
            "Number of OS threads of the server.",
            sys.num_threads,
        );
        let up = (sys.uptime.as_millis() / 10) as f64 / 100.0;
        header(
            &mut out,
            "kes_system_up_time",
            "The time the server has been up and running in seconds.",
            "gauge",
        );
        let _ = writeln!(out, "kes_system_up_time {up}");
        out
    }

    /// One labelled counter family over the codes `class`xx; omitted when
    /// no such code was counted.
    fn code_family(&self, out: &mut String, name: &str, help: &str, class: u16) {
        let mut started = false;
        for code in class * 100..class * 100 + 100 {
            let Some(c) = self.codes.get(usize::from(code - MIN_CODE)) else {
                continue;
            };
            let n = c.load(Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            if !started {
                header(out, name, help, "counter");
                started = true;
            }
            let _ = writeln!(out, "{name}{{code=\"{code}\"}} {n}");
        }
    }

    fn histogram(&self, out: &mut String) {
        let name = "kes_http_response_time";
        header(
            out,
            name,
            "Histogram of request response times spawning from 10ms to 10s.",
            "histogram",
        );
        let mut cumulative = 0u64;
        for (le, b) in BUCKET_LABELS.iter().zip(&self.buckets) {
            cumulative += b.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        // Read the total once so that `+Inf` and `_count` agree.
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}",
            count.max(cumulative)
        );
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {}", count.max(cumulative));
    }
}

/// Keeps a request counted in `kes_http_request_active`; decrements on drop.
#[derive(Debug)]
pub struct ActiveGuard<'a> {
    metrics: &'a Metrics,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.metrics.active.fetch_sub(1, Ordering::Relaxed);
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys() -> SysStats {
        SysStats {
            uptime: Duration::from_millis(3_600_127),
            num_cpu: 16,
            num_cpu_used: 8,
            num_threads: 5,
            mem_heap_used: 1_234_567,
            mem_heap_objects: 0,
            mem_stack_used: 135_168,
        }
    }

    const SYSTEM_TAIL: &str = "\
# HELP kes_system_mem_heap_objects Number of heap objects (not tracked: always 0).
# TYPE kes_system_mem_heap_objects gauge
kes_system_mem_heap_objects 0
# HELP kes_system_mem_heap_used Estimated heap memory in use in bytes (resident set minus main stack).
# TYPE kes_system_mem_heap_used gauge
kes_system_mem_heap_used 1234567
# HELP kes_system_mem_stack_used Stack memory of the main thread in bytes.
# TYPE kes_system_mem_stack_used gauge
kes_system_mem_stack_used 135168
# HELP kes_system_num_cpu Number of logical CPUs.
# TYPE kes_system_num_cpu gauge
kes_system_num_cpu 16
# HELP kes_system_num_cpu_used Number of CPUs the server may use.
# TYPE kes_system_num_cpu_used gauge
kes_system_num_cpu_used 8
# HELP kes_system_num_threads Number of OS threads of the server.
# TYPE kes_system_num_threads gauge
kes_system_num_threads 5
# HELP kes_system_up_time The time the server has been up and running in seconds.
# TYPE kes_system_up_time gauge
kes_system_up_time 3600.12
";

    fn assert_lines(got: &str, want: &str) {
        let (g, w): (Vec<_>, Vec<_>) = (got.lines().collect(), want.lines().collect());
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            assert_eq!(a, b, "line {}", i + 1);
        }
        assert_eq!(g.len(), w.len(), "line count\n{got}");
        assert!(got.ends_with('\n'));
    }

    #[test]
    fn fresh_metrics_render() {
        let m = Metrics::new();
        let want = "\
# HELP kes_http_request_active Number of active requests that are not finished, yet.
# TYPE kes_http_request_active gauge
kes_http_request_active 0
# HELP kes_http_response_time Histogram of request response times spawning from 10ms to 10s.
# TYPE kes_http_response_time histogram
kes_http_response_time_bucket{le=\"0.01\"} 0
kes_http_response_time_bucket{le=\"0.05\"} 0
kes_http_response_time_bucket{le=\"0.1\"} 0
kes_http_response_time_bucket{le=\"0.25\"} 0
kes_http_response_time_bucket{le=\"0.5\"} 0
kes_http_response_time_bucket{le=\"1\"} 0
kes_http_response_time_bucket{le=\"1.5\"} 0
kes_http_response_time_bucket{le=\"3\"} 0
kes_http_response_time_bucket{le=\"5\"} 0
kes_http_response_time_bucket{le=\"10\"} 0
kes_http_response_time_bucket{le=\"+Inf\"} 0
kes_http_response_time_sum 0
kes_http_response_time_count 0
# HELP kes_log_audit_events Number of audit log events written to audit log subscribers.
# TYPE kes_log_audit_events counter
kes_log_audit_events 0
# HELP kes_log_error_events Number of error log events written to error log subscribers.
# TYPE kes_log_error_events counter
kes_log_error_events 0
";
        assert_lines(&m.render(&sys()), &format!("{want}{SYSTEM_TAIL}"));
    }

    #[test]
    fn used_metrics_render() {
        let log = Arc::new(LogCounters::default());
        let m = Metrics::with_log_counters(log.clone());
        let ms = Duration::from_millis;
        m.observe(200, ms(5));
        m.observe(200, ms(10)); // le is inclusive
        m.observe(200, ms(120));
        m.observe(404, ms(1));
        m.observe(400, ms(2));
        m.observe(502, Duration::from_secs(11));
        m.observe(301, ms(3)); // not a counted class: histogram only
        m.observe(42, ms(3)); // out of range: histogram only
        log.add_audit(3);
        log.add_error(1);
        let _g1 = m.active_guard();
        {
            let _g2 = m.active_guard();
            assert_eq!(m.active(), 2);
        }
        let want = "\
# HELP kes_http_request_active Number of active requests that are not finished, yet.
# TYPE kes_http_request_active gauge
kes_http_request_active 1
# HELP kes_http_request_error Number of requests that failed due to some error. (HTTP 4xx status code)
# TYPE kes_http_request_error counter
kes_http_request_error{code=\"400\"} 1
kes_http_request_error{code=\"404\"} 1
# HELP kes_http_request_failure Number of requests that failed due to some internal failure. (HTTP 5xx status code)
# TYPE kes_http_request_failure counter
kes_http_request_failure{code=\"502\"} 1
# HELP kes_http_request_success Number of requests that have been served successfully.
# TYPE kes_http_request_success counter
kes_http_request_success{code=\"200\"} 3
# HELP kes_http_response_time Histogram of request response times spawning from 10ms to 10s.
# TYPE kes_http_response_time histogram
kes_http_response_time_bucket{le=\"0.01\"} 6
kes_http_response_time_bucket{le=\"0.05\"} 6
kes_http_response_time_bucket{le=\"0.1\"} 6
kes_http_response_time_bucket{le=\"0.25\"} 7
kes_http_response_time_bucket{le=\"0.5\"} 7
kes_http_response_time_bucket{le=\"1\"} 7
kes_http_response_time_bucket{le=\"1.5\"} 7
kes_http_response_time_bucket{le=\"3\"} 7
kes_http_response_time_bucket{le=\"5\"} 7
kes_http_response_time_bucket{le=\"10\"} 7
kes_http_response_time_bucket{le=\"+Inf\"} 8
kes_http_response_time_sum 11.144
kes_http_response_time_count 8
# HELP kes_log_audit_events Number of audit log events written to audit log subscribers.
# TYPE kes_log_audit_events counter
kes_log_audit_events 3
# HELP kes_log_error_events Number of error log events written to error log subscribers.
# TYPE kes_log_error_events counter
kes_log_error_events 1
";
        assert_lines(&m.render(&sys()), &format!("{want}{SYSTEM_TAIL}"));
    }

    #[test]
    fn every_unlabelled_family_has_one_sample() {
        let m = Metrics::new();
        m.observe(200, Duration::from_millis(1));
        let text = m.render(&SysStats::collect(Duration::from_secs(1)));
        let mut family = "";
        let mut samples = 0;
        let check = |family: &str, samples: usize| {
            if !family.is_empty() && family != "kes_http_response_time" {
                assert_eq!(samples, 1, "{family}");
            }
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                check(family, samples);
                family = rest.split(' ').next().unwrap();
                samples = 0;
            } else if !line.starts_with('#') {
                samples += 1;
            }
        }
        check(family, samples);
    }
}
