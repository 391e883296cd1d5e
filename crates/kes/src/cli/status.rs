//! `kes status`: the status of each configured server (version, uptime,
//! latency, platform, memory) and, with `--api`, its API routes — spec §10.9.

use std::time::Instant;

use clap::Args;
use kes_types::api::{ApiRoute, StatusResponse};
use serde::Serialize;

use crate::cli::{ConnArgs, FormatArgs, block_on};
use crate::env::{self, process_env};
use crate::error::CliError;
use crate::output::{self, Out};

/// `kes status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Connection flags.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Output flags.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Print only the endpoint line.
    #[arg(short = 's', long)]
    pub short: bool,
    /// Also list the server's API routes.
    #[arg(long)]
    pub api: bool,
}

/// Runs `kes status`.
pub fn run(a: StatusArgs) -> Result<(), CliError> {
    let conn = env::connection(&process_env, &a.conn.overrides())?;
    let out = a.format.out();
    block_on(async move {
        let mut text = String::new();
        for endpoint in &conn.endpoints {
            let client = conn.client_for(std::slice::from_ref(endpoint))?;
            let start = Instant::now();
            let status = client.status().await.map_err(|e| {
                CliError::client(format!("failed to fetch status of {endpoint}"), e)
            })?;
            let latency = start.elapsed();
            let routes = if a.api {
                Some(client.api().await.map_err(|e| {
                    CliError::client(format!("failed to fetch the API of {endpoint}"), e)
                })?)
            } else {
                None
            };
            if a.format.json {
                match &routes {
                    Some(r) => output::print_json(&out, r)?,
                    None => output::print_json(&out, &status_json(&status))?,
                }
                continue;
            }
            text.push_str(&status_text(&out, endpoint, &status, latency, a.short));
            if let Some(r) = &routes {
                text.push('\n');
                text.push_str(&api_table(&out, r));
            }
        }
        if a.format.json {
            return Ok(());
        }
        output::print(&text)
    })
}

/// The status JSON as the Go client re-encodes it: `uptime` in seconds,
/// `keystore_latency` as a Go duration (nanoseconds), flags only when true.
pub fn status_json(s: &StatusResponse) -> StatusJson<'_> {
    StatusJson {
        version: &s.version,
        os: &s.os,
        arch: &s.arch,
        uptime: s.uptime,
        num_cpu: s.num_cpu,
        num_cpu_used: s.num_cpu_used,
        mem_heap_used: s.mem_heap_used,
        mem_stack_used: s.mem_stack_used,
        keystore_latency: s
            .keystore_latency
            .map(|ms| u128::from(ms).saturating_mul(1_000_000)),
        keystore_unreachable: s.keystore_unreachable,
        keystore_unavailable: s.keystore_unavailable,
    }
}

/// The status as `kes status --json` prints it (Go's field order).
#[derive(Debug, Serialize)]
pub struct StatusJson<'a> {
    version: &'a str,
    os: &'a str,
    arch: &'a str,
    uptime: u64,
    num_cpu: u64,
    num_cpu_used: u64,
    mem_heap_used: u64,
    mem_stack_used: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    keystore_latency: Option<u128>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    keystore_unreachable: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    keystore_unavailable: bool,
}

/// `N days M hours` / `N hours` / `N minutes` / `N seconds`.
pub fn uptime(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let days = secs / 86_400;
    let hours = (secs % 86_400) / 3600;
    if days > 0 {
        format!("{} {}", plural(days, "day"), plural(hours, "hour"))
    } else if secs >= 3600 {
        plural(secs / 3600, "hour")
    } else if secs >= 60 {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

fn status_text(
    out: &Out,
    endpoint: &str,
    s: &StatusResponse,
    latency: std::time::Duration,
    short: bool,
) -> String {
    let host = endpoint.strip_prefix("https://").unwrap_or(endpoint);
    let dot = if s.keystore_unreachable || s.keystore_unavailable {
        out.red("●")
    } else {
        out.green("●")
    };
    let mut t = format!("{dot} {}\n", out.bold(host));
    if short {
        return t;
    }
    let w = 11;
    let f = |l: &str, v: &str| {
        let line = format!("  {}{v}", out.dim(&format!("{l:<w$}")));
        format!("{}\n", line.trim_end())
    };
    t.push_str(&f("Version", &s.version));
    t.push_str(&f("Uptime", &uptime(s.uptime)));
    t.push_str(&f("Latency", &output::go_duration(round_latency(latency))));
    t.push_str(&f("OS", &s.os));
    t.push_str(&f("CPUs", &format!("{} {}", s.num_cpu_used, s.arch)));
    t.push_str(&f("Memory", ""));
    t.push_str(&f("  · Heap", &output::bytes(s.mem_heap_used)));
    t.push_str(&f("  · Stack", &output::bytes(s.mem_stack_used)));
    if s.keystore_unreachable || s.keystore_unavailable {
        t.push_str(&f("Keystore", &out.red("unreachable")));
    } else if let Some(ms) = s.keystore_latency {
        t.push_str(&f("Keystore", &format!("{ms}ms")));
    }
    t
}

/// Latency rounded to a readable precision (ms above 10 ms, 100 µs below).
fn round_latency(d: std::time::Duration) -> u128 {
    let n = d.as_nanos();
    let unit: u128 = if n >= 10_000_000 { 1_000_000 } else { 100_000 };
    ((n + unit / 2) / unit) * unit
}

fn api_table(out: &Out, routes: &[ApiRoute]) -> String {
    let pw = routes
        .iter()
        .map(|r| r.path.len())
        .max()
        .unwrap_or(3)
        .max(3)
        + 2;
    let mut t = out.underline(&format!("{:<8}{:<pw$}{}", "Method", "API", "Timeout"));
    t.push('\n');
    for r in routes {
        let timeout = if r.timeout == 0 {
            "Inf".to_owned()
        } else {
            output::go_duration(u128::from(r.timeout) * 1_000_000_000)
        };
        t.push_str(&format!("{:<8}{:<pw$}{timeout}\n", r.method, r.path));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_texts() {
        assert_eq!(uptime(5), "5 seconds");
        assert_eq!(uptime(61), "1 minute");
        assert_eq!(uptime(7200), "2 hours");
        assert_eq!(uptime(90_000), "1 day 1 hour");
    }

    #[test]
    fn status_json_uses_go_units() {
        let s = StatusResponse {
            version: "v".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            uptime: 3,
            num_cpu: 2,
            num_cpu_used: 2,
            mem_heap_used: 1,
            mem_stack_used: 1,
            keystore_latency: Some(2),
            keystore_unavailable: false,
            keystore_unreachable: false,
        };
        let v = serde_json::to_string(&status_json(&s)).unwrap();
        assert_eq!(
            v,
            "{\"version\":\"v\",\"os\":\"linux\",\"arch\":\"amd64\",\"uptime\":3,\"num_cpu\":2,\
             \"num_cpu_used\":2,\"mem_heap_used\":1,\"mem_stack_used\":1,\"keystore_latency\":2000000}"
        );
    }

    #[test]
    fn api_table_shows_inf() {
        let out = Out {
            tty: false,
            color: false,
        };
        let t = api_table(
            &out,
            &[ApiRoute {
                method: "GET".into(),
                path: "/v1/log/audit".into(),
                max_body: 0,
                timeout: 0,
            }],
        );
        assert!(t.starts_with("Method  API"));
        assert!(t.contains("GET     /v1/log/audit  Inf"));
    }
}
