//! Per-worker counters, their merge into a [`Report`], and the text and JSON
//! renderings of a report.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::histogram::Histogram;

/// What one worker task saw.
#[derive(Debug, Default, Clone)]
pub struct WorkerStats {
    /// Latency of every request that got an HTTP response (any status).
    pub latency: Histogram,
    /// Responses by HTTP status.
    pub status: BTreeMap<u16, u64>,
    /// Requests without a response, by [`crate::conn::TransportError::kind`].
    pub errors: BTreeMap<&'static str, u64>,
    /// 200 responses whose body did not match (`--verify`).
    pub verify_failures: u64,
    /// Connections opened after a failure (not counting the first).
    pub reconnects: u64,
}

impl WorkerStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &WorkerStats) {
        self.latency.merge(&other.latency);
        for (k, v) in &other.status {
            *self.status.entry(*k).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.verify_failures += other.verify_failures;
        self.reconnects += other.reconnects;
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Workload name.
    pub workload: &'static str,
    /// `"1.1"` or `"2"`.
    pub http: &'static str,
    /// Connections (HTTP/1.1) or connections × streams.
    pub connections: usize,
    /// Streams per connection.
    pub streams: usize,
    /// A new connection per request.
    pub new_conn: bool,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Merged counters.
    pub stats: WorkerStats,
    /// `/proc/loadavg` before the run (1, 5, 15 minutes), when readable.
    pub load_before: Option<[f64; 3]>,
    /// `/proc/loadavg` after the run.
    pub load_after: Option<[f64; 3]>,
    /// What the server process used (`--server-pid`).
    pub server: Option<ServerUsage>,
}

/// Resource use of the server process during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerUsage {
    /// CPU time all its threads spent during the run, in nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Resident set size after the run, KiB.
    pub rss_kib: Option<u64>,
    /// Peak resident set size since the server started, KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    /// Requests that got an HTTP response.
    pub fn responses(&self) -> u64 {
        self.stats.latency.len()
    }

    /// Responses with status 200.
    pub fn ok(&self) -> u64 {
        self.stats.status.get(&200).copied().unwrap_or(0)
    }

    /// Requests without a response.
    pub fn failed(&self) -> u64 {
        self.stats.errors.values().sum()
    }

    /// Responses per second of wall time.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.responses() as f64 / secs
        } else {
            0.0
        }
    }

    /// Server CPU microseconds per response, with `--server-pid`.
    pub fn server_cpu_us_per_request(&self) -> Option<f64> {
        let ns = self.server?.cpu_ns?;
        let n = self.responses() + self.failed();
        (n > 0).then(|| ns as f64 / 1000.0 / n as f64)
    }

    /// The report as one JSON object (latencies in milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        let h = &self.stats.latency;
        let ms = |nanos: u64| nanos as f64 / 1e6;
        let json = JsonReport {
            workload: self.workload,
            http: self.http,
            connections: self.connections,
            streams: self.streams,
            new_connection_per_request: self.new_conn,
            duration_s: self.elapsed.as_secs_f64(),
            requests: self.responses() + self.failed(),
            responses: self.responses(),
            ok: self.ok(),
            requests_per_second: self.rps(),
            latency_ms: JsonLatency {
                min: ms(h.min()),
                mean: h.mean() / 1e6,
                p50: ms(h.quantile(0.50)),
                p90: ms(h.quantile(0.90)),
                p99: ms(h.quantile(0.99)),
                p999: ms(h.quantile(0.999)),
                max: ms(h.max()),
            },
            status: self
                .stats
                .status
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            errors: self
                .stats
                .errors
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            verify_failures: self.stats.verify_failures,
            reconnects: self.stats.reconnects,
            load_average_before: self.load_before,
            load_average_after: self.load_after,
            server: self.server.map(|u| JsonServer {
                cpu_s: u.cpu_ns.map(|ns| ns as f64 / 1e9),
                cpu_us_per_request: self.server_cpu_us_per_request(),
                rss_mib: u.rss_kib.map(|k| k as f64 / 1024.0),
                peak_rss_mib: u.peak_rss_kib.map(|k| k as f64 / 1024.0),
            }),
        };
        serde_json::to_value(json).unwrap_or(serde_json::Value::Null)
    }

    /// A human-readable multi-line summary.
    pub fn to_text(&self) -> String {
        let h = &self.stats.latency;
        let ms = |nanos: u64| nanos as f64 / 1e6;
        let mut out = String::new();
        let conns = if self.streams > 1 {
            format!(
                "{} connections x {} streams",
                self.connections, self.streams
            )
        } else {
            format!("{} connections", self.connections)
        };
        let fresh = if self.new_conn {
            ", new connection per request"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} over HTTP/{}, {conns}{fresh}",
            self.workload, self.http
        );
        let _ = writeln!(
            out,
            "  requests      {} in {:.3} s = {:.1} req/s",
            self.responses(),
            self.elapsed.as_secs_f64(),
            self.rps()
        );
        let _ = writeln!(
            out,
            "  latency ms    p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
            ms(h.quantile(0.50)),
            ms(h.quantile(0.90)),
            ms(h.quantile(0.99)),
            ms(h.quantile(0.999)),
            ms(h.max()),
            h.mean() / 1e6
        );
        let status: Vec<String> = self
            .stats
            .status
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(out, "  status        {}", or_none(&status));
        let errors: Vec<String> = self
            .stats
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(out, "  errors        {}", or_none(&errors));
        if self.stats.verify_failures > 0 {
            let _ = writeln!(out, "  bad bodies    {}", self.stats.verify_failures);
        }
        if self.stats.reconnects > 0 {
            let _ = writeln!(out, "  reconnects    {}", self.stats.reconnects);
        }
        if let Some(u) = self.server {
            let cpu = self
                .server_cpu_us_per_request()
                .map_or("?".into(), |us| format!("{us:.1} µs CPU/request"));
            let mib =
                |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0));
            let _ = writeln!(
                out,
                "  server        {cpu}, RSS {} MiB (peak {} MiB)",
                mib(u.rss_kib),
                mib(u.peak_rss_kib)
            );
        }
        if let (Some(b), Some(a)) = (self.load_before, self.load_after) {
            let _ = writeln!(
                out,
                "  load average  {:.2} {:.2} {:.2} before, {:.2} {:.2} {:.2} after",
                b[0], b[1], b[2], a[0], a[1], a[2]
            );
        }
        out
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Reads the 1/5/15-minute load averages from `/proc/loadavg`.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// A snapshot of a process's CPU time, taken before and after a run.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    /// Per live thread: CPU time in ns (first field of
    /// `/proc/<pid>/task/<tid>/schedstat`).
    threads: HashMap<u64, u64>,
    /// utime + stime of the whole process in clock ticks
    /// (`/proc/<pid>/stat`), which also counts threads that have exited.
    ticks: u64,
}

/// `/proc`'s clock tick: USER_HZ, 100 on every Linux architecture
/// kes-bench runs on.
const TICK_NS: u64 = 10_000_000;

impl CpuSample {
    /// Samples process `pid`; `None` if it cannot be read.
    pub fn take(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the `(comm)`, which may contain spaces: utime and
        // stime are the 14th and 15th fields of the line, the 12th and
        // 13th after the comm.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        let mut threads = HashMap::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let tid = task
                .file_name()
                .to_str()
                .and_then(|t| t.parse::<u64>().ok());
            let ns = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok());
            if let (Some(tid), Some(ns)) = (tid, ns) {
                threads.insert(tid, ns);
            }
        }
        Some(Self {
            threads,
            ticks: utime + stime,
        })
    }

    /// CPU time the process used between `before` and `self`, in ns: the
    /// per-thread sum (ns precision) of the threads alive now, or, when
    /// the tick count says more was used than that by over two ticks
    /// (threads exited during the run, e.g. tokio's blocking-pool threads
    /// after 10 s idle), the tick count.
    pub fn since(&self, before: &CpuSample) -> u64 {
        let live: u64 = self
            .threads
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(before.threads.get(tid).copied().unwrap_or(0)))
            .sum();
        let ticked = self.ticks.saturating_sub(before.ticks) * TICK_NS;
        if ticked > live + 2 * TICK_NS {
            ticked
        } else {
            live
        }
    }
}

/// `VmRSS` and `VmHWM` of process `pid`, in KiB.
pub fn server_memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[derive(Serialize)]
struct JsonServer {
    cpu_s: Option<f64>,
    cpu_us_per_request: Option<f64>,
    rss_mib: Option<f64>,
    peak_rss_mib: Option<f64>,
}

#[derive(Serialize)]
struct JsonReport {
    workload: &'static str,
    http: &'static str,
    connections: usize,
    streams: usize,
    new_connection_per_request: bool,
    duration_s: f64,
    requests: u64,
    responses: u64,
    ok: u64,
    requests_per_second: f64,
    latency_ms: JsonLatency,
    status: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    verify_failures: u64,
    reconnects: u64,
    load_average_before: Option<[f64; 3]>,
    load_average_after: Option<[f64; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<JsonServer>,
}

#[derive(Serialize)]
struct JsonLatency {
    min: f64,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut a = WorkerStats::default();
        let mut b = WorkerStats::default();
        for i in 1..=100u64 {
            a.latency.record_nanos(i * 10_000);
            *a.status.entry(200).or_default() += 1;
        }
        b.latency.record_nanos(5_000_000);
        *b.status.entry(404).or_default() += 1;
        *b.errors.entry("closed").or_default() += 2;
        b.reconnects = 2;
        a.merge(&b);
        Report {
            workload: "generate",
            http: "1.1",
            connections: 2,
            streams: 1,
            new_conn: false,
            elapsed: Duration::from_millis(500),
            stats: a,
            load_before: Some([1.0, 2.0, 3.0]),
            load_after: None,
            server: Some(ServerUsage {
                cpu_ns: Some(1_030_000),
                rss_kib: Some(10240),
                peak_rss_kib: None,
            }),
        }
    }

    #[test]
    fn json_fields() {
        let j = report().to_json();
        assert_eq!(j["responses"], 101);
        assert_eq!(j["requests"], 103);
        assert_eq!(j["ok"], 100);
        assert_eq!(j["status"]["404"], 1);
        assert_eq!(j["errors"]["closed"], 2);
        assert_eq!(j["reconnects"], 2);
        assert_eq!(j["requests_per_second"], 202.0);
        assert_eq!(j["latency_ms"]["max"], 5.0);
        assert!((j["latency_ms"]["p50"].as_f64().unwrap() - 0.51).abs() < 0.01);
        assert_eq!(j["load_average_before"][2], 3.0);
        assert!(j["load_average_after"].is_null());
        assert_eq!(j["server"]["cpu_us_per_request"], 10.0);
        assert_eq!(j["server"]["rss_mib"], 10.0);
        assert!(j["server"]["peak_rss_mib"].is_null());
    }

    #[test]
    fn own_process_is_observable() {
        let pid = std::process::id();
        let before = CpuSample::take(pid).unwrap();
        // A thread that burns 100 ms of CPU and exits: its time must still
        // count. It measures its own CPU time, not the wall clock, so a
        // loaded machine (CI) that gives it less than a full core only
        // makes it run longer.
        std::thread::spawn(|| {
            let on_cpu = || -> u64 {
                let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
                stat.split_whitespace().next().unwrap().parse().unwrap()
            };
            let started = on_cpu();
            let mut x = 0u64;
            while on_cpu() - started < 100_000_000 {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            }
        })
        .join()
        .unwrap();
        let used = CpuSample::take(pid).unwrap().since(&before);
        assert!(used >= 60_000_000, "{used} ns");
        let (rss, peak) = server_memory(pid).unwrap();
        assert!(rss > 0 && peak >= rss);
        assert!(CpuSample::take(u32::MAX).is_none());
    }

    #[test]
    fn text_mentions_everything() {
        let t = report().to_text();
        assert!(t.contains("generate over HTTP/1.1, 2 connections"), "{t}");
        assert!(t.contains("101 in 0.500 s = 202.0 req/s"), "{t}");
        assert!(t.contains("200: 100, 404: 1"), "{t}");
        assert!(t.contains("closed: 2"), "{t}");
        assert!(
            t.contains("10.0 µs CPU/request, RSS 10.0 MiB (peak ? MiB)"),
            "{t}"
        );
    }
}
